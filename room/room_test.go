package room_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"roomhub"
	"roomhub/clock"
	"roomhub/hub"
	"roomhub/hub/memory"
	"roomhub/room"
	"roomhub/store/sqlstore/sqltest"
)

// rig is the rules over a real SQLite store and an in-process hub node.
type rig struct {
	rules *room.Service
	node  *hub.Node
	clk   *clock.Fake
	org   roomhub.Org
	other roomhub.Org
}

func newRig(t *testing.T) *rig {
	t.Helper()
	return newRigWith(t, nil)
}

// newRigWith is newRig with the room's video channel at v.
func newRigWith(t *testing.T, v room.Video) *rig {
	t.Helper()
	ctx := context.Background()
	st := sqltest.Open(t, "sqlite")
	org, err := st.DefaultOrg(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other, err := st.CreateOrg(ctx, "globex", "Globex")
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	node := hub.NewNode(hub.Config{Grace: time.Minute, PingInterval: time.Hour}, memory.New(), st, nil, clk, nil)
	node.Start()
	t.Cleanup(func() { node.Shutdown(context.Background()) })
	rules := room.New(room.Deps{Members: st, Moderation: st, Node: node, Clock: clk, SecretKey: "a test secret key of enough length for signing",
		Video: v})
	return &rig{rules: rules, node: node, clk: clk, org: org, other: other}
}

func (g *rig) join(t *testing.T, key hub.Key, uid uint32, sessionID string) {
	t.Helper()
	err := g.node.Join(context.Background(), roomhub.Member{OrgID: key.Org, Room: key.Room, UID: uid, Name: "Ada", SessionID: sessionID, JoinedAt: g.clk.Now()})
	if err != nil {
		t.Fatal(err)
	}
}

func session(id string) *roomhub.Session { return &roomhub.Session{ID: id} }

func TestInviteLinks(t *testing.T) {
	ctx := context.Background()
	g := newRig(t)
	key := hub.Key{Org: g.org.ID, Room: "standup"}
	g.join(t, key, 99, "host") // a room exists once someone has been in it
	token, _, err := g.rules.Invite(ctx, key, "owner@acme.example", 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := g.rules.OpenInvite(token, g.org.ID); err != nil || got != "standup" {
		t.Fatalf("OpenInvite = %q, %v; want standup", got, err)
	}
	// Opening uses nothing up: the one use is still there.
	if _, err := g.rules.OpenInvite(token, g.org.ID); err != nil {
		t.Fatalf("opening twice: %v", err)
	}

	p64, sig, _ := strings.Cut(token, ".")
	refused := map[string]struct {
		token string
		org   int64
	}{
		"another organization": {token, g.other.ID},
		"altered signature":    {p64 + "." + strings.Repeat("A", len(sig)), g.org.ID},
		"no signature":         {p64, g.org.ID},
		"garbage":              {"not-a-token", g.org.ID},
		"too long":             {strings.Repeat("a", 600) + "." + sig, g.org.ID},
	}
	for name, c := range refused {
		t.Run(name, func(t *testing.T) {
			if _, err := g.rules.OpenInvite(c.token, c.org); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
				t.Errorf("OpenInvite = %v, want ENOTFOUND", err)
			}
			if _, _, err := g.rules.Redeem(ctx, c.org, c.token); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
				t.Errorf("Redeem = %v, want ENOTFOUND", err)
			}
		})
	}

	got, pass, err := g.rules.Redeem(ctx, g.org.ID, token)
	if err != nil || got != "standup" {
		t.Fatalf("Redeem = %q, %v", got, err)
	}
	if want := (roomhub.Pass{OrgID: g.org.ID, Room: "standup", ExpiresAt: g.clk.Now().Add(room.PassTTL)}); pass != want {
		t.Errorf("pass = %+v, want %+v", pass, want)
	}
	if _, _, err := g.rules.Redeem(ctx, g.org.ID, token); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
		t.Errorf("a used-up link redeemed again: %v", err)
	}

	t.Run("expired", func(t *testing.T) {
		tok, _, err := g.rules.Invite(ctx, key, "owner@acme.example", 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		g.clk.Advance(time.Hour)
		if _, err := g.rules.OpenInvite(tok, g.org.ID); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
			t.Errorf("an expired link opened: %v", err)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		tok, inv, err := g.rules.Invite(ctx, key, "owner@acme.example", 1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.rules.RevokeInvite(ctx, hub.Key{Org: g.other.ID, Room: "standup"}, inv.ID); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
			t.Errorf("another organization revoked the link: %v", err)
		}
		if err := g.rules.RevokeInvite(ctx, key, inv.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := g.rules.Redeem(ctx, g.org.ID, tok); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
			t.Errorf("a revoked link redeemed: %v", err)
		}
	})
}

func TestInviteBounds(t *testing.T) {
	ctx := context.Background()
	g := newRig(t)
	key := hub.Key{Org: g.org.ID, Room: "standup"}
	g.join(t, key, 99, "host")
	cases := []struct {
		hours, uses int
		want        error
	}{
		{0, 0, room.ErrInviteHours},
		{room.MaxInviteHours + 1, 0, room.ErrInviteHours},
		{1, -1, room.ErrInviteUses},
		{1, room.MaxInviteUses + 1, room.ErrInviteUses},
		{room.MaxInviteHours, room.MaxInviteUses, nil},
	}
	for _, c := range cases {
		_, _, err := g.rules.Invite(ctx, key, "owner@acme.example", c.hours, c.uses)
		if err != c.want {
			t.Errorf("Invite(%d hours, %d uses) = %v, want %v", c.hours, c.uses, err, c.want)
		}
	}
}

func TestAdmit(t *testing.T) {
	ctx := context.Background()
	g := newRig(t)
	key := hub.Key{Org: g.org.ID, Room: "standup"}
	g.join(t, key, 7, "inside")
	yes, limit := true, 5
	if _, _, err := g.rules.Configure(ctx, key, room.Change{MaxMembers: &limit}); err != nil {
		t.Fatal(err)
	}
	if n, err := g.rules.Admit(ctx, session("fresh"), key, 0); err != nil || n != 5 {
		t.Fatalf("unlocked room: Admit = %d, %v; want the room's limit 5", n, err)
	}

	if _, _, err := g.rules.Configure(ctx, key, room.Change{Locked: &yes}); err != nil {
		t.Fatal(err)
	}
	inside := session("inside")
	inside.AddGrant(roomhub.Grant{OrgID: key.Org, Room: key.Room, UID: 7, IssuedAt: g.clk.Now()})
	withPass := session("invited")
	withPass.AddPass(roomhub.Pass{OrgID: key.Org, Room: key.Room, ExpiresAt: g.clk.Now().Add(time.Hour)})
	cases := map[string]struct {
		sess *roomhub.Session
		uid  uint32
		ok   bool
	}{
		"a newcomer":                      {session("fresh"), 0, false},
		"a newcomer naming someone's uid": {session("fresh"), 7, true}, // the uid is present: a rejoin over a dropped socket
		"a member already in, reloading":  {inside, 0, true},
		"a session holding a pass":        {withPass, 0, true},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := g.rules.Admit(ctx, c.sess, key, c.uid)
			if c.ok && err != nil {
				t.Errorf("refused: %v", err)
			}
			if !c.ok && roomhub.ErrorCode(err) != roomhub.EFORBIDDEN {
				t.Errorf("Admit = %v, want EFORBIDDEN", err)
			}
		})
	}
}

func TestKickKeepsTheSessionOut(t *testing.T) {
	ctx := context.Background()
	g := newRig(t)
	key := hub.Key{Org: g.org.ID, Room: "standup"}
	g.join(t, key, 7, "kicked")
	name, left, err := g.rules.Kick(ctx, key, 7)
	if err != nil || !left || name != "Ada" {
		t.Fatalf("Kick = %q, %v, %v", name, left, err)
	}
	if _, left, err := g.rules.Kick(ctx, key, 7); err != nil || left {
		t.Errorf("kicking someone gone = %v, %v; want false", left, err)
	}
	if _, err := g.rules.Admit(ctx, session("kicked"), key, 0); roomhub.ErrorCode(err) != roomhub.EFORBIDDEN {
		t.Fatalf("the kicked session was admitted again at once: %v", err)
	}
	if _, err := g.rules.Admit(ctx, session("kicked"), hub.Key{Org: g.org.ID, Room: "other"}, 0); err != nil {
		t.Errorf("the kick reached another room: %v", err)
	}
	g.clk.Advance(room.KickBan)
	if _, err := g.rules.Admit(ctx, session("kicked"), key, 0); err != nil {
		t.Errorf("still kept out after KickBan: %v", err)
	}
}

func TestCloseAndConfigure(t *testing.T) {
	ctx := context.Background()
	g := newRig(t)
	key := hub.Key{Org: g.org.ID, Room: "standup"}
	g.join(t, key, 1, "a")
	g.join(t, key, 2, "b")
	if n, err := g.rules.Close(ctx, key); err != nil || n != 2 {
		t.Fatalf("Close = %d, %v; want 2", n, err)
	}
	if snap, err := g.node.Snapshot(ctx, key); err != nil || len(snap.Members) != 0 {
		t.Errorf("after Close: %d members, %v", len(snap.Members), err)
	}

	for _, n := range []int{-1, roomhub.MaxRoomMembersSetting + 1} {
		if _, _, err := g.rules.Configure(ctx, key, room.Change{MaxMembers: &n}); err != room.ErrLimit {
			t.Errorf("limit %d: %v, want ErrLimit", n, err)
		}
	}
	yes, n := true, 3
	if _, _, err := g.rules.Configure(ctx, key, room.Change{Locked: &yes}); err != nil {
		t.Fatal(err)
	}
	old, now, err := g.rules.Configure(ctx, key, room.Change{MaxMembers: &n})
	if err != nil {
		t.Fatal(err)
	}
	if old != (roomhub.RoomSettings{Locked: true}) || now != (roomhub.RoomSettings{Locked: true, MaxMembers: 3}) {
		t.Errorf("Configure = %+v -> %+v; a change of the limit keeps the lock", old, now)
	}
	// Closing ends the meeting: the lock goes, the member limit stays.
	g.join(t, key, 3, "c")
	if _, err := g.rules.Close(ctx, key); err != nil {
		t.Fatal(err)
	}
	if rs, err := g.rules.Settings(ctx, key); err != nil || rs != (roomhub.RoomSettings{MaxMembers: 3}) {
		t.Errorf("after Close: %+v, %v; want unlocked with its limit of 3", rs, err)
	}
}

// videoCalls records what the rules asked of a room's video channel; the
// video package's own tests and the server's, against a fake Agora, show
// what those calls do there.
type videoCalls struct {
	removed []string // "room/uid/name/kind/ban"
	closed  []string // "room/uids"
}

func (v *videoCalls) Remove(_ context.Context, k hub.Key, uid uint32, name, kind string, d time.Duration) (bool, error) {
	v.removed = append(v.removed, k.Room+"/"+strconv.FormatUint(uint64(uid), 10)+"/"+name+"/"+kind+"/"+d.String())
	return true, nil
}

func (v *videoCalls) RemoveRoom(_ context.Context, k hub.Key, members []hub.Member, d time.Duration) error {
	uids := make([]string, 0, len(members))
	for _, m := range members {
		uids = append(uids, strconv.FormatUint(uint64(m.UID), 10))
	}
	slices.Sort(uids)
	v.closed = append(v.closed, k.Room+"/"+strings.Join(uids, ",")+"/"+d.String())
	return nil
}

// TestKickAndCloseReachTheVideo: a kick keeps the uid out of the room's
// video for KickBan, a close empties the video of everyone who was in the
// room; kicking someone already gone asks nothing of the video.
func TestKickAndCloseReachTheVideo(t *testing.T) {
	ctx := context.Background()
	v := &videoCalls{}
	g := newRigWith(t, v)
	key := hub.Key{Org: g.org.ID, Room: "standup"}
	g.join(t, key, 7, "kicked")
	g.join(t, key, 8, "stays")
	g.join(t, key, 9, "stays too")
	if _, _, err := g.rules.Kick(ctx, key, 7); err != nil {
		t.Fatal(err)
	}
	if _, _, err := g.rules.Kick(ctx, key, 7); err != nil {
		t.Fatal(err)
	}
	if want := []string{"standup/7/Ada/" + roomhub.VideoKick + "/" + room.KickBan.String()}; !slices.Equal(v.removed, want) {
		t.Errorf("kicks asked the video for %q, want %q", v.removed, want)
	}
	if _, err := g.rules.Close(ctx, key); err != nil {
		t.Fatal(err)
	}
	if want := []string{"standup/8,9/0s"}; !slices.Equal(v.closed, want) {
		t.Errorf("the close asked the video for %q, want %q", v.closed, want)
	}
}
