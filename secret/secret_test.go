package secret

import (
	"encoding/base64"
	"strings"
	"testing"

	"roomhub"
)

func box(t *testing.T) *Box {
	t.Helper()
	b, err := New(GenerateKey())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	b := box(t)
	s1, err := b.Seal("5cfd2fd1755d40ecb72977518be15d3b", "org_settings.agora_certificate:1")
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := b.Seal("5cfd2fd1755d40ecb72977518be15d3b", "org_settings.agora_certificate:1")
	if s1 == s2 {
		t.Fatal("two seals of one value are equal: the nonce is not fresh")
	}
	if strings.Contains(s1, "5cfd2fd1") {
		t.Fatal("plaintext visible in the sealed value")
	}
	if got, err := b.Open(s1, "org_settings.agora_certificate:1"); err != nil || got != "5cfd2fd1755d40ecb72977518be15d3b" {
		t.Fatalf("open: %q %v", got, err)
	}
	t.Run("wrong aad: another row", func(t *testing.T) {
		if _, err := b.Open(s1, "org_settings.agora_certificate:2"); err == nil {
			t.Fatal("opened under another row's aad")
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		if _, err := box(t).Open(s1, "org_settings.agora_certificate:1"); err == nil {
			t.Fatal("opened with another key")
		}
	})
	t.Run("any byte tampered", func(t *testing.T) {
		raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s1, "v1."))
		for i := range raw {
			c := append([]byte(nil), raw...)
			c[i] ^= 1
			if _, err := b.Open("v1."+base64.RawURLEncoding.EncodeToString(c), "org_settings.agora_certificate:1"); err == nil {
				t.Fatalf("opened with byte %d flipped", i)
			}
		}
	})
	t.Run("unknown version and garbage", func(t *testing.T) {
		for _, v := range []string{"", "v2." + strings.TrimPrefix(s1, "v1."), "v1.", "v1.!!!", "v1.AAAA", strings.TrimPrefix(s1, "v1.")} {
			if _, err := b.Open(v, "org_settings.agora_certificate:1"); err == nil {
				t.Errorf("opened %q", v)
			}
		}
	})
	if err := b.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestParseKey(t *testing.T) {
	k32 := make([]byte, 32)
	for i := range k32 {
		k32[i] = byte(i)
	}
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"generated", GenerateKey(), true},
		{"32 bytes std padded", base64.StdEncoding.EncodeToString(k32), true},
		{"32 bytes url raw", base64.RawURLEncoding.EncodeToString(k32), true},
		{"31 bytes", base64.StdEncoding.EncodeToString(k32[:31]), false},
		{"empty", "", false},
		{"not base64", "this is not a key!", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKey(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseKey(%q): %v", tc.in, err)
			}
		})
	}
	if len(GenerateKey()) < 80 {
		t.Fatal("generated keys are too short for SECRET_KEY (50 characters)")
	}
}

func TestRotate(t *testing.T) {
	old, new := box(t), box(t)
	in := []roomhub.SealedSecret{
		{Table: "org_settings", Column: "agora_certificate", ID: 1},
		{Table: "users", Column: "totp_secret", ID: 7},
	}
	for i := range in {
		in[i].Value, _ = old.Seal("value-"+AAD(in[i]), AAD(in[i]))
	}
	out, err := Rotate(old, new, in)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range out {
		if got, err := new.Open(s.Value, AAD(s)); err != nil || got != "value-"+AAD(s) {
			t.Errorf("new key: %q %v", got, err)
		}
		if _, err := old.Open(s.Value, AAD(s)); err == nil {
			t.Error("the old key still opens a rotated value")
		}
	}
	if _, err := Rotate(new, old, in); err == nil || !strings.Contains(err.Error(), "org_settings.agora_certificate:1") {
		t.Fatalf("rotating with the wrong old key: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	b, _ := New(base64.StdEncoding.EncodeToString(make([]byte, 32)))
	s, _ := b.Seal("x", "a")
	f.Add(s, "a")
	f.Add("v1.", "")
	f.Fuzz(func(t *testing.T, sealed, aad string) {
		b.Open(sealed, aad) // never panics
	})
}
