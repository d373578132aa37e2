package server_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"roomhub"
	"roomhub/account"
	"roomhub/config"
	"roomhub/hub"
	"roomhub/room"
	serverlive "roomhub/server/live"
)

// signedIn creates a user with role in org, enrolled in two-factor
// authentication, and signs them in to the dashboard.
func (a *app) signedIn(org roomhub.Org, email string, role roomhub.Role) *admin {
	a.t.Helper()
	pw, err := account.HashPassword(testPassword)
	if err != nil {
		a.t.Fatal(err)
	}
	ad := a.enrolled(org, email, role, pw)
	ad.signIn()
	return ad
}

// stream is an open live event stream, read in the background.
type stream struct {
	events chan sseEvent
	cancel func()
}

func (u *user) stream(path string) *stream {
	u.a.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", u.a.srv.URL+path, nil)
	res, err := u.c.Do(req)
	if err != nil {
		u.a.t.Fatal(err)
	}
	if res.StatusCode != 200 {
		u.a.t.Fatalf("stream %s: %d", path, res.StatusCode)
	}
	s := &stream{events: make(chan sseEvent, 64), cancel: cancel}
	go func() {
		defer res.Body.Close()
		br := bufio.NewReader(res.Body)
		var ev sseEvent
		var data []string
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				close(s.events)
				return
			}
			line = strings.TrimRight(line, "\n")
			switch {
			case line == "" && ev.name != "":
				ev.data = strings.Join(data, "\n")
				s.events <- ev
				ev, data = sseEvent{}, nil
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = append(data, strings.TrimPrefix(line, "data: "))
			}
		}
	}()
	u.a.t.Cleanup(cancel)
	return s
}

// next waits for the next event; a live page must show a change within a
// second of it, so that is how long it waits.
func (s *stream) next(t *testing.T, what string) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatalf("stream closed waiting for %s", what)
		}
		return ev
	case <-time.After(time.Second):
		t.Fatalf("no update within 1 s: %s", what)
	}
	return sseEvent{}
}

// TestLiveRoomsAndModeration follows one room from the dashboard: the
// stream shows joins and leaves as they happen, a kick removes the member
// for everyone, a locked room refuses newcomers but admits an invite link's
// holder, the room's own member limit holds, and closing the room empties it.
// Every action is audited; a viewer sees no buttons and gets 404 for each.
func TestLiveRoomsAndModeration(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	viewer := a.signedIn(acme, "vic@acme.example", roomhub.RoleViewer)

	ann, bob := a.browser("/o/acme"), a.browser("/o/acme")
	annUID := ann.enter("standup", "Ann")
	annWS, _, err := ann.socket("standup", a.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	readFrame(t, annWS) // snapshot

	live := owner.stream("/dashboard/acme/live/events")
	first := live.next(t, "the snapshot")
	if first.name != "rooms" || !strings.Contains(first.data, `id="room-standup"`) || !strings.Contains(first.data, "Ann") {
		t.Fatalf("snapshot: %+v", first)
	}

	bobUID := bob.enter("standup", "Bob")
	ev := live.next(t, "Bob's join")
	if ev.name != "room" || !strings.Contains(ev.data, "Bob") || !strings.Contains(ev.data, `hx-swap-oob="true"`) {
		t.Fatalf("join update: %+v", ev)
	}
	bobWS, _, err := bob.socket("standup", a.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	readFrame(t, bobWS)
	if f := readFrame(t, annWS); f["type"] != "join" {
		t.Fatalf("Ann sees: %v", f)
	}

	// A second room appears as an added card.
	cat := a.browser("/o/acme")
	cat.enter("retro", "Cat")
	if ev := live.next(t, "a new room"); !strings.Contains(ev.data, `hx-swap-oob="beforeend:#rooms"`) || !strings.Contains(ev.data, "Cat") {
		t.Fatalf("new room: %+v", ev)
	}

	// The viewer sees the rooms, without a single action button, and every
	// moderation route is a 404 for them that changes nothing.
	_, page := viewer.page("/dashboard/acme/live")
	if !strings.Contains(page, "Ann") || strings.Contains(page, "/kick") || strings.Contains(page, "Close room") {
		t.Fatalf("viewer's live page: %.800s", page)
	}
	for _, p := range []string{"/rooms/standup/members/" + strconv.FormatUint(uint64(bobUID), 10) + "/kick", "/rooms/standup/close",
		"/rooms/standup/settings", "/rooms/standup/invites", "/rooms/standup/invites/1/revoke"} {
		res, body := viewer.form("/dashboard/acme"+p, url.Values{"locked": {"true"}, "hours": {"1"}})
		wantStatus(t, res, body, http.StatusNotFound)
	}
	if rs, _ := a.store.RoomSettings(context.Background(), acme.ID, "standup"); rs.Locked {
		t.Fatal("a viewer locked the room")
	}

	// Kick Bob from the page (htmx): 204, everyone sees him leave "kicked",
	// his socket closes with 4001, and he cannot come back on it.
	res, body := owner.do("POST", "/dashboard/acme/rooms/standup/members/"+strconv.FormatUint(uint64(bobUID), 10)+"/kick", nil,
		map[string]string{"HX-Request": "true", "X-CSRF-Token": owner.csrf})
	wantStatus(t, res, body, http.StatusNoContent)
	if f := readFrame(t, annWS); f["type"] != "leave" || f["reason"] != "kicked" {
		t.Fatalf("Ann sees: %v", f)
	}
	if f := readFrame(t, bobWS); f["type"] != "leave" || f["reason"] != "kicked" {
		t.Fatalf("Bob sees: %v", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_, _, err = bobWS.Read(ctx)
	cancel()
	if websocket.CloseStatus(err) != 4001 {
		t.Fatalf("Bob's socket: %v", err)
	}
	// Coming back on the same uid: the socket is closed at once, 4003.
	if again, _, err := bob.socket("standup", a.srv.URL); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for err == nil {
			var b []byte
			_, b, err = again.Read(ctx)
			if err == nil && !strings.Contains(string(b), "not_member") && !strings.Contains(string(b), `"error"`) {
				t.Fatalf("a kicked member got %s", b)
			}
		}
		cancel()
		if websocket.CloseStatus(err) != 4003 {
			t.Fatalf("a kicked member's new socket: %v", err)
		}
	}
	if ev := live.next(t, "the kick"); strings.Contains(ev.data, "Bob") || !strings.Contains(ev.data, "Ann") {
		t.Fatalf("after the kick: %+v", ev)
	}
	// Nor can he come back with a new uid for a while.
	if res2, m := bob.get("/get_token/?channel=standup"); res2.StatusCode != http.StatusForbidden || !strings.Contains(m["error"].(string), "removed") {
		t.Fatalf("kicked Bob got a new token: %d %v", res2.StatusCode, m)
	}
	if rows, _ := a.store.QueryAudit(context.Background(), acme.ID, roomhub.AuditFilter{Action: "member.kick", Limit: 5}); len(rows) != 1 || !rows[0].Success || rows[0].ActorName != "ada@acme.example" {
		t.Fatalf("kick audit: %+v", rows)
	}

	// Lock the room: a newcomer is refused; an invite link's holder is not.
	res, body = owner.form("/dashboard/acme/rooms/standup/settings", url.Values{"locked": {"true"}, "max_members": {"3"}})
	wantStatus(t, res, body, 200)
	live.next(t, "the lock")
	dan := a.browser("/o/acme")
	// No token for a locked room: the Agora token is what opens the video.
	if res2, m := dan.get("/get_token/?channel=standup"); res2.StatusCode != http.StatusForbidden || !strings.Contains(m["error"].(string), "locked") {
		t.Fatalf("locked room gave Dan a token: %d %v", res2.StatusCode, m)
	}
	// A token asked for before the lock does not get him in either.
	tok := owner.roomInvite("acme", "standup", 2)
	res, body = dan.page("/o/acme/join/" + tok)
	wantStatus(t, res, body, 200)
	danUID := dan.tokenWithPass(t, tok)
	res, body = owner.form("/dashboard/acme/rooms/standup/settings", url.Values{"locked": {"true"}})
	wantStatus(t, res, body, 200)
	if res2, m := dan.post("/create_member/", map[string]any{"name": "Dan", "room_name": "standup", "UID": danUID}); res2.StatusCode != 200 {
		t.Fatalf("invited Dan refused: %d %v", res2.StatusCode, m)
	}
	live.next(t, "Dan's join")
	ghost := a.browser("/o/acme")
	ghostUID := ghost.tokenBeforeLock(t, owner, "standup")
	if res2, m := ghost.post("/create_member/", map[string]any{"name": "Ghost", "room_name": "standup", "UID": ghostUID}); res2.StatusCode != http.StatusForbidden {
		t.Fatalf("a token from before the lock let a newcomer in: %d %v", res2.StatusCode, m)
	}
	// A forged link (another signature) is refused and uses nothing up.
	forged := tok[:strings.LastIndex(tok, ".")+1] + strings.Repeat("A", 43)
	res, body = dan.page("/o/acme/join/" + forged)
	wantStatus(t, res, body, http.StatusNotFound)

	// The room's limit of 3: Ann, Dan and one more; a fourth is refused.
	eve := a.browser("/o/acme")
	res, body = eve.form("/o/acme/join/"+tok, nil)
	wantRedirect(t, res, body, "/o/acme/?room=standup")
	eve.enter("standup", "Eve")
	live.next(t, "Eve's join")
	fay := a.browser("/o/acme")
	res, body = fay.form("/o/acme/join/"+tok, nil) // the link's 2 uses are gone
	wantStatus(t, res, body, http.StatusNotFound)
	res, body = owner.form("/dashboard/acme/rooms/standup/settings", url.Values{"locked": {"false"}})
	wantStatus(t, res, body, 200)
	live.next(t, "the unlock")
	fayUID := fay.token("standup")
	if res2, m := fay.post("/create_member/", map[string]any{"name": "Fay", "room_name": "standup", "UID": fayUID}); res2.StatusCode != http.StatusConflict {
		t.Fatalf("room over its own limit: %d %v", res2.StatusCode, m)
	}

	// Close the room: everyone leaves "closed" and the card goes.
	res, body = owner.do("POST", "/dashboard/acme/rooms/standup/close", nil, map[string]string{"HX-Request": "true", "X-CSRF-Token": owner.csrf})
	wantStatus(t, res, body, http.StatusNoContent)
	for {
		f := readFrame(t, annWS) // Dan's and Eve's joins come first
		if f["type"] == "leave" {
			if f["reason"] != "closed" {
				t.Fatalf("Ann sees: %v", f)
			}
			break
		}
	}
	for {
		ev := live.next(t, "the room's card removed")
		if strings.Contains(ev.data, `id="room-standup" hx-swap-oob="delete"`) {
			break
		}
	}
	if _, err := a.node.Member(context.Background(), hub.Key{Org: acme.ID, Room: "standup"}, annUID); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
		t.Fatalf("Ann still present after close: %v", err)
	}

	// History: the session ended with its peak and attendance.
	waitFor(t, "the session to end in history", func() bool {
		list, _ := a.store.ListSessions(context.Background(), acme.ID, roomhub.SessionFilter{Room: "standup"})
		return len(list) == 1 && !list[0].Live() && list[0].Peak == 3
	})
	_, page = owner.page("/dashboard/acme/history?room=standup")
	if !strings.Contains(page, "standup") || strings.Contains(page, "in progress") {
		t.Fatalf("history page: %.800s", page)
	}
	// The kick's ban ends.
	a.clk.Advance(room.KickBan)
	if res2, m := bob.get("/get_token/?channel=standup"); res2.StatusCode != 200 {
		t.Fatalf("Bob still kept out after the ban: %d %v", res2.StatusCode, m)
	}
	for _, action := range []string{"room.lock", "room.unlock", "room.invite.create", "room.close", "permission.denied", "token.denied", "member.create.denied"} {
		if rows, _ := a.store.QueryAudit(context.Background(), acme.ID, roomhub.AuditFilter{Action: action, Limit: 10}); len(rows) == 0 {
			t.Errorf("no %s audit row", action)
		}
	}
}

// waitFor polls cond until it holds, for state written off the request path
// (the activity recorder).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLiveFeedTwoBusyOrganizations: Acme and Globex have people joining
// and leaving rooms of the same names at the same time. Acme's live stream
// carries every Acme change and never a Globex name, room or member.
func TestLiveFeedTwoBusyOrganizations(t *testing.T) {
	a := newApp(t)
	acme, globex := a.org("acme"), a.org("globex")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	live := owner.stream("/dashboard/acme/live/events")
	live.next(t, "the snapshot")
	// Below the page, Acme's feed on the bus: every event must name an
	// Acme member.
	var mu sync.Mutex
	var feedUIDs []uint32
	cancel, err := a.node.SubscribeFeed(context.Background(), acme.ID, func(ev hub.Event) {
		mu.Lock()
		feedUIDs = append(feedUIDs, ev.UID)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	acmeUIDs := map[uint32]bool{}

	// Their requests alternate, so both organizations' changes are in
	// the recorder's queue and on the bus together. (get_token allows 10 a
	// minute per address: 3 rounds of 3 joins.)
	const rounds = 3
	for i := range rounds {
		g := a.browser("/o/globex")
		guid := g.enter("standup", "Globex"+strconv.Itoa(i))
		u := a.browser("/o/acme")
		uid := u.enter("standup", "Acme"+strconv.Itoa(i))
		acmeUIDs[uid] = true
		g2 := a.browser("/o/globex")
		g2.enter("retro", "Globex"+strconv.Itoa(i))
		if res, _ := g.post("/delete_member/", map[string]any{"name": "Globex" + strconv.Itoa(i), "room_name": "standup", "UID": guid}); res.StatusCode != 200 {
			t.Fatalf("Globex leave: %d", res.StatusCode)
		}
		if i == 1 {
			if res, _ := u.post("/delete_member/", map[string]any{"name": "Acme1", "room_name": "standup", "UID": uid}); res.StatusCode != 200 {
				t.Fatalf("Acme leave: %d", res.StatusCode)
			}
		}
	}
	// Acme ends with Acme0 and Acme2. Read until the stream shows them,
	// checking every event on the way.
	want := []string{"Acme0", "Acme2"}
	var last string
	for !containsAll(last, want) || strings.Contains(last, "Acme1") {
		ev := live.next(t, "Acme's changes")
		if strings.Contains(ev.data, "Globex") || strings.Contains(ev.data, "retro") {
			t.Fatalf("Acme's stream carried Globex's activity: %s", ev.data)
		}
		last = ev.data
	}
	waitFor(t, "Acme's 4 feed events", func() bool { mu.Lock(); defer mu.Unlock(); return len(feedUIDs) >= 4 })
	mu.Lock()
	for _, uid := range feedUIDs {
		if !acmeUIDs[uid] {
			t.Errorf("Acme's feed carried uid %d, not an Acme member", uid)
		}
	}
	if len(feedUIDs) < 4 {
		t.Errorf("Acme's feed carried %d events, want its 3 joins and 1 leave", len(feedUIDs))
	}
	mu.Unlock()
	// Acme's history has only its own sessions.
	list, _ := a.store.ListSessions(context.Background(), acme.ID, roomhub.SessionFilter{})
	for _, rs := range list {
		if rs.OrgID != acme.ID || rs.Room != "standup" {
			t.Fatalf("Acme's history: %+v", list)
		}
	}
	_ = globex
}

func containsAll(s string, subs []string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// TestLiveStreamEndsWithTheSession: a stream opened by a session that is
// then signed out everywhere, or whose user is removed from the
// organization, stops within one session check: it sends "signed-out" (the
// page then reloads into the sign-in form) and closes.
func TestLiveStreamEndsWithTheSession(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	bo := a.signedIn(acme, "bo@acme.example", roomhub.RoleAdmin)

	for _, tc := range []struct {
		name string
		who  *admin
		end  func()
	}{
		{"signed out everywhere", owner, func() {
			res, body := owner.form("/logout/all", nil)
			if res.StatusCode >= 400 {
				t.Fatalf("logout/all: %d %.300s", res.StatusCode, body)
			}
		}},
		{"removed from the organization", bo, func() {
			if err := a.store.RemoveMembership(context.Background(), acme.ID, bo.userID()); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			live := tc.who.stream("/dashboard/acme/live/events")
			live.next(t, "the snapshot")
			// Still valid: a check passes and the stream stays open.
			a.clk.Advance(serverlive.LiveSessionCheck)
			select {
			case ev := <-live.events:
				t.Fatalf("a valid session's stream sent %q", ev.name)
			case <-time.After(100 * time.Millisecond):
			}
			tc.end()
			// The next check ends it. The check runs on the server's clock,
			// re-armed by the stream after each one: move the clock a check
			// at a time until the stream answers.
			deadline := time.After(5 * time.Second)
		wait:
			for {
				a.clk.Advance(serverlive.LiveSessionCheck)
				select {
				case ev, ok := <-live.events:
					if !ok {
						t.Fatal("the stream closed without saying signed-out")
					}
					if ev.name == "signed-out" {
						break wait
					}
				case <-time.After(50 * time.Millisecond):
				case <-deadline:
					t.Fatal("the stream did not end after the session did")
				}
			}
			select {
			case _, open := <-live.events:
				if open {
					t.Fatal("the stream sent more after signed-out")
				}
			case <-time.After(time.Second):
				t.Fatal("the stream stayed open after signed-out")
			}
		})
	}
}

// tokenWithPass redeems an invite link and then asks for a token.
func (u *user) tokenWithPass(t *testing.T, tok string) uint32 {
	t.Helper()
	res, body := u.form(u.base+"/join/"+tok, nil)
	wantRedirect(t, res, body, u.base+"/?room=standup")
	return u.token("standup")
}

// tokenBeforeLock gets a token while room is open, then has the owner lock
// it: the order a latecomer racing the lock would see.
func (u *user) tokenBeforeLock(t *testing.T, owner *admin, room string) uint32 {
	t.Helper()
	res, body := owner.form("/dashboard/acme/rooms/"+room+"/settings", url.Values{"locked": {"false"}})
	wantStatus(t, res, body, 200)
	uid := u.token(room)
	res, body = owner.form("/dashboard/acme/rooms/"+room+"/settings", url.Values{"locked": {"true"}})
	wantStatus(t, res, body, 200)
	return uid
}

// TestLiveStreamLimit: past MAX_LIVE_STREAMS a new stream is refused with a
// 503 the page retries, and a closed stream frees its place.
func TestLiveStreamLimit(t *testing.T) {
	a := newApp(t, func(c *config.Config) { c.MaxLiveStreams = 2 })
	acme := a.org("acme")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	first := owner.stream("/dashboard/acme/live/events")
	first.next(t, "the first snapshot")
	second := owner.stream("/dashboard/acme/live/events")
	second.next(t, "the second snapshot")
	res, body := owner.do("GET", "/dashboard/acme/live/events", nil, map[string]string{"Accept": "text/event-stream"})
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Content-Type") == "text/event-stream" {
		t.Fatalf("third stream: %d %.200s", res.StatusCode, body)
	}
	first.cancel()
	waitFor(t, "the first stream's place to free", func() bool {
		res, _ := owner.openStream("/dashboard/acme/live/events")
		return res == http.StatusOK
	})
}
