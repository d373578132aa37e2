package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"

	"roomhub"
)

const certAAD = "org_settings.agora_certificate:1"

func box(t testing.TB) *Box {
	t.Helper()
	b, err := New(GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func seal(t testing.TB, b *Box, plaintext, aad string) string {
	t.Helper()
	s, err := b.Seal(plaintext, aad)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bytesOf returns a key of n bytes 0, 1, 2, …
func bytesOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestGenerateKey(t *testing.T) {
	k1, k2 := GenerateKey(), GenerateKey()
	if k1 == k2 {
		t.Fatal("two generated keys are equal")
	}
	raw, err := base64.StdEncoding.DecodeString(k1)
	if err != nil || len(raw) != KeyBytes {
		t.Fatalf("GenerateKey() = %q: %d bytes, %v; want standard base64 of %d bytes", k1, len(raw), err, KeyBytes)
	}
	if _, err := ParseKey(k1); err != nil {
		t.Fatalf("a generated key does not parse: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	k := bytesOf(MaxKeyBytes + 1)
	for _, tc := range []struct {
		name string
		in   string
		want int    // bytes; 0 = refused
		msg  string // a word of the refusal
	}{
		{"std padded", base64.StdEncoding.EncodeToString(k[:KeyBytes]), KeyBytes, ""},
		{"std unpadded", base64.RawStdEncoding.EncodeToString(k[:KeyBytes]), KeyBytes, ""},
		{"url padded", base64.URLEncoding.EncodeToString(k[:KeyBytes]), KeyBytes, ""},
		{"url unpadded", base64.RawURLEncoding.EncodeToString(k[:KeyBytes]), KeyBytes, ""},
		{"surrounding space", " " + base64.StdEncoding.EncodeToString(k[:KeyBytes]) + "\n", KeyBytes, ""},
		{"longest", base64.RawURLEncoding.EncodeToString(k[:MaxKeyBytes]), MaxKeyBytes, ""},
		{"one byte short", base64.StdEncoding.EncodeToString(k[:KeyBytes-1]), 0, "31 bytes"},
		{"short", base64.StdEncoding.EncodeToString(k[:16]), 0, "16 bytes"},
		{"one byte long", base64.StdEncoding.EncodeToString(k[:MaxKeyBytes+1]), 0, "65 bytes"},
		{"empty", "", 0, "empty"},
		{"blank", "  \n", 0, "empty"},
		{"not base64", "this is not a key!", 0, "not base64"},
		{"mixed alphabets", base64.StdEncoding.EncodeToString(k[:KeyBytes])[:10] + "-_+/" + base64.StdEncoding.EncodeToString(k[:KeyBytes])[14:], 0, "not base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseKey(tc.in)
			switch {
			case tc.want > 0 && (err != nil || len(got) != tc.want || !bytes.Equal(got, k[:tc.want])):
				t.Fatalf("ParseKey(%q) = %d bytes, %v; want key bytes 0..%d", tc.in, len(got), err, tc.want-1)
			case tc.want == 0 && (err == nil || !strings.Contains(err.Error(), tc.msg)):
				t.Fatalf("ParseKey(%q) = %v; want an error saying %q", tc.in, err, tc.msg)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	b := box(t)
	const cert = "5cfd2fd1755d40ecb72977518be15d3b"
	s1, s2 := seal(t, b, cert, certAAD), seal(t, b, cert, certAAD)
	if !strings.HasPrefix(s1, Version) {
		t.Fatalf("sealed value %q lacks the version prefix", s1)
	}
	if s1 == s2 {
		t.Fatal("two seals of one value are equal: the nonce is not fresh")
	}
	if strings.Contains(s1, cert[:8]) {
		t.Fatal("plaintext visible in the sealed value")
	}
	for _, pt := range []string{cert, "", strings.Repeat("é", 1000)} {
		if got, err := b.Open(seal(t, b, pt, certAAD), certAAD); err != nil || got != pt {
			t.Errorf("round trip of %d bytes: %q, %v", len(pt), got, err)
		}
	}
	refused := func(t *testing.T, b *Box, sealed, aad string) {
		t.Helper()
		if got, err := b.Open(sealed, aad); err != ErrOpen || got != "" {
			t.Fatalf("Open = %q, %v; want \"\", ErrOpen", got, err)
		}
	}
	t.Run("wrong key", func(t *testing.T) { refused(t, box(t), s1, certAAD) })
	t.Run("another row", func(t *testing.T) { refused(t, b, s1, "org_settings.agora_certificate:2") })
	t.Run("another column", func(t *testing.T) { refused(t, b, s1, "users.totp_secret:1") })
	t.Run("no aad", func(t *testing.T) { refused(t, b, s1, "") })
	t.Run("any byte tampered", func(t *testing.T) {
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s1, Version))
		if err != nil {
			t.Fatal(err)
		}
		for i := range raw {
			c := bytes.Clone(raw)
			c[i] ^= 0x80
			refused(t, b, Version+base64.RawURLEncoding.EncodeToString(c), certAAD)
		}
	})
	t.Run("truncated or extended", func(t *testing.T) {
		raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s1, Version))
		for _, c := range [][]byte{raw[:len(raw)-1], raw[:NonceBytes+b.aead.Overhead()], raw[:NonceBytes], append(bytes.Clone(raw), 0)} {
			refused(t, b, Version+base64.RawURLEncoding.EncodeToString(c), certAAD)
		}
	})
	// A one-byte value seals to 29 bytes, whose base64 needs padding.
	short := mustRaw(t, seal(t, b, "x", certAAD))
	for name, v := range map[string]string{
		"empty":           "",
		"unknown version": "v2." + strings.TrimPrefix(s1, Version),
		"no version":      strings.TrimPrefix(s1, Version),
		"version only":    Version,
		"not base64":      Version + "!!!!",
		"padded":          Version + base64.URLEncoding.EncodeToString(short),
	} {
		t.Run(name, func(t *testing.T) { refused(t, b, v, certAAD) })
	}
	if got, err := b.Open(Version+base64.RawURLEncoding.EncodeToString(short), certAAD); err != nil || got != "x" {
		t.Fatalf("the unpadded form of the padded case does not open: %q, %v", got, err)
	}
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
}

func mustRaw(t *testing.T, sealed string) []byte {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(sealed, Version))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestKeyDerivation pins the scheme with a value sealed independently of
// Box: HKDF-SHA256 of the master key with no salt and the documented info,
// AES-256-GCM, nonce first. Stored secrets depend on every detail of it.
func TestKeyDerivation(t *testing.T) {
	master := bytesOf(KeyBytes)
	key, err := hkdf.Key(sha256.New, master, nil, "roomhub secret box v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	nonce := bytesOf(NonceBytes)
	sealed := "v1." + base64.RawURLEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte("JBSWY3DPEHPK3PXP"), []byte("users.totp_secret:42")))

	b, err := New(base64.StdEncoding.EncodeToString(master))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Open(sealed, "users.totp_secret:42"); err != nil || got != "JBSWY3DPEHPK3PXP" {
		t.Fatalf("Open of an independently sealed value = %q, %v", got, err)
	}
}

func TestAAD(t *testing.T) {
	for _, tc := range []struct {
		in   roomhub.SealedSecret
		want string
	}{
		{roomhub.SealedSecret{Table: "org_settings", Column: "agora_certificate", ID: 42}, "org_settings.agora_certificate:42"},
		{roomhub.SealedSecret{Table: "users", Column: "totp_secret", ID: 7, Value: "ignored"}, "users.totp_secret:7"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := AAD(tc.in); got != tc.want {
				t.Fatalf("AAD = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRotate(t *testing.T) {
	old, new := box(t), box(t)
	in := []roomhub.SealedSecret{
		{Table: "org_settings", Column: "agora_certificate", ID: 1},
		{Table: "users", Column: "totp_secret", ID: 7},
	}
	for i := range in {
		in[i].Value = seal(t, old, "value of "+AAD(in[i]), AAD(in[i]))
	}
	before := append([]roomhub.SealedSecret(nil), in...)
	out, err := Rotate(old, new, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d values out of %d", len(out), len(in))
	}
	for i, s := range out {
		if s.Table != in[i].Table || s.Column != in[i].Column || s.ID != in[i].ID {
			t.Errorf("row %d changed identity: %+v", i, s)
		}
		if got, err := new.Open(s.Value, AAD(s)); err != nil || got != "value of "+AAD(s) {
			t.Errorf("new key: %q %v", got, err)
		}
		if _, err := old.Open(s.Value, AAD(s)); err == nil {
			t.Error("the old key still opens a rotated value")
		}
	}
	for i := range in {
		if in[i] != before[i] {
			t.Fatal("Rotate modified its input")
		}
	}

	t.Run("refuses a value not sealed with old", func(t *testing.T) {
		mixed := append([]roomhub.SealedSecret(nil), in...)
		mixed[1].Value = seal(t, new, "x", AAD(mixed[1]))
		got, err := Rotate(old, new, mixed)
		if err == nil || got != nil || !strings.Contains(err.Error(), "users.totp_secret:7") {
			t.Fatalf("Rotate = %d values, %v; want nothing and an error naming users.totp_secret:7", len(got), err)
		}
	})
	t.Run("refuses a value moved to another row", func(t *testing.T) {
		moved := append([]roomhub.SealedSecret(nil), in...)
		moved[0].ID = 2
		if _, err := Rotate(old, new, moved); err == nil || !strings.Contains(err.Error(), "org_settings.agora_certificate:2") {
			t.Fatalf("Rotate: %v", err)
		}
	})
	t.Run("nothing to rotate", func(t *testing.T) {
		if got, err := Rotate(old, new, nil); err != nil || len(got) != 0 {
			t.Fatalf("Rotate(nil) = %v, %v", got, err)
		}
	})
}

func FuzzOpen(f *testing.F) {
	b, err := New(base64.StdEncoding.EncodeToString(bytesOf(KeyBytes)))
	if err != nil {
		f.Fatal(err)
	}
	s := seal(f, b, "x", "a")
	f.Add(s, "a")
	f.Add(s[:len(s)-1], "a")
	f.Add("v1.", "")
	f.Add("v1."+strings.Repeat("A", 40), "a")
	f.Fuzz(func(t *testing.T, sealed, aad string) {
		got, err := b.Open(sealed, aad)
		switch {
		case err != nil && (err != ErrOpen || got != ""):
			t.Fatalf("failed Open returned %q, %v", got, err)
		case err == nil && (got != "x" || aad != "a"):
			// The only value ever sealed under this key is "x" for "a".
			t.Fatalf("Open(%q, %q) = %q", sealed, aad, got)
		}
	})
}
