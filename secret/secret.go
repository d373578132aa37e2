// Package secret seals the secrets Roomhub stores (organizations' Agora
// certificates, users' TOTP secrets) so that a copy of the database alone
// reveals none of them.
//
// A Box derives an AES-256-GCM key from APP_MASTER_KEY with HKDF-SHA256, so
// the master key itself never touches a cipher and a later scheme can derive
// a different key from the same master key. Every sealed value is bound to
// its row by additional data (AAD), so a ciphertext copied into another row
// or another organization does not open.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"roomhub"
)

// Master key sizes.
const (
	// KeyBytes is what GenerateKey draws and the least a master key may
	// hold: 256 bits, the AES-256 key size.
	KeyBytes = 32
	// MaxKeyBytes is the most a master key may hold. HKDF takes any length;
	// 64 bytes admits the longer general-purpose keys operators already use
	// (a SECRET_KEY-sized key), while anything longer is more likely a wrong
	// value pasted than a key.
	MaxKeyBytes = 64
)

// Format of a sealed value: Version, then base64url (unpadded) of the
// nonce followed by the AES-GCM ciphertext and tag.
const (
	// Version prefixes every sealed value, so a later scheme can coexist
	// with this one during a migration.
	Version = "v1."
	// NonceBytes is the GCM nonce size. Nonces are random: at 2^32 seals
	// under one key the collision risk becomes relevant, far beyond the
	// number of secrets a Roomhub store holds.
	NonceBytes = 12
	// hkdfInfo separates this key from any other derived from the master
	// key; changing it makes every stored value unreadable.
	hkdfInfo    = "roomhub secret box v1"
	boxKeyBytes = 32 // AES-256
)

// GenerateKey returns a new master key for APP_MASTER_KEY: KeyBytes random
// bytes in standard base64.
func GenerateKey() string {
	b := make([]byte, KeyBytes)
	rand.Read(b) // never fails: crypto/rand crashes the program instead
	return base64.StdEncoding.EncodeToString(b)
}

// ParseKey decodes a master key: base64 in the standard or URL alphabet,
// padded or not, of KeyBytes to MaxKeyBytes bytes. Its errors are plain
// sentences for an operator; callers prefix the variable or flag name.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("the key is empty; generate one with: roomhub secrets generate-key")
	}
	// People paste keys from many tools; the four base64 variants differ in
	// alphabet or padding only, so trying each cannot misread a valid key.
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) < KeyBytes || len(b) > MaxKeyBytes {
			return nil, fmt.Errorf("the key decodes to %d bytes; it must hold %d (at most %d): generate one with: roomhub secrets generate-key", len(b), KeyBytes, MaxKeyBytes)
		}
		return b, nil
	}
	return nil, errors.New("the key is not base64; generate one with: roomhub secrets generate-key")
}

// Box seals and opens values under one master key. It is safe for
// concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New derives the box's AES-256-GCM key from masterKey with HKDF-SHA256.
func New(masterKey string) (*Box, error) {
	raw, err := ParseKey(masterKey)
	if err != nil {
		return nil, err
	}
	key, err := hkdf.Key(sha256.New, raw, nil, hkdfInfo, boxKeyBytes)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

// Seal encrypts plaintext bound to aad, with a fresh random nonce, so two
// seals of one value differ and reveal nothing about equality.
func (b *Box) Seal(plaintext, aad string) (string, error) {
	buf := make([]byte, NonceBytes, NonceBytes+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	buf = b.aead.Seal(buf, buf[:NonceBytes], []byte(plaintext), []byte(aad))
	return Version + base64.RawURLEncoding.EncodeToString(buf), nil
}

// ErrOpen is the one error Open returns, whatever the cause (wrong key,
// wrong aad, damaged value, unknown version), so nothing about the cause
// leaks to whoever sees the error.
var ErrOpen = errors.New("secret: value does not open with this key and context")

// Open decrypts a value sealed for aad. It returns the whole plaintext or
// ErrOpen, never a part.
func (b *Box) Open(sealed, aad string) (string, error) {
	body, ok := strings.CutPrefix(sealed, Version)
	if !ok {
		return "", ErrOpen
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || len(raw) < NonceBytes+b.aead.Overhead() {
		return "", ErrOpen
	}
	pt, err := b.aead.Open(nil, raw[:NonceBytes], raw[NonceBytes:], []byte(aad))
	if err != nil {
		return "", ErrOpen
	}
	return string(pt), nil
}

// Check seals and opens a probe, so `roomhub secrets validate` proves the
// key works before a server relies on it.
func (b *Box) Check() error {
	const probe, aad = "roomhub probe", "secret.check:0"
	s, err := b.Seal(probe, aad)
	if err != nil {
		return err
	}
	if got, err := b.Open(s, aad); err != nil || got != probe {
		return errors.New("secret: a probe value does not survive sealing and opening")
	}
	return nil
}

// AAD is the additional data binding a stored secret to its row, such as
// "org_settings.agora_certificate:42".
func AAD(s roomhub.SealedSecret) string {
	return s.Table + "." + s.Column + ":" + strconv.FormatInt(s.ID, 10)
}

// Rotate re-seals every value from old to new. It fails as a whole, naming
// the first row that does not open under old, so a wrong old key changes
// nothing; the input is never modified.
func Rotate(old, new *Box, in []roomhub.SealedSecret) ([]roomhub.SealedSecret, error) {
	out := make([]roomhub.SealedSecret, 0, len(in))
	for _, s := range in {
		aad := AAD(s)
		pt, err := old.Open(s.Value, aad)
		if err != nil {
			return nil, fmt.Errorf("%s does not open with the old key", aad)
		}
		v, err := new.Seal(pt, aad)
		if err != nil {
			return nil, err
		}
		s.Value = v
		out = append(out, s)
	}
	return out, nil
}
