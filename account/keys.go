package account

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/mail"
	"strings"

	"roomhub"
)

// TokenBytes is the randomness of a one-time link token (invitations,
// password resets): 256 bits, so tokens cannot be guessed however many
// attempts are made while one is valid.
const TokenBytes = 32

// TokenLen is the length of a token as written: unpadded base64url.
const TokenLen = (TokenBytes*8 + 5) / 6

// NewToken returns a random link token and its hash, which is all the store
// keeps.
func NewToken() (token, hash string) {
	b := make([]byte, TokenBytes)
	rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken is the stored form of a link token. A fast hash suffices: the
// token is 256 random bits, so a stolen table cannot be reversed.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ValidTokenFormat reports whether s can be a link token, so garbage is
// refused before the store is asked.
func ValidTokenFormat(s string) bool {
	return len(s) == TokenLen && base64URLOnly(s)
}

// API keys.
const (
	// APIKeyPrefix marks Roomhub keys, so secret scanners and people can
	// recognise one in a leaked file.
	APIKeyPrefix = "rk_"
	// APIKeyBytes is a key's randomness: 256 bits.
	APIKeyBytes = 32
	// APIKeyLen is the length of a key: "rk_" and 43 base64url characters.
	APIKeyLen = len(APIKeyPrefix) + (APIKeyBytes*8+5)/6
	// APIKeyShownLen is how much of a key the dashboard shows to tell keys
	// apart: "rk_" and 8 characters, 48 bits, too few to help a guesser.
	APIKeyShownLen = len(APIKeyPrefix) + 8
	// MaxKeyNameLen bounds a key's name, from the dashboard and the
	// command line alike.
	MaxKeyNameLen = 64
)

// NewAPIKey returns a new key, its display prefix and its HMAC-SHA256 under
// secret (API_KEY_SECRET): the store keeps the prefix and the HMAC only, so
// a leaked table holds no usable key and cannot be checked offline without
// the secret.
func NewAPIKey(secret string) (key, prefix, hash string) {
	b := make([]byte, APIKeyBytes)
	rand.Read(b)
	key = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, key[:APIKeyShownLen], HashAPIKey(secret, key)
}

// HashAPIKey is the stored form of an API key.
func HashAPIKey(secret, key string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(key))
	return hex.EncodeToString(m.Sum(nil))
}

// ParseBearer extracts an API key from an Authorization header of exactly
// "Bearer rk_<43 base64url characters>" (scheme case-insensitive, one
// space). It checks the length first and allocates nothing, so garbage
// headers cost nothing before the rate limiter sees them.
func ParseBearer(header string) (key string, ok bool) {
	const scheme = "bearer "
	if len(header) != len(scheme)+APIKeyLen || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", false
	}
	key = header[len(scheme):]
	if !strings.HasPrefix(key, APIKeyPrefix) || !base64URLOnly(key[len(APIKeyPrefix):]) {
		return "", false
	}
	return key, true
}

func base64URLOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// MaxEmailLen is the longest address accepted, in bytes (RFC 5321's limit
// on a forward path, less its angle brackets).
const MaxEmailLen = 254

// NormalizeEmail returns the lower-cased bare address, or an EINVALID error
// for the email field. Only a plain name@domain.tld is accepted: no display
// name, comment, quoted local part or IP-address domain, none of which a
// dashboard user needs and all of which complicate matching by domain.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", roomhub.Invalid("email", "Enter your email address.")
	case len(s) > MaxEmailLen:
		return "", roomhub.Invalid("email", "An email address has at most %d characters.", MaxEmailLen)
	}
	bad := roomhub.Invalid("email", "Enter an email address like name@example.com.")
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", bad
	}
	local, domain, ok := strings.Cut(strings.ToLower(s), "@")
	if !ok || local == "" || strings.ContainsAny(domain, "@[]") || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.Contains(domain, "..") {
		return "", bad
	}
	return local + "@" + domain, nil
}

// EmailDomain is the part after the @ of a normalized address, "" if none.
func EmailDomain(email string) string {
	_, d, _ := strings.Cut(email, "@")
	return d
}
