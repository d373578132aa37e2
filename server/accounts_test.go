package server_test

import (
	"context"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"roomhub"
	"roomhub/account"
	"roomhub/config"
	"roomhub/server/web"
)

const testPassword = "violet-harbour-lantern-42"

// admin is a person using the dashboard through its HTTP forms.
type admin struct {
	*user
	email, password, secret string
	backup                  []string
}

var (
	reTOTPSecret = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)
	reEnrolment  = regexp.MustCompile(`name="enrolment" value="([^"]+)"`)
	reBackup     = regexp.MustCompile(`<li><code>([a-z2-7]{5}-[a-z2-7]{5})</code></li>`)
	reLink       = regexp.MustCompile(`<code id="one-time-link">([^<]+)</code>`)
	reNewKey     = regexp.MustCompile(`<code id="new-api-key">(rk_[A-Za-z0-9_-]+)</code>`)
)

// org creates an organization.
func (a *app) org(slug string) roomhub.Org {
	a.t.Helper()
	o, err := a.store.CreateOrg(context.Background(), slug, strings.ToUpper(slug[:1])+slug[1:]+" Inc")
	if err != nil {
		a.t.Fatal(err)
	}
	return o
}

// visitor is a browser with no session yet, holding the CSRF token of the
// sign-in page.
func (a *app) visitor() *user {
	a.t.Helper()
	jar, _ := cookiejar.New(nil)
	u := &user{a: a, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	u.refreshCSRF("/login")
	return u
}

func (u *user) refreshCSRF(path string) string {
	u.a.t.Helper()
	res, body := u.page(path)
	if m := csrfMeta.FindStringSubmatch(body); m != nil {
		u.csrf = m[1]
	} else if res.StatusCode == 200 {
		u.a.t.Fatalf("%s has no csrf-token meta tag", path)
	}
	return body
}

// page GETs an HTML page.
func (u *user) page(path string) (*http.Response, string) {
	u.a.t.Helper()
	return u.do("GET", path, nil, map[string]string{"Accept": "text/html"})
}

// form POSTs a form with the CSRF token, as the dashboard's forms do.
func (u *user) form(path string, v url.Values) (*http.Response, string) {
	u.a.t.Helper()
	if v == nil {
		v = url.Values{}
	}
	v.Set("csrf_token", u.csrf)
	return u.do("POST", path, strings.NewReader(v.Encode()), map[string]string{
		"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"})
}

func wantStatus(t *testing.T, res *http.Response, body string, code int) {
	t.Helper()
	if res.StatusCode != code {
		t.Fatalf("%s %s: status %d, want %d; body: %.600s", res.Request.Method, res.Request.URL.Path, res.StatusCode, code, body)
	}
}

func wantRedirect(t *testing.T, res *http.Response, body, to string) {
	t.Helper()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != to {
		t.Fatalf("%s %s: %d to %q, want 303 to %q; body: %.600s", res.Request.Method, res.Request.URL.Path, res.StatusCode, res.Header.Get("Location"), to, body)
	}
}

// code is the current TOTP code of secret on the app's clock.
func (a *app) code(secret string) string {
	a.t.Helper()
	c, err := totp.GenerateCode(secret, a.clk.Now())
	if err != nil {
		a.t.Fatal(err)
	}
	return c
}

// nextStep moves the clock to the next TOTP step, so a fresh code exists.
func (a *app) nextStep() { a.clk.Advance(30 * time.Second) }

// signUp invites email to org with role, accepts the invitation in a new
// browser, and enrols TOTP: the person ends signed in.
func (a *app) signUp(org roomhub.Org, email string, role roomhub.Role) *admin {
	a.t.Helper()
	link, err := account.IssueInvitation(context.Background(), a.store, a.clk.Now(), time.Hour, a.srv.URL, org.ID, email, role, 0)
	if err != nil {
		a.t.Fatal(err)
	}
	path := strings.TrimPrefix(link, a.srv.URL)
	u := a.visitor()
	u.refreshCSRF(path)
	res, body := u.form(path, url.Values{"name": {"Person " + strings.Split(email, "@")[0]}, "password": {testPassword}})
	wantRedirect(a.t, res, body, "/2fa/enrol")
	ad := &admin{user: u, email: email, password: testPassword}
	ad.enrol()
	return ad
}

// enrol completes TOTP enrolment from the enrol page.
func (ad *admin) enrol() {
	t := ad.a.t
	t.Helper()
	body := ad.refreshCSRF("/2fa/enrol")
	sec, enr := reTOTPSecret.FindStringSubmatch(body), reEnrolment.FindStringSubmatch(body)
	if sec == nil || enr == nil {
		t.Fatalf("enrol page lacks the secret or the form: %.800s", body)
	}
	ad.secret = sec[1]
	res, body := ad.form("/2fa/enrol", url.Values{"enrolment": {html.UnescapeString(enr[1])}, "code": {ad.a.code(ad.secret)}})
	wantStatus(t, res, body, 200)
	ad.backup = nil
	for _, m := range reBackup.FindAllStringSubmatch(body, -1) {
		ad.backup = append(ad.backup, m[1])
	}
	if len(ad.backup) != 10 {
		t.Fatalf("enrolment showed %d backup codes, want 10", len(ad.backup))
	}
}

// signIn signs in with password and a fresh TOTP code.
func (ad *admin) signIn() {
	t := ad.a.t
	t.Helper()
	ad.refreshCSRF("/login")
	res, body := ad.form("/login", url.Values{"email": {ad.email}, "password": {ad.password}})
	wantRedirect(t, res, body, "/login/2fa")
	ad.a.nextStep()
	res, body = ad.form("/login/2fa", url.Values{"code": {ad.a.code(ad.secret)}})
	wantRedirect(t, res, body, "/dashboard/")
	ad.refreshCSRF("/dashboard/")
}

func (ad *admin) signOut() {
	ad.a.t.Helper()
	res, body := ad.form("/logout", nil)
	wantRedirect(ad.a.t, res, body, "/login")
}

func TestSignUpEnrolSignOutSignIn(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	ad := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
	res, body := ad.page("/dashboard/acme/settings")
	wantStatus(t, res, body, 200)
	if !strings.Contains(body, "Acme Inc") {
		t.Fatalf("settings page does not name the organization: %.500s", body)
	}
	ad.signOut()
	if res, _ := ad.page("/dashboard/acme/settings"); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("signed out, the dashboard answered %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	ad.signIn()
	res, body = ad.page("/dashboard/acme/users")
	wantStatus(t, res, body, 200)
	if !strings.Contains(body, "ada@acme.example") {
		t.Fatal("users page does not list the owner")
	}
}

func TestDashboardNeedsSecondFactor(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	ad := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
	ad.signOut()
	ad.refreshCSRF("/login")
	res, body := ad.form("/login", url.Values{"email": {ad.email}, "password": {ad.password}})
	wantRedirect(t, res, body, "/login/2fa")
	// Password alone: every dashboard page sends the person to the 2FA form.
	for _, p := range []string{"/dashboard/", "/dashboard/acme/settings", "/dashboard/acme/keys"} {
		res, body := ad.page(p)
		wantRedirect(t, res, body, "/login/2fa")
	}
}

func TestLockoutAfterFiveFailuresAndNotBefore(t *testing.T) {
	a := newApp(t, func(c *config.Config) { c.TrustedProxies = mustPrefix(t, "127.0.0.1/32") })
	acme := a.org("acme")
	ad := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
	ad.signOut()
	from := func(ip string, pw string) (*http.Response, string) {
		ad.refreshCSRF("/login")
		v := url.Values{"email": {ad.email}, "password": {pw}, "csrf_token": {ad.csrf}}
		return ad.do("POST", "/login", strings.NewReader(v.Encode()), map[string]string{
			"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html", "X-Forwarded-For": ip})
	}
	for i := 1; i <= 4; i++ {
		res, body := from("203.0.113.9", "wrong-password-"+strings.Repeat("x", i))
		wantStatus(t, res, body, http.StatusUnauthorized)
	}
	// Four failures: the right password still works.
	res, body := from("203.0.113.9", ad.password)
	wantRedirect(t, res, body, "/login/2fa")
	// The fifth failure locks the pair...
	res, body = from("203.0.113.9", "wrong-password-fifth")
	wantStatus(t, res, body, http.StatusTooManyRequests)
	// ...even for the right password...
	res, body = from("203.0.113.9", ad.password)
	wantStatus(t, res, body, http.StatusTooManyRequests)
	if !strings.Contains(body, "locked") {
		t.Fatalf("the refusal does not say the sign-in is locked: %.400s", body)
	}
	// ...but only that pair: the same account from another address works.
	res, body = from("198.51.100.7", ad.password)
	wantRedirect(t, res, body, "/login/2fa")
	// The lock lasts LOCKOUT_DURATION.
	a.clk.Advance(time.Hour)
	res, body = from("203.0.113.9", ad.password)
	wantRedirect(t, res, body, "/login/2fa")
	if !a.audited(acme, "login.lockout", false) || !a.audited(acme, "login.locked", false) {
		t.Fatal("the lock and the refused attempt are not in the audit log")
	}
}

// audited reports whether org's audit log holds action with success ok.
func (a *app) audited(org roomhub.Org, action string, ok bool) bool {
	a.t.Helper()
	rows, err := a.store.QueryAudit(context.Background(), org.ID, roomhub.AuditFilter{Action: action, Success: &ok, Limit: 100})
	if err != nil {
		a.t.Fatal(err)
	}
	for _, r := range rows {
		if r.Action == action {
			return true
		}
	}
	return false
}

func TestLoginRateLimit(t *testing.T) {
	a := newApp(t)
	u := a.visitor()
	for i := 0; i < web.LimitLogin.Requests; i++ {
		res, body := u.form("/login", url.Values{"email": {"nobody@example.com"}, "password": {"wrong-password-123"}})
		if res.StatusCode == http.StatusTooManyRequests && strings.Contains(body, "Retry") {
			t.Fatalf("request %d already rate limited", i+1)
		}
	}
	res, body := u.form("/login", url.Values{"email": {"nobody@example.com"}, "password": {"wrong-password-123"}})
	wantStatus(t, res, body, http.StatusTooManyRequests)
	if res.Header.Get("Retry-After") == "" || !strings.Contains(body, "10 per hour") {
		t.Fatalf("429 without Retry-After or the limit: %v %s", res.Header, body)
	}
}

func TestTOTPReplayWithinStepRefused(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	ad := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
	ad.signOut()
	a.nextStep()
	code := a.code(ad.secret)
	// First sign-in with the code.
	ad.refreshCSRF("/login")
	res, body := ad.form("/login", url.Values{"email": {ad.email}, "password": {ad.password}})
	wantRedirect(t, res, body, "/login/2fa")
	res, body = ad.form("/login/2fa", url.Values{"code": {code}})
	wantRedirect(t, res, body, "/dashboard/")
	// An attacker who saw the code replays it within the same step.
	eve := a.visitor()
	res, body = eve.form("/login", url.Values{"email": {ad.email}, "password": {ad.password}})
	wantRedirect(t, res, body, "/login/2fa")
	res, body = eve.form("/login/2fa", url.Values{"code": {code}})
	wantStatus(t, res, body, http.StatusUnauthorized)
	if res, _ := eve.page("/dashboard/acme/settings"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("replayed code reached the dashboard: %d", res.StatusCode)
	}
	if !a.audited(acme, "2fa.replay", false) {
		t.Fatal("the replay is not audited")
	}
}

func TestBackupCodeSingleUse(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	ad := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
	code := ad.backup[3]
	for i, want := range []int{http.StatusSeeOther, http.StatusUnauthorized} {
		ad.signOut()
		ad.refreshCSRF("/login")
		res, body := ad.form("/login", url.Values{"email": {ad.email}, "password": {ad.password}})
		wantRedirect(t, res, body, "/login/2fa")
		res, body = ad.form("/login/2fa", url.Values{"code": {strings.ToUpper(code)}})
		if res.StatusCode != want {
			t.Fatalf("use %d of a backup code: %d, want %d: %.300s", i+1, res.StatusCode, want, body)
		}
	}
}

func TestSessionFixationImpossible(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	ad := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
	ad.signOut()
	// The attacker plants a session cookie of their choosing in the
	// victim's browser before the victim signs in.
	planted := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	srvURL, _ := url.Parse(a.srv.URL)
	ad.c.Jar.SetCookies(srvURL, []*http.Cookie{{Name: web.UserSessionCookie, Value: planted, Path: "/"}})
	ad.signIn()
	var got string
	for _, c := range ad.c.Jar.Cookies(srvURL) {
		if c.Name == web.UserSessionCookie {
			got = c.Value
		}
	}
	if got == "" || got == planted {
		t.Fatalf("after sign-in the session cookie is %q: the planted value survived", got)
	}
	// The planted value grants nothing.
	eve := a.visitor()
	eve.c.Jar.SetCookies(srvURL, []*http.Cookie{{Name: web.UserSessionCookie, Value: planted, Path: "/"}})
	if res, _ := eve.page("/dashboard/acme/settings"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the planted cookie reached the dashboard: %d", res.StatusCode)
	}
	// Neither does the pending (password-only) cookie once 2FA rotated it.
}

func TestSignOutEverywhere(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	ad := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
	laptop := &admin{user: a.visitor(), email: ad.email, password: ad.password, secret: ad.secret}
	laptop.signIn()
	res, body := ad.form("/logout/all", nil)
	wantRedirect(t, res, body, "/login")
	if res, _ := laptop.page("/dashboard/acme/settings"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the other session survived sign out everywhere: %d", res.StatusCode)
	}
}

// TestViewerCannotAct: a viewer reads the pages and gets 404 on every
// action, which is audited.
func TestViewerCannotAct(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	owner := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
	viewer := a.signUp(acme, "vic@acme.example", roomhub.RoleViewer)
	res, body := viewer.page("/dashboard/acme/keys")
	wantStatus(t, res, body, 200)
	if strings.Contains(body, "Create key") {
		t.Fatal("the viewer sees the create-key form")
	}
	res, body = viewer.form("/dashboard/acme/keys", url.Values{"name": {"sneaky"}})
	wantStatus(t, res, body, http.StatusNotFound)
	res, body = viewer.form("/dashboard/acme/invitations", url.Values{"email": {"x@acme.example"}, "role": {"owner"}})
	wantStatus(t, res, body, http.StatusNotFound)
	if !a.audited(acme, "permission.denied", false) {
		t.Fatal("the viewer's attempt is not audited")
	}
	_ = owner
}

func TestRevokedKeyRefusedAtOnce(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	ad := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
	res, body := ad.form("/dashboard/acme/keys", url.Values{"name": {"ci"}})
	wantStatus(t, res, body, 200)
	m := reNewKey.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the new key is not shown: %.600s", body)
	}
	key := m[1]
	if res, _ := ad.page("/dashboard/acme/keys"); res.StatusCode != 200 {
		t.Fatal("keys page")
	} else if _, again := ad.page("/dashboard/acme/keys"); strings.Contains(again, key) {
		t.Fatal("the key is shown a second time")
	}
	call := func() int {
		req, _ := http.NewRequest("GET", a.srv.URL+"/api/v1/rooms", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := call(); got != 200 {
		t.Fatalf("fresh key: %d", got)
	}
	keys, _ := a.store.ListAPIKeys(context.Background(), acme.ID)
	res, body = ad.form("/dashboard/acme/keys/"+strconv.FormatInt(keys[0].ID, 10)+"/revoke", nil)
	wantStatus(t, res, body, 200)
	if got := call(); got != http.StatusUnauthorized {
		t.Fatalf("revoked key: %d, want 401", got)
	}
	if !a.audited(acme, "apikey.use.denied", false) {
		t.Fatal("the revoked key's use is not audited")
	}
}

// TestOrgAgoraCredentials: an owner sets the organization's own Agora
// project; the certificate is never rendered again, the organization's
// tokens use its App ID, other organizations keep the server's.
func TestOrgAgoraCredentials(t *testing.T) {
	a := newApp(t, func(c *config.Config) { c.AgoraAppID, c.AgoraCertificate = testAppID, testCert })
	acme := a.org("acme")
	a.org("globex")
	ad := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
	const ownApp, ownCert = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
	res, body := ad.form("/dashboard/acme/settings/agora", url.Values{"app_id": {"not-hex"}, "certificate": {ownCert}})
	wantStatus(t, res, body, http.StatusBadRequest)
	if !strings.Contains(body, "32 hexadecimal") {
		t.Fatalf("no clear error: %.300s", body)
	}
	res, body = ad.form("/dashboard/acme/settings/agora", url.Values{"app_id": {ownApp}, "certificate": {ownCert}})
	wantStatus(t, res, body, http.StatusOK)
	_, page := ad.page("/dashboard/acme/settings")
	if strings.Contains(page, ownCert) || strings.Contains(body, ownCert) {
		t.Fatal("the certificate is shown after saving")
	}
	set, _ := a.store.OrgSettings(context.Background(), acme.ID)
	if strings.Contains(set.AgoraCertificate, ownCert) || set.AgoraCertificate == "" {
		t.Fatal("the certificate is stored in clear")
	}
	for base, want := range map[string]string{"/o/acme": ownApp, "/o/globex": testAppID, "": testAppID} {
		u := a.browser(base)
		res, m := u.get("/get_token/?channel=standup")
		if res.StatusCode != 200 || m["app_id"] != want {
			t.Errorf("%s: app_id %v, want %s", base, m["app_id"], want)
		}
	}
	if !a.audited(acme, "credentials.update", true) {
		t.Fatal("the change is not audited")
	}
}

func TestAuditLogFiltersAndCSV(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	ad := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
	ad.form("/dashboard/acme/keys", url.Values{"name": {"ci"}})
	res, body := ad.page("/dashboard/acme/audit?action=apikey")
	wantStatus(t, res, body, 200)
	if !strings.Contains(body, "apikey.create") || strings.Contains(body, "2fa.enrol") {
		t.Fatalf("action filter: %.800s", body)
	}
	res, body = ad.page("/dashboard/acme/audit?result=maybe")
	wantStatus(t, res, body, http.StatusBadRequest)
	res, body = ad.page("/dashboard/acme/audit.csv")
	wantStatus(t, res, body, 200)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Fatalf("content type %q", ct)
	}
	if !strings.HasPrefix(body, "id,time,actor_id") || !strings.Contains(body, "2fa.enrol") {
		t.Fatalf("csv: %.400s", body)
	}
	// The filtered page's Export CSV link exports what the page shows.
	res, body = ad.page("/dashboard/acme/audit?action=apikey&result=success")
	wantStatus(t, res, body, 200)
	m := regexp.MustCompile(`href="([^"]*/audit\.csv[^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no Export CSV link: %.800s", body)
	}
	link := html.UnescapeString(m[1])
	if !strings.Contains(link, "action=apikey") || !strings.Contains(link, "result=success") {
		t.Fatalf("Export CSV link %q lost the filters", link)
	}
	res, body = ad.page(link)
	wantStatus(t, res, body, 200)
	if !strings.Contains(body, "apikey.create") || strings.Contains(body, "2fa.enrol") {
		t.Fatalf("filtered export: %.400s", body)
	}
}

// TestPasswordResetRateLimit: the link forms take 5 posts an hour per IP.
func TestPasswordResetRateLimit(t *testing.T) {
	a := newApp(t)
	u := a.visitor()
	forged := "/reset/" + strings.Repeat("B", 43)
	for i := 0; i < web.LimitPasswordReset.Requests; i++ {
		res, body := u.form(forged, url.Values{"password": {testPassword}})
		wantStatus(t, res, body, http.StatusNotFound)
	}
	res, body := u.form("/invite/"+strings.Repeat("C", 43), url.Values{"password": {testPassword}})
	wantStatus(t, res, body, http.StatusTooManyRequests)
	if !strings.Contains(body, "5 per hour") {
		t.Fatalf("429 body: %s", body)
	}
	// Looking a link up is not limited: the token cannot be guessed.
	res, body = u.page(forged)
	wantStatus(t, res, body, http.StatusNotFound)
}
