package sso

import (
	"context"
	"crypto"
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
// other algorithms, key rotation, azp.
func TestVerifyIDToken(t *testing.T) {
	oldKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	newKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	var mu sync.Mutex
	published := map[string]*rsa.PrivateKey{"old": oldKey}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		var keys []map[string]string
		for kid, k := range published {
			keys = append(keys, map[string]string{"kty": "RSA", "kid": kid, "use": "sig",
				"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()),
				"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
		}
		json.NewEncoder(w).Encode(map[string]any{"keys": keys})
	}))
	defer srv.Close()
	ctx := context.Background()
	k := &oidcKeys{Issuer: "https://id.example", JWKSURI: srv.URL, clientID: "roomhub"}
	if err := k.refresh(ctx, srv.Client()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(extra map[string]any) map[string]any {
		c := map[string]any{"iss": "https://id.example", "sub": "s", "aud": "roomhub", "exp": now.Add(time.Minute).Unix(), "nonce": "n1"}
		for k, v := range extra {
			c[k] = v
		}
		return c
	}
	rs := func(kid string) map[string]any { return map[string]any{"alg": "RS256", "kid": kid} }

	if err := k.verify(ctx, srv.Client(), jwt(t, oldKey, rs("old"), claims(nil)), "n1", now); err != nil {
		t.Fatalf("a good token was refused: %v", err)
	}
	hs := jwt(t, nil, map[string]any{"alg": "HS256", "kid": "old"}, claims(nil)) + "c2ln"
	for name, tc := range map[string]struct{ token, nonce, cause string }{
		"alg none":            {jwt(t, nil, map[string]any{"alg": "none"}, claims(nil)), "n1", "not RS256"},
		"alg HS256":           {hs, "n1", "not RS256"},
		"unsigned RS256":      {jwt(t, nil, rs("old"), claims(nil)), "n1", "signature"},
		"unknown key":         {jwt(t, newKey, rs("new"), claims(nil)), "n1", "unknown key"},
		"other issuer":        {jwt(t, oldKey, rs("old"), claims(map[string]any{"iss": "https://evil.example"})), "n1", "issuer"},
		"audience list":       {jwt(t, oldKey, rs("old"), claims(map[string]any{"aud": []string{"other", "third"}})), "n1", "another client"},
		"azp of other client": {jwt(t, oldKey, rs("old"), claims(map[string]any{"aud": []string{"roomhub", "other"}, "azp": "other"})), "n1", "another client"},
		"no exp":              {jwt(t, oldKey, rs("old"), claims(map[string]any{"exp": nil})), "n1", "expired"},
		"other nonce":         {jwt(t, oldKey, rs("old"), claims(nil)), "n2", "nonce"},
		"flow without nonce":  {jwt(t, oldKey, rs("old"), claims(map[string]any{"nonce": ""})), "", "nonce"},
		"no token":            {"", "n1", "no id_token"},
	} {
		err := k.verify(ctx, srv.Client(), tc.token, tc.nonce, now)
		if err == nil || !strings.Contains(err.Error(), tc.cause) {
			t.Errorf("%s: got %v, want %q", name, err, tc.cause)
		}
	}

	// The provider rotates its key: a token under the new kid makes
	// Roomhub fetch the set again.
	mu.Lock()
	published = map[string]*rsa.PrivateKey{"new": newKey}
	mu.Unlock()
	if err := k.verify(ctx, srv.Client(), jwt(t, newKey, rs("new"), claims(nil)), "n1", now); err != nil {
		t.Fatalf("a token under a rotated key was refused: %v", err)
	}
	if err := k.verify(ctx, srv.Client(), jwt(t, oldKey, rs("old"), claims(nil)), "n1", now); err == nil {
		t.Fatal("a token under a withdrawn key was accepted")
	}
}
