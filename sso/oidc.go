package sso

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"
)

// clockSkew is the leeway on an ID token's exp and iat.
const clockSkew = time.Minute

// oidcKeys is an OpenID provider's discovery document and signing keys.
type oidcKeys struct {
	Issuer           string `json:"issuer"`
	AuthEndpoint     string `json:"authorization_endpoint"`
	TokenEndpoint    string `json:"token_endpoint"`
	UserInfoEndpoint string `json:"userinfo_endpoint"`
	JWKSURI          string `json:"jwks_uri"`
	clientID         string

	mu   sync.Mutex
	keys map[string]*rsa.PublicKey // by kid
}

func getJSON(ctx context.Context, c *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", u, res.StatusCode)
	}
	return json.NewDecoder(http.MaxBytesReader(nil, res.Body, maxDocumentBytes)).Decode(v)
}

// discover reads issuer's discovery document and its keys.
func discover(ctx context.Context, c *http.Client, issuer string) (*oidcKeys, error) {
	k := &oidcKeys{}
	if err := getJSON(ctx, c, strings.TrimRight(issuer, "/")+"/.well-known/openid-configuration", k); err != nil {
		return nil, err
	}
	if k.Issuer != strings.TrimRight(issuer, "/") && k.Issuer != issuer {
		return nil, fmt.Errorf("the discovery document names issuer %q", k.Issuer)
	}
	if k.AuthEndpoint == "" || k.TokenEndpoint == "" || k.JWKSURI == "" {
		return nil, errors.New("the discovery document lacks an endpoint or jwks_uri")
	}
	if err := k.refresh(ctx, c); err != nil {
		return nil, err
	}
	return k, nil
}

// refresh fetches the provider's JSON Web Key Set (RSA keys only).
func (k *oidcKeys) refresh(ctx context.Context, c *http.Client) error {
	var set struct {
		Keys []struct {
			Kty, Kid, Use, N, E string
		} `json:"keys"`
	}
	if err := getJSON(ctx, c, k.JWKSURI, &set); err != nil {
		return err
	}
	keys := map[string]*rsa.PublicKey{}
	for _, j := range set.Keys {
		if j.Kty != "RSA" || (j.Use != "" && j.Use != "sig") {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(j.N)
		e, err2 := base64.RawURLEncoding.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(e) > 4 {
			continue
		}
		keys[j.Kid] = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	}
	if len(keys) == 0 {
		return errors.New("the provider publishes no RSA signing key")
	}
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()
	return nil
}

func (k *oidcKeys) key(kid string) *rsa.PublicKey {
	k.mu.Lock()
	defer k.mu.Unlock()
	if kid == "" && len(k.keys) == 1 {
		for _, v := range k.keys {
			return v
		}
	}
	return k.keys[kid]
}

// verify checks an ID token: RS256 signature by one of the provider's keys
// (the set is fetched again once for an unknown kid, as keys rotate), the
// issuer, this client in the audience, and the expiry.
func (k *oidcKeys) verify(ctx context.Context, c *http.Client, token string, now time.Time) error {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("not a JWT")
	}
	var hdr struct{ Alg, Kid string }
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "RS256" {
		return errors.New("ID token is not RS256")
	}
	pub := k.key(hdr.Kid)
	if pub == nil {
		if err := k.refresh(ctx, c); err != nil {
			return err
		}
		if pub = k.key(hdr.Kid); pub == nil {
			return errors.New("ID token signed by an unknown key")
		}
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return errors.New("ID token signature does not verify")
	}
	var claims struct {
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
		Exp *float64        `json:"exp"`
	}
	cb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(cb, &claims) != nil {
		return errors.New("ID token claims unreadable")
	}
	if claims.Iss != k.Issuer {
		return errors.New("ID token from another issuer")
	}
	var auds []string
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		auds = []string{one}
	} else if json.Unmarshal(claims.Aud, &auds) != nil {
		return errors.New("ID token audience unreadable")
	}
	found := false
	for _, a := range auds {
		found = found || a == k.clientID
	}
	if !found {
		return errors.New("ID token for another client")
	}
	if claims.Exp == nil || time.Unix(int64(*claims.Exp), 0).Add(clockSkew).Before(now) {
		return errors.New("ID token expired")
	}
	return nil
}
