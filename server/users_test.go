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
	"sync"
	"testing"

	"roomhub"
	"roomhub/account"
	"roomhub/store/sqlstore/sqltest"
)

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
