package sso

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"time"

	"roomhub"
)

// clockSkew is the leeway on an ID token's exp. goth checks exp again with
// 10 seconds; Roomhub's check runs first and is the one that matters.
const clockSkew = 10 * time.Second

// oidcKeys is an OpenID provider's discovery document and signing keys.
//
// goth's openidConnect provider decodes the ID token's claims and compares
// iss, aud and exp, but never checks the signature and sends no nonce; a
// token it accepts proves nothing by itself. Roomhub verifies the token
// here, with the standard library: RS256 only, by a key from the
// discovery document's jwks_uri.
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
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d", u, res.StatusCode)
	}
	if err := json.NewDecoder(http.MaxBytesReader(nil, res.Body, maxDocumentBytes)).Decode(v); err != nil {
		return fmt.Errorf("%s: %w", u, err)
	}
	return nil
}

// discover reads issuer's discovery document and its keys. A provider that
// cannot be reached is EUNAVAILABLE; a document that does not fit the
// issuer is EINVALID on OIDCIssuer.
func discover(ctx context.Context, c *http.Client, issuer string) (*oidcKeys, error) {
	issuer = strings.TrimRight(issuer, "/")
	k := &oidcKeys{}
	if err := getJSON(ctx, c, issuer+"/.well-known/openid-configuration", k); err != nil {
		return nil, roomhub.Unavailable("the OpenID Connect provider", fmt.Errorf("discovery at %s: %w", issuer, err))
	}
	// OpenID Connect Discovery 1.0 §4.3: the document's issuer is the one
	// that was asked for, and every ID token must name it.
	if strings.TrimRight(k.Issuer, "/") != issuer {
		return nil, roomhub.Invalid("OIDCIssuer", "The OpenID Connect provider at %s names itself %q.", issuer, k.Issuer)
	}
	if k.AuthEndpoint == "" || k.TokenEndpoint == "" || k.JWKSURI == "" {
		return nil, roomhub.Invalid("OIDCIssuer", "The OpenID Connect provider at %s lacks an authorization, token or jwks_uri endpoint.", issuer)
	}
	if err := k.refresh(ctx, c); err != nil {
		return nil, err
	}
	return k, nil
}

// refresh fetches the provider's JSON Web Key Set (RSA signing keys only).
func (k *oidcKeys) refresh(ctx context.Context, c *http.Client) error {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
		} `json:"keys"`
	}
	if err := getJSON(ctx, c, k.JWKSURI, &set); err != nil {
		return roomhub.Unavailable("the OpenID Connect provider", fmt.Errorf("keys: %w", err))
	}
	keys := map[string]*rsa.PublicKey{}
	for _, j := range set.Keys {
		if j.Kty != "RSA" || (j.Use != "" && j.Use != "sig") || (j.Alg != "" && j.Alg != "RS256") {
			continue
		}
		n, err1 := base64.RawURLEncoding.DecodeString(j.N)
		e, err2 := base64.RawURLEncoding.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			continue
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < 2048 || pub.E < 3 {
			continue
		}
		keys[j.Kid] = pub
	}
	if len(keys) == 0 {
		return roomhub.Invalid("OIDCIssuer", "The OpenID Connect provider publishes no RSA signing key (RS256, 2048 bits or more).")
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

// verify checks an ID token (OpenID Connect Core 1.0 §3.1.3.7): an RS256
// signature by one of the provider's keys (fetched again once for an
// unknown kid, as keys rotate), the issuer, this client among the audience
// (and as azp if the token names one), the expiry, and the nonce of the
// flow. A key set that cannot be fetched is EUNAVAILABLE; anything else
// wrong is a plain error.
func (k *oidcKeys) verify(ctx context.Context, c *http.Client, token, nonce string, now time.Time) error {
	if token == "" {
		return errors.New("the token response has no id_token")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("id_token is not a signed JWT")
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &hdr) != nil {
		return errors.New("id_token header unreadable")
	}
	if hdr.Alg != "RS256" {
		return fmt.Errorf("id_token algorithm %.20q is not RS256", hdr.Alg)
	}
	pub := k.key(hdr.Kid)
	if pub == nil {
		rctx, cancel := context.WithTimeout(ctx, CallTimeout)
		err := k.refresh(rctx, c)
		cancel()
		if err != nil {
			return err
		}
		if pub = k.key(hdr.Kid); pub == nil {
			return fmt.Errorf("id_token signed by unknown key %.64q", hdr.Kid)
		}
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return errors.New("id_token signature unreadable")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return errors.New("id_token signature does not verify")
	}

	var claims struct {
		Iss   string          `json:"iss"`
		Aud   json.RawMessage `json:"aud"`
		Azp   string          `json:"azp"`
		Exp   *float64        `json:"exp"`
		Nonce string          `json:"nonce"`
	}
	cb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(cb, &claims) != nil {
		return errors.New("id_token claims unreadable")
	}
	if claims.Iss != k.Issuer {
		return fmt.Errorf("id_token from issuer %.200q", claims.Iss)
	}
	var auds []string
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		auds = []string{one}
	} else if json.Unmarshal(claims.Aud, &auds) != nil {
		return errors.New("id_token audience unreadable")
	}
	found := false
	for _, a := range auds {
		found = found || a == k.clientID
	}
	if !found || (claims.Azp != "" && claims.Azp != k.clientID) {
		return errors.New("id_token issued to another client")
	}
	if claims.Exp == nil || time.Unix(int64(*claims.Exp), 0).Add(clockSkew).Before(now) {
		return errors.New("id_token expired")
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(claims.Nonce), []byte(nonce)) != 1 {
		return errors.New("id_token nonce does not match the flow")
	}
	return nil
}
