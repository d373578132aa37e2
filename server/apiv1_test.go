package server_test

import (
	"net/http"
	"net/url"
	"roomhub/server/web"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"roomhub"
)

// TestServerAPI: a key lists its organization's rooms and members, kicks a
// member (their socket closes with 4001, the others see reason "kicked") and
// closes a room (reason "closed").
func TestServerAPI(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	ad := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
	key, _ := ad.createKey("acme")
	tn := &tenants{a: a}
	ann, bob := a.browser("/o/acme"), a.browser("/o/acme")
	annUID, bobUID := ann.enter("standup", "Ann"), bob.enter("standup", "Bob")
	annWS, _, err := ann.socket("standup", a.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	bobWS, _, err := bob.socket("standup", a.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	readFrame(t, annWS) // snapshot
	readFrame(t, bobWS)

	code, body := tn.api("GET", "/api/v1/rooms", key)
	if code != 200 || !strings.Contains(body, `{"name":"standup","members":2`) {
		t.Fatalf("rooms: %d %s", code, body)
	}
	code, body = tn.api("GET", "/api/v1/rooms/standup/members", key)
	if code != 200 || !strings.Contains(body, `"Ann"`) || !strings.Contains(body, `"Bob"`) {
		t.Fatalf("members: %d %s", code, body)
	}
	if code, _ := tn.api("GET", "/api/v1/rooms/nowhere/members", key); code != 404 {
		t.Fatalf("unknown room: %d", code)
	}
	if code, _ := tn.api("GET", "/api/v1/rooms/bad%20name/members", key); code != 400 {
		t.Fatalf("malformed room: %d", code)
	}

	code, body = tn.api("DELETE", "/api/v1/rooms/standup/members/"+strconv.FormatUint(uint64(bobUID), 10), key)
	if code != 200 {
		t.Fatalf("kick: %d %s", code, body)
	}
	leave := readFrame(t, annWS)
	if leave["type"] != "leave" || leave["reason"] != "kicked" {
		t.Fatalf("Ann saw %v", leave)
	}
	for {
		if _, _, err := bobWS.Read(t.Context()); err != nil {
			if websocket.CloseStatus(err) != 4001 {
				t.Fatalf("Bob's socket closed with %v, want 4001", err)
			}
			break
		}
	}
	if code, _ := tn.api("DELETE", "/api/v1/rooms/standup/members/"+strconv.FormatUint(uint64(bobUID), 10), key); code != 404 {
		t.Fatalf("kicking an absent member: %d", code)
	}

	code, body = tn.api("POST", "/api/v1/rooms/standup/close", key)
	if code != 200 || !strings.Contains(body, `"removed":1`) {
		t.Fatalf("close: %d %s", code, body)
	}
	for {
		if _, _, err := annWS.Read(t.Context()); err != nil {
			if websocket.CloseStatus(err) != 4002 {
				t.Fatalf("Ann's socket closed with %v, want 4002", err)
			}
			break
		}
	}
	_ = annUID
	if !a.audited(acme, "member.kick", true) || !a.audited(acme, "room.close", true) {
		t.Fatal("kick and close are not audited")
	}
}

func TestAPIRateLimits(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	ad := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
	tn := &tenants{a: a}
	t.Run("anonymous", func(t *testing.T) {
		for i := 0; i < web.LimitAPIAnonymous.Requests; i++ {
			if code, _ := tn.api("GET", "/api/v1/rooms", "rk_"+strings.Repeat("x", 43)); code != 401 {
				t.Fatalf("request %d: %d, want 401", i+1, code)
			}
		}
		if code, body := tn.api("GET", "/api/v1/rooms", ""); code != 429 || !strings.Contains(body, "50 per hour") {
			t.Fatalf("over the anonymous limit: %d %s", code, body)
		}
	})
	t.Run("per key", func(t *testing.T) {
		key, _ := ad.createKey("acme")
		other, _ := ad.createKey("acme")
		for i := 0; i < web.LimitAPIKey.Requests; i++ {
			if code, _ := tn.api("GET", "/api/v1/rooms", key); code != 200 {
				t.Fatalf("request %d: %d", i+1, code)
			}
		}
		if code, body := tn.api("GET", "/api/v1/rooms", key); code != 429 || !strings.Contains(body, "1000 per hour") {
			t.Fatalf("over the per-key limit: %d %s", code, body)
		}
		if code, _ := tn.api("GET", "/api/v1/rooms", other); code != 200 {
			t.Fatalf("another key shares the budget: %d", code)
		}
	})
	t.Run("key operations", func(t *testing.T) {
		// Two keys were made above; the budget is per user per hour.
		made := 2
		for ; made < web.LimitKeyOps.Requests; made++ {
			res, body := ad.form("/dashboard/acme/keys", url.Values{"name": {"k" + strconv.Itoa(made)}})
			wantStatus(t, res, body, http.StatusOK)
		}
		res, body := ad.form("/dashboard/acme/keys", url.Values{"name": {"one too many"}})
		wantStatus(t, res, body, http.StatusTooManyRequests)
	})
}
