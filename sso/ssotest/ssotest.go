// Package ssotest is a small OpenID Connect provider for tests, over a real
// HTTP listener: discovery, authorize (no login page: it signs the
// configured user in at once), token, userinfo and JWKS. Options make it
// misbehave the ways a forged or broken provider would, so tests can show
// that Roomhub refuses it.
package ssotest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// User is who the provider signs in.
type User struct {
	Subject, Email, Name string
	EmailVerified        bool
}

// DefaultUser is who signs in until SetUser says otherwise.
func DefaultUser() User {
	return User{Subject: "u-1", Email: "ada@acme.example", Name: "Ada Lovelace", EmailVerified: true}
}

// Option changes how the provider behaves; see New.
type Option func(*Provider)

// ForgeSignature signs ID tokens with a key the provider does not publish.
func ForgeSignature() Option { return func(p *Provider) { p.forgeSignature = true } }

// WrongAudience issues ID tokens for another client.
func WrongAudience() Option { return func(p *Provider) { p.wrongAudience = true } }

// ExpireTokens issues ID tokens that expired an hour ago.
func ExpireTokens() Option { return func(p *Provider) { p.expired = true } }

// DropNonce leaves the nonce the client sent out of ID tokens.
func DropNonce() Option { return func(p *Provider) { p.dropNonce = true } }

// DenyAccess answers every authorization with error=access_denied, as when
// the user declines.
func DenyAccess() Option { return func(p *Provider) { p.deny = true } }

// RedirectURI registers a redirect URI; once one is registered, authorize
// accepts only registered ones. Without it any absolute http(s) URI without
// a fragment is accepted, since tests rarely know their callback up front.
func RedirectURI(uri string) Option {
	return func(p *Provider) { p.redirects = append(p.redirects, uri) }
}

// Provider is a running test provider.
type Provider struct {
	ClientID, ClientSecret string

	srv       *httptest.Server
	key       *rsa.PrivateKey
	redirects []string

	// Misbehaviours, fixed at New.
	forgeSignature, wrongAudience, expired, dropNonce, deny bool

	mu     sync.Mutex
	user   User
	codes  map[string]grant // single use
	tokens map[string]User  // access token -> user
}

// grant is what an authorization code stands for.
type grant struct {
	redirectURI, nonce string
	user               User
}

// New starts a provider for client ClientID ("roomhub-test") with secret
// ClientSecret; it is closed when the test ends.
func New(t testing.TB, opts ...Option) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{ClientID: "roomhub-test", ClientSecret: "test client secret/+=", key: key,
		codes: map[string]grant{}, tokens: map[string]User{}, user: DefaultUser()}
	for _, o := range opts {
		o(p)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /userinfo", p.userinfo)
	mux.HandleFunc("GET /jwks", p.jwks)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// Issuer is the provider's issuer URL.
func (p *Provider) Issuer() string { return p.srv.URL }

// SetUser sets who the next authorizations sign in.
func (p *Provider) SetUser(u User) {
	p.mu.Lock()
	p.user = u
	p.mu.Unlock()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	iss := p.Issuer()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "/authorize",
		"token_endpoint":                        iss + "/token",
		"userinfo_endpoint":                     iss + "/userinfo",
		"jwks_uri":                              iss + "/jwks",
		"response_types_supported":              []string{"code"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid", "email", "profile"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
	})
}

func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (p *Provider) redirectOK(uri string) bool {
	if len(p.redirects) > 0 {
		return slices.Contains(p.redirects, uri)
	}
	u, err := url.Parse(uri)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Fragment == "" && !strings.Contains(uri, "#")
}

// authorize signs the configured user in at once and sends the browser back
// with a code. An unknown client or redirect URI gets an error page, never
// a redirect (RFC 6749 §4.1.2.1); other errors go back to the client.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect := q.Get("redirect_uri")
	if q.Get("client_id") != p.ClientID || !p.redirectOK(redirect) {
		http.Error(w, "unknown client or redirect_uri", http.StatusBadRequest)
		return
	}
	back := url.Values{}
	if s := q.Get("state"); s != "" {
		back.Set("state", s)
	}
	switch {
	case q.Get("response_type") != "code":
		back.Set("error", "unsupported_response_type")
	case !slices.Contains(strings.Fields(q.Get("scope")), "openid"):
		back.Set("error", "invalid_scope")
	case p.deny:
		back.Set("error", "access_denied")
		back.Set("error_description", "The user declined.")
	default:
		code := random()
		p.mu.Lock()
		p.codes[code] = grant{redirectURI: redirect, nonce: q.Get("nonce"), user: p.user}
		p.mu.Unlock()
		back.Set("code", code)
	}
	u, _ := url.Parse(redirect)
	v := u.Query()
	for k := range back {
		v.Set(k, back.Get(k))
	}
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// client authenticates the client by HTTP Basic (whose parts are
// form-encoded, RFC 6749 §2.3.1) or by the form.
func (p *Provider) client(r *http.Request) bool {
	id, secret, ok := r.BasicAuth()
	if ok {
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return false
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	return id == p.ClientID && secret == p.ClientSecret
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request"})
		return
	}
	if !p.client(r) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	if r.PostForm.Get("grant_type") != "authorization_code" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	code := r.PostForm.Get("code")
	p.mu.Lock()
	g, known := p.codes[code]
	delete(p.codes, code) // single use
	p.mu.Unlock()
	if !known || g.redirectURI != r.PostForm.Get("redirect_uri") {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	access := random()
	p.mu.Lock()
	p.tokens[access] = g.user
	p.mu.Unlock()

	now := time.Now()
	claims := map[string]any{"iss": p.Issuer(), "sub": g.user.Subject, "aud": p.ClientID,
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
		"email_verified": g.user.EmailVerified, "name": g.user.Name}
	if g.user.Email != "" {
		claims["email"] = g.user.Email
	}
	if g.nonce != "" && !p.dropNonce {
		claims["nonce"] = g.nonce
	}
	if p.wrongAudience {
		claims["aud"] = "someone-else"
	}
	if p.expired {
		claims["exp"] = now.Add(-time.Hour).Unix()
	}
	key := p.key
	if p.forgeSignature {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": access, "token_type": "Bearer",
		"expires_in": 3600, "id_token": sign(key, claims)})
}

// sign returns claims as a JWT signed with RS256 under key id "k1", the id
// the provider publishes its own key under.
func sign(key *rsa.PrivateKey, claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "k1"})
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(input))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	access, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	p.mu.Lock()
	u, known := p.tokens[access]
	p.mu.Unlock()
	if !ok || !known {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	claims := map[string]any{"sub": u.Subject, "email_verified": u.EmailVerified, "name": u.Name}
	if u.Email != "" {
		claims["email"] = u.Email
	}
	writeJSON(w, http.StatusOK, claims)
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	pub := p.key.PublicKey
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}
