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
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters for new hashes: OWASP's recommendation (m=19 MiB,
// t=2, p=1): some 25 ms per sign-in on one server core, slow for a guesser
// and cheap for a person.
const (
	ArgonMemoryKiB = 19 * 1024
	ArgonTime      = 2
	ArgonThreads   = 1
	ArgonSaltBytes = 16
	ArgonKeyBytes  = 32
)

// Bounds on parameters read back from a stored hash, so a tampered or
// corrupted row cannot make a sign-in allocate gigabytes or spin for
// minutes. They leave room for stronger parameters than today's.
const (
	MaxArgonMemoryKiB = 256 * 1024
	MaxArgonTime      = 10
	MaxArgonThreads   = 8
	MinArgonSaltBytes = 8 // RFC 9106's minimum
	MaxArgonSaltBytes = 64
	MinArgonKeyBytes  = 16
	MaxArgonKeyBytes  = 64
)

// HashPassword returns the PHC-encoded Argon2id hash of pw with a fresh
// salt: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>, base64 unpadded.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, ArgonSaltBytes)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	p := params{m: ArgonMemoryKiB, t: ArgonTime, p: ArgonThreads, salt: salt}
	p.key = argon2.IDKey([]byte(pw), salt, p.t, p.m, p.p, ArgonKeyBytes)
	return p.encode(), nil
}

// params is a decoded hash.
type params struct {
	m, t uint32
	p    uint8
	salt []byte
	key  []byte
}

func (p params) encode() string {
	b64 := base64.RawStdEncoding
	return "$argon2id$v=" + strconv.Itoa(argon2.Version) +
		"$m=" + strconv.FormatUint(uint64(p.m), 10) +
		",t=" + strconv.FormatUint(uint64(p.t), 10) +
		",p=" + strconv.FormatUint(uint64(p.p), 10) +
		"$" + b64.EncodeToString(p.salt) + "$" + b64.EncodeToString(p.key)
}

var errBadHash = errors.New("account: not an Argon2id hash this server accepts")

// decode parses a PHC string strictly: the exact field order HashPassword
// writes, decimal numbers without signs, every value within its bound.
func decode(encoded string) (params, error) {
	var pr params
	f := strings.Split(encoded, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return pr, errBadHash
	}
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return pr, errBadHash
	}
	num := func(s, name string, lo, hi uint64) (uint64, bool) {
		v, ok := strings.CutPrefix(s, name+"=")
		if !ok {
			return 0, false
		}
		n, err := strconv.ParseUint(v, 10, 32)
		return n, err == nil && n >= lo && n <= hi
	}
	m, okM := num(kv[0], "m", 1, MaxArgonMemoryKiB)
	t, okT := num(kv[1], "t", 1, MaxArgonTime)
	p, okP := num(kv[2], "p", 1, MaxArgonThreads)
	// Argon2 needs at least 8 KiB per lane.
	if !okM || !okT || !okP || m < 8*p {
		return pr, errBadHash
	}
	pr.m, pr.t, pr.p = uint32(m), uint32(t), uint8(p)
	b64 := base64.RawStdEncoding.Strict()
	var err error
	if pr.salt, err = b64.DecodeString(f[4]); err != nil || len(pr.salt) < MinArgonSaltBytes || len(pr.salt) > MaxArgonSaltBytes {
		return pr, errBadHash
	}
	if pr.key, err = b64.DecodeString(f[5]); err != nil || len(pr.key) < MinArgonKeyBytes || len(pr.key) > MaxArgonKeyBytes {
		return pr, errBadHash
	}
	return pr, nil
}

// VerifyPassword reports whether pw matches the encoded hash, comparing in
// constant time. An unreadable hash is an error, never a match.
func VerifyPassword(encoded, pw string) (bool, error) {
	pr, err := decode(encoded)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(pw), pr.salt, pr.t, pr.m, pr.p, uint32(len(pr.key)))
	return subtle.ConstantTimeCompare(key, pr.key) == 1, nil
}

// NeedsRehash reports whether a hash is weaker than HashPassword's (less
// memory, fewer passes, a shorter salt or key), so the next successful
// sign-in can upgrade it. An unreadable hash reports false: it never
// verifies, so there is no sign-in to upgrade it from.
func NeedsRehash(encoded string) bool {
	pr, err := decode(encoded)
	return err == nil && (pr.m < ArgonMemoryKiB || pr.t < ArgonTime ||
		len(pr.salt) < ArgonSaltBytes || len(pr.key) < ArgonKeyBytes)
}

// Hasher equalises the cost of signing in with an unknown email (or an
// SSO-only account) and with a known one, so response times do not reveal
// which accounts exist. Build one per server with NewHasher.
type Hasher struct {
	dummy string
}

// NewHasher prepares the dummy hash (one Argon2id computation) with the
// current parameters, so a dummy verification costs what a real one does.
func NewHasher() *Hasher {
	h, err := HashPassword("roomhub dummy password")
	if err != nil {
		panic(err) // crypto/rand failed: nothing can work
	}
	return &Hasher{dummy: h}
}

// DummyVerify costs what VerifyPassword costs and matches nothing.
func (h *Hasher) DummyVerify(pw string) { VerifyPassword(h.dummy, pw) }
