package sso

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"roomhub"
)

// oidcKeys is an OpenID provider's discovery document and the verifier of
// its ID tokens.
//
// goth's openidConnect provider decodes the ID token's claims and compares
// iss, aud and exp, but never checks the signature and sends no nonce; a
// token it accepts proves nothing by itself. Roomhub verifies the token
// with go-oidc (signature by a key from the discovery document's jwks_uri,
// fetched again for an unknown key id as keys rotate; the algorithms the
// provider advertises, RS256 when it names none; issuer, audience, expiry),
// and checks azp and the nonce of the flow itself.
type oidcKeys struct {
	Issuer           string
	AuthEndpoint     string
	TokenEndpoint    string
	UserInfoEndpoint string
	clientID         string
	verifier         *oidc.IDTokenVerifier
}

// limitedBodies bounds every answer read through it to maxDocumentBytes:
// go-oidc reads discovery documents and key sets whole.
type limitedBodies struct{ next http.RoundTripper }

func (l limitedBodies) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := l.next.RoundTrip(r)
	if err == nil {
		res.Body = struct {
			io.Reader
			io.Closer
		}{io.LimitReader(res.Body, maxDocumentBytes), res.Body}
	}
	return res, err
}

// discover reads issuer's discovery document. A provider that cannot be
// reached is EUNAVAILABLE; a document that does not name the issuer it was
// asked for (OpenID Connect Discovery 1.0 §4.3) is EINVALID on OIDCIssuer.
// now is the verifier's clock (time.Now when nil).
func discover(ctx context.Context, c *http.Client, issuer, clientID string, now func() time.Time) (*oidcKeys, error) {
	lc := *c
	next := lc.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	lc.Transport = limitedBodies{next}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, &lc), issuer)
	if err != nil {
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return nil, roomhub.Invalid("OIDCIssuer", "The OpenID Connect provider at %s names itself %q.", issuer, mismatch.Discovered)
		}
		return nil, roomhub.Unavailable("the OpenID Connect provider", fmt.Errorf("discovery at %s: %w", issuer, err))
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	_ = p.Claims(&doc)
	ep := p.Endpoint()
	if ep.AuthURL == "" || ep.TokenURL == "" || doc.JWKSURI == "" {
		return nil, roomhub.Invalid("OIDCIssuer", "The OpenID Connect provider at %s lacks an authorization, token or jwks_uri endpoint.", issuer)
	}
	// The key set keeps the context it is made with for its later
	// fetches: a background one carrying the bounded client, so a key
	// rotation seen during one sign-in is not tied to that request.
	keyCtx := oidc.ClientContext(context.Background(), &lc)
	return &oidcKeys{
		Issuer: issuer, AuthEndpoint: ep.AuthURL, TokenEndpoint: ep.TokenURL,
		UserInfoEndpoint: p.UserInfoEndpoint(), clientID: clientID,
		verifier: oidc.NewVerifier(issuer, oidc.NewRemoteKeySet(keyCtx, doc.JWKSURI),
			&oidc.Config{ClientID: clientID, SupportedSigningAlgs: algorithms(p), Now: now}),
	}, nil
}

// algorithms are the signing algorithms the provider advertises that
// go-oidc supports; RS256 (required of every provider) when it names none.
func algorithms(p *oidc.Provider) []string {
	var doc struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	_ = p.Claims(&doc)
	var out []string
	for _, a := range doc.Algs {
		switch a {
		case oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA:
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		out = []string{oidc.RS256}
	}
	return out
}

// verify checks an ID token (OpenID Connect Core 1.0 §3.1.3.7) with
// go-oidc, then that this client is the authorized party when the token
// names one and that it repeats the nonce of the flow. A key set that
// cannot be fetched is EUNAVAILABLE; anything else wrong is a plain error.
func (k *oidcKeys) verify(ctx context.Context, token, nonce string) error {
	if token == "" {
		return errors.New("the token response has no id_token")
	}
	t, err := k.verifier.Verify(ctx, token)
	if err != nil {
		if strings.Contains(err.Error(), "fetching keys") {
			return roomhub.Unavailable("the OpenID Connect provider", err)
		}
		return fmt.Errorf("id_token: %w", err)
	}
	var claims struct {
		Azp string `json:"azp"`
	}
	if err := t.Claims(&claims); err != nil {
		return fmt.Errorf("id_token claims unreadable: %w", err)
	}
	if claims.Azp != "" && claims.Azp != k.clientID {
		return errors.New("id_token issued to another client")
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(t.Nonce), []byte(nonce)) != 1 {
		return errors.New("id_token nonce does not match the flow")
	}
	return nil
}
