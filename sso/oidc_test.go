package sso

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"roomhub"
)

func jwt(t *testing.T, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	if key == nil {
		return input + "."
	}
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestVerifyIDToken covers what the test provider cannot be made to do:
// forged algorithms, key rotation, azp. Verification is go-oidc's.
func TestVerifyIDToken(t *testing.T) {
	oldKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	newKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	var mu sync.Mutex
	published := map[string]*rsa.PrivateKey{"old": oldKey}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": srv.URL, "authorization_endpoint": srv.URL + "/auth",
			"token_endpoint": srv.URL + "/token", "jwks_uri": srv.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{"RS256", "HS256", "none"}})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var keys []map[string]string
		for kid, k := range published {
			keys = append(keys, map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	})
	ctx := context.Background()
	now := time.Now()
	k, err := discover(ctx, srv.Client(), srv.URL, "roomhub", func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"iss": srv.URL, "sub": "s", "aud": "roomhub", "exp": now.Add(time.Minute).Unix(), "nonce": "n1"}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	rs := func(kid string) map[string]any { return map[string]any{"alg": "RS256", "kid": kid} }

	if err := k.verify(ctx, jwt(t, oldKey, rs("old"), claims(nil)), "n1"); err != nil {
		t.Fatalf("a good token was refused: %v", err)
	}
	// HS256 signed with the provider's public key as the HMAC secret: the
	// classic algorithm confusion.
	hsInput := strings.Join(strings.Split(jwt(t, nil, map[string]any{"alg": "HS256", "kid": "old"}, claims(nil)), ".")[:2], ".")
	mac := hmac.New(sha256.New, oldKey.PublicKey.N.Bytes())
	mac.Write([]byte(hsInput))
	hs := hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	for name, tc := range map[string]struct{ token, nonce string }{
		"alg none":            {jwt(t, nil, map[string]any{"alg": "none"}, claims(nil)), "n1"},
		"alg HS256":           {hs, "n1"},
		"unsigned RS256":      {jwt(t, nil, rs("old"), claims(nil)), "n1"},
		"unknown key":         {jwt(t, newKey, rs("new"), claims(nil)), "n1"},
		"other issuer":        {jwt(t, oldKey, rs("old"), claims(map[string]any{"iss": "https://evil.example"})), "n1"},
		"audience list":       {jwt(t, oldKey, rs("old"), claims(map[string]any{"aud": []string{"other", "third"}})), "n1"},
		"azp of other client": {jwt(t, oldKey, rs("old"), claims(map[string]any{"aud": []string{"roomhub", "other"}, "azp": "other"})), "n1"},
		"no exp":              {jwt(t, oldKey, rs("old"), claims(map[string]any{"exp": nil})), "n1"},
		"expired":             {jwt(t, oldKey, rs("old"), claims(map[string]any{"exp": now.Add(-time.Minute).Unix()})), "n1"},
		"other nonce":         {jwt(t, oldKey, rs("old"), claims(nil)), "n2"},
		"flow without nonce":  {jwt(t, oldKey, rs("old"), claims(map[string]any{"nonce": ""})), ""},
		"no token":            {"", "n1"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := k.verify(ctx, tc.token, tc.nonce); err == nil {
				t.Fatal("accepted")
			}
		})
	}

	// The provider rotates its key: a token under the new kid makes
	// Roomhub fetch the set again.
	mu.Lock()
	published = map[string]*rsa.PrivateKey{"new": newKey}
	mu.Unlock()
	if err := k.verify(ctx, jwt(t, newKey, rs("new"), claims(nil)), "n1"); err != nil {
		t.Fatalf("a token under a rotated key was refused: %v", err)
	}
	if err := k.verify(ctx, jwt(t, oldKey, rs("old"), claims(nil)), "n1"); err == nil {
		t.Fatal("a token under a withdrawn key was accepted")
	}
}

// TestDiscoveryNamesItself: a discovery document naming another issuer is
// refused at start.
func TestDiscoveryNamesItself(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"issuer": "https://evil.example", "authorization_endpoint": "https://evil.example/a",
			"token_endpoint": "https://evil.example/t", "jwks_uri": "https://evil.example/k"})
	}))
	defer srv.Close()
	_, err := discover(context.Background(), srv.Client(), srv.URL, "roomhub", nil)
	if roomhub.ErrorCode(err) != roomhub.EINVALID {
		t.Fatalf("got %v, want EINVALID", err)
	}
}
