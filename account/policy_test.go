package account

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"roomhub"
)

func TestPasswordPolicy(t *testing.T) {
	p := NewPolicy()
	const email, name = "ada@acme.example", "Ada Lovelace"
	for _, tc := range []struct {
		name, pw, email, user string
		want                  string // "" = accepted; else a word of the message
	}{
		{"long and unrelated", goodPassword, email, name, ""},
		{"shortest", "violet-harb4", email, name, ""},
		{"one short", "violet-har4", email, name, "at least 12"},
		{"short in bytes, long in characters", "ĥéļļõ-ŵöŕļđ", email, name, "at least 12"},
		{"twelve multi-byte characters", "ĵąķē-ŵőŕ-ţû9", email, name, ""},
		{"twelve multi-byte characters, a greeting", "ĥéļļõ-ŵöŕļđŝ", email, name, "easy to guess"},
		{"longest", strings.Repeat("violet-harbour-lantern-", 6)[:MaxPasswordLen], email, name, ""},
		{"long but one word repeated", strings.Repeat("violet-", MaxPasswordLen/7) + strings.Repeat("x", MaxPasswordLen%7), email, name, "easy to guess"},
		{"one too long", strings.Repeat("violet-", MaxPasswordLen/7) + strings.Repeat("x", MaxPasswordLen%7+1), email, name, "at most 128"},
		{"only digits", "123456789012345", email, name, "only digits"},
		{"digits and a letter", "1234567890123x5", email, name, "easy to guess"},
		{"a common word and digits", "password1234", email, name, "easy to guess"},
		{"a keyboard walk", "zaq12wsxcde3", email, name, "easy to guess"},
		{"a sequence", "abcdefghijkl", email, name, "easy to guess"},
		{"unrelated words", "blue-kettle-river-42", email, name, ""},
		{"common", "qwerty123456", email, name, "too common"},
		{"common, other case", "1Qaz2wsx3edc", email, name, "too common"},
		{"common, upper case", "QAZWSXEDCRFV", email, name, "too common"},
		{"contains the surname", "lovelace-rules-1", email, name, "your name"},
		{"contains the first name", "violet-ada-lantern", "x@y.example", "Ada", "your name"},
		{"name backwards still differs", "ecalevol-rules-1", email, name, ""},
		{"contains the local part", "ada.lovelace@acme", "ada.lovelace@acme.example", "", "your email"},
		{"contains a word of the local part", "violet-lovelace-7", "ada.lovelace@acme.example", "", "your email"},
		{"contains the domain", "acme-example-99", email, name, "your email"},
		{"contained in the email", "longpasswordtext", "longpasswordtext.ada@acme.example", "", "your email"},
		{"close to the local part", "lovelacx1234", "lovelace@x.example", "", "your email"},
		{"names run together", "lovelaceada1234", "x@y.example", "Ada Lovelace", "your name"},
		{"close to the name", "lovelacx-123", "x@y.example", "Lovelace", "your name"},
		{"top-level domain ignored", "welcome-comet-home", "ada@acme.com", name, ""},
		{"short parts ignored", "jo-violet-harbour", "jo@x.example", "Jo Li", ""},
		{"no email or name", goodPassword, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Check(tc.pw, tc.email, tc.user)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("%q refused: %v", tc.pw, err)
			case tc.want != "" && (err == nil || !strings.Contains(roomhub.ErrorMessage(err), tc.want)):
				t.Fatalf("%q: got %v, want a message with %q", tc.pw, err, tc.want)
			case err != nil && (roomhub.ErrorCode(err) != roomhub.EINVALID || roomhub.ErrorField(err) != "password"):
				t.Fatalf("%q: code %q field %q", tc.pw, roomhub.ErrorCode(err), roomhub.ErrorField(err))
			}
		})
	}
}

func TestCommonPasswordList(t *testing.T) {
	sc := bufio.NewScanner(bytes.NewReader(commonPasswords))
	seen := map[string]bool{}
	n := 0
	for sc.Scan() {
		w := sc.Text()
		n++
		if w == "" || w != strings.TrimSpace(w) || w != strings.ToLower(w) || seen[w] {
			t.Fatalf("line %d %q: empty, padded, not lower-case, or repeated", n, w)
		}
		seen[w] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n != CommonPasswordCount {
		t.Fatalf("%d entries, want %d", n, CommonPasswordCount)
	}
	p := NewPolicy()
	if len(p.common) != CommonPasswordCount {
		t.Fatalf("the policy holds %d entries, want %d", len(p.common), CommonPasswordCount)
	}
	for _, pw := range []string{"password", "PassWord", "123456", "dragon"} {
		if !p.Common(pw) {
			t.Errorf("%q is not found on the list", pw)
		}
	}
	if p.Common(goodPassword) {
		t.Error("an uncommon password is on the list")
	}
}

// TestCommonPasswordsRefused checks that every entry long enough to pass
// the length rule, such as "qwerty123456", is refused as common, in any
// case.
func TestCommonPasswordsRefused(t *testing.T) {
	p := NewPolicy()
	checked := 0
	sc := bufio.NewScanner(bytes.NewReader(commonPasswords))
	for sc.Scan() {
		w := sc.Text()
		if utf8.RuneCountInString(w) < MinPasswordLen || allDigits(w) {
			continue
		}
		checked++
		for _, pw := range []string{w, strings.ToUpper(w)} {
			if err := p.Check(pw, "someone@roomhub.example", "Someone"); err == nil || !strings.Contains(roomhub.ErrorMessage(err), "too common") {
				t.Errorf("%q: %v", pw, err)
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d entries of %d characters or more; the list looks wrong", checked, MinPasswordLen)
	}
}

func TestSimilarityRatio(t *testing.T) {
	// Values of Python's difflib.SequenceMatcher(None, a, b).ratio().
	for _, tc := range []struct {
		a, b string
		want float64
	}{
		{"abcd", "bcde", 0.75},
		{"lovelace", "lovelace", 1},
		{"abc", "xyz", 0},
		{"", "", 1},
		{"abc", "", 0},
		{"qwerty", "qwrety", 10.0 / 12},
		{"abxcd", "cdxab", 0.4},
		{"aaabbb", "ababab", 4.0 / 6},
		{"lovelacx1234", "lovelace", 0.7},
		{"violet-harbour-lantern-42", "ada lovelace", 10.0 / 37},
		{"ĥéļļõ", "ĥéļļo", 0.8},
		// Ties between longest matches go to the earliest in a, then in b;
		// the other choice gives 6/11 and 0.6.
		{"babbaa", "aaaab", 4.0 / 11},
		{"baba", "ababba", 0.8},
	} {
		t.Run(tc.a+"/"+tc.b, func(t *testing.T) {
			if got := ratio(tc.a, tc.b); got < tc.want-1e-9 || got > tc.want+1e-9 {
				t.Fatalf("ratio(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
			}
		})
	}
}
