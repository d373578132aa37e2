package server_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"roomhub"
)

// send GETs a page or POSTs a form, as method says.
func (u *user) send(method, path string, form url.Values) (*http.Response, string) {
	u.a.t.Helper()
	if method == "GET" {
		return u.page(path)
	}
	return u.form(path, form)
}

// openStream opens a live event stream as u and returns the status and the
// first event's data (the full room list).
func (u *user) openStream(path string) (int, string) {
	u.a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", u.a.srv.URL+path, nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := u.c.Do(req)
	if err != nil {
		u.a.t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		return res.StatusCode, ""
	}
	ev := readEvent(u.a.t, bufio.NewReader(res.Body))
	return res.StatusCode, ev.data
}

type sseEvent struct{ name, data string }

// readEvent reads one server-sent event, skipping comments.
func readEvent(t *testing.T, br *bufio.Reader) sseEvent {
	t.Helper()
	var ev sseEvent
	var data []string
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && ev.name != "":
			ev.data = strings.Join(data, "\n")
			return ev
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		}
	}
}

var reInviteLink = regexp.MustCompile(`<code id="new-invite-link">[^<]*/join/([A-Za-z0-9_.-]+)</code>`)

// roomInvite makes an invite link for room from the dashboard and returns
// its token.
func (ad *admin) roomInvite(org, room string, uses int) string {
	t := ad.a.t
	res, body := ad.form("/dashboard/"+org+"/rooms/"+room+"/invites", url.Values{"hours": {"1"}, "max_uses": {strconv.Itoa(uses)}})
	wantStatus(t, res, body, 200)
	m := reInviteLink.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no invite link shown: %.600s", body)
	}
	return m[1]
}

// crossOrgRoom is the case of a dashboard route naming a room: under
// Globex's URL Acme's owner gets 404 (audited in Globex, like every
// dashboard route); under Acme's own URL, Globex's room "globex-only" does
// not exist (404, audited in Acme), and Globex's member is untouched.
func crossOrgRoom(method, path string, form url.Values, ownStatus int) isolationCase {
	outer := crossOrgDashboard(method, strings.ReplaceAll(path, "{room}", "standup"), form, ownStatus)
	return isolationCase{
		attack: func(t *testing.T, tn *tenants) {
			outer.attack(t, tn)
			tn.partB.enter("globex-only", "Gail")
			p := strings.ReplaceAll(strings.ReplaceAll(path, "{org}", "acme"), "{room}", "globex-only")
			p = strings.ReplaceAll(p, "{uid}", "1")
			res, body := tn.ownerA.send(method, p, form)
			wantStatus(t, res, body, http.StatusNotFound)
			if strings.Contains(body, "Gail") {
				t.Fatalf("the 404 shows Globex's member: %.400s", body)
			}
			rows, _ := tn.a.store.QueryAudit(context.Background(), tn.acme.ID, roomhub.AuditFilter{Limit: 1})
			if len(rows) == 0 || !strings.HasSuffix(rows[0].Action, ".denied") || rows[0].Success {
				t.Fatalf("the attempt is not audited in Acme: %+v", rows)
			}
			// Acme's own "standup" holds only Anna: Globex's Bert cannot be
			// reached through it.
			if strings.Contains(path, "{uid}") {
				p := strings.ReplaceAll(strings.ReplaceAll(path, "{org}", "acme"), "{room}", "standup")
				res, body := tn.ownerA.form(strings.ReplaceAll(p, "{uid}", strconv.FormatUint(uint64(tn.uidB), 10)), form)
				wantStatus(t, res, body, http.StatusNotFound)
			}
			if code, b := tn.api("GET", "/api/v1/rooms/standup/members", tn.keyB); code != 200 || !strings.Contains(b, "Bert") {
				t.Fatalf("Globex's room changed: %s", b)
			}
			if rs, _ := tn.a.store.RoomSettings(context.Background(), tn.globex.ID, "globex-only"); rs != (roomhub.RoomSettings{}) {
				t.Fatalf("Globex's room settings changed: %+v", rs)
			}
		},
		own: func(t *testing.T, tn *tenants) {
			p := strings.ReplaceAll(strings.ReplaceAll(path, "{org}", "acme"), "{room}", "standup")
			p = strings.ReplaceAll(p, "{uid}", strconv.FormatUint(uint64(tn.uidA), 10))
			res, body := tn.ownerA.send(method, p, form)
			wantStatus(t, res, body, ownStatus)
		},
	}
}

func liveIsolationCases() map[string]isolationCase {
	return map[string]isolationCase{
		"GET /dashboard/{org}/live":    crossOrgDashboard("GET", "/dashboard/{org}/live", nil, 200),
		"GET /dashboard/{org}/history": crossOrgDashboard("GET", "/dashboard/{org}/history", nil, 200),
		"GET /dashboard/{org}/live/events": {
			attack: func(t *testing.T, tn *tenants) {
				code, data := tn.ownerA.openStream("/dashboard/globex/live/events")
				if code != http.StatusNotFound || strings.Contains(data, "Bert") {
					t.Fatalf("Acme's owner streamed Globex's rooms: %d %q", code, data)
				}
				if tn.auditCount(tn.globex, "cross_org.denied") != 1 {
					t.Fatal("the attempt is not audited in Globex")
				}
			},
			own: func(t *testing.T, tn *tenants) {
				code, data := tn.ownerA.openStream("/dashboard/acme/live/events")
				if code != 200 || !strings.Contains(data, "Anna") || strings.Contains(data, "Bert") {
					t.Fatalf("Acme's own stream: %d %q", code, data)
				}
			},
		},
		"GET /dashboard/{org}/rooms/{room}":                     crossOrgRoom("GET", "/dashboard/{org}/rooms/{room}", nil, 200),
		"POST /dashboard/{org}/rooms/{room}/members/{uid}/kick": crossOrgRoom("POST", "/dashboard/{org}/rooms/{room}/members/{uid}/kick", nil, http.StatusSeeOther),
		"POST /dashboard/{org}/rooms/{room}/close":              crossOrgRoom("POST", "/dashboard/{org}/rooms/{room}/close", nil, http.StatusSeeOther),
		"POST /dashboard/{org}/rooms/{room}/settings":           crossOrgRoom("POST", "/dashboard/{org}/rooms/{room}/settings", url.Values{"locked": {"true"}}, 200),
		"POST /dashboard/{org}/rooms/{room}/invites":            crossOrgRoom("POST", "/dashboard/{org}/rooms/{room}/invites", url.Values{"hours": {"1"}}, 200),
		"POST /dashboard/{org}/rooms/{room}/invites/{id}/revoke": {
			attack: func(t *testing.T, tn *tenants) {
				tn.ownerB.roomInvite("globex", "standup", 0)
				theirs, _ := tn.a.store.ListRoomInvites(context.Background(), tn.globex.ID, "standup")
				res, body := tn.ownerA.form("/dashboard/acme/rooms/standup/invites/"+strconv.FormatInt(theirs[0].ID, 10)+"/revoke", nil)
				wantStatus(t, res, body, http.StatusNotFound)
				if after, _ := tn.a.store.ListRoomInvites(context.Background(), tn.globex.ID, "standup"); after[0].Revoked {
					t.Fatal("Acme revoked Globex's invite")
				}
				if tn.auditCount(tn.acme, "room.invite.revoke.denied") != 1 {
					t.Fatal("the attempt is not audited in Acme")
				}
			},
			own: func(t *testing.T, tn *tenants) {
				tn.ownerA.roomInvite("acme", "standup", 0)
				ours, _ := tn.a.store.ListRoomInvites(context.Background(), tn.acme.ID, "standup")
				res, body := tn.ownerA.form("/dashboard/acme/rooms/standup/invites/"+strconv.FormatInt(ours[0].ID, 10)+"/revoke", nil)
				wantStatus(t, res, body, 200)
			},
		},
		// An invite link is signed for one organization: Globex's link under
		// Acme's address is the same 404 as a forged one, and uses nothing.
		"GET /join/{token}": {
			attack: func(t *testing.T, tn *tenants) {
				tok := tn.ownerB.roomInvite("globex", "standup", 1)
				res, body := tn.partA.page("/o/acme/join/" + tok)
				wantStatus(t, res, body, http.StatusNotFound)
				if strings.Contains(body, "standup") {
					t.Fatalf("the 404 names Globex's room: %.300s", body)
				}
			},
			own: func(t *testing.T, tn *tenants) {
				tok := tn.ownerA.roomInvite("acme", "standup", 1)
				res, body := tn.partA.page("/o/acme/join/" + tok)
				wantStatus(t, res, body, 200)
			},
		},
		"POST /join/{token}": {
			attack: func(t *testing.T, tn *tenants) {
				tok := tn.ownerB.roomInvite("globex", "standup", 1)
				res, body := tn.partA.form("/o/acme/join/"+tok, nil)
				wantStatus(t, res, body, http.StatusNotFound)
				if list, _ := tn.a.store.ListRoomInvites(context.Background(), tn.globex.ID, "standup"); list[0].Uses != 0 {
					t.Fatalf("Globex's invite was used from Acme: %+v", list[0])
				}
			},
			own: func(t *testing.T, tn *tenants) {
				tok := tn.ownerA.roomInvite("acme", "standup", 1)
				res, body := tn.partA.form("/o/acme/join/"+tok, nil)
				wantRedirect(t, res, body, "/o/acme/?room=standup")
			},
		},
	}
}
