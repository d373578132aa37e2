package server_test

// Tests written from the attacker's side: each asserts the refusal (status
// and message), that nothing changed for the victim, and the audit row the
// refusal leaves.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"roomhub"
	"roomhub/account"
	"roomhub/config"
	"roomhub/server/auth"
)

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
	codes := wrongCodes(a, victim.secret, auth.MaxPendingCodeFailures)
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
	for i := 0; failures < auth.MaxSecondFactorFailures; i++ {
		ip := "198.51.100." + strconv.Itoa(i+1)
		n := min(3, auth.MaxSecondFactorFailures-failures)
		codes := make([]string, n)
		for j := range codes {
			codes[j] = fmt.Sprintf("%06d", 100000+failures+j)
		}
		_, last := attempt(ip, codes...)
		failures += n
		if failures == auth.MaxSecondFactorFailures && last != http.StatusTooManyRequests {
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
	}{{known.email, acme.ID, "198.51.100.70"}, {unknown, auth.NoOrgAudit, "198.51.100.71"}} {
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
