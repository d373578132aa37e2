package server_test

// Tests of the accounts and tenancy security review, written from the
// attacker's side: each asserts the refusal (status and message), that
// nothing changed for the victim, and the audit row the refusal leaves.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"roomhub"
	"roomhub/account"
	"roomhub/config"
	"roomhub/server"
	"roomhub/sso"
	"roomhub/sso/ssotest"
	"roomhub/store/sqlstore/sqltest"
)

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
		if c.Name == server.UserSessionCookie {
			return c.Value
		}
	}
	return ""
}

// setSessionCookie puts a session cookie (one an attacker kept) back.
func (u *user) setSessionCookie(v string) {
	base, _ := url.Parse(u.a.srv.URL)
	u.c.Jar.SetCookies(base, []*http.Cookie{{Name: server.UserSessionCookie, Value: v, Path: "/"}})
}

func auditRows(t *testing.T, a *app, org roomhub.Org, suffix string) []roomhub.AuditEntry {
	return auditRowsOf(t, a, org.ID, suffix)
}

// auditRowsOf returns the rows of organization id (server.NoOrgAudit for
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

// linkPath makes a link with form and returns its path, failing unless
// the page shows one.
func (ad *admin) linkPath(path string, form url.Values) string {
	t := ad.a.t
	t.Helper()
	res, body := ad.form(path, form)
	wantStatus(t, res, body, http.StatusOK)
	m := reLink.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("%s shows no link: %.600s", path, body)
	}
	return strings.TrimPrefix(m[1], ad.a.srv.URL)
}

func usersPath(org string, id int64, action string) string {
	return "/dashboard/" + org + "/users/" + strconv.FormatInt(id, 10) + "/" + action
}

// Finding 1. TestAccountResetsStayInTheirOrganization: resetting a second
// factor or making a password reset link changes a whole account, so an
// organization may do it only to accounts that are its own alone, an admin
// only to viewers, and nobody to themselves. Otherwise Acme's owner could
// take over Globex's owner once she is also in Acme, an admin a fellow
// admin, and a stolen session its account. An account shared with another
// organization gets exactly the 404 of a user who is not there.
func TestAccountResetsStayInTheirOrganization(t *testing.T) {
	a := newApp(t)
	ctx := context.Background()
	acme, globex := a.org("acme"), a.org("globex")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	bo := a.signedIn(acme, "bo@acme.example", roomhub.RoleAdmin)
	pw := passwordHash(t, a, "ada@acme.example")
	fellow := a.enrolled(acme, "cy@acme.example", roomhub.RoleAdmin, pw)
	viewer := a.enrolled(acme, "di@acme.example", roomhub.RoleViewer, pw)
	admin2 := a.enrolled(acme, "ed@acme.example", roomhub.RoleAdmin, pw)
	// Gus owns Globex and is also a viewer in Acme.
	gus := a.enrolled(globex, "gus@globex.example", roomhub.RoleOwner, pw)
	if err := a.store.AddMembership(ctx, acme.ID, gus.userID(), roomhub.RoleViewer); err != nil {
		t.Fatal(err)
	}
	enrolled := func(ad *admin) bool {
		u, err := a.store.UserByEmail(ctx, ad.email)
		return err == nil && u.Enrolled()
	}
	for _, tc := range []struct {
		name   string
		actor  *admin
		target *admin
		want   int
		msg    string // in the refusal
	}{
		{"owner on a user of two organizations", owner, gus, http.StatusNotFound, "Not found."},
		{"admin on a viewer of two organizations", bo, gus, http.StatusNotFound, "Not found."},
		{"admin on a fellow admin", bo, fellow, http.StatusForbidden, "Only an owner can reset an admin"},
		{"admin on the owner", bo, owner, http.StatusForbidden, "Only an owner can change an owner."},
		{"owner on herself", owner, owner, http.StatusForbidden, "cannot reset your own"},
		{"admin on himself", bo, bo, http.StatusForbidden, "cannot reset your own"},
		{"admin on a viewer of this organization only", bo, viewer, http.StatusOK, ""},
		{"owner on an admin of this organization only", owner, admin2, http.StatusOK, ""},
	} {
		for _, action := range []string{"reset-password", "reset-2fa"} {
			t.Run(tc.name+"/"+action, func(t *testing.T) {
				denied := "password.reset.denied"
				if action == "reset-2fa" {
					denied = "2fa.reset.denied"
				}
				before := len(auditRows(t, a, acme, denied))
				hash := passwordHash(t, a, tc.target.email)
				res, body := tc.actor.form(usersPath("acme", tc.target.userID(), action), nil)
				wantStatus(t, res, body, tc.want)
				if tc.want == http.StatusOK {
					return
				}
				if !strings.Contains(body, tc.msg) {
					t.Fatalf("the refusal does not say %q: %.400s", tc.msg, body)
				}
				if strings.Contains(body, "/reset/") {
					t.Fatal("a refused reset still shows a reset link")
				}
				if !enrolled(tc.target) || passwordHash(t, a, tc.target.email) != hash {
					t.Fatal("a refused reset changed the account")
				}
				if after := len(auditRows(t, a, acme, denied)); after != before+1 {
					t.Fatalf("refusal not audited: %d %s rows, was %d", after, denied, before)
				}
				if tc.want == http.StatusNotFound {
					// The very answer a user who is not in Acme gets.
					_, nobody := tc.actor.form(usersPath("acme", 999999, action), nil)
					if !sameAnswer(nobody, body) {
						t.Fatalf("a shared account is refused unlike an unknown user:\n%s\n%s", body, nobody)
					}
				}
			})
		}
	}
	// Globex's owner was never touched: he signs in to Globex as before.
	gus.signIn()
	if res, body := gus.page("/dashboard/globex/settings"); res.StatusCode != http.StatusOK {
		t.Fatalf("Gus lost Globex: %d %.300s", res.StatusCode, body)
	}
	// The users page offers an admin no reset of a fellow admin or himself.
	_, page := bo.page("/dashboard/acme/users")
	for ad, offered := range map[*admin]bool{fellow: false, bo: false, viewer: true} {
		if got := strings.Contains(page, usersPath("acme", ad.userID(), "reset-2fa")); got != offered {
			t.Errorf("reset offered for %s: %v, want %v", ad.email, got, offered)
		}
	}
}

// Finding 1. TestRemovingASharedAccountTouchesOnlyThisOrganization: Acme
// may remove Gus, who owns Globex, from Acme; that ends his Acme
// membership and nothing else: not his password, second factor, Globex
// role or Globex session. A member of Acme alone is signed out as before.
func TestRemovingASharedAccountTouchesOnlyThisOrganization(t *testing.T) {
	a := newApp(t)
	ctx := context.Background()
	acme, globex := a.org("acme"), a.org("globex")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	gus := a.signedIn(globex, "gus@globex.example", roomhub.RoleOwner)
	only := a.signedIn(acme, "di@acme.example", roomhub.RoleViewer)
	if err := a.store.AddMembership(ctx, acme.ID, gus.userID(), roomhub.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	hash := passwordHash(t, a, gus.email)

	res, body := owner.form(usersPath("acme", gus.userID(), "remove"), nil)
	wantStatus(t, res, body, http.StatusOK)
	if _, err := a.store.Membership(ctx, acme.ID, gus.userID()); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
		t.Fatalf("Gus is still in Acme: %v", err)
	}
	if m, err := a.store.Membership(ctx, globex.ID, gus.userID()); err != nil || m.Role != roomhub.RoleOwner {
		t.Fatalf("Gus's Globex membership changed: %+v %v", m, err)
	}
	if u, _ := a.store.UserByEmail(ctx, gus.email); !u.Enrolled() || u.PasswordHash != hash {
		t.Fatal("removing Gus from Acme changed his account")
	}
	if res, body := gus.page("/dashboard/globex/settings"); res.StatusCode != http.StatusOK {
		t.Fatalf("Gus was signed out of Globex: %d %.200s", res.StatusCode, body)
	}
	if res, _ := gus.page("/dashboard/acme/settings"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("Gus still reaches Acme: %d", res.StatusCode)
	}

	res, body = owner.form(usersPath("acme", only.userID(), "remove"), nil)
	wantStatus(t, res, body, http.StatusOK)
	if res, _ := only.page("/dashboard/"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("a member of Acme alone kept her session after removal: %d", res.StatusCode)
	}
}

// Finding 2. TestInvitationDoesNotTellOrTakeExistingAccounts: Ada, Acme's
// owner, invites Gus, who owns Globex, and keeps the link. The page she
// sees is the one an email without an account gets; the form on it does
// not set Gus's password, add him to Acme or sign her in; Gus joins only
// once he is signed in himself.
func TestInvitationDoesNotTellOrTakeExistingAccounts(t *testing.T) {
	a := newApp(t, trustLocalProxy(t))
	ctx := context.Background()
	acme, globex := a.org("acme"), a.org("globex")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	gus := a.enrolled(globex, "gus@globex.example", roomhub.RoleOwner, passwordHash(t, a, "ada@acme.example"))
	invite := func(email string) string {
		return owner.linkPath("/dashboard/acme/invitations", url.Values{"email": {email}, "role": {"admin"}})
	}
	withAccount, without := invite(gus.email), invite("nobody@globex.example")

	t.Run("the page is the same", func(t *testing.T) {
		eve := a.visitor()
		res1, page1 := eve.page(withAccount)
		res2, page2 := eve.page(without)
		wantStatus(t, res1, page1, http.StatusOK)
		wantStatus(t, res2, page2, http.StatusOK)
		if !sameAnswer(page1, page2, "nobody@globex.example", gus.email, without, withAccount) {
			t.Fatalf("the invitation page differs with an account:\n%s\n---\n%s", page1, page2)
		}
	})
	t.Run("the form does not take the account", func(t *testing.T) {
		hash := passwordHash(t, a, gus.email)
		before := len(auditRows(t, a, acme, "invitation.accept.denied"))
		eve := a.visitor()
		const evePassword = "mallory-orchard-compass-77"
		res, body := postFrom(eve, "198.51.100.20", withAccount, url.Values{"name": {"Gus"}, "password": {evePassword}})
		wantStatus(t, res, body, http.StatusConflict)
		if !strings.Contains(body, "already exists") || !strings.Contains(body, "Sign in as") {
			t.Fatalf("no clear refusal: %.400s", body)
		}
		if passwordHash(t, a, gus.email) != hash {
			t.Fatal("the invitation set Gus's password")
		}
		if _, err := a.store.Membership(ctx, acme.ID, gus.userID()); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
			t.Fatal("the invitation added Gus to Acme without him")
		}
		if res, _ := eve.page("/dashboard/"); res.StatusCode != http.StatusSeeOther {
			t.Fatal("the refused form signed the attacker in")
		}
		res, body = postFrom(eve, "198.51.100.20", "/login", url.Values{"email": {gus.email}, "password": {evePassword}})
		wantStatus(t, res, body, http.StatusUnauthorized)
		if after := len(auditRows(t, a, acme, "invitation.accept.denied")); after != before+1 {
			t.Fatalf("not audited: %d rows, was %d", after, before)
		}
	})
	t.Run("Gus joins once signed in", func(t *testing.T) {
		gus.signInFrom("198.51.100.21")
		_, page := gus.page(withAccount)
		if !strings.Contains(page, "Join Acme Inc</button>") {
			t.Fatalf("the signed-in invitee is not offered to join: %.600s", page)
		}
		res, body := gus.form(withAccount, nil)
		wantRedirect(t, res, body, "/dashboard/")
		if m, err := a.store.Membership(ctx, acme.ID, gus.userID()); err != nil || m.Role != roomhub.RoleAdmin {
			t.Fatalf("Gus did not join: %+v %v", m, err)
		}
	})
}

// wrongCodes returns n six-digit codes that are not valid for secret now
// (nor a step either side).
func wrongCodes(a *app, secret string, n int) []string {
	valid := map[string]bool{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		c, _ := totp.GenerateCode(secret, a.clk.Now().Add(d))
		valid[c] = true
	}
	var out []string
	for i := 0; len(out) < n; i++ {
		c := fmt.Sprintf("%06d", 314159+i*7919)
		if !valid[c] {
			out = append(out, c)
		}
	}
	return out
}

// Finding 3. TestPendingSignInEndsAfterWrongCodes: an attacker with the
// password guesses codes on one pending sign-in. After
// MaxPendingCodeFailures wrong codes (TOTP or backup) that sign-in is gone:
// the right code with the cookie the attacker kept does not sign in, and
// the password is needed again. The account itself is not locked.
func TestPendingSignInEndsAfterWrongCodes(t *testing.T) {
	a := newApp(t, trustLocalProxy(t), func(c *config.Config) { c.LockoutLimit = 50 }) // the per-address lock is another test
	acme := a.org("acme")
	pw, _ := account.HashPassword(testPassword)
	victim := a.enrolled(acme, "ada@acme.example", roomhub.RoleOwner, pw)
	const ip = "198.51.100.30"
	eve := a.visitor()
	res, body := postFrom(eve, ip, "/login", url.Values{"email": {victim.email}, "password": {testPassword}})
	wantRedirect(t, res, body, "/login/2fa")
	kept, keptCSRF := eve.sessionCookie(), eve.csrf // the CSRF token is bound to that cookie
	codes := wrongCodes(a, victim.secret, server.MaxPendingCodeFailures)
	codes[0] = "aaaaa-bbbbb" // a wrong backup code counts the same
	for i, c := range codes {
		res, body := postFrom(eve, ip, "/login/2fa", url.Values{"code": {c}})
		wantStatus(t, res, body, http.StatusUnauthorized)
		last := i == len(codes)-1
		if ended := strings.Contains(body, "Sign in again with your password"); ended != last {
			t.Fatalf("wrong code %d: ended %v, want %v: %.300s", i+1, ended, last, body)
		}
	}
	eve.setSessionCookie(kept)
	eve.csrf = keptCSRF
	a.nextStep()
	res, body = postFrom(eve, ip, "/login/2fa", url.Values{"code": {a.code(victim.secret)}})
	wantRedirect(t, res, body, "/login")
	if res, _ := eve.page("/dashboard/acme/settings"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the ended sign-in reached the dashboard: %d", res.StatusCode)
	}
	if n := len(auditRows(t, a, acme, "2fa.pending_ended")); n != 1 {
		t.Fatalf("%d 2fa.pending_ended rows, want 1", n)
	}
	if n := len(auditRows(t, a, acme, "2fa.lockout")); n != 0 {
		t.Fatal("the account's second factor was locked")
	}
	victim.signInFrom("203.0.113.30")
}

// Finding 3. TestWrongCodesCountTowardTheAddressLock: wrong codes count
// toward the (email, address) lock like wrong passwords, across pending
// sign-ins: three on one, two on the next lock the pair, which then refuses
// the right password too, and ends the pending sign-in.
func TestWrongCodesCountTowardTheAddressLock(t *testing.T) {
	a := newApp(t, trustLocalProxy(t))
	acme := a.org("acme")
	pw, _ := account.HashPassword(testPassword)
	victim := a.enrolled(acme, "ada@acme.example", roomhub.RoleOwner, pw)
	const ip = "198.51.100.40"
	eve := a.visitor()
	codes := wrongCodes(a, victim.secret, a.cfg.LockoutLimit)
	signIn := func() {
		res, body := postFrom(eve, ip, "/login", url.Values{"email": {victim.email}, "password": {testPassword}})
		wantRedirect(t, res, body, "/login/2fa")
	}
	signIn()
	for _, c := range codes[:3] {
		res, body := postFrom(eve, ip, "/login/2fa", url.Values{"code": {c}})
		wantStatus(t, res, body, http.StatusUnauthorized)
	}
	signIn()
	for i, c := range codes[3:] {
		res, body := postFrom(eve, ip, "/login/2fa", url.Values{"code": {c}})
		if 3+i+1 < a.cfg.LockoutLimit {
			wantStatus(t, res, body, http.StatusUnauthorized)
			continue
		}
		wantStatus(t, res, body, http.StatusTooManyRequests)
		if !strings.Contains(body, "locked") {
			t.Fatalf("the lock is not said: %.300s", body)
		}
	}
	if res, _ := eve.page("/login/2fa"); res.StatusCode == http.StatusOK {
		t.Fatal("the pending sign-in survived the lock")
	}
	res, body := postFrom(eve, ip, "/login", url.Values{"email": {victim.email}, "password": {testPassword}})
	wantStatus(t, res, body, http.StatusTooManyRequests)
	if !a.audited(acme, "login.lockout", false) {
		t.Fatal("the lock is not audited")
	}
	victim.signInFrom("203.0.113.40") // only that address is locked
}

// TestSecondFactorLockedPerAccount: an attacker with the password guesses
// codes from many addresses, a few from each so that no (email, address)
// pair locks. After MaxSecondFactorFailures wrong codes in all the account's
// second factor locks: the right code is refused too and the pending
// sign-in is ended, until the lock is cleared.
func TestSecondFactorLockedPerAccount(t *testing.T) {
	a := newApp(t, trustLocalProxy(t))
	acme := a.org("acme")
	pw, _ := account.HashPassword(testPassword)
	victim := a.enrolled(acme, "ada@acme.example", roomhub.RoleOwner, pw)
	attempt := func(ip string, codes ...string) (*user, int) {
		u := a.visitor()
		res, body := postFrom(u, ip, "/login", url.Values{"email": {victim.email}, "password": {testPassword}})
		wantRedirect(t, res, body, "/login/2fa")
		last := 0
		for _, c := range codes {
			res, _ := postFrom(u, ip, "/login/2fa", url.Values{"code": {c}})
			last = res.StatusCode
		}
		return u, last
	}
	failures := 0
	for i := 0; failures < server.MaxSecondFactorFailures; i++ {
		ip := "198.51.100." + strconv.Itoa(i+1)
		n := min(3, server.MaxSecondFactorFailures-failures)
		codes := make([]string, n)
		for j := range codes {
			codes[j] = fmt.Sprintf("%06d", 100000+failures+j)
		}
		_, last := attempt(ip, codes...)
		failures += n
		if failures == server.MaxSecondFactorFailures && last != http.StatusTooManyRequests {
			t.Fatalf("the %dth wrong code: %d, want 429", failures, last)
		}
	}
	// The right code from a fresh address is refused now, and that
	// pending sign-in is over.
	a.nextStep()
	u, last := attempt("203.0.113.9", a.code(victim.secret))
	if last != http.StatusTooManyRequests {
		t.Fatalf("right code during the lock: %d", last)
	}
	if res, _ := u.page("/login/2fa"); res.StatusCode == http.StatusOK {
		t.Fatal("the pending sign-in survived the lock")
	}
	if len(auditRows(t, a, acme, "2fa.lockout")) != 1 {
		t.Fatal("the lock is not audited")
	}
	// An administrator clears it (bin/roomhub lock clear does the same).
	if _, err := a.store.ClearLoginAttempts(context.Background(), victim.email, ""); err != nil {
		t.Fatal(err)
	}
	a.nextStep()
	if _, last := attempt("203.0.113.9", a.code(victim.secret)); last != http.StatusSeeOther {
		t.Fatalf("right code after clearing: %d", last)
	}
}

// Finding 4. TestLinksDieWithTheIssuersRole: an admin's unused invitation
// and reset links stop working when the admin is demoted to viewer or
// removed; the reset link sets no password.
func TestLinksDieWithTheIssuersRole(t *testing.T) {
	for _, demote := range []string{"role", "remove"} {
		t.Run(demote, func(t *testing.T) {
			a := newApp(t)
			acme := a.org("acme")
			owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
			bo := a.signedIn(acme, "bo@acme.example", roomhub.RoleAdmin)
			viewer := a.enrolled(acme, "di@acme.example", roomhub.RoleViewer, passwordHash(t, a, "ada@acme.example"))
			invite := bo.linkPath("/dashboard/acme/invitations", url.Values{"email": {"eve@acme.example"}, "role": {"viewer"}})
			reset := bo.linkPath(usersPath("acme", viewer.userID(), "reset-password"), nil)
			visitor := a.visitor()
			for _, p := range []string{invite, reset} {
				if res, body := visitor.page(p); res.StatusCode != 200 {
					t.Fatalf("fresh link %s: %d %.200s", p, res.StatusCode, body)
				}
			}
			if demote == "role" {
				res, body := owner.form(usersPath("acme", bo.userID(), "role"), url.Values{"role": {"viewer"}})
				wantStatus(t, res, body, 200)
			} else {
				res, body := owner.form(usersPath("acme", bo.userID(), "remove"), nil)
				wantStatus(t, res, body, 200)
			}
			hash := passwordHash(t, a, viewer.email)
			for _, p := range []string{invite, reset} {
				if res, _ := visitor.page(p); res.StatusCode != http.StatusNotFound {
					t.Fatalf("the demoted admin's link %s still opens: %d", p, res.StatusCode)
				}
			}
			res, body := visitor.form(reset, url.Values{"password": {"mallory-orchard-compass-77"}})
			wantStatus(t, res, body, http.StatusNotFound)
			if passwordHash(t, a, viewer.email) != hash {
				t.Fatal("the revoked reset link set a password")
			}
			if len(auditRows(t, a, acme, "invitation.revoke")) != 1 {
				t.Fatal("the revocation is not audited")
			}
		})
	}
}

// Finding 4. TestLinksCheckedAtUse: a link is checked against what its
// issuer may do when it is used, not only when it was made. Cy, an owner,
// makes links; made an admin, Cy may still invite admins and reset viewers
// but no longer make owners or reset admins, and those links die (and stay
// dead when Cy is an owner again). A reset link made while the account was
// Acme's alone dies when it joins Globex.
func TestLinksCheckedAtUse(t *testing.T) {
	a := newApp(t, trustLocalProxy(t))
	ctx := context.Background()
	acme, globex := a.org("acme"), a.org("globex")
	ada := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	cy := a.signedIn(acme, "cy@acme.example", roomhub.RoleOwner)
	pw := passwordHash(t, a, ada.email)
	fellow := a.enrolled(acme, "fe@acme.example", roomhub.RoleAdmin, pw)
	viewer := a.enrolled(acme, "di@acme.example", roomhub.RoleViewer, pw)
	invite := func(email, role string) string {
		return cy.linkPath("/dashboard/acme/invitations", url.Values{"email": {email}, "role": {role}})
	}
	ownerInvite, adminInvite := invite("new-owner@acme.example", "owner"), invite("new-admin@acme.example", "admin")
	resetAdmin := cy.linkPath(usersPath("acme", fellow.userID(), "reset-password"), nil)
	resetViewer := cy.linkPath(usersPath("acme", viewer.userID(), "reset-password"), nil)

	res, body := ada.form(usersPath("acme", cy.userID(), "role"), url.Values{"role": {"admin"}})
	wantStatus(t, res, body, http.StatusOK)

	visitor := a.visitor()
	for i, tc := range []struct {
		name, path string
		want       int
		post       url.Values
		unchanged  func(t *testing.T)
	}{
		{"owner invitation", ownerInvite, http.StatusNotFound, url.Values{"name": {"New Owner"}, "password": {"mallory-orchard-compass-77"}}, func(t *testing.T) {
			if _, err := a.store.UserByEmail(ctx, "new-owner@acme.example"); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
				t.Fatal("the refused owner invitation made an account")
			}
		}},
		{"admin's reset link", resetAdmin, http.StatusNotFound, url.Values{"password": {"mallory-orchard-compass-77"}}, nil},
		{"admin invitation", adminInvite, http.StatusOK, nil, nil},
		{"viewer's reset link", resetViewer, http.StatusOK, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, body := visitor.page(tc.path)
			wantStatus(t, res, body, tc.want)
			if tc.post == nil {
				return
			}
			hash := passwordHash(t, a, fellow.email)
			res, body = postFrom(visitor, "198.51.100."+strconv.Itoa(50+i), tc.path, tc.post)
			wantStatus(t, res, body, http.StatusNotFound)
			if !strings.Contains(body, "not valid") {
				t.Fatalf("no clear message: %.300s", body)
			}
			if passwordHash(t, a, fellow.email) != hash {
				t.Fatal("a refused reset link set the admin's password")
			}
			if tc.unchanged != nil {
				tc.unchanged(t)
			}
		})
	}
	if n := len(auditRows(t, a, acme, "invitation.accept.denied")); n != 1 {
		t.Fatalf("%d invitation.accept.denied rows, want 1", n)
	}

	// Refused links are spent: Cy an owner again does not revive them.
	res, body = ada.form(usersPath("acme", cy.userID(), "role"), url.Values{"role": {"owner"}})
	wantStatus(t, res, body, http.StatusOK)
	if res, _ := visitor.page(ownerInvite); res.StatusCode != http.StatusNotFound {
		t.Fatalf("the refused owner invitation came back: %d", res.StatusCode)
	}

	// The viewer joins Globex: the reset link made before no longer works.
	if err := a.store.AddMembership(ctx, globex.ID, viewer.userID(), roomhub.RoleOwner); err != nil {
		t.Fatal(err)
	}
	hash := passwordHash(t, a, viewer.email)
	res, body = postFrom(visitor, "198.51.100.60", resetViewer, url.Values{"password": {"mallory-orchard-compass-77"}})
	wantStatus(t, res, body, http.StatusNotFound)
	if passwordHash(t, a, viewer.email) != hash {
		t.Fatal("a reset link made in Acme set the password of Globex's owner")
	}
	if n := len(auditRows(t, a, acme, "password.change.denied")); n != 2 {
		t.Fatalf("%d password.change.denied rows, want 2", n)
	}
}

// Findings 5 and 6. TestRefusedRoleChangesAreAudited: an admin trying to
// grant ownership, by role change or invitation, and an owner trying to
// demote or remove the last owner are refused with a clear 4xx, change
// nothing, and leave a .denied row. On each store: the last-owner refusal
// comes from the store's transaction.
func TestRefusedRoleChangesAreAudited(t *testing.T) {
	for _, kind := range sqltest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a := newAppOn(t, kind)
			acme := a.org("acme")
			owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
			bo := a.signedIn(acme, "bo@acme.example", roomhub.RoleAdmin)
			viewer := a.enrolled(acme, "di@acme.example", roomhub.RoleViewer, passwordHash(t, a, "ada@acme.example"))

			for _, tc := range []struct {
				name   string
				actor  *admin
				path   string
				form   url.Values
				code   int
				msg    string
				action string
			}{
				{"admin makes a viewer owner", bo, usersPath("acme", viewer.userID(), "role"), url.Values{"role": {"owner"}}, http.StatusBadRequest, "Choose a role you are allowed to give.", "permission.change.denied"},
				{"admin invites an owner", bo, "/dashboard/acme/invitations", url.Values{"email": {"eve@acme.example"}, "role": {"owner"}}, http.StatusBadRequest, "Choose a role you are allowed to give.", "invitation.create.denied"},
				{"the last owner demotes herself", owner, usersPath("acme", owner.userID(), "role"), url.Values{"role": {"admin"}}, http.StatusConflict, "needs at least one owner", "owner.last.denied"},
				{"the last owner is removed", owner, usersPath("acme", owner.userID(), "remove"), nil, http.StatusConflict, "needs at least one owner", "owner.last.denied"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					before := len(auditRows(t, a, acme, tc.action))
					res, body := tc.actor.form(tc.path, tc.form)
					wantStatus(t, res, body, tc.code)
					if !strings.Contains(body, tc.msg) {
						t.Fatalf("the refusal does not say %q: %.400s", tc.msg, body)
					}
					if after := len(auditRows(t, a, acme, tc.action)); after != before+1 {
						t.Fatalf("%s rows: %d, was %d", tc.action, after, before)
					}
				})
			}
			if m, _ := a.store.Membership(context.Background(), acme.ID, viewer.userID()); m.Role != roomhub.RoleViewer {
				t.Fatalf("the viewer became %s", m.Role)
			}
			if m, _ := a.store.Membership(context.Background(), acme.ID, owner.userID()); m.Role != roomhub.RoleOwner {
				t.Fatalf("the last owner became %s", m.Role)
			}
			if inv, _ := a.store.ListInvitations(context.Background(), acme.ID, a.clk.Now()); len(inv) != 0 {
				t.Fatalf("a refused invitation was made: %+v", inv)
			}
			if res, _ := owner.page("/dashboard/acme/settings"); res.StatusCode != http.StatusOK {
				t.Fatal("the refused owner was signed out")
			}
		})
	}
}

// Finding 5. TestLastOwnerRace: Acme's two owners step down at the same
// moment, round after round, on each store. Whatever the interleaving one
// wins and one gets the 409, and Acme always keeps exactly one owner.
func TestLastOwnerRace(t *testing.T) {
	const rounds = 4
	for _, kind := range sqltest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			a := newAppOn(t, kind, trustLocalProxy(t))
			ctx := context.Background()
			acme := a.org("acme")
			pw, _ := account.HashPassword(testPassword)
			owners := []*admin{a.enrolled(acme, "ada@acme.example", roomhub.RoleOwner, pw), a.enrolled(acme, "bo@acme.example", roomhub.RoleOwner, pw)}
			for round := range rounds {
				for i, o := range owners {
					if err := a.store.SetRole(ctx, acme.ID, o.userID(), roomhub.RoleOwner); err != nil {
						t.Fatal(err)
					}
					o.signInFrom(fmt.Sprintf("198.51.100.%d", 100+2*round+i))
				}
				codes := make([]int, len(owners))
				bodies := make([]string, len(owners))
				var wg sync.WaitGroup
				for i, o := range owners {
					path := usersPath("acme", o.userID(), "role")
					wg.Go(func() {
						res, body := o.form(path, url.Values{"role": {"admin"}})
						codes[i], bodies[i] = res.StatusCode, body
					})
				}
				wg.Wait()
				won, refused := 0, 0
				for i, c := range codes {
					switch c {
					case http.StatusSeeOther:
						won++
					case http.StatusConflict:
						refused++
						if !strings.Contains(bodies[i], "needs at least one owner") {
							t.Fatalf("round %d: the 409 does not say why: %.300s", round, bodies[i])
						}
					}
				}
				if n, err := a.store.CountOwners(ctx, acme.ID); err != nil || n != 1 || won != 1 || refused != 1 {
					t.Fatalf("round %d: %d owners (%v), statuses %v", round, n, err, codes)
				}
			}
			if n := len(auditRows(t, a, acme, "owner.last.denied")); n != rounds {
				t.Fatalf("%d owner.last.denied rows, want %d", n, rounds)
			}
		})
	}
}

// Finding 6. TestSSOFailuresAudited: a refused SSO sign-in leaves a
// login.sso.denied row in the organizations it concerns (the account's,
// or the one that verified the email's domain), else in the rows of no
// organization; never in an organization it does not concern. Nothing is
// created and nobody is signed in.
func TestSSOFailuresAudited(t *testing.T) {
	idp := ssotest.New(t)
	signOn, err := sso.New(context.Background(), sso.Config{PublicURL: "http://127.0.0.1",
		OIDCIssuer: idp.Issuer(), OIDCClientID: idp.ClientID, OIDCClientSecret: idp.ClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	a := newAppWith(t, "sqlite", signOn)
	ctx := context.Background()
	acme, globex, initech := a.org("acme"), a.org("globex"), a.org("initech")
	pw, _ := account.HashPassword(testPassword)
	a.enrolled(acme, "ada@acme.example", roomhub.RoleOwner, pw)
	// Globex verified its domain but does not let newcomers in.
	if err := a.store.SaveOrgSettings(ctx, roomhub.OrgSettings{OrgID: globex.ID, SSODomain: "globex.example", SSODomainVerified: true}); err != nil {
		t.Fatal(err)
	}
	orgs := map[string]int64{"acme": acme.ID, "globex": globex.ID, "initech": initech.ID, "none": server.NoOrgAudit}
	for _, tc := range []struct {
		name   string
		user   *ssotest.User // nil: no flow cookie
		status int
		in     string // where the row goes
	}{
		{"unverified email of an account", &ssotest.User{Subject: "s1", Email: "ada@acme.example", Name: "Eve", EmailVerified: false}, http.StatusForbidden, "acme"},
		{"newcomer of a verified domain that does not provision", &ssotest.User{Subject: "s2", Email: "new@globex.example", Name: "New", EmailVerified: true}, http.StatusForbidden, "globex"},
		{"email nobody claims", &ssotest.User{Subject: "s3", Email: "mallory@evil.example", Name: "Mallory", EmailVerified: true}, http.StatusForbidden, "none"},
		{"callback without the flow", nil, http.StatusUnauthorized, "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := map[string]int{}
			for name, id := range orgs {
				before[name] = len(auditRowsOf(t, a, id, "login.sso.denied"))
			}
			u := a.visitor()
			var res *http.Response
			var body string
			if tc.user == nil {
				res, body = u.page("/auth/sso/oidc/callback?code=x&state=y")
			} else {
				idp.SetUser(*tc.user)
				res, body = ssoSignIn(t, a, u)
			}
			wantStatus(t, res, body, tc.status)
			for name, id := range orgs {
				want := before[name]
				if name == tc.in {
					want++
				}
				if got := len(auditRowsOf(t, a, id, "login.sso.denied")); got != want {
					t.Errorf("%s: %d login.sso.denied rows, want %d", name, got, want)
				}
			}
			if u.sessionCookie() != "" {
				t.Fatal("a refused SSO sign-in left a session")
			}
			if tc.user != nil && tc.user.Email != "ada@acme.example" {
				if _, err := a.store.UserByEmail(ctx, tc.user.Email); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
					t.Fatal("a refused SSO sign-in made an account")
				}
			}
		})
	}
}

// Finding 7. TestUnknownEmailSignInLikeKnown: a wrong password for an
// unknown email takes the known email's path (the hash, the failure count,
// a memberships query, an audit row; the row goes to the rows of no
// organization) and gets the same answer, and its lock the same refusal.
// Timing itself is not measured here (timed tests are banned).
func TestUnknownEmailSignInLikeKnown(t *testing.T) {
	a := newApp(t, trustLocalProxy(t))
	acme := a.org("acme")
	pw, _ := account.HashPassword(testPassword)
	known := a.enrolled(acme, "ada@acme.example", roomhub.RoleOwner, pw)
	const unknown = "nobody@acme.example"
	answers := map[string]string{}
	eve := a.visitor() // one browser, so the pages differ only by what they say
	for _, tc := range []struct {
		email string
		org   int64
		ip    string
	}{{known.email, acme.ID, "198.51.100.70"}, {unknown, server.NoOrgAudit, "198.51.100.71"}} {
		t.Run(tc.email, func(t *testing.T) {
			for i := 1; i <= a.cfg.LockoutLimit+1; i++ {
				failed, locked := len(auditRowsOf(t, a, tc.org, "login.failed")), len(auditRowsOf(t, a, tc.org, "login.locked"))
				res, body := postFrom(eve, tc.ip, "/login", url.Values{"email": {tc.email}, "password": {"wrong-password-" + strconv.Itoa(i)}})
				answers[tc.email+strconv.Itoa(i)] = strings.ReplaceAll(body, tc.email, "EMAIL")
				switch {
				case i < a.cfg.LockoutLimit:
					wantStatus(t, res, body, http.StatusUnauthorized)
				default:
					wantStatus(t, res, body, http.StatusTooManyRequests)
				}
				row, want := "login.failed", failed+1
				if i > a.cfg.LockoutLimit {
					row, want = "login.locked", locked+1
				}
				if got := len(auditRowsOf(t, a, tc.org, row)); got != want {
					t.Fatalf("attempt %d: %d %s rows, want %d", i, got, row, want)
				}
			}
		})
	}
	for i := 1; i <= a.cfg.LockoutLimit+1; i++ {
		k, u := answers[known.email+strconv.Itoa(i)], answers[unknown+strconv.Itoa(i)]
		if !sameAnswer(k, u) {
			t.Fatalf("attempt %d answers differ:\n%s\n---\n%s", i, k, u)
		}
	}
	if n := len(auditRowsOf(t, a, acme.ID, "login.failed")); n != a.cfg.LockoutLimit {
		t.Fatalf("the unknown email's failures reached Acme's log: %d rows", n)
	}
}
