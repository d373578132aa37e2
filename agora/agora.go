// Package agora mints Agora RTC tokens (AccessToken2, "007") on the server,
// so the app certificate never leaves it.
package agora

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"roomhub"
	"roomhub/hub"
)

// MaxChannelLen is Agora's limit on channel names, in bytes.
const MaxChannelLen = 64

// Minter mints publisher tokens. The zero AppID means video is not
// configured: Mint returns null token fields and presence still works.
type Minter struct {
	AppID       string
	Certificate string
	TTL         time.Duration
	DefaultOrg  int64 // its rooms map to Agora channels of the same name
	Now         func() time.Time
	pools       pools
}

// Configured reports whether tokens can be minted.
func (m *Minter) Configured() bool { return m.AppID != "" && m.Certificate != "" }

// Channel is the Agora channel of a room. The default organization keeps
// the room name, as the original app did. Other organizations get a prefix,
// so two tenants' rooms named alike never share a video channel; a name
// that would exceed Agora's 64 bytes is replaced by its hash.
func (m *Minter) Channel(org int64, room string) string {
	if org == m.DefaultOrg {
		return room
	}
	ch := fmt.Sprintf("o%d-%s", org, room)
	if len(ch) <= MaxChannelLen {
		return ch
	}
	sum := sha256.Sum256([]byte(room))
	return fmt.Sprintf("o%d-h%s", org, hex.EncodeToString(sum[:])[:40])
}

// Mint returns a token for uid in the room's channel.
func (m *Minter) Mint(_ context.Context, org int64, room string, uid uint32) (hub.Token, error) {
	if !m.Configured() {
		return hub.Token{}, nil
	}
	ttl := uint32(m.TTL / time.Second)
	now := m.now()
	tok, err := m.pools.build(m.AppID, m.Certificate, uint32(now.Unix()), newSalt(), ttl, publisherService(m.Channel(org, room), uid, ttl))
	if err != nil {
		return hub.Token{}, &roomhub.Error{Code: roomhub.EINTERNAL, Message: "token minting failed", Err: err}
	}
	exp := now.Add(m.TTL).Unix()
	return hub.Token{Token: &tok, ExpiresAt: &exp}, nil
}

func (m *Minter) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}
