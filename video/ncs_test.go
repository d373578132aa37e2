package video

import (
	"testing"

	"roomhub/video/agoratest"
)

func TestVerify(t *testing.T) {
	body := []byte(`{"noticeId":"1:2:107","eventType":107}`)
	v2, v1 := agoratest.Sign("s3cret", body)
	for _, tc := range []struct {
		name   string
		secret string
		body   []byte
		sig    string
		want   bool
	}{
		{"good", "s3cret", body, v2, true},
		{"upper-case hex", "s3cret", body, upper(v2), true},
		{"wrong secret", "guess", body, v2, false},
		{"empty secret", "", body, mustSign("", body), false},
		{"SHA-1 signature", "s3cret", body, v1, false},
		{"truncated", "s3cret", body, v2[:62], false},
		{"not hex", "s3cret", body, "zz" + v2[2:], false},
		{"none", "s3cret", body, "", false},
		{"other body", "s3cret", append(body, ' '), v2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Verify(tc.secret, tc.body, tc.sig); got != tc.want {
				t.Fatalf("Verify = %v, want %v", got, tc.want)
			}
		})
	}
}

func mustSign(secret string, body []byte) string { s, _ := agoratest.Sign(secret, body); return s }

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func TestPrefixed(t *testing.T) {
	for _, tc := range []struct {
		channel string
		id      int64
		rest    string
		ok      bool
	}{
		{"o12-standup", 12, "standup", true},
		{"o12-h" + "0123456789012345678901234567890123456789", 12, "h0123456789012345678901234567890123456789", true},
		{"standup", 0, "", false},
		{"o-standup", 0, "", false},
		{"o012-standup", 0, "", false}, // not how Roomhub spells 12
		{"o0-standup", 0, "", false},
		{"oops-standup", 0, "", false},
		{"o12", 0, "", false},
	} {
		t.Run(tc.channel, func(t *testing.T) {
			id, rest, ok := prefixed(tc.channel)
			if id != tc.id || rest != tc.rest || ok != tc.ok {
				t.Fatalf("prefixed = %d %q %v", id, rest, ok)
			}
		})
	}
}
