package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"roomhub"
	"roomhub/account"
	"roomhub/server/auth"
	"roomhub/sso"
	"roomhub/sso/ssotest"
)

// ssoSignIn starts an SSO sign-in in u's browser, lets the test provider
// sign its user in, and returns the response to the callback.
func ssoSignIn(t *testing.T, a *app, u *user) (*http.Response, string) {
	t.Helper()
	res, body := u.page("/auth/sso/oidc")
	if res.StatusCode != http.StatusFound {
		t.Fatalf("begin: %d %s", res.StatusCode, body)
	}
	res, err := u.c.Get(res.Header.Get("Location")) // the provider
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cb, err := url.Parse(res.Header.Get("Location"))
	if err != nil || cb.Path != "/auth/sso/oidc/callback" {
		t.Fatalf("provider sent the browser to %q", res.Header.Get("Location"))
	}
	return u.page(cb.Path + "?" + cb.RawQuery)
}

func TestSSO(t *testing.T) {
	idp := ssotest.New(t)
	signOn, err := sso.New(context.Background(), sso.Config{PublicURL: "http://127.0.0.1",
		OIDCIssuer: idp.Issuer(), OIDCClientID: idp.ClientID, OIDCClientSecret: idp.ClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	a := newAppWith(t, "sqlite", signOn)
	acme := a.org("acme")
	ctx := context.Background()
	if _, body := a.visitor().page("/login"); !strings.Contains(body, `href="/auth/sso/oidc"`) {
		t.Fatal("the sign-in page does not offer SSO")
	}

	t.Run("unknown user, organization does not provision", func(t *testing.T) {
		idp.SetUser(ssotest.User{Subject: "s1", Email: "new@acme.example", Name: "New Person", EmailVerified: true})
		res, body := ssoSignIn(t, a, a.visitor())
		wantStatus(t, res, body, http.StatusForbidden)
		if _, err := a.store.UserByEmail(ctx, "new@acme.example"); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
			t.Fatal("a user was created")
		}
	})
	// The operator verifies the domain; the organization allows joining.
	if err := a.store.SaveOrgSettings(ctx, roomhub.OrgSettings{OrgID: acme.ID, SSODomain: "acme.example", SSODomainVerified: true, SSOAutoProvision: true}); err != nil {
		t.Fatal(err)
	}
	t.Run("unverified email refused", func(t *testing.T) {
		idp.SetUser(ssotest.User{Subject: "s2", Email: "eve@acme.example", Name: "Eve", EmailVerified: false})
		res, body := ssoSignIn(t, a, a.visitor())
		wantStatus(t, res, body, http.StatusForbidden)
	})
	t.Run("first sign-in joins the verified domain's organization as viewer", func(t *testing.T) {
		idp.SetUser(ssotest.User{Subject: "s1", Email: "new@acme.example", Name: "New Person", EmailVerified: true})
		res, body := ssoSignIn(t, a, a.visitor())
		wantRedirect(t, res, body, "/2fa/enrol")
		u, err := a.store.UserByEmail(ctx, "new@acme.example")
		if err != nil || u.PasswordHash != "" {
			t.Fatalf("provisioned user %+v %v", u, err)
		}
		if m, err := a.store.Membership(ctx, acme.ID, u.ID); err != nil || m.Role != roomhub.RoleViewer {
			t.Fatalf("membership %+v %v", m, err)
		}
		if !a.audited(acme, "user.create", true) {
			t.Fatal("provisioning is not audited")
		}
	})
	t.Run("another domain is not provisioned", func(t *testing.T) {
		idp.SetUser(ssotest.User{Subject: "s3", Email: "mallory@evil.example", Name: "Mallory", EmailVerified: true})
		res, body := ssoSignIn(t, a, a.visitor())
		wantStatus(t, res, body, http.StatusForbidden)
	})
	t.Run("an enrolled user goes on to the second factor", func(t *testing.T) {
		ad := a.signUp(acme, "ada@acme.example", roomhub.RoleOwner)
		idp.SetUser(ssotest.User{Subject: "s4", Email: "ada@acme.example", Name: "Ada", EmailVerified: true})
		res, body := ssoSignIn(t, a, a.visitor())
		wantRedirect(t, res, body, "/login/2fa")
		_ = ad
	})
	t.Run("callback without the flow cookie", func(t *testing.T) {
		res, body := a.visitor().page("/auth/sso/oidc/callback?code=x&state=y")
		wantStatus(t, res, body, http.StatusUnauthorized)
	})
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
	orgs := map[string]int64{"acme": acme.ID, "globex": globex.ID, "initech": initech.ID, "none": auth.NoOrgAudit}
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
