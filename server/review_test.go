package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"roomhub"
	"roomhub/account"
	"roomhub/config"
	"roomhub/server"
)

// TestAccountResetsStayInTheirOrganization: resetting a second factor or
// making a password reset link changes a whole account, so an organization
// may do it only to accounts that are its own alone, and an admin only to
// viewers. Otherwise Acme's owner could take over Globex's owner by adding
// her to Acme, or an admin a fellow admin.
func TestAccountResetsStayInTheirOrganization(t *testing.T) {
	a := newApp(t)
	acme, globex := a.org("acme"), a.org("globex")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	bo := a.signedIn(acme, "bo@acme.example", roomhub.RoleAdmin)
	pw, _ := a.store.UserByEmail(context.Background(), "ada@acme.example")
	fellow := a.enrolled(acme, "cy@acme.example", roomhub.RoleAdmin, pw.PasswordHash)
	viewer := a.enrolled(acme, "di@acme.example", roomhub.RoleViewer, pw.PasswordHash)
	// Gus owns Globex and is also a viewer in Acme.
	gus := a.enrolled(globex, "gus@globex.example", roomhub.RoleOwner, pw.PasswordHash)
	if err := a.store.AddMembership(context.Background(), acme.ID, gus.userID(), roomhub.RoleViewer); err != nil {
		t.Fatal(err)
	}
	enrolled := func(ad *admin) bool {
		u, err := a.store.UserByEmail(context.Background(), ad.email)
		return err == nil && u.Enrolled()
	}
	for _, tc := range []struct {
		name   string
		actor  *admin
		target *admin
		want   int
	}{
		{"owner on a user of two organizations", owner, gus, http.StatusForbidden},
		{"admin on a fellow admin", bo, fellow, http.StatusForbidden},
		{"admin on the owner", bo, owner, http.StatusForbidden},
		{"admin on a viewer of this organization only", bo, viewer, http.StatusOK},
	} {
		for _, action := range []string{"reset-password", "reset-2fa"} {
			t.Run(tc.name+"/"+action, func(t *testing.T) {
				before := len(auditRows(t, a, acme, ".denied"))
				res, body := tc.actor.form("/dashboard/acme/users/"+strconv.FormatInt(tc.target.userID(), 10)+"/"+action, nil)
				wantStatus(t, res, body, tc.want)
				if tc.want == http.StatusOK {
					return
				}
				if strings.Contains(body, "/reset/") {
					t.Fatal("a refused reset still shows a reset link")
				}
				if !enrolled(tc.target) {
					t.Fatal("a refused 2FA reset removed the second factor")
				}
				if after := len(auditRows(t, a, acme, ".denied")); after != before+1 {
					t.Fatalf("refusal not audited: %d denied rows, was %d", after, before)
				}
			})
		}
	}
	if !enrolled(gus) {
		t.Fatal("Gus lost his second factor")
	}
}

func auditRows(t *testing.T, a *app, org roomhub.Org, suffix string) []roomhub.AuditEntry {
	rows, err := a.store.QueryAudit(context.Background(), org.ID, roomhub.AuditFilter{Limit: 1000})
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

// TestRefusedRoleChangesAreAudited: an admin trying to grant ownership, by
// role change or invitation, and an owner trying to demote the last owner
// are refused, change nothing, and leave a .denied row.
func TestRefusedRoleChangesAreAudited(t *testing.T) {
	a := newApp(t)
	acme := a.org("acme")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	bo := a.signedIn(acme, "bo@acme.example", roomhub.RoleAdmin)
	pw, _ := a.store.UserByEmail(context.Background(), "ada@acme.example")
	viewer := a.enrolled(acme, "di@acme.example", roomhub.RoleViewer, pw.PasswordHash)

	for _, tc := range []struct {
		name   string
		actor  *admin
		path   string
		form   url.Values
		code   int
		action string
	}{
		{"admin makes a viewer owner", bo, "/dashboard/acme/users/" + strconv.FormatInt(viewer.userID(), 10) + "/role", url.Values{"role": {"owner"}}, http.StatusBadRequest, "permission.change.denied"},
		{"admin invites an owner", bo, "/dashboard/acme/invitations", url.Values{"email": {"eve@acme.example"}, "role": {"owner"}}, http.StatusBadRequest, "invitation.create.denied"},
		{"the last owner demotes herself", owner, "/dashboard/acme/users/" + strconv.FormatInt(owner.userID(), 10) + "/role", url.Values{"role": {"admin"}}, http.StatusConflict, "owner.last.denied"},
		{"the last owner is removed", owner, "/dashboard/acme/users/" + strconv.FormatInt(owner.userID(), 10) + "/remove", nil, http.StatusConflict, "owner.last.denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(auditRows(t, a, acme, tc.action))
			res, body := tc.actor.form(tc.path, tc.form)
			wantStatus(t, res, body, tc.code)
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
}

// TestSecondFactorLockedPerAccount: an attacker with the password guesses
// codes from many addresses, a few from each so that no (email, address)
// pair locks. After MaxSecondFactorFailures wrong codes in all the account's
// second factor locks: the right code is refused too and the pending
// sign-in is ended, until the lock is cleared.
func TestSecondFactorLockedPerAccount(t *testing.T) {
	a := newApp(t, func(c *config.Config) { c.TrustedProxies = mustPrefix(t, "127.0.0.1/32") })
	acme := a.org("acme")
	pw, _ := account.HashPassword(testPassword)
	victim := a.enrolled(acme, "ada@acme.example", roomhub.RoleOwner, pw)
	from := func(u *user, ip, path string, v url.Values) (*http.Response, string) {
		v.Set("csrf_token", u.csrf)
		return u.do("POST", path, strings.NewReader(v.Encode()), map[string]string{
			"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html", "X-Forwarded-For": ip})
	}
	attempt := func(ip string, codes ...string) (*user, int) {
		u := a.visitor()
		res, body := from(u, ip, "/login", url.Values{"email": {victim.email}, "password": {testPassword}})
		wantRedirect(t, res, body, "/login/2fa")
		last := 0
		for _, c := range codes {
			res, _ := from(u, ip, "/login/2fa", url.Values{"code": {c}})
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

// TestLinksDieWithTheIssuersRole: an admin's unused invitation and reset
// links stop working when the admin is demoted to viewer or removed.
func TestLinksDieWithTheIssuersRole(t *testing.T) {
	for _, demote := range []string{"role", "remove"} {
		t.Run(demote, func(t *testing.T) {
			a := newApp(t)
			acme := a.org("acme")
			owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
			bo := a.signedIn(acme, "bo@acme.example", roomhub.RoleAdmin)
			res, body := bo.form("/dashboard/acme/invitations", url.Values{"email": {"eve@acme.example"}, "role": {"viewer"}})
			wantStatus(t, res, body, 200)
			link := reLink.FindStringSubmatch(body)
			if link == nil {
				t.Fatal("no invitation link shown")
			}
			path := strings.TrimPrefix(link[1], a.srv.URL)
			visitor := a.visitor()
			if res, body := visitor.page(path); res.StatusCode != 200 {
				t.Fatalf("fresh link: %d %.200s", res.StatusCode, body)
			}
			id := strconv.FormatInt(bo.userID(), 10)
			if demote == "role" {
				res, body = owner.form("/dashboard/acme/users/"+id+"/role", url.Values{"role": {"viewer"}})
			} else {
				res, body = owner.form("/dashboard/acme/users/"+id+"/remove", nil)
			}
			wantStatus(t, res, body, 200)
			if res, _ := visitor.page(path); res.StatusCode == 200 {
				t.Fatal("the demoted admin's invitation still opens")
			}
			if len(auditRows(t, a, acme, "invitation.revoke")) != 1 {
				t.Fatal("the revocation is not audited")
			}
		})
	}
}
