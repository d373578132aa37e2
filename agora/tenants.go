package agora

import (
	"context"
	"sync"

	"roomhub/hub"
)

// Credentials are an organization's own Agora project.
type Credentials struct {
	AppID       string
	Certificate string
}

// Lookup returns an organization's own credentials; ok is false when the
// organization has none and uses the server's (AGORA_* variables).
type Lookup func(ctx context.Context, org int64) (c Credentials, ok bool, err error)

// Tenants mints tokens with each organization's own credentials when it has
// set them, and the server's otherwise. It keeps one Minter per distinct
// credential pair, since a Minter holds pooled compressors worth reusing.
// The lookup runs on every mint, so a change made on any node applies to
// the next token everywhere.
type Tenants struct {
	Default *Minter
	Lookup  Lookup

	mu      sync.Mutex
	minters map[int64]*Minter
}

// For returns the minter serving org.
func (t *Tenants) For(ctx context.Context, org int64) (*Minter, error) {
	if t.Lookup == nil {
		return t.Default, nil
	}
	c, ok, err := t.Lookup(ctx, org)
	if err != nil {
		return nil, err
	}
	if !ok {
		return t.Default, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if m := t.minters[org]; m != nil && m.AppID == c.AppID && m.Certificate == c.Certificate {
		return m, nil
	}
	if t.minters == nil {
		t.minters = make(map[int64]*Minter)
	}
	m := &Minter{AppID: c.AppID, Certificate: c.Certificate, TTL: t.Default.TTL, DefaultOrg: t.Default.DefaultOrg, Now: t.Default.Now}
	t.minters[org] = m
	return m, nil
}

// Mint implements hub.Tokens: renewals use the organization's credentials.
func (t *Tenants) Mint(ctx context.Context, org int64, room string, uid uint32) (hub.Token, error) {
	m, err := t.For(ctx, org)
	if err != nil {
		return hub.Token{}, err
	}
	return m.Mint(ctx, org, room, uid)
}
