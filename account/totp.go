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

// ValidateTOTP checks a 6-digit code against secret at now, within
// TOTPSkew steps, and returns the step it matched (unix time / 30): the
// caller records it and refuses any step not after the last one recorded.
func ValidateTOTP(secret, code string, now time.Time) (step int64, ok bool) {
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if len(code) != TOTPDigits || !allDigits(code) {
		return 0, false
	}
	cur := now.Unix() / TOTPPeriod
	for d := int64(-TOTPSkew); d <= TOTPSkew; d++ {
		s := cur + d
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*TOTPPeriod, 0), totp.ValidateOpts{
			Period: TOTPPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

// Backup codes.
const (
	BackupCodeCount = 10
	backupCodeChars = 10 // 50 bits of base32
)

var backupAlphabet = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewBackupCodes returns BackupCodeCount codes, shown as xxxxx-xxxxx, and
// their hashes, which are all the store keeps.
//
// A fast hash suffices: each code is 50 random bits, works once, and every
// guess counts toward the sign-in lock, so the hashes cannot be
// brute-forced the way a password's could.
func NewBackupCodes() (codes, hashes []string) {
	for range BackupCodeCount {
		b := make([]byte, 7)
		rand.Read(b)
		c := backupAlphabet.EncodeToString(b)[:backupCodeChars]
		codes = append(codes, c[:5]+"-"+c[5:])
		hashes = append(hashes, HashBackupCode(c))
	}
	return codes, hashes
}

// HashBackupCode normalises a code as typed (case, spaces, hyphens) and
// hashes it.
func HashBackupCode(code string) string {
	c := strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToLower(strings.TrimSpace(code)))
	sum := sha256.Sum256([]byte("roomhub backup code\x00" + c))
	return hex.EncodeToString(sum[:])
}
