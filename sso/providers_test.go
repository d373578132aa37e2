package sso_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"roomhub"
	"roomhub/sso"
)

// fakeHosts stands in for GitHub, Google and Microsoft over real HTTP: the
// client's transport sends every request to one local server and keeps the
// original host, by which the server routes.
type fakeHosts struct {
	srv         *httptest.Server
	tokenStatus int // the token endpoints' status; 0 is 200
	userStatus  int // the user endpoints' status; 0 is 200

	githubUser   map[string]any
	githubEmails []map[string]any
	googleUser   map[string]any
	graphMe      map[string]any

	codes map[string]bool // live codes
}

func newFakeHosts(t *testing.T) *fakeHosts {
	f := &fakeHosts{codes: map[string]bool{"good": true}}
	mux := http.NewServeMux()
	token := func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		switch {
		case f.tokenStatus != 0:
			w.WriteHeader(f.tokenStatus)
		case !f.codes[r.PostForm.Get("code")]:
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_grant"})
		default:
			delete(f.codes, r.PostForm.Get("code"))
			writeJSON(w, http.StatusOK, map[string]any{"access_token": "at-" + r.Host, "token_type": "Bearer", "expires_in": 3600})
		}
	}
	authed := func(want string, v func() any) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer "+want && r.URL.Query().Get("access_token") != want {
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
			if f.userStatus != 0 {
				http.Error(w, "down", f.userStatus)
				return
			}
			writeJSON(w, http.StatusOK, v())
		}
	}
	mux.HandleFunc("POST github.com/login/oauth/access_token", token)
	mux.HandleFunc("GET api.github.com/user", authed("at-github.com", func() any { return f.githubUser }))
	mux.HandleFunc("GET api.github.com/user/emails", authed("at-github.com", func() any { return f.githubEmails }))
	mux.HandleFunc("POST oauth2.googleapis.com/token", token)
	mux.HandleFunc("GET www.googleapis.com/oauth2/v2/userinfo", authed("at-oauth2.googleapis.com", func() any { return f.googleUser }))
	mux.HandleFunc("POST login.microsoftonline.com/{tenant}/oauth2/v2.0/token", token)
	mux.HandleFunc("GET graph.microsoft.com/v1.0/me", authed("at-login.microsoftonline.com", func() any { return f.graphMe }))
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeHosts) client() *http.Client {
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r2 := r.Clone(r.Context())
		r2.Host = r.URL.Host
		r2.URL.Scheme, r2.URL.Host = "http", addr
		return http.DefaultTransport.RoundTrip(r2)
	})}
}

// signInWith builds only the named provider against the fake hosts and
// completes a sign-in with the code the provider would have given.
func (f *fakeHosts) signInWith(t *testing.T, name, tenant string) (sso.Identity, error) {
	t.Helper()
	cfg := sso.Config{PublicURL: publicURL, HTTPClient: f.client()}
	switch name {
	case "github":
		cfg.GitHubClientID, cfg.GitHubClientSecret = "h", "hs"
	case "google":
		cfg.GoogleClientID, cfg.GoogleClientSecret = "g", "gs"
	case "microsoft":
		cfg.AzureADClientID, cfg.AzureADClientSecret, cfg.AzureADTenant = "m", "ms", tenant
	}
	s, err := sso.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	flow, err := s.Begin(name)
	if err != nil {
		t.Fatal(err)
	}
	return s.Complete(context.Background(), name, flow.State, flow.Data, url.Values{"state": {flow.State}, "code": {"good"}})
}

func TestGitHubEmailVerification(t *testing.T) {
	for _, tc := range []struct {
		name      string
		profile   any // the public email on the profile
		emails    []map[string]any
		wantEmail string
		verified  bool
	}{
		{"public email, verified", "Ada@Example.com",
			[]map[string]any{{"email": "ada@example.com", "primary": true, "verified": true}}, "ada@example.com", true},
		// goth returns a public email as it is; only /user/emails tells.
		{"public email, not verified", "ada@example.com",
			[]map[string]any{{"email": "ada@example.com", "primary": false, "verified": false},
				{"email": "ada@work.example", "primary": true, "verified": true}}, "ada@example.com", false},
		// Without a public email goth takes the verified primary address.
		{"private email", nil,
			[]map[string]any{{"email": "other@example.com", "primary": false, "verified": true},
				{"email": "ada@example.com", "primary": true, "verified": true}}, "ada@example.com", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHosts(t)
			f.githubUser = map[string]any{"id": 583231, "login": "ada", "name": "Ada Lovelace", "email": tc.profile}
			f.githubEmails = tc.emails
			id, err := f.signInWith(t, "github", "")
			if err != nil {
				t.Fatal(err)
			}
			want := sso.Identity{Provider: "github", Subject: "583231", Email: tc.wantEmail, Name: "Ada Lovelace", EmailVerified: tc.verified}
			if id != want {
				t.Fatalf("identity %+v, want %+v", id, want)
			}
		})
	}
	t.Run("no verified primary email", func(t *testing.T) {
		f := newFakeHosts(t)
		f.githubUser = map[string]any{"id": 583231, "login": "ada", "email": nil}
		f.githubEmails = []map[string]any{{"email": "ada@example.com", "primary": true, "verified": false}}
		_, err := f.signInWith(t, "github", "")
		wantCode(t, err, roomhub.EUNAUTHORIZED)
	})
}

func TestMicrosoftEmailVerification(t *testing.T) {
	const tenantID = "8f6a2f2e-4c1b-4f57-9a4e-3c1d5e6f7a8b"
	for _, tc := range []struct {
		name, tenant, mail, upn string
		wantEmail               string
		verified                bool
	}{
		{"own tenant", tenantID, "Ada@Contoso.example", "ada.l@contoso.example", "ada@contoso.example", true},
		{"own tenant, no mailbox", tenantID, "", "ada@contoso.example", "ada@contoso.example", true},
		// Another tenant's administrator sets mail to someone else's address.
		{"any tenant, mail set by its admin", "organizations", "ceo@victim.example", "mallory@evil.example", "ceo@victim.example", false},
		{"any tenant, mail is the principal name", "organizations", "ada@contoso.example", "Ada@contoso.example", "ada@contoso.example", true},
		{"any tenant, no mailbox", "organizations", "", "ada@contoso.example", "ada@contoso.example", true},
		{"any tenant, guest", "organizations", "ada@gmail.example", "ada_gmail.example#EXT#@contoso.onmicrosoft.com", "ada@gmail.example", false},
		{"personal accounts too", "common", "ada@contoso.example", "ada@contoso.example", "ada@contoso.example", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeHosts(t)
			f.graphMe = map[string]any{"id": "0b7c9d1e-oid", "displayName": "Ada Lovelace", "mail": tc.mail, "userPrincipalName": tc.upn}
			id, err := f.signInWith(t, "microsoft", tc.tenant)
			if err != nil {
				t.Fatal(err)
			}
			want := sso.Identity{Provider: "microsoft", Subject: "0b7c9d1e-oid", Email: tc.wantEmail, Name: "Ada Lovelace", EmailVerified: tc.verified}
			if id != want {
				t.Fatalf("identity %+v, want %+v", id, want)
			}
		})
	}
	t.Run("no address at all", func(t *testing.T) {
		f := newFakeHosts(t)
		f.graphMe = map[string]any{"id": "0b7c9d1e-oid", "displayName": "Ada", "userPrincipalName": "ada_gmail.example#EXT#@contoso.onmicrosoft.com"}
		_, err := f.signInWith(t, "microsoft", "organizations")
		wantCode(t, err, roomhub.EUNAUTHORIZED)
	})
}

func TestGoogleEmailVerification(t *testing.T) {
	for _, verified := range []bool{true, false} {
		f := newFakeHosts(t)
		f.googleUser = map[string]any{"id": "1099", "email": "ada@gmail.example", "verified_email": verified, "name": "Ada Lovelace"}
		id, err := f.signInWith(t, "google", "")
		if err != nil {
			t.Fatal(err)
		}
		want := sso.Identity{Provider: "google", Subject: "1099", Email: "ada@gmail.example", Name: "Ada Lovelace", EmailVerified: verified}
		if id != want {
			t.Fatalf("identity %+v, want %+v", id, want)
		}
	}
}

func TestProviderFailures(t *testing.T) {
	t.Run("token endpoint fails", func(t *testing.T) {
		f := newFakeHosts(t)
		f.tokenStatus = http.StatusBadGateway
		_, err := f.signInWith(t, "google", "")
		wantCode(t, err, roomhub.EUNAVAILABLE)
	})
	t.Run("code refused", func(t *testing.T) {
		f := newFakeHosts(t)
		delete(f.codes, "good")
		_, err := f.signInWith(t, "github", "")
		wantCode(t, err, roomhub.EUNAUTHORIZED)
	})
	t.Run("user endpoint fails", func(t *testing.T) {
		f := newFakeHosts(t)
		f.userStatus = http.StatusServiceUnavailable
		_, err := f.signInWith(t, "microsoft", "organizations")
		wantCode(t, err, roomhub.EUNAVAILABLE)
	})
	t.Run("unreachable", func(t *testing.T) {
		s, err := sso.New(context.Background(), sso.Config{PublicURL: publicURL, GitHubClientID: "h", GitHubClientSecret: "hs",
			HTTPClient: &http.Client{Transport: roundTripFunc(func(*http.Request) (*http.Response, error) {
				return nil, errors.New("connection refused")
			})}})
		if err != nil {
			t.Fatal(err)
		}
		flow, _ := s.Begin("github")
		_, err = s.Complete(context.Background(), "github", flow.State, flow.Data, url.Values{"state": {flow.State}, "code": {"c"}})
		wantCode(t, err, roomhub.EUNAVAILABLE)
	})
}
