package server_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"roomhub"
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
