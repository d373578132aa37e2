// Package sso signs dashboard users in with an outside identity provider:
// any OpenID Connect provider, Microsoft Entra ID, Google or GitHub, through
// github.com/markbates/goth.
//
// goth's registry (goth.UseProviders) and gothic keep providers and sessions
// in package globals and need gorilla sessions; Roomhub holds its providers
// in an SSO value instead and calls the provider methods itself, and the
// caller keeps the flow (Flow.Data) until the callback. Complete returns the
// identity the provider vouches for, with whether it vouches for the email;
// the server decides what that identity may do.
package sso

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
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
	"golang.org/x/oauth2"

	"roomhub"
)

// Timeouts of calls to providers.
const (
	// DiscoveryTimeout bounds fetching the OpenID Connect provider's
	// discovery document and keys in New, so a provider that does not answer
	// fails the start instead of hanging it.
	DiscoveryTimeout = 10 * time.Second
	// CallTimeout bounds each call to a provider during a sign-in (token,
	// user, keys). goth's calls take no context, so this client timeout is
	// what bounds them.
	CallTimeout = 10 * time.Second
	// maxDocumentBytes bounds what is read from the JSON answers Roomhub
	// fetches itself.
	maxDocumentBytes = 1 << 20
)

// Provider names, as they appear in the callback path.
const (
	OIDC      = "oidc"
	Microsoft = "microsoft"
	Google    = "google"
	GitHub    = "github"
)

// Config enables each provider by its own variables; an empty client id
// leaves it off.
type Config struct {
	// PublicURL is where users reach Roomhub, e.g.
	// https://roomhub.example.com; each provider's callback is
	// PublicURL/auth/sso/{name}/callback.
	PublicURL string

	// Generic OpenID Connect ("oidc"); OIDCIssuer is the issuer URL, whose
	// discovery document is read in New.
	OIDCIssuer, OIDCClientID, OIDCClientSecret string

	GoogleClientID, GoogleClientSecret string // "google"
	GitHubClientID, GitHubClientSecret string // "github"

	// Microsoft Entra ID through goth's azureadv2 ("microsoft").
	// AzureADTenant is a tenant id, or "organizations", "common" or
	// "consumers" (empty means "common", as in goth). It decides whether
	// the email is vouched for: see Identity.EmailVerified.
	AzureADClientID, AzureADClientSecret, AzureADTenant string

	// HTTPClient makes every call to the providers. Optional; a client
	// without a timeout gets CallTimeout.
	HTTPClient *http.Client
}

// Provider names an enabled provider for the sign-in page.
type Provider struct {
	Name, Label string // e.g. "microsoft", "Microsoft"
}

// Identity is who the provider says signed in.
type Identity struct {
	Provider string // the provider's name, e.g. "oidc"
	Subject  string // the provider's stable id for the account
	Email    string // lower-case; never empty
	Name     string
	// EmailVerified is the provider's word that the person controls Email:
	//   - oidc: the email_verified claim (absent means false);
	//   - google: Google's verified_email (or email_verified) field;
	//   - github: GitHub's /user/emails lists the address as verified;
	//   - microsoft: with a single tenant id configured, that tenant's
	//     administrators assert the address: true. With "organizations",
	//     any tenant may sign in and its administrators may set any mail
	//     address, so only an address equal to the user's principal name
	//     counts (Entra accepts a principal name only in a domain the
	//     user's tenant has verified); with "common" or "consumers": false.
	EmailVerified bool
}

// Flow is a sign-in in progress: the caller keeps State and Data until the
// callback (server-side, or in a cookie it signs) and sends the browser to
// URL.
type Flow struct {
	// State is 32 random bytes, base64url: the callback must bring it back.
	State string
	// URL is the provider's authorization URL.
	URL string
	// Data is goth's marshalled session, which Complete needs back
	// unchanged. For "oidc" its authorization URL carries the nonce the ID
	// token must repeat.
	Data string
}

type provider struct {
	name, label string
	goth        goth.Provider
	oidc        *oidcKeys // the "oidc" provider's discovery and keys
}

// SSO is the set of enabled providers. It is safe for concurrent use.
type SSO struct {
	client      *http.Client
	azureTenant string
	order       []string
	providers   map[string]*provider
}

// New builds the enabled providers. The OpenID Connect provider's discovery
// document and keys are fetched here, within DiscoveryTimeout, so a wrong
// issuer stops the start rather than the first sign-in. Google, GitHub and
// Microsoft make no call until a sign-in.
func New(ctx context.Context, cfg Config) (*SSO, error) {
	s := &SSO{providers: map[string]*provider{}, azureTenant: strings.ToLower(strings.TrimSpace(cfg.AzureADTenant))}
	switch {
	case cfg.HTTPClient == nil:
		s.client = &http.Client{Timeout: CallTimeout}
	case cfg.HTTPClient.Timeout == 0:
		c := *cfg.HTTPClient
		c.Timeout = CallTimeout
		s.client = &c
	default:
		s.client = cfg.HTTPClient
	}
	if cfg.OIDCClientID == "" && cfg.AzureADClientID == "" && cfg.GoogleClientID == "" && cfg.GitHubClientID == "" {
		return s, nil
	}
	base, err := url.Parse(strings.TrimRight(cfg.PublicURL, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, roomhub.Invalid("PublicURL", "The public URL must be an absolute http(s) URL: it builds the sign-in callbacks.")
	}
	callback := func(name string) string { return base.String() + "/auth/sso/" + name + "/callback" }

	if cfg.OIDCClientID != "" {
		if cfg.OIDCIssuer == "" {
			return nil, roomhub.Invalid("OIDCIssuer", "The OpenID Connect issuer URL is required with its client id.")
		}
		dctx, cancel := context.WithTimeout(ctx, DiscoveryTimeout)
		keys, err := discover(dctx, s.client, strings.TrimSpace(cfg.OIDCIssuer), cfg.OIDCClientID, nil)
		cancel()
		if err != nil {
			return nil, err
		}
		// NewCustomisedURL, not New: goth's own discovery takes no context
		// and reads no jwks_uri.
		p, err := openidConnect.NewCustomisedURL(cfg.OIDCClientID, cfg.OIDCClientSecret, callback(OIDC),
			keys.AuthEndpoint, keys.TokenEndpoint, keys.Issuer, keys.UserInfoEndpoint, "", "openid", "email", "profile")
		if err != nil {
			return nil, &roomhub.Error{Code: roomhub.EINTERNAL, Message: "OpenID Connect provider", Err: err}
		}
		p.HTTPClient = s.client
		s.add(&provider{name: OIDC, label: "Single sign-on", goth: p, oidc: keys})
	}
	if cfg.AzureADClientID != "" {
		p := azureadv2.New(cfg.AzureADClientID, cfg.AzureADClientSecret, callback(Microsoft), azureadv2.ProviderOptions{
			Tenant: azureadv2.TenantType(s.azureTenant),
			Scopes: []azureadv2.ScopeType{azureadv2.OpenIDScope, azureadv2.EmailScope, azureadv2.ProfileScope, azureadv2.UserReadScope},
		})
		p.HTTPClient = s.client
		s.add(&provider{name: Microsoft, label: "Microsoft", goth: p})
	}
	if cfg.GoogleClientID != "" {
		p := google.New(cfg.GoogleClientID, cfg.GoogleClientSecret, callback(Google), "openid", "email", "profile")
		// goth asks Google for offline access (a refresh token) by default;
		// Roomhub reads the profile once and keeps no token.
		p.SetAccessType("online")
		p.HTTPClient = s.client
		s.add(&provider{name: Google, label: "Google", goth: p})
	}
	if cfg.GitHubClientID != "" {
		p := github.New(cfg.GitHubClientID, cfg.GitHubClientSecret, callback(GitHub), "read:user", "user:email")
		p.HTTPClient = s.client
		s.add(&provider{name: GitHub, label: "GitHub", goth: p})
	}
	return s, nil
}

func (s *SSO) add(p *provider) {
	s.order = append(s.order, p.name)
	s.providers[p.name] = p
}

// Providers lists the enabled providers in a stable order: oidc, microsoft,
// google, github.
func (s *SSO) Providers() []Provider {
	out := make([]Provider, 0, len(s.order))
	for _, n := range s.order {
		out = append(out, Provider{Name: n, Label: s.providers[n].label})
	}
	return out
}

// random returns 32 random bytes, base64url.
func random() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails; a broken source crashes the process
	return base64.RawURLEncoding.EncodeToString(b)
}

func errUnknown() error { return roomhub.Errorf(roomhub.ENOTFOUND, "Page not found.") }

// expiredMessage is shown for any callback that does not belong to a live
// flow; the cause is kept for the log.
const expiredMessage = "The sign-in link expired or was already used. Please try again."

func errExpired(cause error) error {
	return &roomhub.Error{Code: roomhub.EUNAUTHORIZED, Message: expiredMessage, Err: cause}
}

func errRefused(msg string, cause error) error {
	return &roomhub.Error{Code: roomhub.EUNAUTHORIZED, Message: msg, Err: cause}
}

func unavailable(err error) error { return roomhub.Unavailable("the sign-in provider", err) }

// Begin starts a sign-in with the named provider.
func (s *SSO) Begin(name string) (Flow, error) {
	p, ok := s.providers[name]
	if !ok {
		return Flow{}, errUnknown()
	}
	state := random()
	sess, err := p.goth.BeginAuth(state)
	if err != nil {
		return Flow{}, &roomhub.Error{Code: roomhub.EINTERNAL, Message: "sign-in could not start", Err: err}
	}
	if os, ok := sess.(*openidConnect.Session); ok {
		// goth sends no nonce. The ID token must repeat this one, which
		// binds it to this flow: a code obtained in another flow and
		// injected into this callback is refused. The nonce travels in the
		// session's URL, so Data stays goth's session.
		u, err := url.Parse(os.AuthURL)
		if err != nil {
			return Flow{}, &roomhub.Error{Code: roomhub.EINTERNAL, Message: "sign-in could not start", Err: err}
		}
		q := u.Query()
		q.Set("nonce", random())
		u.RawQuery = q.Encode()
		os.AuthURL = u.String()
	}
	authURL, err := sess.GetAuthURL()
	if err != nil {
		return Flow{}, &roomhub.Error{Code: roomhub.EINTERNAL, Message: "sign-in could not start", Err: err}
	}
	return Flow{State: state, URL: authURL, Data: sess.Marshal()}, nil
}

// Complete finishes a sign-in from the provider's callback query, given the
// State and Data that Begin returned. The state must match; a provider's
// error is refused; the code is exchanged; for "oidc" the ID token is
// verified against the provider's keys (goth does not check its
// signature); then the user is fetched.
//
// goth's calls take no context: ctx bounds Roomhub's own calls (keys,
// GitHub's email list), CallTimeout bounds goth's.
func (s *SSO) Complete(ctx context.Context, name, state, data string, query url.Values) (Identity, error) {
	p, ok := s.providers[name]
	if !ok {
		return Identity{}, errUnknown()
	}
	if state == "" || subtle.ConstantTimeCompare([]byte(query.Get("state")), []byte(state)) != 1 {
		return Identity{}, errExpired(errors.New("state does not match the flow"))
	}
	if query.Has("error") {
		// The provider's words are not shown: anyone can put them in the
		// link. The log gets the error code, reduced to RFC 6749's usual
		// characters.
		return Identity{}, errRefused("The sign-in provider did not sign you in. Please try again.",
			fmt.Errorf("provider answered error %q", errorCode(query.Get("error"))))
	}
	code := query.Get("code")
	if code == "" {
		return Identity{}, errExpired(errors.New("callback without code"))
	}
	sess, err := p.goth.UnmarshalSession(data)
	if err != nil {
		return Identity{}, errExpired(fmt.Errorf("flow data: %w", err))
	}
	var nonce string
	if os, ok := sess.(*openidConnect.Session); ok {
		nonce = nonceOf(os.AuthURL)
		// A flow from Begin holds no token; start clean so none can come
		// in through data if the provider's answer lacks one.
		*os = openidConnect.Session{AuthURL: os.AuthURL}
	}
	if err := safely(func() error {
		_, err := sess.Authorize(p.goth, url.Values{"code": {code}})
		return err
	}); err != nil {
		return Identity{}, exchangeError(err)
	}
	if p.oidc != nil {
		os, _ := sess.(*openidConnect.Session)
		if os == nil {
			return Identity{}, &roomhub.Error{Code: roomhub.EINTERNAL, Message: "unexpected session", Err: fmt.Errorf("%T", sess)}
		}
		if err := p.oidc.verify(ctx, os.IDToken, nonce); err != nil {
			if roomhub.ErrorCode(err) == roomhub.EUNAVAILABLE {
				return Identity{}, err
			}
			return Identity{}, errRefused("The sign-in provider's answer could not be verified. Please try again.", err)
		}
	}
	var u goth.User
	if err := safely(func() (err error) { u, err = p.goth.FetchUser(sess); return err }); err != nil {
		if errors.Is(err, github.ErrNoVerifiedGitHubPrimaryEmail) {
			return Identity{}, errNoEmail(err)
		}
		return Identity{}, unavailable(err)
	}
	id := Identity{Provider: name, Subject: u.UserID, Name: strings.TrimSpace(u.Name)}
	email := u.Email
	switch name {
	case OIDC:
		id.EmailVerified = claimTrue(u.RawData["email_verified"])
	case Google:
		// goth reads Google's v2 userinfo, which names it verified_email.
		id.EmailVerified = claimTrue(u.RawData["verified_email"]) || claimTrue(u.RawData["email_verified"])
	case Microsoft:
		email, id.EmailVerified = microsoftEmail(s.azureTenant, u)
	}
	id.Email = strings.ToLower(strings.TrimSpace(email))
	if id.Email == "" {
		return Identity{}, errNoEmail(nil)
	}
	if id.Subject == "" || (name == GitHub && id.Subject == "0") {
		return Identity{}, errRefused("The sign-in provider did not say who signed in. Please try again.", errors.New("no subject"))
	}
	if name == GitHub {
		// goth takes the profile's public email when there is one, and
		// only otherwise the verified primary address from /user/emails;
		// ask GitHub about the address it returned.
		if id.EmailVerified, err = githubVerified(ctx, s.client, u.AccessToken, id.Email); err != nil {
			return Identity{}, unavailable(err)
		}
	}
	return id, nil
}

func errNoEmail(cause error) error {
	return errRefused("The sign-in provider did not share a verified email address.", cause)
}

// exchangeError classifies a failed code exchange: the provider refusing the
// code (used, expired, for another client) is the user's problem to retry;
// a provider that cannot be reached or fails is unavailable.
func exchangeError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.Response != nil && re.Response.StatusCode >= 500 {
			return unavailable(err)
		}
		return errExpired(err)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return unavailable(err)
	}
	return errRefused("The sign-in could not be completed. Please try again.", err)
}

// safely runs a goth call, turning a panic into an error: goth type-asserts
// parts of the providers' answers (the id_token, the exp claim), so a
// malformed answer must not take the request down with a stack trace.
func safely(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("malformed answer from the provider: %v", r)
		}
	}()
	return f()
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

// errorCode keeps at most 64 letters, digits, '_', '-' and '.' of a
// provider's error parameter: enough to read "access_denied" in the log,
// too little to carry markup.
func errorCode(s string) string {
	b := make([]byte, 0, min(len(s), 64))
	for i := 0; i < len(s) && len(b) < 64; i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' {
			b = append(b, c)
		}
	}
	return string(b)
}

// nonceOf returns the nonce Begin put in the authorization URL.
func nonceOf(authURL string) string {
	u, err := url.Parse(authURL)
	if err != nil {
		return ""
	}
	return u.Query().Get("nonce")
}
