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

// One-time link tokens (invitations, password resets).
const tokenBytes = 32

// NewToken returns a random link token and its hash, which is all the store
// keeps.
func NewToken() (token, hash string) {
	b := make([]byte, tokenBytes)
	rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// HashToken is the stored form of a link token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ValidTokenFormat reports whether s can be a link token, so garbage is
// refused before the store is asked.
func ValidTokenFormat(s string) bool {
	return len(s) == base64.RawURLEncoding.EncodedLen(tokenBytes) && base64URLOnly(s)
}

// API keys.
const (
	APIKeyPrefix = "rk_"
	apiKeyBytes  = 32
	// apiKeyLen is the length of a key: "rk_" and 43 base64url characters.
	apiKeyLen = len(APIKeyPrefix) + 43
	// apiKeyShown is how much of a key the dashboard shows to tell keys apart.
	apiKeyShown = len(APIKeyPrefix) + 8
)

// NewAPIKey returns a new key, its display prefix and its HMAC-SHA256 under
// secret (API_KEY_SECRET): the store keeps the prefix and the HMAC only, so
// a leaked table holds no usable key and cannot be checked offline without
// the secret.
func NewAPIKey(secret string) (key, prefix, hash string) {
	b := make([]byte, apiKeyBytes)
	rand.Read(b)
	key = APIKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, key[:apiKeyShown], HashAPIKey(secret, key)
}

// HashAPIKey is the stored form of an API key.
func HashAPIKey(secret, key string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(key))
	return hex.EncodeToString(m.Sum(nil))
}

// ParseBearer extracts an API key from an Authorization header of exactly
// "Bearer rk_<43 base64url characters>" (scheme case-insensitive).
func ParseBearer(header string) (string, bool) {
	const scheme = "bearer "
	if len(header) != len(scheme)+apiKeyLen || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", false
	}
	key := header[len(scheme):]
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

// MaxEmailLen is the longest address accepted (RFC 5321 path limit).
const MaxEmailLen = 254

// NormalizeEmail returns the lower-cased bare address, or an EINVALID error
// for the email field.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	bad := roomhub.Invalid("email", "Enter an email address like name@example.com.")
	if s == "" || len(s) > MaxEmailLen {
		return "", bad
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return "", bad
	}
	local, domain, ok := strings.Cut(strings.ToLower(s), "@")
	if !ok || local == "" || strings.Contains(domain, "@") || !strings.Contains(domain, ".") ||
		strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", bad
	}
	return local + "@" + domain, nil
}

// EmailDomain is the part after the @ of a normalized address.
func EmailDomain(email string) string {
	_, d, _ := strings.Cut(email, "@")
	return d
}
