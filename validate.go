package roomhub

import (
	"strconv"
	"strings"
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
// and checks the result: 2-100 of [A-Za-z0-9_ -].
func NormalizeName(name string) (string, error) {
	if len(name) > 4*NameMaxLen { // refuse before allocating for absurd input
		return "", Invalid("name", "Name must be %d to %d characters.", NameMinLen, NameMaxLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isWordByte(c) && !isSpace(c) {
			return "", Invalid("name", "Name may only contain letters, digits, spaces, '_' and '-'.")
		}
	}
	norm := strings.Join(strings.FieldsFunc(name, func(r rune) bool { return r < 128 && isSpace(byte(r)) }), " ")
	if len(norm) < NameMinLen || len(norm) > NameMaxLen {
		return "", Invalid("name", "Name must be %d to %d characters.", NameMinLen, NameMaxLen)
	}
	return norm, nil
}

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
