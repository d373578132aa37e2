package video

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"testing"
)

// FuzzVerify: whatever the body and header, Verify accepts exactly the
// hex HMAC-SHA256 of the body under the secret.
func FuzzVerify(f *testing.F) {
	f.Add([]byte(`{"noticeId":"1"}`), "s3cret", "")
	f.Add([]byte{}, "", "00")
	f.Fuzz(func(t *testing.T, body []byte, secret, sig string) {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write(body)
		want := m.Sum(nil)
		got, err := hex.DecodeString(sig)
		correct := err == nil && hmac.Equal(got, want) && secret != ""
		if Verify(secret, body, sig) != correct {
			t.Fatalf("Verify(%q, %q, %q) != %v", secret, body, sig, correct)
		}
		if secret != "" && !Verify(secret, body, hex.EncodeToString(want)) {
			t.Fatal("the right signature was refused")
		}
	})
}

// FuzzPrefixed: a channel Roomhub names for an organization splits back
// into that organization and room.
func FuzzPrefixed(f *testing.F) {
	f.Add(int64(12), "standup")
	f.Fuzz(func(t *testing.T, id int64, rest string) {
		if id <= 0 {
			return
		}
		gotID, gotRest, ok := prefixed("o" + strconv.FormatInt(id, 10) + "-" + rest)
		if !ok || gotID != id || gotRest != rest {
			t.Fatalf("prefixed(o%d-%s) = %d %q %v", id, rest, gotID, gotRest, ok)
		}
	})
}
