package account

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"image/png"
	"strings"
	"time"
	"unicode"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TOTP settings: what every authenticator app supports.
const (
	TOTPPeriod = 30 // seconds per step
	TOTPDigits = 6
	// TOTPSkew accepts codes one step either side of now, for clocks a
	// little off. The store refuses any step at or before the last one used,
	// so a code still never works twice.
	TOTPSkew     = 1
	totpQRPixels = 200
)

// Enrolment is a new TOTP secret, its otpauth:// URL and the QR code of the
// URL as a PNG, rendered here so no third party sees the secret.
type Enrolment struct {
	Secret string
	URL    string
	PNG    []byte
}

// NewTOTP makes a fresh secret for accountName at issuer.
func NewTOTP(issuer, accountName string) (Enrolment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: accountName,
		Period: TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return Enrolment{}, err
	}
	return enrolment(key)
}

// TOTPFromSecret rebuilds the enrolment of a secret being set up, to show
// the same QR code again after a mistyped code.
func TOTPFromSecret(issuer, accountName, secret string) (Enrolment, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(secret))
	if err != nil {
		return Enrolment{}, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: accountName,
		Period: TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, Secret: raw})
	if err != nil {
		return Enrolment{}, err
	}
	return enrolment(key)
}

func enrolment(key *otp.Key) (Enrolment, error) {
	img, err := key.Image(totpQRPixels, totpQRPixels)
	if err != nil {
		return Enrolment{}, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Secret: key.Secret(), URL: key.URL(), PNG: buf.Bytes()}, nil
}

// ValidateTOTP checks a code against secret at now and returns the step it
// matched (Unix time / TOTPPeriod). Codes of the current step and of
// TOTPSkew steps either side are accepted. Spaces are ignored, as apps show
// "123 456"; anything but TOTPDigits ASCII digits is refused.
//
// A matching code is not yet a pass: the caller must record the step with
// the store (UseTOTPStep), which refuses any step at or before the last one
// accepted, so a code, even a skewed one, works once.
func ValidateTOTP(secret, code string, now time.Time) (step int64, ok bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != TOTPDigits || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	cur := now.Unix() / TOTPPeriod
	// Every step is checked, without stopping at a match, so the time taken
	// does not tell which one matched.
	for d := int64(-TOTPSkew); d <= TOTPSkew; d++ {
		s := cur + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*TOTPPeriod, 0), totp.ValidateOpts{
			Period: TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}

// Backup codes.
const (
	BackupCodeCount = 10
	// BackupCodeLen is the length of a code without its hyphen: 10
	// base32 characters, 50 random bits.
	BackupCodeLen = 10
)

// NewBackupCodes returns BackupCodeCount codes, shown as xxxxx-xxxxx in
// lower-case base32 (digits 2 to 7 only, so 0 and o, 1 and l cannot be
// confused), and their hashes, which are all the store keeps.
func NewBackupCodes() (codes, hashes []string) {
	enc := base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
	for range BackupCodeCount {
		b := make([]byte, 7) // 56 bits, of which the first 50 are kept
		rand.Read(b)
		c := enc.EncodeToString(b)[:BackupCodeLen]
		codes = append(codes, c[:5]+"-"+c[5:])
		hashes = append(hashes, HashBackupCode(c))
	}
	return codes, hashes
}

// HashBackupCode normalises a code as typed (case, spaces, hyphens) and
// returns the hex SHA-256 of it.
//
// A fast, unsalted hash suffices here, unlike for passwords: each code is 50
// random bits rather than something a person chose, works once, and every
// wrong guess at sign-in counts toward the lock. With the table stolen, a
// code is still only a second factor, useless without the password, and
// finding one of a user's codes takes about 2^46 hashes.
func HashBackupCode(code string) string {
	c := strings.Map(func(r rune) rune {
		if r == '-' || unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, code)
	sum := sha256.Sum256([]byte(c))
	return hex.EncodeToString(sum[:])
}
