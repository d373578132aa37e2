package account

import (
	"bufio"
	"bytes"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"roomhub"
)

func TestPasswordHashing(t *testing.T) {
	h, err := HashPassword("violet-harbour-lantern-42")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("encoding %q", h)
	}
	h2, _ := HashPassword("violet-harbour-lantern-42")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{"violet-harbour-lantern-42": true, "violet-harbour-lantern-43": false, "": false} {
		if ok, err := VerifyPassword(h, pw); err != nil || ok != want {
			t.Errorf("VerifyPassword(%q) = %v, %v", pw, ok, err)
		}
	}
	if NeedsRehash(h) {
		t.Fatal("a fresh hash needs a rehash")
	}
	weak := strings.Replace(h, "m=19456,t=2", "m=4096,t=1", 1)
	if !NeedsRehash(weak) {
		t.Fatal("weaker parameters do not ask for a rehash")
	}
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
		strings.Replace(h, "m=19456", "m=99999999", 1), // a tampered row asking for 95 GiB
		strings.Replace(h, "t=2", "t=100000", 1),
		strings.Replace(h, "p=1", "p=255", 1),
		h[:len(h)-10],
	} {
		if ok, err := VerifyPassword(bad, "violet-harbour-lantern-42"); ok || err == nil {
			t.Errorf("accepted malformed hash %q", bad)
		}
	}
	NewHasher().DummyVerify("anything") // must not panic or match
}

func TestPasswordPolicy(t *testing.T) {
	p := NewPolicy()
	for _, tc := range []struct {
		pw, email, name string
		want            string // "" = accepted; else a word of the message
	}{
		{"violet-harbour-lantern-42", "ada@acme.example", "Ada Lovelace", ""},
		{"short-pw", "ada@acme.example", "Ada", "at least 12"},
		{strings.Repeat("x", MaxPasswordLen+1), "ada@acme.example", "Ada", "at most"},
		{"123456789012345", "ada@acme.example", "Ada", "only digits"},
		{"qwerty123456", "ada@acme.example", "Ada", "too common"},
		{"1Qaz2wsx3edc", "ada@acme.example", "Ada", "too common"},
		{"lovelace-rules-1", "ada@acme.example", "Ada Lovelace", "similar"},
		{"ada.lovelace@acme", "ada.lovelace@acme.example", "Ada", "similar"},
		{"acme-example-99", "ada@acme.example", "Ada", "similar"},
		{"lovelacee", "lovelace@x.example", "", "at least"},
		{"lovelaceada1234", "x@y.example", "Ada Lovelace", "similar"},
	} {
		err := p.Check(tc.pw, tc.email, tc.name)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q refused: %v", tc.pw, err)
		case tc.want != "" && (err == nil || !strings.Contains(roomhub.ErrorMessage(err), tc.want)):
			t.Errorf("%q: got %v, want a message with %q", tc.pw, err, tc.want)
		case err != nil && roomhub.ErrorField(err) != "password":
			t.Errorf("%q: field %q", tc.pw, roomhub.ErrorField(err))
		}
	}
}

func TestCommonPasswordList(t *testing.T) {
	sc := bufio.NewScanner(bytes.NewReader(commonPasswords))
	seen := map[string]bool{}
	n := 0
	for sc.Scan() {
		w := sc.Text()
		n++
		if w == "" || w != strings.ToLower(w) || seen[w] {
			t.Fatalf("line %d %q: empty, not lower-case, or repeated", n, w)
		}
		seen[w] = true
	}
	if n != 10000 || len(NewPolicy().common) != 10000 {
		t.Fatalf("%d entries, want 10000", n)
	}
	if !NewPolicy().Common("PassWord") {
		t.Fatal("the check is not case-insensitive")
	}
}

func TestSimilarityRatio(t *testing.T) {
	// Values Python's difflib.SequenceMatcher(None, a, b).ratio() gives.
	for _, tc := range []struct {
		a, b string
		want float64
	}{
		{"abcd", "bcde", 0.75},
		{"lovelace", "lovelace", 1},
		{"abc", "xyz", 0},
		{"qwerty", "qwrety", 2 * 5.0 / 12},
	} {
		if got := ratio(tc.a, tc.b); got < tc.want-1e-9 || got > tc.want+1e-9 {
			t.Errorf("ratio(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestTOTP(t *testing.T) {
	e, err := NewTOTP("Roomhub", "ada@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.URL, "otpauth://totp/Roomhub:ada@acme.example?") || !strings.Contains(e.URL, "secret="+e.Secret) {
		t.Fatalf("url %q", e.URL)
	}
	img, err := png.Decode(bytes.NewReader(e.PNG))
	if err != nil || img.Bounds().Dx() != totpQRPixels {
		t.Fatalf("QR code is not a %dpx PNG: %v", totpQRPixels, err)
	}
	again, err := TOTPFromSecret("Roomhub", "ada@acme.example", e.Secret)
	if err != nil || again.Secret != e.Secret || again.URL != e.URL {
		t.Fatalf("rebuilt enrolment differs: %+v %v", again, err)
	}
	now := time.Unix(1_800_000_015, 0)
	step := now.Unix() / 30
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(e.Secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tc := range []struct {
		name   string
		code   string
		ok     bool
		onStep int64
	}{
		{"current step", code(now), true, step},
		{"one step late", code(now.Add(-30 * time.Second)), true, step - 1},
		{"one step early", code(now.Add(30 * time.Second)), true, step + 1},
		{"two steps late", code(now.Add(-60 * time.Second)), false, 0},
		{"with spaces", " " + code(now)[:3] + " " + code(now)[3:] + " ", true, step},
		{"five digits", code(now)[:5], false, 0},
		{"letters", "abcdef", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := ValidateTOTP(e.Secret, tc.code, now)
			if ok != tc.ok || (ok && s != tc.onStep) {
				t.Fatalf("ValidateTOTP = %d, %v; want %d, %v", s, ok, tc.onStep, tc.ok)
			}
		})
	}
}

func TestBackupCodes(t *testing.T) {
	codes, hashes := NewBackupCodes()
	if len(codes) != BackupCodeCount || len(hashes) != BackupCodeCount {
		t.Fatalf("%d codes", len(codes))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if len(c) != 11 || c[5] != '-' || seen[c] {
			t.Fatalf("code %q malformed or repeated", c)
		}
		seen[c] = true
		for _, typed := range []string{c, strings.ToUpper(c), strings.ReplaceAll(c, "-", ""), " " + c[:5] + " " + c[6:]} {
			if HashBackupCode(typed) != hashes[i] {
				t.Errorf("%q as typed %q does not match its hash", c, typed)
			}
		}
		if strings.Contains(hashes[i], c[:5]) {
			t.Error("hash holds the code")
		}
	}
}

func TestTokensAndAPIKeys(t *testing.T) {
	tok, hash := NewToken()
	if !ValidTokenFormat(tok) || HashToken(tok) != hash || ValidTokenFormat(tok+"x") || ValidTokenFormat("../"+tok[3:]) {
		t.Fatal("token format")
	}
	key, prefix, h := NewAPIKey("secret-one")
	if !strings.HasPrefix(key, "rk_") || !strings.HasPrefix(key, prefix) || len(prefix) != 11 {
		t.Fatalf("key %q prefix %q", key, prefix)
	}
	if HashAPIKey("secret-one", key) != h || HashAPIKey("secret-two", key) == h {
		t.Fatal("the key hash is not an HMAC under the secret")
	}
	for header, ok := range map[string]bool{
		"Bearer " + key:                        true,
		"bearer " + key:                        true,
		"Bearer  " + key:                       false,
		"Bearer " + key + "x":                  false,
		"Bearer " + key[:len(key)-1]:           false,
		"Basic " + key:                         false,
		"Bearer rk_" + strings.Repeat("!", 43): false,
		"":                                     false,
	} {
		if got, gotOK := ParseBearer(header); gotOK != ok || (ok && got != key) {
			t.Errorf("ParseBearer(%q) = %q, %v", header, got, gotOK)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{
		"Ada@Acme.Example":                      "ada@acme.example",
		"  ada@acme.example ":                   "ada@acme.example",
		"ada":                                   "",
		"ada@localhost":                         "",
		"Ada <ada@acme.example>":                "",
		"a@b@acme.example":                      "",
		"ada@acme.example.":                     "",
		strings.Repeat("a", 250) + "@x.example": "",
	} {
		got, err := NormalizeEmail(in)
		if (want == "") != (err != nil) || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v", in, got, err)
		}
	}
	if EmailDomain("ada@acme.example") != "acme.example" {
		t.Fatal("EmailDomain")
	}
}

func FuzzParseBearer(f *testing.F) {
	key, _, _ := NewAPIKey("s")
	f.Add("Bearer " + key)
	f.Add("Bearer rk_")
	f.Fuzz(func(t *testing.T, h string) {
		if k, ok := ParseBearer(h); ok && (len(k) != apiKeyLen || !strings.HasPrefix(k, "rk_")) {
			t.Fatalf("accepted %q", h)
		}
	})
}

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		HashPassword("violet-harbour-lantern-42")
	}
}

func BenchmarkValidateTOTP(b *testing.B) {
	e, _ := NewTOTP("Roomhub", "ada@acme.example")
	now := time.Now()
	c, _ := totp.GenerateCode(e.Secret, now)
	for b.Loop() {
		ValidateTOTP(e.Secret, c, now)
	}
}
