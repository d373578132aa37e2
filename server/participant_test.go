package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"roomhub/config"
	"roomhub/server/web"
)

func TestGetToken(t *testing.T) {
	t.Run("without video credentials", func(t *testing.T) {
		a := newApp(t)
		u := a.browser("")
		res, m := u.get("/get_token/?channel=standup")
		if res.StatusCode != 200 {
			t.Fatalf("status %d %v", res.StatusCode, m)
		}
		if m["token"] != nil || m["app_id"] != nil || m["channel"] != "standup" {
			t.Fatalf("body %v: token and app_id must be null without credentials", m)
		}
		if uid := m["uid"].(float64); uid < 1 || uid > 4294967295 || uid != float64(uint32(uid)) {
			t.Fatalf("uid %v out of range", uid)
		}
	})
	t.Run("with video credentials", func(t *testing.T) {
		a := newApp(t, func(c *config.Config) { c.AgoraAppID, c.AgoraCertificate = testAppID, testCert })
		u := a.browser("")
		_, m := u.get("/get_token/?channel=standup")
		tok, _ := m["token"].(string)
		if !strings.HasPrefix(tok, "007") || m["app_id"] != testAppID {
			t.Fatalf("body %v", m)
		}
		if strings.Contains(tok, testCert) || strings.Contains(fmt.Sprint(m), testCert) {
			t.Fatal("certificate leaked")
		}
		if exp := int64(m["expires_at"].(float64)); exp != a.clk.Now().Add(a.cfg.AgoraTokenTTL).Unix() {
			t.Fatalf("expires_at %d", exp)
		}
	})
	t.Run("uids are distinct", func(t *testing.T) {
		a := newApp(t)
		u := a.browser("")
		seen := map[uint32]bool{}
		for i := 0; i < 5; i++ {
			uid := u.token("r" + strconv.Itoa(i))
			if seen[uid] {
				t.Fatalf("uid %d issued twice", uid)
			}
			seen[uid] = true
		}
	})
	t.Run("session cookie", func(t *testing.T) {
		a := newApp(t, func(c *config.Config) { c.Debug = false })
		u := &user{a: a, c: &http.Client{}}
		res, _ := u.do("GET", "/get_token/?channel=r", nil, nil)
		var c *http.Cookie
		for _, k := range res.Cookies() {
			if k.Name == web.SessionCookie {
				c = k
			}
		}
		if c == nil || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.MaxAge != 0 || !c.Expires.IsZero() {
			t.Fatalf("session cookie %+v: want HttpOnly, Secure, SameSite=Strict, ending with the browser", c)
		}
	})
}

func TestValidation(t *testing.T) {
	a := newApp(t)
	u := a.browser("")
	uid := u.token("room-1")
	long := strings.Repeat("a", 65)
	tokenCases := []struct{ query, field string }{
		{"", "channel"},
		{"channel=", "channel"},
		{"channel=" + long, "channel"},
		{"channel=bad%20room", "channel"},
		{"channel=%3Cscript%3E", "channel"},
		{"channel=r%C3%A9union", "channel"},
	}
	for _, tc := range tokenCases {
		t.Run("get_token "+tc.query, func(t *testing.T) {
			res, m := u.get("/get_token/?" + tc.query)
			if res.StatusCode != 400 || m["field"] != tc.field || m["error"] == "" {
				t.Fatalf("status %d body %v", res.StatusCode, m)
			}
		})
	}
	memberCases := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"name too short", map[string]any{"name": "A", "room_name": "room-1", "UID": uid}, "name"},
		{"name too long", map[string]any{"name": strings.Repeat("a", 101), "room_name": "room-1", "UID": uid}, "name"},
		{"name with markup", map[string]any{"name": "<b>x</b>", "room_name": "room-1", "UID": uid}, "name"},
		{"name missing", map[string]any{"room_name": "room-1", "UID": uid}, "name"},
		{"room invalid", map[string]any{"name": "Ada", "room_name": "a/b", "UID": uid}, "room_name"},
		{"uid negative", map[string]any{"name": "Ada", "room_name": "room-1", "UID": -1}, "UID"},
		{"uid too big", map[string]any{"name": "Ada", "room_name": "room-1", "UID": 4294967296}, "UID"},
		{"uid fractional", map[string]any{"name": "Ada", "room_name": "room-1", "UID": 1.5}, "UID"},
		{"uid not a number", map[string]any{"name": "Ada", "room_name": "room-1", "UID": "12abc"}, "UID"},
		{"uid missing", map[string]any{"name": "Ada", "room_name": "room-1"}, "UID"},
	}
	for _, tc := range memberCases {
		t.Run("create_member "+tc.name, func(t *testing.T) {
			res, m := u.post("/create_member/", tc.body)
			if res.StatusCode != 400 || m["field"] != tc.field {
				t.Fatalf("status %d body %v, want 400 on %s", res.StatusCode, m, tc.field)
			}
		})
	}
	t.Run("body not JSON", func(t *testing.T) {
		res, body := u.do("POST", "/create_member/", strings.NewReader("{nope"), map[string]string{"Content-Type": "application/json", "X-CSRF-Token": u.csrf})
		if res.StatusCode != 400 || !strings.Contains(body, "JSON") {
			t.Fatalf("status %d body %s", res.StatusCode, body)
		}
	})
	t.Run("oversized body", func(t *testing.T) {
		big := `{"name":"` + strings.Repeat("a", web.MaxBodyBytes) + `"}`
		res, body := u.do("POST", "/create_member/", strings.NewReader(big), map[string]string{"Content-Type": "application/json", "X-CSRF-Token": u.csrf})
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, "too large") {
			t.Fatalf("status %d body %s", res.StatusCode, body)
		}
	})
	t.Run("whitespace collapsed", func(t *testing.T) {
		res, m := u.post("/create_member/", map[string]any{"name": "  Ada \t\n  Lovelace ", "room_name": "room-1", "UID": strconv.Itoa(int(uid))})
		if res.StatusCode != 200 || m["name"] != "Ada Lovelace" {
			t.Fatalf("status %d body %v", res.StatusCode, m)
		}
	})
}

func TestMemberLifecycleAndOwnership(t *testing.T) {
	a := newApp(t)
	ada, eve := a.browser(""), a.browser("")
	uid := ada.enter("standup", "Ada")

	if res, m := ada.get(fmt.Sprintf("/get_member/?UID=%d&room_name=standup", uid)); res.StatusCode != 200 || m["name"] != "Ada" {
		t.Fatalf("get_member: %d %v", res.StatusCode, m)
	}
	if res, _ := ada.get("/get_member/?UID=1&room_name=standup"); res.StatusCode != 404 {
		t.Fatalf("unknown member: %d", res.StatusCode)
	}
	// Eve has no uid in the room: she learns nothing, not even existence.
	if res, _ := eve.get(fmt.Sprintf("/get_member/?UID=%d&room_name=standup", uid)); res.StatusCode != 404 {
		t.Fatalf("stranger get_member: %d", res.StatusCode)
	}

	// Eve, with her own uid in the room, tries to act on Ada's member.
	eve.token("standup")
	body := map[string]any{"name": "Ada", "room_name": "standup", "UID": uid}
	if res, m := eve.post("/delete_member/", body); res.StatusCode != 404 || m["error"] == "" {
		t.Fatalf("wrong session delete: %d %v", res.StatusCode, m)
	}
	if res, _ := eve.post("/create_member/", map[string]any{"name": "Not Ada", "room_name": "standup", "UID": uid}); res.StatusCode != 404 {
		t.Fatalf("wrong session create: %d", res.StatusCode)
	}
	// Ada's uid is for standup only.
	if res, _ := ada.post("/create_member/", map[string]any{"name": "Ada", "room_name": "other", "UID": uid}); res.StatusCode != 404 {
		t.Fatalf("wrong room create: %d", res.StatusCode)
	}
	if m, err := a.store.GetMember(context.Background(), 1, "standup", uid); err != nil || m.Name != "Ada" {
		t.Fatalf("Ada's member after the attacks: %+v %v", m, err)
	}
	denied := 0
	for _, e := range a.audit() {
		if strings.HasSuffix(e.Action, ".denied") && !e.Success && strings.HasSuffix(e.ObjectID, fmt.Sprintf("/%d", uid)) {
			denied++
		}
	}
	// Eve's lookup, her delete, her create, and Ada's create in the wrong room.
	if denied != 4 {
		t.Fatalf("audited %d denied attempts, want 4", denied)
	}

	if res, m := ada.post("/delete_member/", body); res.StatusCode != 200 || m["deleted"] != true {
		t.Fatalf("owner delete: %d %v", res.StatusCode, m)
	}
	if res, _ := ada.get(fmt.Sprintf("/get_member/?UID=%d&room_name=standup", uid)); res.StatusCode != 404 {
		t.Fatalf("get_member after delete: %d", res.StatusCode)
	}
	// Deleting again is harmless.
	if res, m := ada.post("/delete_member/", body); res.StatusCode != 200 || m["deleted"] != false {
		t.Fatalf("second delete: %d %v", res.StatusCode, m)
	}
}

func TestBeaconDeleteCarriesCSRFInBody(t *testing.T) {
	a := newApp(t)
	u := a.browser("")
	uid := u.enter("standup", "Ada")
	// navigator.sendBeacon: no custom headers, token in the body.
	payload := fmt.Sprintf(`{"name":"Ada","room_name":"standup","UID":%d,"csrf_token":%q}`, uid, u.csrf)
	res, body := u.do("POST", "/delete_member/", strings.NewReader(payload), map[string]string{"Content-Type": "application/json"})
	if res.StatusCode != 200 || !strings.Contains(body, `"deleted":true`) {
		t.Fatalf("beacon delete: %d %s", res.StatusCode, body)
	}
	// A form-encoded beacon works too.
	uid = u.enter("standup", "Ada")
	form := fmt.Sprintf("room_name=standup&UID=%d&csrf_token=%s", uid, u.csrf)
	res, body = u.do("POST", "/delete_member/", strings.NewReader(form), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if res.StatusCode != 200 || !strings.Contains(body, `"deleted":true`) {
		t.Fatalf("form beacon delete: %d %s", res.StatusCode, body)
	}
}

func TestCSRF(t *testing.T) {
	a := newApp(t)
	u := a.browser("")
	uid := u.token("standup")
	body := fmt.Sprintf(`{"name":"Ada","room_name":"standup","UID":%d}`, uid)
	other := a.browser("")
	tests := []struct {
		name    string
		headers map[string]string
	}{
		{"no token", map[string]string{"Content-Type": "application/json"}},
		{"wrong token", map[string]string{"Content-Type": "application/json", "X-CSRF-Token": "AAAA" + u.csrf[4:]}},
		{"another session's token", map[string]string{"Content-Type": "application/json", "X-CSRF-Token": other.csrf}},
		{"forged origin", map[string]string{"Content-Type": "application/json", "X-CSRF-Token": u.csrf, "Origin": "https://evil.example"}},
		{"cross-site fetch", map[string]string{"Content-Type": "application/json", "X-CSRF-Token": u.csrf, "Sec-Fetch-Site": "cross-site"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, b := u.do("POST", "/create_member/", strings.NewReader(body), tc.headers)
			if res.StatusCode != 403 || !strings.Contains(b, "CSRF") || !strings.Contains(b, "request_id") {
				t.Fatalf("status %d body %s", res.StatusCode, b)
			}
		})
	}
	if _, err := a.store.GetMember(context.Background(), 1, "standup", uid); err == nil {
		t.Fatal("a refused request created the member")
	}
	// Same origin, right token: accepted.
	res, b := u.do("POST", "/create_member/", strings.NewReader(body), map[string]string{
		"Content-Type": "application/json", "X-CSRF-Token": u.csrf, "Origin": a.srv.URL, "Sec-Fetch-Site": "same-origin"})
	if res.StatusCode != 200 {
		t.Fatalf("same-origin request: %d %s", res.StatusCode, b)
	}
}

func TestRateLimits(t *testing.T) {
	tests := []struct {
		name   string
		limit  web.Limit
		method string
		path   string
	}{
		{"get_token", web.LimitGetToken, "GET", "/get_token/?channel=r"},
		{"get_member", web.LimitGetMember, "GET", "/get_member/?UID=1&room_name=r"},
		{"create_member", web.LimitCreateMember, "POST", "/create_member/"},
		{"delete_member", web.LimitDeleteMember, "POST", "/delete_member/"},
		{"websocket", web.LimitWebSocket, "GET", "/ws/r"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t)
			u := a.browser("")
			send := func() *http.Response {
				res, _ := u.do(tc.method, tc.path, strings.NewReader(`{}`), map[string]string{"Content-Type": "application/json", "X-CSRF-Token": u.csrf})
				return res
			}
			for i := 0; i < tc.limit.Requests; i++ {
				if res := send(); res.StatusCode == 429 {
					t.Fatalf("request %d of %d refused", i+1, tc.limit.Requests)
				}
			}
			res, body := u.do(tc.method, tc.path, strings.NewReader(`{}`), map[string]string{"Content-Type": "application/json", "X-CSRF-Token": u.csrf})
			m := decode(t, body)
			if res.StatusCode != 429 || res.Header.Get("Retry-After") == "" || m["retry_after_seconds"] == nil ||
				m["limit"] != fmt.Sprintf("%d per minute", tc.limit.Requests) || m["error"] == "" {
				t.Fatalf("request %d: status %d headers %v body %v", tc.limit.Requests+1, res.StatusCode, res.Header, m)
			}
		})
	}
}

func TestForwardedForTrustedOnlyFromProxies(t *testing.T) {
	t.Run("untrusted peer cannot dodge the limit", func(t *testing.T) {
		a := newApp(t)
		u := a.browser("")
		for i := 0; i < 11; i++ {
			res, _ := u.do("GET", "/get_token/?channel=r", nil, map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i)})
			if i == 10 && res.StatusCode != 429 {
				t.Fatalf("11th token with spoofed X-Forwarded-For: %d", res.StatusCode)
			}
		}
	})
	t.Run("trusted proxy separates clients", func(t *testing.T) {
		a := newApp(t, func(c *config.Config) { c.TrustedProxies = mustPrefix(t, "127.0.0.0/8") })
		u := a.browser("")
		for i := 0; i < 11; i++ {
			res, _ := u.do("GET", "/get_token/?channel=r", nil, map[string]string{"X-Forwarded-For": fmt.Sprintf("1.2.3.4, 203.0.113.%d", i)})
			if res.StatusCode != 200 {
				t.Fatalf("client %d behind the proxy: %d", i, res.StatusCode)
			}
		}
		// The left-most entry is the client's to forge; the proxy's append is what counts.
		for i := 0; i < 11; i++ {
			res, _ := u.do("GET", "/get_token/?channel=r", nil, map[string]string{"X-Forwarded-For": fmt.Sprintf("10.9.9.%d, 198.51.100.7", i)})
			if i == 10 && res.StatusCode != 429 {
				t.Fatalf("one client forging the left of X-Forwarded-For got past the limit: %d", res.StatusCode)
			}
		}
	})
}
