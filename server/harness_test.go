package server_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"roomhub/activity"
	"roomhub/server/web"
	"strings"
	"sync"
	"testing"
	"time"

	"roomhub"
	"roomhub/account"
	"roomhub/agora"
	"roomhub/clock"
	"roomhub/config"
	"roomhub/hub"
	"roomhub/hub/memory"
	"roomhub/secret"
	"roomhub/server"
	"roomhub/sso"
	"roomhub/store/sqlstore"
	"roomhub/store/sqlstore/sqltest"
	"roomhub/ui"
	"roomhub/video"

	"github.com/go-chi/chi/v5"
)

const (
	testAppID = "970CA35de60c44645bbae8a215061b33"
	testCert  = "5CFd2fd1755d40ecb72977518be15d3b"
)

// app is a whole Roomhub behind a real HTTP listener, on a real SQLite file.
type app struct {
	t      *testing.T
	srv    *httptest.Server
	store  *sqlstore.Store
	node   *hub.Node
	clk    *clock.Fake
	cfg    config.Config
	box    *secret.Box
	sso    *sso.SSO
	router chi.Router
	video  *video.Service
	logs   *logBuffer // the server's log, JSON lines
}

// logBuffer collects a node's log for tests that check what is logged.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Keys of the test configuration.
const (
	testMasterKey    = "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhs="
	testAPIKeySecret = "api-key-secret-for-tests-0123456789abcdef"
)

func newApp(t *testing.T, mutate ...func(*config.Config)) *app {
	t.Helper()
	return newAppOn(t, "sqlite", mutate...)
}

// newAppOn is newApp on the named store kind (sqltest.Kinds).
func newAppOn(t *testing.T, kind string, mutate ...func(*config.Config)) *app {
	t.Helper()
	return newAppWith(t, kind, nil, mutate...)
}

// newAppWith is newAppOn with single sign-on.
func newAppWith(t *testing.T, kind string, signOn *sso.SSO, mutate ...func(*config.Config)) *app {
	t.Helper()
	cfg := testConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	return buildApp(t, cfg, sqltest.Open(t, kind), memory.New(), signOn)
}

// testConfig is the configuration every test node starts from.
func testConfig() config.Config {
	return config.Config{
		SecretKey:       "k3y-for-tests-" + strings.Repeat("abcdefghij", 5),
		Debug:           true,
		AllowedHosts:    []string{"127.0.0.1", "localhost"},
		AgoraTokenTTL:   time.Hour,
		HSTSSeconds:     31536000,
		MemberGrace:     15 * time.Second,
		MasterKey:       testMasterKey,
		APIKeySecret:    testAPIKeySecret,
		LockoutLimit:    5,
		LockoutDuration: time.Hour,
		InviteTTL:       72 * time.Hour,
	}
}

// buildApp serves one node over st and bus; nodes of a cluster share both.
func buildApp(t *testing.T, cfg config.Config, st *sqlstore.Store, bus hub.Bus, signOn *sso.SSO) *app {
	t.Helper()
	ctx := context.Background()
	org, err := st.DefaultOrg(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clk := clock.NewFake(time.Now())
	a := &app{t: t, sso: signOn, logs: &logBuffer{}}
	minter := &agora.Minter{AppID: cfg.AgoraAppID, Certificate: cfg.AgoraCertificate, TTL: cfg.AgoraTokenTTL, DefaultOrg: org.ID, Now: clk.Now}
	box, err := secret.New(cfg.MasterKey)
	if err != nil {
		t.Fatal(err)
	}
	tokens := &agora.Tenants{Default: minter, Lookup: func(ctx context.Context, org int64) (agora.Credentials, bool, error) {
		set, err := st.OrgSettings(ctx, org)
		if err != nil || set.AgoraAppID == "" {
			return agora.Credentials{}, false, err
		}
		cert, err := box.Open(set.AgoraCertificate, secret.AAD(roomhub.SealedSecret{Table: "org_settings", Column: "agora_certificate", ID: org}))
		return agora.Credentials{AppID: set.AgoraAppID, Certificate: cert}, err == nil, err
	}}
	node := hub.NewNode(hub.Config{Grace: cfg.MemberGrace, PingInterval: time.Hour,
		Limits: hub.Limits{MaxMembers: cfg.MaxRoomMembers, MaxRooms: cfg.MaxOrgRooms}}, bus, st, tokens, clk, nil)
	recorder := activity.New(st, bus, slog.New(slog.DiscardHandler))
	node.OnLifecycle(recorder)
	node.Start()
	pages, err := ui.New()
	if err != nil {
		t.Fatal(err)
	}
	// The video service keeps real time: its queue paces real calls to
	// the fake Agora, and the tests wait for outcomes with deadlines.
	vid := video.New(video.ConfigFrom(cfg), st, tokens, box, node, clock.Real{}, slog.New(slog.DiscardHandler))
	vctx, vstop := context.WithCancel(context.Background())
	go vid.Run(vctx)
	t.Cleanup(vstop)
	s, err := server.New(ctx, server.Deps{Config: cfg, Store: st, Accounts: st, Rooms: st, History: st, Moderation: st, Node: node, Tokens: tokens,
		Box: box, Policy: account.NewPolicy(), SSO: a.sso, UI: pages, Clock: clk, Video: vid,
		Log: slog.New(slog.NewJSONHandler(a.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		node.Shutdown(c)
		hs.Close()
		recorder.Close(c)
	})
	a.srv, a.store, a.node, a.clk, a.cfg, a.box, a.router, a.video = hs, st, node, clk, cfg, box, s.Router(), vid
	return a
}

// user is one browser: its own cookie jar and CSRF token.
type user struct {
	a    *app
	c    *http.Client
	csrf string
	base string
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)"`)

// browser opens the lobby of base ("" or "/o/slug") like a person would,
// keeping the session cookie and CSRF token the page hands out.
func (a *app) browser(base string) *user {
	a.t.Helper()
	jar, _ := cookiejar.New(nil)
	u := &user{a: a, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, base: base}
	res, body := u.do("GET", base+"/", nil, map[string]string{"Accept": "text/html"})
	if res.StatusCode != 200 {
		a.t.Fatalf("lobby: %d %s", res.StatusCode, body)
	}
	m := csrfMeta.FindStringSubmatch(body)
	if m == nil {
		a.t.Fatalf("lobby has no csrf-token meta tag")
	}
	u.csrf = m[1]
	return u
}

func (u *user) do(method, path string, body io.Reader, headers map[string]string) (*http.Response, string) {
	u.a.t.Helper()
	req, err := http.NewRequest(method, u.a.srv.URL+path, body)
	if err != nil {
		u.a.t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := u.c.Do(req)
	if err != nil {
		u.a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	u.followCSRF(res, b)
	return res, string(b)
}

// followCSRF keeps the CSRF token a browser would hold: the one of the
// last page it loaded, and after a redirect that starts or ends a
// dashboard session (whose token is bound to it), the one of the page it
// is sent to.
func (u *user) followCSRF(res *http.Response, body []byte) {
	if m := csrfMeta.FindSubmatch(body); m != nil {
		u.csrf = string(m[1])
		return
	}
	loc := res.Header.Get("Location")
	if res.StatusCode/100 != 3 || !strings.HasPrefix(loc, "/") {
		return
	}
	for _, c := range res.Cookies() {
		if c.Name == web.UserSessionCookie {
			req, _ := http.NewRequest("GET", u.a.srv.URL+loc, nil)
			req.Header.Set("Accept", "text/html")
			if next, err := u.c.Do(req); err == nil {
				nb, _ := io.ReadAll(next.Body)
				next.Body.Close()
				if m := csrfMeta.FindSubmatch(nb); m != nil {
					u.csrf = string(m[1])
				}
			}
			return
		}
	}
}

// post sends JSON with the CSRF header, as the room page does.
func (u *user) post(path string, v any) (*http.Response, map[string]any) {
	u.a.t.Helper()
	b, _ := json.Marshal(v)
	res, body := u.do("POST", u.base+path, strings.NewReader(string(b)), map[string]string{
		"Content-Type": "application/json", "X-CSRF-Token": u.csrf})
	return res, decode(u.a.t, body)
}

func (u *user) get(path string) (*http.Response, map[string]any) {
	u.a.t.Helper()
	res, body := u.do("GET", u.base+path, nil, nil)
	return res, decode(u.a.t, body)
}

func decode(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if body != "" {
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatalf("body is not JSON: %q", body)
		}
	}
	return m
}

// token calls get_token and returns the uid.
func (u *user) token(room string) uint32 {
	u.a.t.Helper()
	res, m := u.get("/get_token/?channel=" + url.QueryEscape(room))
	if res.StatusCode != 200 {
		u.a.t.Fatalf("get_token: %d %v", res.StatusCode, m)
	}
	return uint32(m["uid"].(float64))
}

// enter gets a token and creates the member, as the lobby and room page do.
func (u *user) enter(room, name string) uint32 {
	u.a.t.Helper()
	uid := u.token(room)
	res, m := u.post("/create_member/", map[string]any{"name": name, "room_name": room, "UID": uid})
	if res.StatusCode != 200 {
		u.a.t.Fatalf("create_member: %d %v", res.StatusCode, m)
	}
	return uid
}

func mustPrefix(t *testing.T, s string) []netip.Prefix {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return []netip.Prefix{p}
}

// audit returns the default org's audit rows, newest first.
func (a *app) audit() []roomhub.AuditEntry {
	a.t.Helper()
	org, _ := a.store.DefaultOrg(context.Background())
	rows, err := a.store.ListAudit(context.Background(), org.ID, 100)
	if err != nil {
		a.t.Fatal(err)
	}
	return rows
}

// trustLocalProxy lets a test send each request "from" an address of its
// choosing (X-Forwarded-For), so that the per-address rate limits and locks
// of one test do not run into each other.
func trustLocalProxy(t *testing.T) func(*config.Config) {
	return func(c *config.Config) { c.TrustedProxies = mustPrefix(t, "127.0.0.1/32") }
}

// postFrom posts a form from ip, with the CSRF token.
func postFrom(u *user, ip, path string, v url.Values) (*http.Response, string) {
	u.a.t.Helper()
	if v == nil {
		v = url.Values{}
	}
	v.Set("csrf_token", u.csrf)
	return u.do("POST", path, strings.NewReader(v.Encode()), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html", "X-Forwarded-For": ip})
}

// signInFrom signs ad in from ip with the password and a fresh code.
func (ad *admin) signInFrom(ip string) {
	t := ad.a.t
	t.Helper()
	ad.refreshCSRF("/login")
	res, body := postFrom(ad.user, ip, "/login", url.Values{"email": {ad.email}, "password": {ad.password}})
	wantRedirect(t, res, body, "/login/2fa")
	ad.a.nextStep()
	res, body = postFrom(ad.user, ip, "/login/2fa", url.Values{"code": {ad.a.code(ad.secret)}})
	wantRedirect(t, res, body, "/dashboard/")
	ad.refreshCSRF("/dashboard/")
}

// sessionCookie is the dashboard session cookie u's browser holds.
func (u *user) sessionCookie() string {
	base, _ := url.Parse(u.a.srv.URL)
	for _, c := range u.c.Jar.Cookies(base) {
		if c.Name == web.UserSessionCookie {
			return c.Value
		}
	}
	return ""
}

// setSessionCookie puts a session cookie (one an attacker kept) back.
func (u *user) setSessionCookie(v string) {
	base, _ := url.Parse(u.a.srv.URL)
	u.c.Jar.SetCookies(base, []*http.Cookie{{Name: web.UserSessionCookie, Value: v, Path: "/"}})
}

func auditRows(t *testing.T, a *app, org roomhub.Org, suffix string) []roomhub.AuditEntry {
	return auditRowsOf(t, a, org.ID, suffix)
}

// auditRowsOf returns the rows of organization id (auth.NoOrgAudit for
// the rows of no organization) whose action ends in suffix.
func auditRowsOf(t *testing.T, a *app, orgID int64, suffix string) []roomhub.AuditEntry {
	t.Helper()
	rows, err := a.store.QueryAudit(context.Background(), orgID, roomhub.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []roomhub.AuditEntry
	for _, r := range rows {
		if strings.HasSuffix(r.Action, suffix) {
			out = append(out, r)
		}
	}
	return out
}

// passwordHash is the stored hash of email's account.
func passwordHash(t *testing.T, a *app, email string) string {
	t.Helper()
	u, err := a.store.UserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u.PasswordHash
}

var (
	reRequestID = regexp.MustCompile(`"request_id":"[^"]*"`)
	reNonce     = regexp.MustCompile(`nonce="[0-9a-f]+"`)
)

// sameAnswer reports whether two responses are the same but for their
// request id and CSP nonce, after each replacement old→new in repl.
func sameAnswer(a, b string, repl ...string) bool {
	norm := func(s string) string {
		s = reRequestID.ReplaceAllString(s, `"request_id":""`)
		return reNonce.ReplaceAllString(s, `nonce=""`)
	}
	return norm(a) == norm(strings.NewReplacer(repl...).Replace(b))
}
