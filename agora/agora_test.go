package agora

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/AgoraIO-Community/go-tokenbuilder/accesstoken"
	rtctokenbuilder "github.com/AgoraIO-Community/go-tokenbuilder/rtctokenbuilder"
)

const (
	appID = "970CA35de60c44645bbae8a215061b33"
	cert  = "5CFd2fd1755d40ecb72977518be15d3b"
)

func TestMintedTokenDecodesAndIsSigned(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := &Minter{AppID: appID, Certificate: cert, TTL: time.Hour, DefaultOrg: 1, Now: func() time.Time { return now }}
	tok, err := m.Mint(context.Background(), 1, "standup", 42)
	if err != nil {
		t.Fatal(err)
	}
	if *tok.ExpiresAt != now.Add(time.Hour).Unix() {
		t.Fatalf("expires_at %d", *tok.ExpiresAt)
	}
	if !strings.HasPrefix(*tok.Token, "007") {
		t.Fatalf("not an AccessToken2: %q", *tok.Token)
	}
	at := accesstoken.CreateAccessToken()
	if ok, err := at.Parse(*tok.Token); !ok || err != nil {
		t.Fatalf("Parse: %v %v", ok, err)
	}
	if at.AppId != appID || at.Expire != 3600 {
		t.Fatalf("decoded app %q expire %d", at.AppId, at.Expire)
	}
	rtc, ok := at.Services[accesstoken.ServiceTypeRtc].(*accesstoken.ServiceRtc)
	if !ok {
		t.Fatal("no RTC service in token")
	}
	if rtc.ChannelName != "standup" || rtc.Uid != "42" {
		t.Fatalf("channel %q uid %q", rtc.ChannelName, rtc.Uid)
	}
	// Parse does not check the signature. Re-signing the decoded fields with
	// the certificate must reproduce the token's payload exactly; with any
	// other certificate it must not.
	if !signedWith(t, *tok.Token, cert) || signedWith(t, *tok.Token, "0123456789abcdef0123456789abcdef") {
		t.Fatal("signature does not verify with exactly the app certificate")
	}
	if strings.Contains(*tok.Token, cert) {
		t.Fatal("certificate appears in the token")
	}
}

func signedWith(t *testing.T, token, certificate string) bool {
	t.Helper()
	at := accesstoken.CreateAccessToken()
	if ok, err := at.Parse(token); !ok || err != nil {
		t.Fatalf("Parse: %v", err)
	}
	at.AppCert = certificate
	again, err := at.Build()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(payload(t, again), payload(t, token))
}

func TestUnconfiguredMintsNothing(t *testing.T) {
	m := &Minter{TTL: time.Hour}
	tok, err := m.Mint(context.Background(), 1, "r", 1)
	if err != nil || tok.Token != nil || tok.ExpiresAt != nil || m.Configured() {
		t.Fatalf("unconfigured minter: %+v %v", tok, err)
	}
}

func TestChannelsOfOrganizationsNeverCollide(t *testing.T) {
	m := &Minter{DefaultOrg: 1}
	long := strings.Repeat("a", 64)
	tests := []struct {
		org  int64
		room string
		want string
	}{
		{1, "standup", "standup"},
		{2, "standup", "o2-standup"},
		{3, "standup", "o3-standup"},
	}
	for _, tc := range tests {
		if got := m.Channel(tc.org, tc.room); got != tc.want {
			t.Errorf("Channel(%d, %q) = %q, want %q", tc.org, tc.room, got, tc.want)
		}
	}
	a, b := m.Channel(2, long), m.Channel(2, long[:63]+"b")
	if len(a) > MaxChannelLen || a == b || a == m.Channel(3, long) {
		t.Fatalf("long names: %q %q", a, b)
	}
}

func BenchmarkMint(b *testing.B) {
	m := &Minter{AppID: appID, Certificate: cert, TTL: time.Hour}
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Mint(ctx, 1, "standup", uint32(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBuildMatchesLibrary holds our builder to the library's: a token minted
// by rtctokenbuilder and ours for the same fields carry the same payload
// (signature, app id, times, salt, channel, uid and privileges), byte for
// byte, and the library parses ours.
func TestBuildMatchesLibrary(t *testing.T) {
	for _, tc := range []struct {
		channel string
		uid     uint32
		expire  uint32
	}{
		{"standup", 42, 3600},
		{"o7-" + strings.Repeat("x", 61), 4294967295, 86400},
		{"a", 1, 60},
	} {
		lib, err := rtctokenbuilder.BuildTokenWithUid(appID, cert, tc.channel, tc.uid, rtctokenbuilder.RolePublisher, tc.expire)
		if err != nil {
			t.Fatal(err)
		}
		at := accesstoken.CreateAccessToken()
		if ok, err := at.Parse(lib); !ok || err != nil {
			t.Fatal(err)
		}
		var p pools
		for i := 0; i < 3; i++ { // pooled state must not leak between tokens
			got, err := p.build(appID, cert, at.IssueTs, at.Salt, tc.expire, publisherService(tc.channel, tc.uid, tc.expire))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(payload(t, got), payload(t, lib)) {
				t.Fatalf("%s/%d: payload differs from the library's", tc.channel, tc.uid)
			}
			if back := accesstoken.CreateAccessToken(); func() bool { ok, _ := back.Parse(got); return !ok }() {
				t.Fatal("the library cannot parse our token")
			}
		}
	}
}

func payload(t *testing.T, token string) []byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(token[3:])
	if err != nil {
		t.Fatal(err)
	}
	r, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
