package account

import (
	"bufio"
	"bytes"
	_ "embed"
	"strings"
	"unicode"
	"unicode/utf8"

	"roomhub"
)

// Password rules.
const (
	MinPasswordLen = 12  // characters
	MaxPasswordLen = 128 // characters: bounds the Argon2 input
	// SimilarityThreshold is the ratio from which a password counts as
	// similar to the email or name (Django's UserAttributeSimilarity
	// default).
	SimilarityThreshold = 0.7
	// minAttributePart is the shortest email or name part checked for
	// containment: shorter ones ("a", "jo") match too much.
	minAttributePart = 3
)

// commonPasswords holds the 10,000 most common passwords, lower-cased; see
// COMMON-PASSWORDS.md for its source.
//
//go:embed common-passwords.txt
var commonPasswords []byte

// Policy checks new passwords. Build it once with NewPolicy.
type Policy struct {
	common map[string]struct{}
}

// NewPolicy loads the embedded common-password list.
func NewPolicy() *Policy {
	p := &Policy{common: make(map[string]struct{}, 10000)}
	sc := bufio.NewScanner(bytes.NewReader(commonPasswords))
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" {
			p.common[w] = struct{}{}
		}
	}
	return p
}

// Common reports whether pw is on the common-password list.
func (p *Policy) Common(pw string) bool {
	_, ok := p.common[strings.ToLower(pw)]
	return ok
}

// Check returns an EINVALID error for the password field saying what is
// wrong with pw, or nil.
func (p *Policy) Check(pw, email, name string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPasswordLen:
		return roomhub.Invalid("password", "Use at least %d characters.", MinPasswordLen)
	case n > MaxPasswordLen:
		return roomhub.Invalid("password", "Use at most %d characters.", MaxPasswordLen)
	case allDigits(pw):
		return roomhub.Invalid("password", "A password cannot be only digits.")
	case p.Common(pw):
		return roomhub.Invalid("password", "This password is too common. Choose one that is not on lists of leaked passwords.")
	case similar(pw, email, name):
		return roomhub.Invalid("password", "This password is too similar to your email or name.")
	}
	return nil
}

func allDigits(s string) bool {
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}

// similar applies Django's UserAttributeSimilarityValidator idea: the
// password is compared with the email (whole, local part, domain labels) and
// the name (whole and words). It is similar when one contains the other (for
// parts of minAttributePart letters or more) or when their similarity ratio
// (2*matches/total, matches counted by longest common substrings, as
// Python's difflib.SequenceMatcher does) reaches SimilarityThreshold.
func similar(pw, email, name string) bool {
	p := strings.ToLower(pw)
	var attrs []string
	email = strings.ToLower(email)
	attrs = append(attrs, email)
	if local, domain, ok := strings.Cut(email, "@"); ok {
		attrs = append(attrs, local)
		attrs = append(attrs, strings.FieldsFunc(local, notAlnum)...)
		attrs = append(attrs, strings.Split(domain, ".")...)
	}
	name = strings.ToLower(name)
	attrs = append(attrs, name)
	attrs = append(attrs, strings.FieldsFunc(name, notAlnum)...)
	for _, a := range attrs {
		if utf8.RuneCountInString(a) < minAttributePart {
			continue
		}
		if strings.Contains(p, a) || strings.Contains(a, p) || ratio(p, a) >= SimilarityThreshold {
			return true
		}
	}
	return false
}

func notAlnum(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// ratio is difflib's SequenceMatcher.ratio: twice the characters in
// matching blocks over the total length.
func ratio(a, b string) float64 {
	ra, rb := []rune(a), []rune(b)
	if len(ra)+len(rb) == 0 {
		return 1
	}
	return 2 * float64(matches(ra, rb)) / float64(len(ra)+len(rb))
}

// matches counts characters in matching blocks: the longest common
// substring, then recursively the parts to its left and right.
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
