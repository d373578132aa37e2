package account

import (
	"encoding/base64"
	"strings"
	"testing"

	"roomhub"
)

func TestTokens(t *testing.T) {
	tok, hash := NewToken()
	if raw, err := base64.RawURLEncoding.DecodeString(tok); err != nil || len(raw) != TokenBytes || len(tok) != TokenLen {
		t.Fatalf("token %q: %d bytes, %v", tok, len(raw), err)
	}
	if HashToken(tok) != hash {
		t.Fatal("the returned hash is not HashToken of the token")
	}
	if other, _ := NewToken(); other == tok {
		t.Fatal("two tokens are equal")
	}
	// printf AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA | sha256sum
	if got := HashToken(strings.Repeat("A", TokenLen)); got != "0f007385b6f9d4b7eeb2748605afe1a984a0a3bfa3f014d09e2a784ce9e5cd1a" {
		t.Fatalf("HashToken = %s", got)
	}
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"new", tok, true},
		{"all alphabet", strings.Repeat("-_", TokenLen/2) + "a", true},
		{"one long", tok + "x", false},
		{"one short", tok[1:], false},
		{"padded", tok[1:] + "=", false},
		{"std alphabet", "+" + tok[1:], false},
		{"path", "../" + tok[3:], false},
		{"space", " " + tok[1:], false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidTokenFormat(tc.in); got != tc.ok {
				t.Fatalf("ValidTokenFormat(%q) = %v", tc.in, got)
			}
		})
	}
}

func TestAPIKeys(t *testing.T) {
	key, prefix, h := NewAPIKey("secret-one")
	if len(key) != APIKeyLen || !strings.HasPrefix(key, APIKeyPrefix) {
		t.Fatalf("key %q", key)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(key[len(APIKeyPrefix):]); err != nil || len(raw) != APIKeyBytes {
		t.Fatalf("key body: %d bytes, %v", len(raw), err)
	}
	if prefix != key[:APIKeyShownLen] || APIKeyShownLen != 11 {
		t.Fatalf("prefix %q of key %q", prefix, key)
	}
	if HashAPIKey("secret-one", key) != h || HashAPIKey("secret-two", key) == h {
		t.Fatal("the key hash is not an HMAC under the secret")
	}
	if other, _, _ := NewAPIKey("secret-one"); other == key {
		t.Fatal("two keys are equal")
	}
	// printf rk_AAA…A | openssl dgst -sha256 -hmac api-key-secret
	if got := HashAPIKey("api-key-secret", "rk_"+strings.Repeat("A", 43)); got != "6314e28b46f4f95a3baadf7b4f972d700cef4061201cb18c055fc1bd85d0e219" {
		t.Fatalf("HashAPIKey = %s", got)
	}
}

func TestParseBearer(t *testing.T) {
	key, _, _ := NewAPIKey("s")
	for _, tc := range []struct {
		name   string
		header string
		ok     bool
	}{
		{"exact", "Bearer " + key, true},
		{"lower-case scheme", "bearer " + key, true},
		{"upper-case scheme", "BEARER " + key, true},
		{"two spaces", "Bearer  " + key, false},
		{"tab", "Bearer\t" + key, false},
		{"no space", "Bearer" + key + "A", false},
		{"trailing space", "Bearer " + key + " ", false},
		{"one long", "Bearer " + key + "x", false},
		{"one short", "Bearer " + key[:len(key)-1], false},
		{"other scheme", "Basic " + key, false},
		{"other scheme, same length", "Bearex " + key, false},
		{"other prefix", "Bearer sk_" + key[3:], false},
		{"upper-case prefix", "Bearer RK_" + key[3:], false},
		{"not base64url", "Bearer rk_" + strings.Repeat("!", 43), false},
		{"std alphabet", "Bearer rk_" + strings.Repeat("+", 43), false},
		{"bare key", key, false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParseBearer(tc.header)
			if ok != tc.ok || (ok && got != key) || (!ok && got != "") {
				t.Fatalf("ParseBearer(%q) = %q, %v", tc.header, got, ok)
			}
		})
	}
	good, long := "Bearer "+key, "Bearer "+strings.Repeat("A", 1<<20)
	if n := testing.AllocsPerRun(100, func() {
		ParseBearer(good)
		ParseBearer(long)
	}); n != 0 {
		t.Fatalf("ParseBearer allocates %v times per call pair", n)
	}
}

func FuzzParseBearer(f *testing.F) {
	key, _, _ := NewAPIKey("s")
	f.Add("Bearer " + key)
	f.Add("bearer " + key)
	f.Add("Bearer rk_")
	f.Add("Basic dXNlcjpwYXNz")
	f.Fuzz(func(t *testing.T, h string) {
		k, ok := ParseBearer(h)
		if !ok {
			if k != "" {
				t.Fatalf("refused %q but returned %q", h, k)
			}
			return
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(k, APIKeyPrefix))
		if len(k) != APIKeyLen || !strings.HasPrefix(k, APIKeyPrefix) || err != nil || len(raw) != APIKeyBytes ||
			!strings.EqualFold(h, "Bearer "+k) || !strings.HasSuffix(h, " "+k) {
			t.Fatalf("accepted %q as %q", h, k)
		}
	})
}

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		msg            string // a word of the refusal
	}{
		{"mixed case", "Ada@Acme.Example", "ada@acme.example", ""},
		{"spaces around", "  ada@acme.example\n", "ada@acme.example", ""},
		{"dots and plus", "ada.lovelace+roomhub@mail.acme.example", "ada.lovelace+roomhub@mail.acme.example", ""},
		{"non-ASCII", "Åsa@acme.example", "åsa@acme.example", ""},
		{"longest", strings.Repeat("a", 64) + "@" + strings.Repeat("b", MaxEmailLen-64-1-8) + ".example", strings.Repeat("a", 64) + "@" + strings.Repeat("b", MaxEmailLen-64-1-8) + ".example", ""},
		{"one too long", strings.Repeat("a", 64) + "@" + strings.Repeat("b", MaxEmailLen-64-8) + ".example", "", "at most 254"},
		{"empty", "", "", "Enter your email"},
		{"blank", "   ", "", "Enter your email"},
		{"no at", "ada", "", "like name@example.com"},
		{"no domain dot", "ada@localhost", "", "like name@"},
		{"display name", "Ada <ada@acme.example>", "", "like name@"},
		{"angle brackets", "<ada@acme.example>", "", "like name@"},
		{"comment", "ada@acme.example (Ada)", "", "like name@"},
		{"two ats", "a@b@acme.example", "", "like name@"},
		{"quoted local part", `"ada lovelace"@acme.example`, "", "like name@"},
		{"quoted at", `"a@b"@acme.example`, "", "like name@"},
		{"trailing dot", "ada@acme.example.", "", "like name@"},
		{"leading dot", "ada@.acme.example", "", "like name@"},
		{"double dot", "ada@acme..example", "", "like name@"},
		{"address literal", "ada@[192.0.2.1]", "", "like name@"},
		{"inner space", "ada @acme.example", "", "like name@"},
		{"two addresses", "ada@acme.example, bob@acme.example", "", "like name@"},
		{"no local part", "@acme.example", "", "like name@"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeEmail(tc.in)
			switch {
			case tc.msg == "" && (err != nil || got != tc.want):
				t.Fatalf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			case tc.msg != "" && (err == nil || got != "" || !strings.Contains(roomhub.ErrorMessage(err), tc.msg)):
				t.Fatalf("NormalizeEmail(%q) = %q, %v; want a refusal saying %q", tc.in, got, err, tc.msg)
			case err != nil && (roomhub.ErrorCode(err) != roomhub.EINVALID || roomhub.ErrorField(err) != "email"):
				t.Fatalf("code %q field %q", roomhub.ErrorCode(err), roomhub.ErrorField(err))
			}
		})
	}
}

func TestEmailDomain(t *testing.T) {
	for in, want := range map[string]string{
		"ada@acme.example":      "acme.example",
		"ada@mail.acme.example": "mail.acme.example",
		"ada":                   "",
		"":                      "",
	} {
		if got := EmailDomain(in); got != want {
			t.Errorf("EmailDomain(%q) = %q, want %q", in, got, want)
		}
	}
}
