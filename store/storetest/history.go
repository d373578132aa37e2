package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"roomhub"
)

// HistoryStore is a store with room history and moderation.
type HistoryStore interface {
	roomhub.Store
	roomhub.History
	roomhub.Moderation
	EndLiveSessions(ctx context.Context, at time.Time) (int64, error)
}

// RunHistory runs the room history conformance suite.
func RunHistory(t *testing.T, open func(t *testing.T) HistoryStore) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, HistoryStore)
	}{
		{"SessionLifecycle", testSessionLifecycle},
		{"RenameIsNotAJoin", testRenameIsNotAJoin},
		{"ConcurrentJoinsOneSession", testConcurrentJoins},
		{"SessionsPagedAndScoped", testSessionsPaged},
		{"EndLiveSessions", testEndLiveSessions},
		{"RoomSettings", testRoomSettings},
		{"RoomInvites", testRoomInvites},
		{"RoomBans", testRoomBans},
		{"HistoryQueuesWebhooks", testHistoryQueuesWebhooks},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// orgWithRoom creates an organization and records room in it, as the first
// member's join does.
func orgWithRoom(t *testing.T, s HistoryStore, slug string, rooms ...string) roomhub.Org {
	t.Helper()
	ctx := context.Background()
	o, err := s.CreateOrg(ctx, slug, slug)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rooms {
		if _, err := s.PutMember(ctx, roomhub.Member{OrgID: o.ID, Room: r, UID: 1, Name: "seed", SessionID: "s", JoinedAt: at(0)}); err != nil {
			t.Fatal(err)
		}
	}
	return o
}

func testSessionLifecycle(t *testing.T, s HistoryStore) {
	ctx := context.Background()
	o := orgWithRoom(t, s, "acme", "standup")
	a, ok, err := s.RecordJoin(ctx, o.ID, "standup", 7, "Ada", at(0))
	if err != nil || !ok || !a.Started || a.Session.Members != 1 || a.Session.Peak != 1 {
		t.Fatalf("first join: %+v %v %v", a, ok, err)
	}
	if a, ok, _ := s.RecordJoin(ctx, o.ID, "standup", 8, "Bob", at(1000)); !ok || a.Started || a.Session.Members != 2 || a.Session.Peak != 2 {
		t.Fatalf("second join: %+v", a)
	}
	// Ada leaves after 60 s: the session goes on.
	a, ok, err = s.RecordLeave(ctx, o.ID, "standup", 7, "left", at(60_000))
	if err != nil || !ok || a.Ended || a.Name != "Ada" || !a.Joined.Equal(at(0)) || a.Session.Members != 1 {
		t.Fatalf("Ada leaves: %+v %v %v", a, ok, err)
	}
	// A leave of someone never counted changes nothing.
	if _, ok, err := s.RecordLeave(ctx, o.ID, "standup", 99, "left", at(61_000)); ok || err != nil {
		t.Fatalf("unknown member leave: %v %v", ok, err)
	}
	// Bob, the last, leaves 2 minutes after joining: the session ends.
	a, ok, err = s.RecordLeave(ctx, o.ID, "standup", 8, "kicked", at(121_000))
	if err != nil || !ok || !a.Ended || a.Session.Peak != 2 || a.Session.MemberMinutes() != 3 || !a.Session.EndedAt.Equal(at(121_000)) {
		t.Fatalf("last leave: %+v %v %v", a, ok, err)
	}
	// A later join opens a new session.
	if a, _, _ := s.RecordJoin(ctx, o.ID, "standup", 7, "Ada", at(200_000)); !a.Started || a.Session.Peak != 1 {
		t.Fatalf("join after the end: %+v", a)
	}
	list, err := s.ListSessions(ctx, o.ID, roomhub.SessionFilter{})
	if err != nil || len(list) != 2 {
		t.Fatalf("sessions: %+v %v", list, err)
	}
	if !list[0].Live() || list[1].Live() || list[1].Peak != 2 || list[1].MemberMs != 180_000 || !list[1].StartedAt.Equal(at(0)) {
		t.Fatalf("sessions, newest first: %+v", list)
	}
	peaks, err := s.PeaksOn(ctx, o.ID, at(0))
	if err != nil || peaks["standup"] != 2 {
		t.Fatalf("peak today: %v %v", peaks, err)
	}
	if peaks, _ := s.PeaksOn(ctx, o.ID, at(0).Add(48*time.Hour)); len(peaks) != 0 {
		t.Fatalf("peak on another day: %v", peaks)
	}
}

func testRenameIsNotAJoin(t *testing.T, s HistoryStore) {
	ctx := context.Background()
	o := orgWithRoom(t, s, "acme", "standup")
	s.RecordJoin(ctx, o.ID, "standup", 7, "Ada", at(0))
	if a, ok, err := s.RecordJoin(ctx, o.ID, "standup", 7, "Ada L", at(5)); ok || err != nil {
		t.Fatalf("rename counted as a join: %+v %v", a, err)
	}
	a, _, _ := s.RecordLeave(ctx, o.ID, "standup", 7, "left", at(10))
	if !a.Ended || a.Name != "Ada L" || a.Session.Peak != 1 {
		t.Fatalf("after a rename: %+v", a)
	}
}

// testConcurrentJoins joins many members at once, as several nodes would:
// they all land in one session and the counts add up.
func testConcurrentJoins(t *testing.T, s HistoryStore) {
	ctx := context.Background()
	o := orgWithRoom(t, s, "acme", "standup")
	const n = 12
	var wg sync.WaitGroup
	started := make(chan bool, n)
	for i := range n {
		wg.Go(func() {
			a, ok, err := s.RecordJoin(ctx, o.ID, "standup", uint32(i+10), "M", at(i))
			if err != nil || !ok {
				t.Errorf("join %d: %v %v", i, ok, err)
			}
			started <- a.Started
		})
	}
	wg.Wait()
	close(started)
	opened := 0
	for st := range started {
		if st {
			opened++
		}
	}
	list, _ := s.ListSessions(ctx, o.ID, roomhub.SessionFilter{})
	if opened != 1 || len(list) != 1 || list[0].Members != n || list[0].Peak != n {
		t.Fatalf("opened %d sessions, list %+v", opened, list)
	}
}

func testSessionsPaged(t *testing.T, s HistoryStore) {
	ctx := context.Background()
	o := orgWithRoom(t, s, "acme", "a-room", "b-room")
	other := orgWithRoom(t, s, "globex", "a-room")
	for i := range 5 {
		room := "a-room"
		if i%2 == 1 {
			room = "b-room"
		}
		s.RecordJoin(ctx, o.ID, room, 7, "Ada", at(i*1000))
		s.RecordLeave(ctx, o.ID, room, 7, "left", at(i*1000+500))
	}
	s.RecordJoin(ctx, other.ID, "a-room", 7, "Eve", at(0))

	page1, _ := s.ListSessions(ctx, o.ID, roomhub.SessionFilter{Limit: 2})
	if len(page1) != 2 || !page1[0].StartedAt.Equal(at(4000)) {
		t.Fatalf("page 1: %+v", page1)
	}
	page2, _ := s.ListSessions(ctx, o.ID, roomhub.SessionFilter{Limit: 2, Before: page1[1].ID})
	if len(page2) != 2 || !page2[0].StartedAt.Equal(at(2000)) {
		t.Fatalf("page 2: %+v", page2)
	}
	bRoom, _ := s.ListSessions(ctx, o.ID, roomhub.SessionFilter{Room: "b-room"})
	if len(bRoom) != 2 {
		t.Fatalf("room filter: %+v", bRoom)
	}
	since, _ := s.ListSessions(ctx, o.ID, roomhub.SessionFilter{Since: at(3000)})
	if len(since) != 2 {
		t.Fatalf("since filter: %+v", since)
	}
	for _, rs := range append(page1, page2...) {
		if rs.OrgID != o.ID {
			t.Fatalf("another organization's session listed: %+v", rs)
		}
	}
	if theirs, _ := s.ListSessions(ctx, other.ID, roomhub.SessionFilter{}); len(theirs) != 1 {
		t.Fatalf("globex sessions: %+v", theirs)
	}
}

func testRoomSettings(t *testing.T, s HistoryStore) {
	ctx := context.Background()
	o := orgWithRoom(t, s, "acme", "standup")
	other := orgWithRoom(t, s, "globex")
	if rs, err := s.RoomSettings(ctx, o.ID, "standup"); err != nil || rs != (roomhub.RoomSettings{}) {
		t.Fatalf("default settings: %+v %v", rs, err)
	}
	want := roomhub.RoomSettings{Locked: true, MaxMembers: 3}
	if err := s.SetRoomSettings(ctx, o.ID, "standup", want); err != nil {
		t.Fatal(err)
	}
	if rs, _ := s.RoomSettings(ctx, o.ID, "standup"); rs != want {
		t.Fatalf("settings: %+v", rs)
	}
	// Globex cannot configure a room it never had, even one Acme has.
	wantCode(t, s.SetRoomSettings(ctx, other.ID, "standup", want), roomhub.ENOTFOUND)
	if rs, _ := s.RoomSettings(ctx, other.ID, "standup"); rs != (roomhub.RoomSettings{}) {
		t.Fatalf("globex sees acme's settings: %+v", rs)
	}
	wantCode(t, s.SetRoomSettings(ctx, o.ID, "standup", roomhub.RoomSettings{MaxMembers: roomhub.MaxRoomMembersSetting + 1}), roomhub.EINVALID)
	if rs, _ := s.RoomSettings(ctx, o.ID, "standup"); rs != want {
		t.Fatalf("a refused change altered the settings: %+v", rs)
	}
}

func testRoomInvites(t *testing.T, s HistoryStore) {
	ctx := context.Background()
	o := orgWithRoom(t, s, "acme", "standup")
	other := orgWithRoom(t, s, "globex", "standup")
	inv, err := s.CreateRoomInvite(ctx, roomhub.RoomInvite{OrgID: o.ID, Room: "standup", CreatedBy: "Ann", ExpiresAt: at(60_000), MaxUses: 2}, "h1")
	if err != nil || inv.ID == 0 {
		t.Fatalf("create: %+v %v", inv, err)
	}
	// Globex holding Acme's hash gets nothing, and uses nothing up.
	_, err = s.UseRoomInvite(ctx, other.ID, "h1", at(0))
	wantCode(t, err, roomhub.ENOTFOUND)
	for i := range 2 {
		if got, err := s.UseRoomInvite(ctx, o.ID, "h1", at(i)); err != nil || got.Uses != i+1 || got.Room != "standup" {
			t.Fatalf("use %d: %+v %v", i, got, err)
		}
	}
	_, err = s.UseRoomInvite(ctx, o.ID, "h1", at(2))
	wantCode(t, err, roomhub.ENOTFOUND) // used up

	inv2, _ := s.CreateRoomInvite(ctx, roomhub.RoomInvite{OrgID: o.ID, Room: "standup", CreatedBy: "Ann", ExpiresAt: at(60_000)}, "h2")
	_, err = s.UseRoomInvite(ctx, o.ID, "h2", at(60_000))
	wantCode(t, err, roomhub.ENOTFOUND) // expired at the instant
	wantCode(t, s.RevokeRoomInvite(ctx, other.ID, inv2.ID), roomhub.ENOTFOUND)
	if _, err := s.UseRoomInvite(ctx, o.ID, "h2", at(1)); err != nil {
		t.Fatalf("Globex's revoke touched Acme's invite: %v", err)
	}
	if err := s.RevokeRoomInvite(ctx, o.ID, inv2.ID); err != nil {
		t.Fatal(err)
	}
	_, err = s.UseRoomInvite(ctx, o.ID, "h2", at(2))
	wantCode(t, err, roomhub.ENOTFOUND)
	list, _ := s.ListRoomInvites(ctx, o.ID, "standup")
	if len(list) != 2 || !list[0].Revoked || list[1].Uses != 2 {
		t.Fatalf("list: %+v", list)
	}
	if theirs, _ := s.ListRoomInvites(ctx, other.ID, "standup"); len(theirs) != 0 {
		t.Fatalf("globex lists acme's invites: %+v", theirs)
	}
	_, err = s.CreateRoomInvite(ctx, roomhub.RoomInvite{OrgID: other.ID, Room: "nope", CreatedBy: "x", ExpiresAt: at(1)}, "h3")
	wantCode(t, err, roomhub.ENOTFOUND)
}

// testEndLiveSessions is a single node's shutdown: live sessions end with
// their members' time so far counted.
func testEndLiveSessions(t *testing.T, s HistoryStore) {
	ctx := context.Background()
	o := orgWithRoom(t, s, "acme", "standup", "retro")
	s.RecordJoin(ctx, o.ID, "standup", 7, "Ada", at(0))
	s.RecordJoin(ctx, o.ID, "standup", 8, "Bob", at(30_000))
	s.RecordJoin(ctx, o.ID, "retro", 7, "Ada", at(0))
	s.RecordLeave(ctx, o.ID, "retro", 7, "left", at(1000))
	n, err := s.EndLiveSessions(ctx, at(60_000))
	if err != nil || n != 1 {
		t.Fatalf("ended %d sessions: %v", n, err)
	}
	list, _ := s.ListSessions(ctx, o.ID, roomhub.SessionFilter{Room: "standup"})
	if len(list) != 1 || list[0].Live() || list[0].MemberMs != 90_000 || list[0].Members != 0 {
		t.Fatalf("after shutdown: %+v", list)
	}
	// The next join starts afresh.
	if a, _, _ := s.RecordJoin(ctx, o.ID, "standup", 7, "Ada", at(70_000)); !a.Started || a.Session.Members != 1 {
		t.Fatalf("join after shutdown: %+v", a)
	}
}

func testRoomBans(t *testing.T, s HistoryStore) {
	ctx := context.Background()
	o := orgWithRoom(t, s, "acme", "standup")
	other := orgWithRoom(t, s, "globex", "standup")
	if err := s.BanFromRoom(ctx, o.ID, "standup", "sess-1", at(60_000)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		org  int64
		room string
		sess string
		now  time.Time
		want bool
	}{
		{o.ID, "standup", "sess-1", at(0), true},
		{o.ID, "standup", "sess-1", at(60_000), false}, // ends at the instant
		{o.ID, "standup", "sess-2", at(0), false},
		{o.ID, "retro", "sess-1", at(0), false},
		{other.ID, "standup", "sess-1", at(0), false},
	} {
		if got, err := s.BannedFromRoom(ctx, tc.org, tc.room, tc.sess, tc.now); err != nil || got != tc.want {
			t.Errorf("BannedFromRoom(%d, %s, %s, %v) = %v, %v; want %v", tc.org, tc.room, tc.sess, tc.now, got, err, tc.want)
		}
	}
	// A second kick extends the ban.
	s.BanFromRoom(ctx, o.ID, "standup", "sess-1", at(120_000))
	if got, _ := s.BannedFromRoom(ctx, o.ID, "standup", "sess-1", at(90_000)); !got {
		t.Error("a second kick did not extend the ban")
	}
}

// testHistoryQueuesWebhooks: recording a change queues its webhook events in
// the same transaction, for the subscribed endpoints of the room's
// organization only.
func testHistoryQueuesWebhooks(t *testing.T, s HistoryStore) {
	ctx := context.Background()
	wh, ok := s.(roomhub.Webhooks)
	if !ok {
		t.Skip("the store keeps no webhooks")
	}
	o := orgWithRoom(t, s, "acme", "standup")
	other := orgWithRoom(t, s, "globex", "standup")
	seal := func(int64) (string, error) { return "v1.sealed", nil }
	all, err := wh.CreateWebhookEndpoint(ctx, roomhub.WebhookEndpoint{OrgID: o.ID, URL: "https://hooks.example/all", Events: roomhub.WebhookEventTypes, CreatedBy: "ada"}, seal)
	if err != nil {
		t.Fatal(err)
	}
	leaves, _ := wh.CreateWebhookEndpoint(ctx, roomhub.WebhookEndpoint{OrgID: o.ID, URL: "https://hooks.example/leaves", Events: []string{roomhub.EventMemberLeft}, CreatedBy: "ada"}, seal)
	theirs, _ := wh.CreateWebhookEndpoint(ctx, roomhub.WebhookEndpoint{OrgID: other.ID, URL: "https://hooks.example/globex", Events: roomhub.WebhookEventTypes, CreatedBy: "gus"}, seal)

	s.RecordJoin(ctx, o.ID, "standup", 7, "Ada", at(0))
	s.RecordJoin(ctx, o.ID, "standup", 7, "Ada L", at(1)) // a rename queues nothing
	s.RecordLeave(ctx, o.ID, "standup", 7, "kicked", at(60_000))

	types := func(endpoint int64) []string {
		ds, err := wh.ListWebhookDeliveries(ctx, o.ID, roomhub.WebhookDeliveryFilter{EndpointID: endpoint})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for i := len(ds) - 1; i >= 0; i-- { // oldest first
			out = append(out, ds[i].Type)
		}
		return out
	}
	want := []string{roomhub.EventRoomStarted, roomhub.EventMemberJoined, roomhub.EventMemberLeft, roomhub.EventRoomFinished}
	if got := types(all.ID); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("all-events endpoint got %v, want %v", got, want)
	}
	if got := types(leaves.ID); fmt.Sprint(got) != fmt.Sprint([]string{roomhub.EventMemberLeft}) {
		t.Fatalf("leaves-only endpoint got %v", got)
	}
	ds, _ := wh.ListWebhookDeliveries(ctx, other.ID, roomhub.WebhookDeliveryFilter{EndpointID: theirs.ID})
	if len(ds) != 0 {
		t.Fatalf("Globex's endpoint got Acme's events: %+v", ds)
	}
	left, _ := wh.ListWebhookDeliveries(ctx, o.ID, roomhub.WebhookDeliveryFilter{EndpointID: leaves.ID})
	var doc struct {
		ID, Type, Org string
		Data          map[string]any
	}
	if err := json.Unmarshal(left[0].Payload, &doc); err != nil || doc.Org != "acme" || doc.Data["reason"] != "kicked" || doc.Data["name"] != "Ada L" || doc.ID != left[0].EventID {
		t.Fatalf("member_left document: %s (%v)", left[0].Payload, err)
	}
}
