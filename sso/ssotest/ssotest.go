// Package ssotest is a small OpenID Connect provider for tests: discovery,
// authorize (no login page: it signs in the configured user at once),
// token, userinfo and JWKS, over a real HTTP listener. Options make it
// misbehave the ways an attacker's or a broken provider would.
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
	"sync"
	"testing"
	"time"
)

// User is who the provider signs in.
type User struct {
	Subject, Email, Name string
	EmailVerified        bool
}

// Provider is a running test provider.
type Provider struct {
	ClientID, ClientSecret string
	srv                    *httptest.Server
	key                    *rsa.PrivateKey

	mu     sync.Mutex
	user   User
	codes  map[string]string // code -> redirect_uri, single use
	tokens map[string]User   // access token -> user
	// Misbehaviours.
	forgeSignature bool
	wrongAudience  bool
	expired        bool
}

// New starts a provider, stopped when the test ends.
func New(t testing.TB) *Provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{ClientID: "roomhub-test", ClientSecret: "test-client-secret", key: key,
		codes: map[string]string{}, tokens: map[string]User{},
		user: User{Subject: "u-1", Email: "ada@acme.example", Name: "Ada Lovelace", EmailVerified: true}}
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

// SetUser sets who signs in next.
func (p *Provider) SetUser(u User) { p.mu.Lock(); p.user = u; p.mu.Unlock() }

// ForgeSignature signs ID tokens with a key the provider does not publish.
func (p *Provider) ForgeSignature(on bool) { p.mu.Lock(); p.forgeSignature = on; p.mu.Unlock() }

// WrongAudience issues ID tokens for another client.
func (p *Provider) WrongAudience(on bool) { p.mu.Lock(); p.wrongAudience = on; p.mu.Unlock() }

// Expired issues ID tokens that expired an hour ago.
func (p *Provider) Expired(on bool) { p.mu.Lock(); p.expired = on; p.mu.Unlock() }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{
		"issuer": p.Issuer(), "authorization_endpoint": p.Issuer() + "/authorize",
		"token_endpoint": p.Issuer() + "/token", "userinfo_endpoint": p.Issuer() + "/userinfo",
		"jwks_uri": p.Issuer() + "/jwks", "response_types_supported": []string{"code"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

func random() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// authorize signs the configured user in at once and sends the browser back
// with a code.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != p.ClientID || q.Get("response_type") != "code" || q.Get("redirect_uri") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	code := random()
	p.mu.Lock()
	p.codes[code] = q.Get("redirect_uri")
	p.mu.Unlock()
	u, _ := url.Parse(q.Get("redirect_uri"))
	v := u.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	redirect, known := p.codes[r.PostForm.Get("code")]
	delete(p.codes, r.PostForm.Get("code")) // single use
	if id != p.ClientID || secret != p.ClientSecret || !known || redirect != r.PostForm.Get("redirect_uri") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"error":"invalid_grant"}`))
		return
	}
	access := random()
	p.tokens[access] = p.user
	now := time.Now()
	claims := map[string]any{"iss": p.Issuer(), "sub": p.user.Subject, "aud": p.ClientID,
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(),
		"email": p.user.Email, "email_verified": p.user.EmailVerified, "name": p.user.Name}
	if p.wrongAudience {
		claims["aud"] = "someone-else"
	}
	if p.expired {
		claims["exp"] = now.Add(-time.Hour).Unix()
	}
	key := p.key
	if p.forgeSignature {
		key, _ = rsa.GenerateKey(rand.Reader, 2048)
	}
	writeJSON(w, map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600,
		"id_token": sign(key, claims)})
}

func sign(key *rsa.PrivateKey, claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "k1"})
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(input))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func (p *Provider) userinfo(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	p.mu.Lock()
	u, ok := p.tokens[auth[min(len(auth), len("Bearer ")):]]
	p.mu.Unlock()
	if !ok {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	writeJSON(w, map[string]any{"sub": u.Subject, "email": u.Email, "email_verified": u.EmailVerified, "name": u.Name})
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	pub := p.key.PublicKey
	writeJSON(w, map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
}
