package roomhub

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// TestAuditBoundsSettable: the bounds of the request-chosen fields follow
// the settings, fall back to the defaults, and never split a character.
func TestAuditBoundsSettable(t *testing.T) {
	e := AuditEntry{UserAgent: strings.Repeat("é", 5000), Path: "/x/" + strings.Repeat("p", 5000), Description: strings.Repeat("d", 5000)}
	for _, tc := range []struct {
		name          string
		b             AuditBounds
		ua, path, des int
	}{
		{"defaults", AuditBounds{}, MaxAuditUserAgent, MaxAuditPath, MaxAuditDescription},
		{"settings", AuditBounds{UserAgent: 40, Path: 30, Description: 20}, 40, 30, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := e.BoundedBy(tc.b)
			for _, f := range []struct {
				v   string
				max int
			}{{got.UserAgent, tc.ua}, {got.Path, tc.path}, {got.Description, tc.des}} {
				if len(f.v) > f.max || len(f.v) < f.max-4 || !utf8.ValidString(f.v) || !strings.HasSuffix(f.v, "…") {
					t.Errorf("kept %d bytes (%q...), want at most %d, cut visibly", len(f.v), f.v[:8], f.max)
				}
			}
		})
	}
}
