package account

import (
	"bufio"
	"bytes"
	_ "embed"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"

	"roomhub"
)

// Password rules. NIST SP 800-63B's advice: length over composition rules,
// and no password that is common or derived from the account itself.
const (
	MinPasswordLen = 12  // characters
	MaxPasswordLen = 128 // characters: bounds the Argon2 input
	// SimilarityThreshold is the ratio from which a password counts as
	// similar to a part of the email or name (Django's
	// UserAttributeSimilarityValidator default).
	SimilarityThreshold = 0.7
	// MinSimilarPart is the shortest email or name part checked for
	// containment: shorter ones ("a", "jo") occur in too many passwords.
	MinSimilarPart = 3
	// CommonPasswordCount is the size of the common-password list.
	CommonPasswordCount = 10000
	// MinStrength is the least zxcvbn score (0 to 4) a new password needs:
	// 3 is about 10^8 guesses or more, out of reach online and costly
	// offline against Argon2id. zxcvbn sees what the rules above do not:
	// keyboard walks, sequences, dictionary words with digits and
	// substitutions ("password1234" scores 1).
	MinStrength = 3
)

// commonPasswords holds the 10,000 most common passwords, lower-cased, one
// a line; see COMMON-PASSWORDS.md for its source.
//
//go:embed common-passwords.txt
var commonPasswords []byte

// Policy checks new passwords. Build it once with NewPolicy and share it:
// it is read-only after construction.
type Policy struct {
	common map[string]struct{}
}

// NewPolicy loads the embedded common-password list into a set.
func NewPolicy() *Policy {
	p := &Policy{common: make(map[string]struct{}, CommonPasswordCount)}
	sc := bufio.NewScanner(bytes.NewReader(commonPasswords))
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" {
			p.common[w] = struct{}{}
		}
	}
	return p
}

// Common reports whether pw is on the common-password list, ignoring case:
// guessers try "Password" as early as "password".
func (p *Policy) Common(pw string) bool {
	_, ok := p.common[strings.ToLower(pw)]
	return ok
}

// Check returns an EINVALID error for the password field saying what is
// wrong with pw for the account with email and name, or nil.
func (p *Policy) Check(pw, email, name string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPasswordLen:
		return roomhub.Invalid("password", "Use at least %d characters; a few unrelated words make a strong password.", MinPasswordLen)
	case n > MaxPasswordLen:
		return roomhub.Invalid("password", "Use at most %d characters.", MaxPasswordLen)
	case allDigits(pw):
		return roomhub.Invalid("password", "A password cannot be only digits; add some words.")
	case p.Common(pw):
		return roomhub.Invalid("password", "This password is too common: it is on lists that attackers try first.")
	}
	switch similarTo(pw, email, name) {
	case "email":
		return roomhub.Invalid("password", "This password is too similar to your email address.")
	case "name":
		return roomhub.Invalid("password", "This password is too similar to your name.")
	}
	if Strength(pw, email, name) < MinStrength {
		return roomhub.Invalid("password", "This password is easy to guess (a common word with digits, a keyboard pattern or a sequence). Three or four unrelated words make a strong one.")
	}
	return nil
}

// Strength is zxcvbn's score of pw, 0 (guessed at once) to 4 (very hard),
// with the account's email and name words counted as known to an attacker.
func Strength(pw, email, name string) int {
	if utf8.RuneCountInString(pw) > MaxPasswordLen {
		pw = string([]rune(pw)[:MaxPasswordLen])
	}
	inputs := strings.FieldsFunc(strings.ToLower(email+" "+name), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	return zxcvbn.PasswordStrength(pw, inputs).Score
}

func allDigits(s string) bool {
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// similarTo reports which attribute, "email" or "name", pw is too similar
// to, or "". It follows Django's UserAttributeSimilarityValidator: each
// attribute is compared whole and in parts (the email's local part, its
// words and its domain labels; the name's words), all lower-cased. A part of
// MinSimilarPart characters or more is too similar when one of it and the
// password contains the other, or when their similarity ratio reaches
// SimilarityThreshold.
//
// The ratio is difflib's SequenceMatcher.ratio, where Django uses
// quick_ratio, an upper bound that counts shared letters in any order and so
// refuses unrelated passwords made of the same letters; the exact ratio
// costs microseconds at these lengths. The top-level domain is left out:
// "com" or "org" says nothing about the person and occurs in many words.
func similarTo(pw, email, name string) string {
	p := strings.ToLower(pw)
	near := func(parts []string) bool {
		for _, a := range parts {
			if utf8.RuneCountInString(a) < MinSimilarPart {
				continue
			}
			if strings.Contains(p, a) || strings.Contains(a, p) || ratio(p, a) >= SimilarityThreshold {
				return true
			}
		}
		return false
	}
	email = strings.ToLower(email)
	parts := []string{email}
	if local, domain, ok := strings.Cut(email, "@"); ok {
		parts = append(parts, local)
		parts = append(parts, strings.FieldsFunc(local, notAlnum)...)
		labels := strings.Split(domain, ".")
		if len(labels) > 1 {
			labels = labels[:len(labels)-1]
		}
		parts = append(parts, labels...)
	}
	if near(parts) {
		return "email"
	}
	name = strings.ToLower(name)
	if near(append([]string{name}, strings.FieldsFunc(name, notAlnum)...)) {
		return "name"
	}
	return ""
}

func notAlnum(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// ratio is difflib's SequenceMatcher(None, a, b).ratio(): twice the
// characters in matching blocks over the total length. (difflib's autojunk
// heuristic only applies to a second string of 200 characters or more,
// which no real email or name reaches.)
func ratio(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	if len(ra)+len(rb) == 0 {
		return 1
	}
	return 2 * float64(matches(ra, rb)) / float64(len(ra)+len(rb))
}

// matches counts characters in matching blocks as difflib does: the longest
// common substring (the earliest in a, then in b, on ties), then
// recursively the parts to its left and to its right.
func matches(a, b []rune) int {
	if len(a) == 0 || len(b) == 0 {
		return 0
	}
	bestI, bestJ, best := 0, 0, 0
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			if a[i-1] == b[j-1] {
				cur[j] = prev[j-1] + 1
				if cur[j] > best {
					best, bestI, bestJ = cur[j], i-cur[j], j-cur[j]
				}
			} else {
				cur[j] = 0
			}
		}
		prev, cur = cur, prev
	}
	if best == 0 {
		return 0
	}
	return best + matches(a[:bestI], b[:bestJ]) + matches(a[bestI+best:], b[bestJ+best:])
}
