// Package sso signs dashboard users in with an outside identity provider:
// Microsoft Entra ID, Google, GitHub or any OpenID Connect provider, through
// github.com/markbates/goth. It keeps its providers in its own value (goth's
// global registry and gothic's cookie sessions are not used) and returns a
// verified identity; the server decides what the identity may do.
package sso

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/markbates/goth"
	"github.com/markbates/goth/providers/azureadv2"
	"github.com/markbates/goth/providers/github"
	"github.com/markbates/goth/providers/google"
	"github.com/markbates/goth/providers/openidConnect"

	"roomhub"
)

// Timeouts of calls to providers.
const (
	// DiscoveryTimeout bounds fetching an OpenID provider's discovery
	// document and keys at start.
	DiscoveryTimeout = 10 * time.Second
	// CallTimeout bounds each call during a sign-in (token, user info).
	CallTimeout = 10 * time.Second
	// maxDocumentBytes bounds what is read from a provider's JSON answers.
	maxDocumentBytes = 1 << 20
)

// Config enables each provider by its own variables; an empty client id
// leaves it off.
type Config struct {
	PublicURL                                  string // callbacks are PublicURL/auth/sso/{name}/callback
	OIDCIssuer, OIDCClientID, OIDCClientSecret string
	GoogleClientID, GoogleClientSecret         string
	GitHubClientID, GitHubClientSecret         string
	AzureADClientID, AzureADClientSecret       string
	AzureADTenant                              string // tenant id, "organizations" or "common"
	HTTPClient                                 *http.Client
}

// Provider names an enabled provider for the sign-in page.
type Provider struct {
	Name, Label string
}

// Identity is who the provider says signed in.
type Identity struct {
	Provider, Subject, Email, Name string
	// EmailVerified is the provider's word that the person controls Email.
	EmailVerified bool
}

// Flow is a sign-in in progress: the caller keeps State and Data (signed,
// for the callback) and sends the browser to URL.
type Flow struct {
	State, URL, Data string
}

type provider struct {
	label string
	goth  goth.Provider
	oidc  *oidcKeys // the "oidc" provider's discovery and keys
}

// SSO is the set of enabled providers.
type SSO struct {
	client    *http.Client
	order     []string
	providers map[string]provider
}

// New builds the enabled providers. The OpenID Connect provider's discovery
// document and keys are fetched here, so a wrong issuer stops the start.
func New(ctx context.Context, cfg Config) (*SSO, error) {
	s := &SSO{client: cfg.HTTPClient, providers: map[string]provider{}}
	if s.client == nil {
		s.client = &http.Client{Timeout: CallTimeout}
	}
	cb := func(name string) string {
		return strings.TrimRight(cfg.PublicURL, "/") + "/auth/sso/" + name + "/callback"
	}
	if cfg.OIDCClientID != "" {
		dctx, cancel := context.WithTimeout(ctx, DiscoveryTimeout)
		defer cancel()
		keys, err := discover(dctx, s.client, cfg.OIDCIssuer)
		if err != nil {
			return nil, fmt.Errorf("OpenID Connect discovery at %s: %w", cfg.OIDCIssuer, err)
		}
		p, err := openidConnect.NewCustomisedURL(cfg.OIDCClientID, cfg.OIDCClientSecret, cb("oidc"),
			keys.AuthEndpoint, keys.TokenEndpoint, keys.Issuer, keys.UserInfoEndpoint, "", "openid", "email", "profile")
		if err != nil {
			return nil, err
		}
		p.HTTPClient = s.client
		keys.clientID = cfg.OIDCClientID
		s.add("oidc", "Single sign-on", provider{goth: p, oidc: keys})
	}
	if cfg.AzureADClientID != "" {
		p := azureadv2.New(cfg.AzureADClientID, cfg.AzureADClientSecret, cb("microsoft"),
			azureadv2.ProviderOptions{Tenant: azureadv2.TenantType(cfg.AzureADTenant), Scopes: []azureadv2.ScopeType{"openid", "email", "profile", "User.Read"}})
		p.HTTPClient = s.client
		s.add("microsoft", "Microsoft", provider{goth: p})
	}
	if cfg.GoogleClientID != "" {
		p := google.New(cfg.GoogleClientID, cfg.GoogleClientSecret, cb("google"), "openid", "email", "profile")
		p.HTTPClient = s.client
		s.add("google", "Google", provider{goth: p})
	}
	if cfg.GitHubClientID != "" {
		p := github.New(cfg.GitHubClientID, cfg.GitHubClientSecret, cb("github"), "read:user", "user:email")
		p.HTTPClient = s.client
		s.add("github", "GitHub", provider{goth: p})
	}
	return s, nil
}

func (s *SSO) add(name, label string, p provider) {
	p.label = label
	s.order = append(s.order, name)
	s.providers[name] = p
}

// Providers lists the enabled providers in a stable order.
func (s *SSO) Providers() []Provider {
	out := make([]Provider, 0, len(s.order))
	for _, n := range s.order {
		out = append(out, Provider{Name: n, Label: s.providers[n].label})
	}
	return out
}

var errUnknown = roomhub.Errorf(roomhub.ENOTFOUND, "Page not found.")

// Begin starts a sign-in with the named provider.
func (s *SSO) Begin(name string) (Flow, error) {
	p, ok := s.providers[name]
	if !ok {
		return Flow{}, errUnknown
	}
	b := make([]byte, 32)
	rand.Read(b)
	state := base64.RawURLEncoding.EncodeToString(b)
	sess, err := p.goth.BeginAuth(state)
	if err != nil {
		return Flow{}, roomhub.Unavailable("the sign-in provider", err)
	}
	u, err := sess.GetAuthURL()
	if err != nil {
		return Flow{}, roomhub.Unavailable("the sign-in provider", err)
	}
	return Flow{State: state, URL: u, Data: sess.Marshal()}, nil
}

var errExpired = roomhub.Errorf(roomhub.EUNAUTHORIZED, "The sign-in link expired or was already used. Please try again.")

// Complete finishes a sign-in from the provider's callback query: the state
// must match, the code is exchanged, the ID token (OpenID Connect) is
// verified against the provider's keys, and the user is fetched.
func (s *SSO) Complete(ctx context.Context, name, state, data string, query url.Values) (Identity, error) {
	p, ok := s.providers[name]
	if !ok {
		return Identity{}, errUnknown
	}
	if query.Get("error") != "" {
		return Identity{}, roomhub.Errorf(roomhub.EUNAUTHORIZED, "The sign-in provider refused the sign-in. Please try again.")
	}
	if state == "" || subtle.ConstantTimeCompare([]byte(query.Get("state")), []byte(state)) != 1 || query.Get("code") == "" {
		return Identity{}, errExpired
	}
	sess, err := p.goth.UnmarshalSession(data)
	if err != nil {
		return Identity{}, errExpired
	}
	params := url.Values{"code": {query.Get("code")}}
	if _, err := sess.Authorize(p.goth, params); err != nil {
		return Identity{}, roomhub.Errorf(roomhub.EUNAUTHORIZED, "The sign-in could not be completed. Please try again.")
	}
	if p.oidc != nil {
		// goth decodes the ID token without checking its signature; check
		// it here, before goth reads a single claim.
		os, ok := sess.(*openidConnect.Session)
		if !ok || p.oidc.verify(ctx, s.client, os.IDToken, time.Now()) != nil {
			return Identity{}, roomhub.Errorf(roomhub.EUNAUTHORIZED, "The sign-in provider's answer could not be verified.")
		}
	}
	u, err := p.goth.FetchUser(sess)
	if err != nil {
		return Identity{}, roomhub.Unavailable("the sign-in provider", err)
	}
	id := Identity{Provider: name, Subject: u.UserID, Email: strings.ToLower(strings.TrimSpace(u.Email)), Name: u.Name}
	switch name {
	case "oidc":
		id.EmailVerified = claimTrue(u.RawData["email_verified"])
	case "google":
		id.EmailVerified = claimTrue(u.RawData["verified_email"]) || claimTrue(u.RawData["email_verified"])
	case "microsoft":
		// Entra ID issues the address for its own tenant's accounts.
		id.EmailVerified = true
	case "github":
		// goth may take the profile's public email, which GitHub does not
		// verify; ask which addresses are verified.
		id.EmailVerified, err = githubVerified(ctx, s.client, u.AccessToken, id.Email)
		if err != nil {
			return Identity{}, roomhub.Unavailable("the sign-in provider", err)
		}
	}
	if id.Email == "" {
		return Identity{}, roomhub.Errorf(roomhub.EUNAUTHORIZED, "The sign-in provider did not share an email address.")
	}
	return id, nil
}

func claimTrue(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return x == "true"
	}
	return false
}

// githubEmails is GitHub's list of a user's addresses with their
// verification state.
const githubEmails = "https://api.github.com/user/emails"

func githubVerified(ctx context.Context, c *http.Client, token, email string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", githubEmails, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	res, err := c.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return false, fmt.Errorf("GitHub answered %d for the user's emails", res.StatusCode)
	}
	var list []struct {
		Email    string `json:"email"`
		Verified bool   `json:"verified"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, res.Body, maxDocumentBytes)).Decode(&list); err != nil {
		return false, err
	}
	for _, e := range list {
		if strings.EqualFold(e.Email, email) && e.Verified {
			return true, nil
		}
	}
	return false, nil
}
