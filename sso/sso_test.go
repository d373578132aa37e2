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

const publicURL = "https://meet.example.com"

func newSSO(t *testing.T, idp *ssotest.Provider) *sso.SSO {
	t.Helper()
	s, err := sso.New(context.Background(), sso.Config{PublicURL: publicURL,
		OIDCIssuer: idp.Issuer(), OIDCClientID: idp.ClientID, OIDCClientSecret: idp.ClientSecret})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// signIn runs Begin, follows the provider's redirect as a browser would (up
// to the callback, which is not followed) and returns the flow and the
// callback query.
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
	if err != nil || res.StatusCode != http.StatusFound || !strings.HasPrefix(loc.String(), publicURL+"/auth/sso/oidc/callback?") {
		t.Fatalf("authorize answered %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	return flow, loc.Query()
}

func complete(s *sso.SSO, flow sso.Flow, q url.Values) (sso.Identity, error) {
	return s.Complete(context.Background(), "oidc", flow.State, flow.Data, q)
}

// signInAll runs a whole sign-in: Begin, the provider, Complete.
func signInAll(t *testing.T, s *sso.SSO) (sso.Identity, error) {
	t.Helper()
	flow, q := signIn(t, s)
	return complete(s, flow, q)
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if roomhub.ErrorCode(err) != code {
		t.Fatalf("got %v, want code %s", err, code)
	}
}

func TestOpenIDConnectSignIn(t *testing.T) {
	idp := ssotest.New(t, ssotest.RedirectURI(publicURL+"/auth/sso/oidc/callback"))
	s := newSSO(t, idp)
	if ps := s.Providers(); len(ps) != 1 || ps[0] != (sso.Provider{Name: "oidc", Label: "Single sign-on"}) {
		t.Fatalf("providers %+v", ps)
	}
	idp.SetUser(ssotest.User{Subject: "u-42", Email: "Grace.Hopper@ACME.example", Name: "Grace Hopper", EmailVerified: true})
	flow, q := signIn(t, s)
	if len(flow.State) != 43 || strings.ContainsAny(flow.State, "+/=") {
		t.Fatalf("state %q is not 32 bytes of base64url", flow.State)
	}
	u, _ := url.Parse(flow.URL)
	if u.Query().Get("state") != flow.State || u.Query().Get("nonce") == "" {
		t.Fatalf("authorization URL %s", flow.URL)
	}
	id, err := complete(s, flow, q)
	if err != nil {
		t.Fatal(err)
	}
	want := sso.Identity{Provider: "oidc", Subject: "u-42", Email: "grace.hopper@acme.example", Name: "Grace Hopper", EmailVerified: true}
	if id != want {
		t.Fatalf("identity %+v, want %+v", id, want)
	}
	// The code is single use: replaying the callback fails.
	_, err = complete(s, flow, q)
	wantCode(t, err, roomhub.EUNAUTHORIZED)
	if roomhub.ErrorMessage(err) != "The sign-in link expired or was already used. Please try again." {
		t.Fatalf("message %q", roomhub.ErrorMessage(err))
	}
}

func TestOpenIDConnectRefusals(t *testing.T) {
	idp := ssotest.New(t)
	s := newSSO(t, idp)

	t.Run("wrong state", func(t *testing.T) {
		flow, q := signIn(t, s)
		_, err := s.Complete(context.Background(), "oidc", "another-state", flow.Data, q)
		wantCode(t, err, roomhub.EUNAUTHORIZED)
		if roomhub.ErrorMessage(err) != "The sign-in link expired or was already used. Please try again." {
			t.Fatalf("message %q", roomhub.ErrorMessage(err))
		}
		q.Set("state", "")
		_, err = s.Complete(context.Background(), "oidc", "", flow.Data, q)
		wantCode(t, err, roomhub.EUNAUTHORIZED)
	})
	t.Run("attacker's error parameter", func(t *testing.T) {
		flow, q := signIn(t, s)
		q.Del("code")
		q.Set("error", "<script>alert(1)</script>")
		_, err := complete(s, flow, q)
		wantCode(t, err, roomhub.EUNAUTHORIZED)
		if strings.Contains(roomhub.ErrorMessage(err), "script") || strings.Contains(err.Error(), "<script>") {
			t.Fatalf("the provider's words were echoed: %v", err)
		}
	})
	t.Run("unknown provider", func(t *testing.T) {
		_, err := s.Begin("myspace")
		wantCode(t, err, roomhub.ENOTFOUND)
		flow, q := signIn(t, s)
		_, err = s.Complete(context.Background(), "myspace", flow.State, flow.Data, q)
		wantCode(t, err, roomhub.ENOTFOUND)
	})
	t.Run("code from another flow", func(t *testing.T) {
		// The attacker's code, injected into the victim's callback with
		// the victim's state: the ID token carries the attacker's nonce.
		_, stolen := signIn(t, s)
		victim, q := signIn(t, s)
		q.Set("code", stolen.Get("code"))
		_, err := complete(s, victim, q)
		wantCode(t, err, roomhub.EUNAUTHORIZED)
		if !strings.Contains(err.Error(), "nonce") {
			t.Fatalf("refused for another reason: %v", err)
		}
	})
	t.Run("unverified email is reported", func(t *testing.T) {
		idp.SetUser(ssotest.User{Subject: "u-2", Email: "eve@acme.example", Name: "Eve", EmailVerified: false})
		defer idp.SetUser(ssotest.DefaultUser())
		id, err := signInAll(t, s)
		if err != nil || id.EmailVerified || id.Email != "eve@acme.example" {
			t.Fatalf("identity %+v %v", id, err)
		}
	})
	t.Run("no email", func(t *testing.T) {
		idp.SetUser(ssotest.User{Subject: "u-3", Name: "Nobody", EmailVerified: true})
		defer idp.SetUser(ssotest.DefaultUser())
		_, err := signInAll(t, s)
		wantCode(t, err, roomhub.EUNAUTHORIZED)
	})
	t.Run("tampered flow data", func(t *testing.T) {
		flow, q := signIn(t, s)
		flow.Data = "{not json"
		_, err := complete(s, flow, q)
		wantCode(t, err, roomhub.EUNAUTHORIZED)
	})
}

// TestMisbehavingProvider: ID tokens that a provider did not sign, or that
// are not for Roomhub or no longer valid, are refused, although goth alone
// accepts some of them.
func TestMisbehavingProvider(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opt   ssotest.Option
		cause string // in the error, for the log
	}{
		{"forged signature", ssotest.ForgeSignature(), "failed to verify signature"},
		{"wrong audience", ssotest.WrongAudience(), "expected audience"},
		{"expired", ssotest.ExpireTokens(), "expired"},
		{"no nonce", ssotest.DropNonce(), "nonce"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSSO(t, ssotest.New(t, tc.opt))
			_, err := signInAll(t, s)
			wantCode(t, err, roomhub.EUNAUTHORIZED)
			if !strings.Contains(err.Error(), tc.cause) {
				t.Fatalf("refused for another reason: %v", err)
			}
		})
	}
	t.Run("user declines", func(t *testing.T) {
		s := newSSO(t, ssotest.New(t, ssotest.DenyAccess()))
		flow, q := signIn(t, s)
		if q.Get("error") != "access_denied" {
			t.Fatalf("callback %v", q)
		}
		_, err := complete(s, flow, q)
		wantCode(t, err, roomhub.EUNAUTHORIZED)
	})
}

func TestOpenIDConnectUnavailable(t *testing.T) {
	idp := ssotest.New(t)
	_, err := sso.New(context.Background(), sso.Config{PublicURL: publicURL,
		OIDCIssuer: idp.Issuer() + "/nowhere", OIDCClientID: idp.ClientID, OIDCClientSecret: idp.ClientSecret})
	wantCode(t, err, roomhub.EUNAVAILABLE)

	_, err = sso.New(context.Background(), sso.Config{PublicURL: "meet.example.com",
		OIDCIssuer: idp.Issuer(), OIDCClientID: idp.ClientID, OIDCClientSecret: idp.ClientSecret})
	wantCode(t, err, roomhub.EINVALID)
}

// TestDisabledProviders: a provider is on only with its client id.
func TestDisabledProviders(t *testing.T) {
	idp := ssotest.New(t)
	s, err := sso.New(context.Background(), sso.Config{PublicURL: publicURL,
		OIDCIssuer: idp.Issuer(), OIDCClientID: idp.ClientID, OIDCClientSecret: idp.ClientSecret,
		GitHubClientID: "gh", GitHubClientSecret: "ghs",
		GoogleClientSecret: "a secret without its id", AzureADTenant: "organizations"})
	if err != nil {
		t.Fatal(err)
	}
	want := []sso.Provider{{Name: "oidc", Label: "Single sign-on"}, {Name: "github", Label: "GitHub"}}
	if got := s.Providers(); len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("providers %+v, want %+v", got, want)
	}
	for _, name := range []string{"google", "microsoft"} {
		if _, err := s.Begin(name); roomhub.ErrorCode(err) != roomhub.ENOTFOUND {
			t.Errorf("disabled %s: %v", name, err)
		}
	}
	none, err := sso.New(context.Background(), sso.Config{})
	if err != nil || len(none.Providers()) != 0 {
		t.Fatalf("no provider configured: %+v %v", none.Providers(), err)
	}
}

// TestOtherProvidersBuildOffline: Google, GitHub and Microsoft are enabled by
// their own variables and send the browser to their own hosts, with no call
// made at start.
func TestOtherProvidersBuildOffline(t *testing.T) {
	s, err := sso.New(context.Background(), sso.Config{PublicURL: publicURL + "/",
		GoogleClientID: "g", GoogleClientSecret: "gs", GitHubClientID: "h", GitHubClientSecret: "hs",
		AzureADClientID: "m", AzureADClientSecret: "ms", AzureADTenant: "organizations",
		HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			t.Errorf("a provider called %s", r.URL)
			return nil, http.ErrNotSupported
		})}})
	if err != nil {
		t.Fatal(err)
	}
	want := []sso.Provider{{Name: "microsoft", Label: "Microsoft"}, {Name: "google", Label: "Google"}, {Name: "github", Label: "GitHub"}}
	if got := s.Providers(); len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Fatalf("providers %+v", got)
	}
	where := map[string]string{
		"google":    "https://accounts.google.com/o/oauth2/auth",
		"github":    "https://github.com/login/oauth/authorize",
		"microsoft": "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize",
	}
	for _, p := range s.Providers() {
		flow, err := s.Begin(p.Name)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(flow.URL)
		q := u.Query()
		if u.Scheme+"://"+u.Host+u.Path != where[p.Name] || q.Get("state") != flow.State || flow.Data == "" ||
			q.Get("redirect_uri") != publicURL+"/auth/sso/"+p.Name+"/callback" || q.Get("response_type") != "code" {
			t.Errorf("%s: %s", p.Name, flow.URL)
		}
		if p.Name == "google" && q.Get("access_type") != "online" {
			t.Errorf("google asks for access_type %q", q.Get("access_type"))
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
