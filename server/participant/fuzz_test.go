package participant

import (
	"net/http/httptest"
	"roomhub/server/web"
	"strings"
	"testing"

	"roomhub"
)

// FuzzReadMember: any body gives a validated member or a 4xx error, never
// a panic, and an accepted member obeys the input rules.
func FuzzReadMember(f *testing.F) {
	for _, s := range []string{`{"name":"Ada","room_name":"r","UID":1}`, `{"UID":"7","room_name":"a-b"}`, `name=x&room_name=r&UID=1`, `{`, `[]`, `{"UID":1e40}`} {
		f.Add(s, "application/json")
		f.Add(s, "application/x-www-form-urlencoded")
	}
	f.Fuzz(func(t *testing.T, body, ct string) {
		r := httptest.NewRequest("POST", "/create_member/", strings.NewReader(body))
		r.Header.Set("Content-Type", ct)
		p, err := readMember(httptest.NewRecorder(), r, false)
		if err != nil {
			if s := web.Status(roomhub.ErrorCode(err)); s < 400 || s >= 500 {
				t.Fatalf("error %v maps to %d", err, s)
			}
			return
		}
		if len(p.room) < 1 || len(p.room) > 64 || (p.name != "" && (len(p.name) < 2 || len(p.name) > 100)) {
			t.Fatalf("accepted %+v from %q", p, body)
		}
	})
}
