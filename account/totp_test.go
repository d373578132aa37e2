package account

import (
	"bytes"
	"encoding/base32"
	"image/png"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"
)

func TestNewTOTP(t *testing.T) {
	e, err := NewTOTP("Roomhub", "ada@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(e.Secret)
	if err != nil || len(raw) != 20 {
		t.Fatalf("secret %q: %d bytes, %v; want base32 of 20 bytes (RFC 4226's 160 bits)", e.Secret, len(raw), err)
	}
	u, err := url.Parse(e.URL)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Roomhub:ada@acme.example" {
		t.Fatalf("url %q: %v", e.URL, err)
	}
	q := u.Query()
	for k, want := range map[string]string{"secret": e.Secret, "issuer": "Roomhub", "algorithm": "SHA1", "digits": "6", "period": "30"} {
		if q.Get(k) != want {
			t.Errorf("url parameter %s = %q, want %q", k, q.Get(k), want)
		}
	}
	img, err := png.Decode(bytes.NewReader(e.PNG))
	if err != nil || img.Bounds().Dx() != totpQRPixels || img.Bounds().Dy() != totpQRPixels {
		t.Fatalf("QR code is not a %dpx PNG: %v", totpQRPixels, err)
	}
	again, err := TOTPFromSecret("Roomhub", "ada@acme.example", e.Secret)
	if err != nil || again.Secret != e.Secret || again.URL != e.URL || !bytes.Equal(again.PNG, e.PNG) {
		t.Fatalf("rebuilt enrolment differs: %v", err)
	}
	if other, _ := NewTOTP("Roomhub", "ada@acme.example"); other.Secret == e.Secret {
		t.Fatal("two enrolments share a secret")
	}
	if _, err := TOTPFromSecret("Roomhub", "ada@acme.example", "not base32!"); err == nil {
		t.Fatal("TOTPFromSecret accepted a secret that is not base32")
	}
}

func TestValidateTOTP(t *testing.T) {
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	now := time.Unix(1_800_000_015, 0)
	step := now.Unix() / TOTPPeriod
	at := func(d int64) time.Time { return now.Add(time.Duration(d*TOTPPeriod) * time.Second) }
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := code(now)
	for _, tc := range []struct {
		name   string
		code   string
		ok     bool
		onStep int64
	}{
		{"current step", c, true, step},
		{"end of the current step", code(time.Unix((step+1)*TOTPPeriod-1, 0)), true, step},
		{"skew late", code(at(-TOTPSkew)), true, step - TOTPSkew},
		{"skew early", code(at(TOTPSkew)), true, step + TOTPSkew},
		{"beyond skew late", code(at(-TOTPSkew - 1)), false, 0},
		{"beyond skew early", code(at(TOTPSkew + 1)), false, 0},
		{"surrounded by spaces", " " + c + "\t", true, step},
		{"grouped as apps show it", c[:3] + " " + c[3:], true, step},
		{"five digits", c[:5], false, 0},
		{"seven digits", c + "0", false, 0},
		{"letters", "abcdef", false, 0},
		{"sign", "+" + c[1:], false, 0},
		{"full-width digits", "１２３４５６", false, 0},
		{"hyphenated", c[:3] + "-" + c[3:], false, 0},
		{"empty", "", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := ValidateTOTP(secret, tc.code, now)
			if ok != tc.ok || s != tc.onStep {
				t.Fatalf("ValidateTOTP(%q) = %d, %v; want %d, %v", tc.code, s, ok, tc.onStep, tc.ok)
			}
		})
	}
	t.Run("wrong secret", func(t *testing.T) {
		if _, ok := ValidateTOTP("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", c, now); ok {
			t.Fatal("a code matched another secret")
		}
	})
	t.Run("secret not base32", func(t *testing.T) {
		if _, ok := ValidateTOTP("not base32!", c, now); ok {
			t.Fatal("a code matched a broken secret")
		}
	})
}

func BenchmarkValidateTOTP(b *testing.B) {
	e, err := NewTOTP("Roomhub", "ada@acme.example")
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	c, _ := totp.GenerateCode(e.Secret, now)
	for b.Loop() {
		if _, ok := ValidateTOTP(e.Secret, c, now); !ok {
			b.Fatal("code refused")
		}
	}
}

func TestBackupCodes(t *testing.T) {
	codes, hashes := NewBackupCodes()
	if len(codes) != BackupCodeCount || len(hashes) != BackupCodeCount {
		t.Fatalf("%d codes and %d hashes, want %d", len(codes), len(hashes), BackupCodeCount)
	}
	shape := regexp.MustCompile(`^[a-z2-7]{5}-[a-z2-7]{5}$`)
	seen := map[string]bool{}
	for i, c := range codes {
		if !shape.MatchString(c) || len(c) != BackupCodeLen+1 || seen[c] {
			t.Fatalf("code %q malformed or repeated", c)
		}
		seen[c] = true
		for _, typed := range []string{c, strings.ToUpper(c), strings.ReplaceAll(c, "-", ""), " " + c[:5] + " " + c[6:] + "\n"} {
			if HashBackupCode(typed) != hashes[i] {
				t.Errorf("%q typed as %q does not match its hash", c, typed)
			}
		}
		if HashBackupCode(codes[(i+1)%len(codes)]) == hashes[i] {
			t.Error("another code matches this hash")
		}
	}
}

func TestHashBackupCode(t *testing.T) {
	// printf abcdefghij | sha256sum
	const want = "72399361da6a7754fec986dca5b7cbaf1c810a28ded4abaf56b2106d06cb78b0"
	for _, typed := range []string{"abcde-fghij", "ABCDE-FGHIJ", "abcdefghij", " abcde fghij ", "ab-cde-fg hij"} {
		t.Run(typed, func(t *testing.T) {
			if got := HashBackupCode(typed); got != want {
				t.Fatalf("HashBackupCode(%q) = %s, want %s", typed, got, want)
			}
		})
	}
	if HashBackupCode("abcde-fghik") == want {
		t.Fatal("a different code hashes the same")
	}
}
