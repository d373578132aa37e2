package agora

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/AgoraIO-Community/go-tokenbuilder/accesstoken"
)

// TestTenantsUseEachOrganizationsCredentials: an organization with its own
// project gets tokens for it, signed with its certificate; one without gets
// the server's; a change of credentials applies to the next token.
func TestTenantsUseEachOrganizationsCredentials(t *testing.T) {
	const (
		ownApp  = "0123456789abcdef0123456789abcdef"
		ownCert = "fedcba9876543210fedcba9876543210"
		newCert = "00112233445566778899aabbccddeeff"
	)
	creds := map[int64]Credentials{2: {AppID: ownApp, Certificate: ownCert}}
	tn := &Tenants{
		Default: &Minter{AppID: appID, Certificate: cert, TTL: time.Hour, DefaultOrg: 1},
		Lookup: func(_ context.Context, org int64) (Credentials, bool, error) {
			if org == 9 {
				return Credentials{}, false, errors.New("store down")
			}
			c, ok := creds[org]
			return c, ok, nil
		},
	}
	mint := func(org int64) (string, string) {
		t.Helper()
		tok, err := tn.Mint(context.Background(), org, "standup", 7)
		if err != nil {
			t.Fatal(err)
		}
		at := accesstoken.CreateAccessToken()
		if ok, err := at.Parse(*tok.Token); !ok || err != nil {
			t.Fatal(err)
		}
		return at.AppId, *tok.Token
	}
	if app, tok := mint(1); app != appID || !signedWith(t, tok, cert) {
		t.Fatalf("default org: app %s", app)
	}
	if app, tok := mint(2); app != ownApp || !signedWith(t, tok, ownCert) || signedWith(t, tok, cert) {
		t.Fatalf("org with its own project: app %s", app)
	}
	first, _ := tn.For(context.Background(), 2)
	creds[2] = Credentials{AppID: ownApp, Certificate: newCert}
	if _, tok := mint(2); !signedWith(t, tok, newCert) {
		t.Fatal("a changed certificate was not used for the next token")
	}
	if again, _ := tn.For(context.Background(), 2); again == first {
		t.Fatal("the minter of the old certificate is still in use")
	}
	if _, err := tn.Mint(context.Background(), 9, "standup", 7); err == nil {
		t.Fatal("a failed lookup must fail the mint, not fall back to the server's project")
	}
}
