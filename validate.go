package roomhub

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Input limits, from the seed's validation rules.
const (
	RoomMinLen = 1
	RoomMaxLen = 64
	NameMinLen = 2
	NameMaxLen = 100
)

// ValidateRoom checks a room (Agora channel) name: 1-64 of [A-Za-z0-9_-].
func ValidateRoom(room string) error {
	if len(room) < RoomMinLen || len(room) > RoomMaxLen {
		return Invalid("room_name", "Room name must be %d to %d characters.", RoomMinLen, RoomMaxLen)
	}
	for i := 0; i < len(room); i++ {
		if !isWordByte(room[i]) {
			return Invalid("room_name", "Room name may only contain letters, digits, '_' and '-'.")
		}
	}
	return nil
}

// NormalizeName collapses runs of whitespace to one space, trims the ends,
// puts the name in Unicode normal form C and checks it: 2 to 100 characters
// of letters and combining marks of any script, digits, spaces,
// apostrophes (' and ’), periods, hyphens and underscores, with at least one
// letter or digit. So "José Müller", "李雷", "O'Brien" and "Dr. Smith" are
// names; control characters, bidirectional overrides, invisible format
// characters (zero-width joiners, byte-order marks) and markup are not.
// ui/static/js/common.js applies the same rule in the lobby.
func NormalizeName(name string) (string, error) {
	if len(name) > 4*NameMaxLen { // refuse before allocating for absurd input
		return "", Invalid("name", "Name must be %d to %d characters.", NameMinLen, NameMaxLen)
	}
	if !utf8.ValidString(name) {
		return "", Invalid("name", nameCharsMessage)
	}
	name = norm.NFC.String(name)
	hasWord := false
	for _, r := range name {
		switch {
		case r < 128 && isSpace(byte(r)):
		case unicode.IsLetter(r) || unicode.Is(unicode.Nd, r):
			hasWord = true
		case unicode.IsMark(r), r == '\'', r == '\u2019', r == '.', r == '-', r == '_':
		default:
			return "", Invalid("name", nameCharsMessage)
		}
	}
	n := strings.Join(strings.FieldsFunc(name, func(r rune) bool { return r < 128 && isSpace(byte(r)) }), " ")
	if l := utf8.RuneCountInString(n); l < NameMinLen || l > NameMaxLen {
		return "", Invalid("name", "Name must be %d to %d characters.", NameMinLen, NameMaxLen)
	}
	if !hasWord {
		return "", Invalid("name", "Name must contain a letter or a digit.")
	}
	return n, nil
}

// nameCharsMessage says which characters a name may hold.
const nameCharsMessage = "Name may contain letters of any language, digits, spaces, apostrophes, periods, hyphens and underscores."

// ParseUID parses a uid given as a decimal string: an integer in [0, 2^32-1].
func ParseUID(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 10 {
		return 0, Invalid("UID", "UID must be an integer from 0 to 4294967295.")
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, Invalid("UID", "UID must be an integer from 0 to 4294967295.")
	}
	return uint32(n), nil
}

// UIDFromJSON checks a uid decoded from JSON (a number or a decimal string,
// as the seed's clients sent both) and returns it.
func UIDFromJSON(v any) (uint32, error) {
	switch x := v.(type) {
	case float64:
		if x < 0 || x > 4294967295 || x != float64(uint64(x)) {
			return 0, Invalid("UID", "UID must be an integer from 0 to 4294967295.")
		}
		return uint32(x), nil
	case string:
		return ParseUID(x)
	default:
		return 0, Invalid("UID", "UID must be an integer from 0 to 4294967295.")
	}
}

// ValidateOrgSlug checks an organization slug: 2-32 of [a-z0-9-], not
// starting or ending with '-'.
func ValidateOrgSlug(slug string) error {
	if len(slug) < 2 || len(slug) > 32 || slug[0] == '-' || slug[len(slug)-1] == '-' {
		return Invalid("org", "Organization must be 2 to 32 lowercase letters, digits or '-'.")
	}
	for i := 0; i < len(slug); i++ {
		c := slug[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return Invalid("org", "Organization must be 2 to 32 lowercase letters, digits or '-'.")
		}
	}
	return nil
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// isSpace matches the ASCII whitespace Python's \s matches in str patterns
// restricted to ASCII.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
