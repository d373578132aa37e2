package roomhub

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestValidateRoom(t *testing.T) {
	tests := []struct {
		room string
		ok   bool
	}{
		{"a", true},
		{"Team_standup-2", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{"with space", false},
		{"dot.ted", false},
		{"slash/room", false},
		{"<script>", false},
		{"réunion", false},
		{"null\x00byte", false},
	}
	for _, tc := range tests {
		err := ValidateRoom(tc.room)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateRoom(%q) = %v, want ok=%v", tc.room, err, tc.ok)
		}
		if err != nil && (ErrorCode(err) != EINVALID || ErrorField(err) != "room_name") {
			t.Errorf("ValidateRoom(%q) error %v lacks code or field", tc.room, err)
		}
	}
}

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"Ada", "Ada", true},
		{"  Ada   Lovelace  ", "Ada Lovelace", true},
		{"Ada\t\n\r\v\fL", "Ada L", true},
		{"a_b-c 9", "a_b-c 9", true},
		{"A", "", false},
		{"   A   ", "", false},
		{strings.Repeat("n", 100), strings.Repeat("n", 100), true},
		{strings.Repeat("n", 101), "", false},
		{strings.Repeat("n", 50) + "     " + strings.Repeat("n", 49), strings.Repeat("n", 50) + " " + strings.Repeat("n", 49), true},
		{"<b>", "", false},
		{"O'Brien", "O'Brien", true},
		{"O\u2019Brien", "O\u2019Brien", true},
		{"Dr. Smith", "Dr. Smith", true},
		{"José Müller", "José Müller", true},
		{"Jose\u0301", "José", true}, // combining accent, put in NFC
		{"李雷", "李雷", true},
		{"Zoë", "Zoë", true},
		{"Αλέξης", "Αλέξης", true},
		{"محمد", "محمد", true},
		{"..", "", false},            // no letter or digit
		{"-'-", "", false},           // no letter or digit
		{"a\u00a0b", "", false},      // non-ASCII space is not allowed
		{"Eve\u202eevil", "", false}, // right-to-left override
		{"Eve\u2066x", "", false},    // bidirectional isolate
		{"Ad\u200ba", "", false},     // zero-width space
		{"Ad\u200da", "", false},     // zero-width joiner
		{"\ufeffAda", "", false},     // byte-order mark
		{"Ada\x00", "", false},       // control
		{"Ada\x7f", "", false},       // control
		{"a&b", "", false},
		{"a\"b", "", false},
		{"Ada\xff", "", false}, // not UTF-8
		{strings.Repeat("李", 100), strings.Repeat("李", 100), true},
		{strings.Repeat("李", 101), "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		got, err := NormalizeName(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("NormalizeName(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && ErrorField(err) != "name" {
			t.Errorf("NormalizeName(%q) error field %q", tc.in, ErrorField(err))
		}
	}
}

func TestUID(t *testing.T) {
	tests := []struct {
		in   any
		want uint32
		ok   bool
	}{
		{float64(0), 0, true},
		{float64(4294967295), 4294967295, true},
		{float64(4294967296), 0, false},
		{float64(-1), 0, false},
		{float64(1.5), 0, false},
		{"42", 42, true},
		{" 42 ", 42, true},
		{"4294967295", 4294967295, true},
		{"4294967296", 0, false},
		{"-1", 0, false},
		{"0x10", 0, false},
		{"1e3", 0, false},
		{"", 0, false},
		{nil, 0, false},
		{true, 0, false},
	}
	for _, tc := range tests {
		got, err := UIDFromJSON(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("UIDFromJSON(%#v) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestValidateOrgSlug(t *testing.T) {
	for slug, ok := range map[string]bool{"acme": true, "a-1": true, "a": false, "-a": false, "a-": false, "Acme": false, "a_b": false, strings.Repeat("a", 33): false} {
		if (ValidateOrgSlug(slug) == nil) != ok {
			t.Errorf("ValidateOrgSlug(%q) ok=%v", slug, !ok)
		}
	}
}

func TestSessionGrants(t *testing.T) {
	var s Session
	for i := 0; i < MaxSessionGrants+3; i++ {
		s.AddGrant(Grant{OrgID: 1, Room: string(rune('a' + i)), UID: uint32(i + 1)})
	}
	if len(s.Grants) != MaxSessionGrants {
		t.Fatalf("%d grants kept, want %d", len(s.Grants), MaxSessionGrants)
	}
	if _, ok := s.Grant(1, "a", 1); ok {
		t.Fatal("oldest grant not dropped")
	}
	s.AddGrant(Grant{OrgID: 1, Room: "k", UID: 99})
	if _, ok := s.Grant(1, "k", 11); ok {
		t.Fatal("a new uid for a room must replace the old one")
	}
	if _, ok := s.Grant(1, "k", 99); !ok {
		t.Fatal("new grant missing")
	}
	if _, ok := s.Grant(2, "k", 99); ok {
		t.Fatal("grant of org 1 matched org 2")
	}
}

func FuzzValidateRoom(f *testing.F) {
	for _, s := range []string{"a", "room-1", "", "a b", strings.Repeat("x", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateRoom(s) == nil {
			if len(s) < 1 || len(s) > 64 || strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != "" {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}

func FuzzNormalizeName(f *testing.F) {
	for _, s := range []string{"Ada", "  a  b ", "<x>", "\t\t", strings.Repeat("n", 101)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeName(s)
		if err != nil {
			return
		}
		if n := utf8.RuneCountInString(got); n < 2 || n > 100 || strings.Contains(got, "  ") || strings.TrimSpace(got) != got ||
			!norm.NFC.IsNormalString(got) || strings.ContainsAny(got, "<>&\"\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\ufeff") {
			t.Fatalf("NormalizeName(%q) = %q", s, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("NormalizeName(%q) = %q keeps %U", s, got, r)
			}
		}
		if again, err := NormalizeName(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q (%v)", got, again, err)
		}
	})
}

func FuzzParseUID(f *testing.F) {
	for _, s := range []string{"0", "4294967295", "4294967296", "-1", "abc", " 7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUID(s)
		if err != nil {
			return
		}
		if got, err := ParseUID(strings.TrimSpace(s)); err != nil || got != u {
			t.Fatalf("ParseUID(%q) unstable", s)
		}
	})
}
