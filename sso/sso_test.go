package sso_test

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

func newSSO(t *testing.T, idp *ssotest.Provider) *sso.SSO {
	t.Helper()
	s, err := sso.New(context.Background(), sso.Config{PublicURL: "https://meet.example.com",
		OIDCIssuer: idp.Issuer(), OIDCClientID: idp.ClientID, OIDCClientSecret: idp.ClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signIn runs Begin, follows the provider's redirect as a browser would (up
// to the callback, which is not followed) and returns the callback query.
func signIn(t *testing.T, s *sso.SSO) (sso.Flow, url.Values) {
	t.Helper()
	flow, err := s.Begin("oidc")
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(flow.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), "https://meet.example.com/auth/sso/oidc/callback?") {
		t.Fatalf("authorize answered %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	return flow, loc.Query()
}

func TestOpenIDConnectSignIn(t *testing.T) {
	idp := ssotest.New(t)
	s := newSSO(t, idp)
	if ps := s.Providers(); len(ps) != 1 || ps[0].Name != "oidc" {
		t.Fatalf("providers %+v", ps)
	}
	flow, q := signIn(t, s)
	id, err := s.Complete(context.Background(), "oidc", flow.State, flow.Data, q)
	if err != nil {
		t.Fatal(err)
	}
	if id.Email != "ada@acme.example" || !id.EmailVerified || id.Subject != "u-1" || id.Name != "Ada Lovelace" {
		t.Fatalf("identity %+v", id)
	}
	// The code is single use: replaying the callback fails.
	if _, err := s.Complete(context.Background(), "oidc", flow.State, flow.Data, q); err == nil {
		t.Fatal("a replayed callback signed in")
	}
}

func TestOpenIDConnectRefusals(t *testing.T) {
	idp := ssotest.New(t)
	s := newSSO(t, idp)
	complete := func(mutate func(q url.Values), state string) error {
		flow, q := signIn(t, s)
		mutate(q)
		if state == "" {
			state = flow.State
		}
		_, err := s.Complete(context.Background(), "oidc", state, flow.Data, q)
		return err
	}
	t.Run("wrong state", func(t *testing.T) {
		if err := complete(func(url.Values) {}, "another-state"); roomhub.ErrorCode(err) != roomhub.EUNAUTHORIZED {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("provider error", func(t *testing.T) {
		err := complete(func(q url.Values) { q.Set("error", "<script>access_denied") }, "")
		if roomhub.ErrorCode(err) != roomhub.EUNAUTHORIZED || strings.Contains(roomhub.ErrorMessage(err), "script") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("forged signature", func(t *testing.T) {
		idp.ForgeSignature(true)
		defer idp.ForgeSignature(false)
		if err := complete(func(url.Values) {}, ""); roomhub.ErrorCode(err) != roomhub.EUNAUTHORIZED {
			t.Fatalf("a token signed with an unpublished key was accepted: %v", err)
		}
	})
	t.Run("wrong audience", func(t *testing.T) {
		idp.WrongAudience(true)
		defer idp.WrongAudience(false)
		if err := complete(func(url.Values) {}, ""); roomhub.ErrorCode(err) != roomhub.EUNAUTHORIZED {
			t.Fatalf("a token for another client was accepted: %v", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		idp.Expired(true)
		defer idp.Expired(false)
		if err := complete(func(url.Values) {}, ""); roomhub.ErrorCode(err) != roomhub.EUNAUTHORIZED {
			t.Fatalf("an expired token was accepted: %v", err)
		}
	})
	t.Run("unverified email is reported", func(t *testing.T) {
		idp.SetUser(ssotest.User{Subject: "u-2", Email: "eve@acme.example", Name: "Eve", EmailVerified: false})
		flow, q := signIn(t, s)
		id, err := s.Complete(context.Background(), "oidc", flow.State, flow.Data, q)
		if err != nil || id.EmailVerified {
			t.Fatalf("identity %+v %v", id, err)
		}
	})
	t.Run("unknown provider", func(t *testing.T) {
		if _, err := s.Begin("myspace"); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
			t.Fatalf("got %v", err)
		}
	})
}

// TestOtherProvidersBuildOffline: Google, GitHub and Microsoft are enabled by
// their own variables and send the browser to their own hosts, with no call
// made at start.
func TestOtherProvidersBuildOffline(t *testing.T) {
	s, err := sso.New(context.Background(), sso.Config{PublicURL: "https://meet.example.com",
		GoogleClientID: "g", GoogleClientSecret: "gs", GitHubClientID: "h", GitHubClientSecret: "hs",
		AzureADClientID: "m", AzureADClientSecret: "ms", AzureADTenant: "organizations",
		HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			t.Fatalf("a provider called %s at start", r.URL)
			return nil, nil
		})}})
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]string{"google": "accounts.google.com", "github": "github.com", "microsoft": "login.microsoftonline.com"}
	if len(s.Providers()) != 3 {
		t.Fatalf("providers %+v", s.Providers())
	}
	for _, p := range s.Providers() {
		flow, err := s.Begin(p.Name)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(flow.URL)
		if u.Host != hosts[p.Name] || u.Query().Get("state") != flow.State ||
			u.Query().Get("redirect_uri") != "https://meet.example.com/auth/sso/"+p.Name+"/callback" {
			t.Errorf("%s: %s", p.Name, flow.URL)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
