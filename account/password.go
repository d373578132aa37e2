// Package account holds the credentials of dashboard users: Argon2id
// password hashes and the password policy, TOTP enrolment and codes, backup
// codes, one-time link tokens and API keys. It has no state: the store keeps
// what must be remembered (used TOTP steps, used codes, lock counters).
package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's recommendation (m=19 MiB, t=2, p=1).
const (
	ArgonMemoryKiB = 19 * 1024
	ArgonTime      = 2
	ArgonThreads   = 1
	argonSaltBytes = 16
	argonKeyBytes  = 32
)

// Bounds on parameters read back from a stored hash, so a tampered row
// cannot make a sign-in allocate gigabytes or spin for minutes.
const (
	maxArgonMemoryKiB = 256 * 1024
	maxArgonTime      = 10
	maxArgonThreads   = 8
)

// HashPassword returns the PHC-encoded Argon2id hash of pw with a fresh
// salt: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, ArgonTime, ArgonMemoryKiB, ArgonThreads, argonKeyBytes)
	return encode(ArgonMemoryKiB, ArgonTime, ArgonThreads, salt, key), nil
}

func encode(m, t uint32, p uint8, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, m, t, p, b64.EncodeToString(salt), b64.EncodeToString(key))
}

type params struct {
	m, t uint32
	p    uint8
	salt []byte
	key  []byte
}

var errBadHash = errors.New("account: not an Argon2id hash this server accepts")

func decode(encoded string) (params, error) {
	var pr params
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return pr, errBadHash
	}
	var p uint32
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &pr.m, &pr.t, &p); err != nil || n != 3 {
		return pr, errBadHash
	}
	if pr.m < 8 || pr.m > maxArgonMemoryKiB || pr.t < 1 || pr.t > maxArgonTime || p < 1 || p > maxArgonThreads {
		return pr, errBadHash
	}
	pr.p = uint8(p)
	var err error
	if pr.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(pr.salt) < 8 || len(pr.salt) > 64 {
		return pr, errBadHash
	}
	if pr.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(pr.key) < 16 || len(pr.key) > 64 {
		return pr, errBadHash
	}
	return pr, nil
}

// VerifyPassword reports whether pw matches the encoded hash, in constant
// time. An unreadable hash is an error, never a match.
func VerifyPassword(encoded, pw string) (bool, error) {
	pr, err := decode(encoded)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(pw), pr.salt, pr.t, pr.m, pr.p, uint32(len(pr.key)))
	return subtle.ConstantTimeCompare(key, pr.key) == 1, nil
}

// NeedsRehash reports whether a hash uses weaker parameters than today's,
// so the next successful sign-in can upgrade it.
func NeedsRehash(encoded string) bool {
	pr, err := decode(encoded)
	return err == nil && (pr.m < ArgonMemoryKiB || pr.t < ArgonTime)
}

// Hasher equalises the cost of signing in with an unknown email and with a
// known one, so response times do not reveal which accounts exist.
type Hasher struct {
	dummy string
}

// NewHasher prepares the dummy hash (one Argon2id computation).
func NewHasher() *Hasher {
	h, err := HashPassword("roomhub dummy password")
	if err != nil {
		panic(err) // crypto/rand failed: nothing can work
	}
	return &Hasher{dummy: h}
}

// DummyVerify costs what VerifyPassword costs and matches nothing.
func (h *Hasher) DummyVerify(pw string) { VerifyPassword(h.dummy, pw) }
