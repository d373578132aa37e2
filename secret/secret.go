// Package secret seals the secrets Roomhub stores (organizations' Agora
// certificates, users' TOTP secrets) so that a copy of the database alone
// reveals none of them.
//
// A Box derives an AES-256-GCM key from APP_MASTER_KEY with HKDF-SHA256.
// Every sealed value is bound to its row by additional data (AAD), so a
// ciphertext copied into another row or organization does not open.
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

// Key sizes.
const (
	// MinKeyBytes is the least entropy APP_MASTER_KEY may carry.
	MinKeyBytes = 32
	// GeneratedKeyBytes is what GenerateKey draws: enough for SECRET_KEY
	// and API_KEY_SECRET too, so one command serves all three.
	GeneratedKeyBytes = 64
	nonceBytes        = 12
	// version prefixes every sealed value, so a future scheme can coexist.
	version  = "v1."
	hkdfInfo = "roomhub secret box v1"
)

// GenerateKey returns GeneratedKeyBytes random bytes in base64 (URL
// alphabet, unpadded): what `roomhub secrets generate-key` prints.
func GenerateKey() string {
	b := make([]byte, GeneratedKeyBytes)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseKey decodes a master key: base64 in either alphabet, padded or not,
// of at least MinKeyBytes bytes.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("the key is empty")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) < MinKeyBytes {
				return nil, fmt.Errorf("the key holds %d bytes; at least %d are required", len(b), MinKeyBytes)
			}
			return b, nil
		}
	}
	return nil, errors.New("the key is not base64")
}

// Box seals and opens values under one master key.
type Box struct {
	aead cipher.AEAD
}

// New derives the box's key from masterKey.
func New(masterKey string) (*Box, error) {
	raw, err := ParseKey(masterKey)
	if err != nil {
		return nil, err
	}
	key, err := hkdf.Key(sha256.New, raw, nil, hkdfInfo, 32)
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

// Seal encrypts plaintext bound to aad, with a fresh random nonce.
func (b *Box) Seal(plaintext, aad string) (string, error) {
	buf := make([]byte, nonceBytes, nonceBytes+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	buf = b.aead.Seal(buf, buf[:nonceBytes], []byte(plaintext), []byte(aad))
	return version + base64.RawURLEncoding.EncodeToString(buf), nil
}

// ErrOpen is the one error Open returns for a value it cannot open: a
// wrong key, a wrong aad, a damaged value.
var ErrOpen = errors.New("secret: value does not open with this key and context")

// Open decrypts a value sealed for aad.
func (b *Box) Open(sealed, aad string) (string, error) {
	body, ok := strings.CutPrefix(sealed, version)
	if !ok {
		return "", ErrOpen
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < nonceBytes+b.aead.Overhead() {
		return "", ErrOpen
	}
	pt, err := b.aead.Open(nil, raw[:nonceBytes], raw[nonceBytes:], []byte(aad))
	if err != nil {
		return "", ErrOpen
	}
	return string(pt), nil
}

// Check seals and opens a probe, for `secrets validate`.
func (b *Box) Check() error {
	s, err := b.Seal("probe", "check")
	if err != nil {
		return err
	}
	if got, err := b.Open(s, "check"); err != nil || got != "probe" {
		return errors.New("secret: the key does not round-trip")
	}
	return nil
}

// AAD is the additional data binding a stored secret to its row.
func AAD(s roomhub.SealedSecret) string {
	return s.Table + "." + s.Column + ":" + strconv.FormatInt(s.ID, 10)
}

// Rotate re-seals every value from old to new. It fails as a whole, naming
// the first row that does not open under old, so a wrong old key changes
// nothing.
func Rotate(old, new *Box, in []roomhub.SealedSecret) ([]roomhub.SealedSecret, error) {
	out := make([]roomhub.SealedSecret, 0, len(in))
	for _, s := range in {
		pt, err := old.Open(s.Value, AAD(s))
		if err != nil {
			return nil, fmt.Errorf("%s does not open with the old key", AAD(s))
		}
		v, err := new.Seal(pt, AAD(s))
		if err != nil {
			return nil, err
		}
		s.Value = v
		out = append(out, s)
	}
	return out, nil
}
