package server_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"roomhub/config"
)

func TestSecurityHeaders(t *testing.T) {
	a := newApp(t, func(c *config.Config) { c.TrustedProxies = mustPrefix(t, "127.0.0.1/32") })
	u := a.browser("")
	res, body := u.do("GET", "/", nil, map[string]string{"Accept": "text/html", "X-Forwarded-Proto": "https"})
	h := res.Header
	want := map[string]string{
		"X-Content-Type-Options":    "nosniff",
		"X-Frame-Options":           "DENY",
		"Referrer-Policy":           "strict-origin-when-cross-origin",
		"Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
	}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	csp := h.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'self'", "frame-ancestors 'none'", "object-src 'none'", "base-uri 'self'", "form-action 'self'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("CSP lacks %q: %s", d, csp)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows inline or eval: %s", csp)
	}
	nonce := regexp.MustCompile(`'nonce-([0-9a-f]+)'`).FindStringSubmatch(csp)
	if nonce == nil || !strings.Contains(body, `nonce="`+nonce[1]+`"`) {
		t.Fatalf("page scripts do not carry the CSP nonce")
	}
	res2, _ := u.do("GET", "/", nil, map[string]string{"Accept": "text/html"})
	if res2.Header.Get("Content-Security-Policy") == csp {
		t.Error("nonce reused across requests")
	}
	if res2.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent over plain HTTP")
	}
	if pp := h.Get("Permissions-Policy"); !strings.Contains(pp, "camera=()") || !strings.Contains(pp, "microphone=()") {
		t.Errorf("lobby Permissions-Policy %q must deny camera and microphone", pp)
	}
	room, _ := u.do("GET", "/room/", nil, map[string]string{"Accept": "text/html"})
	if pp := room.Header.Get("Permissions-Policy"); !strings.Contains(pp, "camera=(self)") || !strings.Contains(pp, "microphone=(self)") {
		t.Errorf("room Permissions-Policy %q must allow camera and microphone for self", pp)
	}
}

func TestHostHeaderChecked(t *testing.T) {
	a := newApp(t)
	req, _ := http.NewRequest("GET", a.srv.URL+"/get_token/?channel=r", nil)
	req.Host = "evil.example"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Fatalf("foreign Host: %d", res.StatusCode)
	}
	// Probes come by IP from load balancers and are exempt.
	req, _ = http.NewRequest("GET", a.srv.URL+"/healthz", nil)
	req.Host = "10.0.0.7:8080"
	res, _ = http.DefaultClient.Do(req)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("healthz with a pod-IP Host: %d", res.StatusCode)
	}
}

func TestHTTPSRedirect(t *testing.T) {
	a := newApp(t, func(c *config.Config) {
		c.SecureSSLRedirect = true
		c.TrustedProxies = mustPrefix(t, "127.0.0.1/32")
	})
	u := &user{a: a, c: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	res, _ := u.do("GET", "/room/?x=1", nil, nil)
	if res.StatusCode != 301 || !strings.HasPrefix(res.Header.Get("Location"), "https://127.0.0.1") || !strings.HasSuffix(res.Header.Get("Location"), "/room/?x=1") {
		t.Fatalf("plain HTTP: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if res, _ := u.do("GET", "/room/", nil, map[string]string{"X-Forwarded-Proto": "https"}); res.StatusCode != 200 {
		t.Fatalf("HTTPS via trusted proxy: %d", res.StatusCode)
	}
}

func TestCORS(t *testing.T) {
	a := newApp(t, func(c *config.Config) { c.CORSOrigins = []string{"https://app.example.com"} })
	u := a.browser("")
	pre := map[string]string{"Access-Control-Request-Method": "POST", "Origin": "https://app.example.com"}
	res, _ := u.do("OPTIONS", "/create_member/", nil, pre)
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" || res.Header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("allowed preflight: %d %v", res.StatusCode, res.Header)
	}
	pre["Origin"] = "https://evil.example"
	res, _ = u.do("OPTIONS", "/create_member/", nil, pre)
	if res.StatusCode != 403 || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign preflight: %d %v", res.StatusCode, res.Header)
	}
	res, _ = u.do("GET", "/get_token/?channel=r", nil, map[string]string{"Origin": "https://evil.example"})
	if res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS headers for a foreign origin")
	}
}

func TestErrorsAreGenericWithRequestID(t *testing.T) {
	a := newApp(t)
	u := a.browser("")
	res, body := u.do("GET", "/no/such/page", nil, map[string]string{"Accept": "text/html"})
	id := res.Header.Get("X-Request-ID")
	if res.StatusCode != 404 || id == "" || !strings.Contains(body, id) || !strings.Contains(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("HTML 404: %d id %q", res.StatusCode, id)
	}
	res, body = u.do("GET", "/no/such/api", nil, nil)
	m := decode(t, body)
	if res.StatusCode != 404 || m["request_id"] != res.Header.Get("X-Request-ID") || m["error"] == "" {
		t.Fatalf("JSON 404: %d %v", res.StatusCode, m)
	}
	// A store failure is a 503 with a generic message, never a stack trace.
	a.store.Close()
	res, body = u.do("GET", "/get_token/?channel=r", nil, nil)
	if res.StatusCode < 500 || strings.Contains(body, "sql") || strings.Contains(body, "goroutine") || !strings.Contains(body, "request_id") {
		t.Fatalf("store failure: %d %s", res.StatusCode, body)
	}
	if res, _ := u.do("GET", "/readyz", nil, nil); res.StatusCode != 503 {
		t.Fatalf("readyz with a closed store: %d", res.StatusCode)
	}
}

func TestOrganizationRoutes(t *testing.T) {
	a := newApp(t)
	acme, err := a.store.CreateOrg(context.Background(), "acme", "Acme")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/o/nosuch/", "/o/nosuch/get_token/?channel=r", "/o/BAD!/"} {
		res, _ := (&user{a: a, c: http.DefaultClient}).do("GET", path, nil, nil)
		if res.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", path, res.StatusCode)
		}
	}
	u := a.browser("/o/acme")
	uid := u.enter("standup", "Road Runner")
	if _, err := a.store.GetMember(context.Background(), acme.ID, "standup", uid); err != nil {
		t.Fatalf("member not in acme: %v", err)
	}
	if _, err := a.store.GetMember(context.Background(), 1, "standup", uid); err == nil {
		t.Fatal("acme's member visible in the default org")
	}
	// The same uid and room under the default org belong to nobody there.
	u.base = ""
	if res, _ := u.post("/delete_member/", map[string]any{"room_name": "standup", "UID": uid}); res.StatusCode != 404 {
		t.Fatalf("cross-org delete: %d", res.StatusCode)
	}
	if res, _ := u.get("/get_member/?room_name=standup&UID=" + itoa(uid)); res.StatusCode != 404 {
		t.Fatalf("cross-org get_member: %d", res.StatusCode)
	}
	// acme's Agora channel is distinct from the default org's room.
	u.base = "/o/acme"
	_, m := u.get("/get_token/?channel=standup")
	if m["channel"] != "o"+itoa(uint32(acme.ID))+"-standup" {
		t.Fatalf("acme channel %v", m["channel"])
	}
}

func TestHealth(t *testing.T) {
	a := newApp(t)
	u := a.browser("")
	for _, p := range []string{"/healthz", "/readyz"} {
		if res, _ := u.do("GET", p, nil, nil); res.StatusCode != 200 {
			t.Errorf("%s: %d", p, res.StatusCode)
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	a := newApp(t)
	u := a.browser("")
	res, body := u.do("DELETE", "/get_token/", nil, map[string]string{"X-CSRF-Token": u.csrf})
	if res.StatusCode != 405 || !strings.Contains(body, "Method not allowed") {
		t.Fatalf("DELETE /get_token/: %d %s", res.StatusCode, body)
	}
}
