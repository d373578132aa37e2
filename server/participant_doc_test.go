package server_test

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"roomhub/server"
	"roomhub/server/web"
)

// TestAPIDocument holds docs/api.md to the router: every route the server
// serves is documented as "`METHOD /path`", and the rate-limit table states
// the limits the code enforces.
func TestAPIDocument(t *testing.T) {
	b, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	a := newApp(t)
	s := a.srv.Config.Handler.(*server.Server)
	routes := 0
	err = chi.Walk(s.Router(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.TrimPrefix(strings.ReplaceAll(route, "/*", ""), "/o/{org}")
		if route == "" {
			route = "/"
		}
		if strings.HasPrefix(route, "/static") {
			return nil // assets, not API
		}
		routes++
		if want := fmt.Sprintf("`%s %s", method, route); !strings.Contains(doc, want) {
			t.Errorf("route %s %s is not documented (looked for %q)", method, route, want)
		}
		return nil
	})
	if err != nil || routes < 9 {
		t.Fatalf("walked %d routes: %v", routes, err)
	}
	for route, l := range map[string]web.Limit{
		"GET /get_token/": web.LimitGetToken, "POST /create_member/": web.LimitCreateMember,
		"GET /get_member/": web.LimitGetMember, "POST /delete_member/": web.LimitDeleteMember,
		"GET /ws/{room}": web.LimitWebSocket,
	} {
		if want := fmt.Sprintf("| `%s` | %d per minute |", route, l.Requests); !strings.Contains(doc, want) {
			t.Errorf("rate limit row %q missing", want)
		}
	}
	for row, l := range map[string]web.Limit{
		"| `POST /login` (and the 2FA and SSO steps) |":          web.LimitLogin,
		"| invitation and password-reset links (`POST`) |":       web.LimitPasswordReset,
		"| API key creation and revocation, per user |":          web.LimitKeyOps,
		"| server API, per key |":                                web.LimitAPIKey,
		"| server API without a valid key, per IP |":             web.LimitAPIAnonymous,
		"| room invite links (`GET` and `POST /join/{token}`) |": web.LimitRoomInvite,
	} {
		if want := fmt.Sprintf("%s %d per hour |", row, l.Requests); !strings.Contains(doc, want) || l.Window != time.Hour {
			t.Errorf("rate limit row %q missing", want)
		}
	}
	for _, want := range []string{
		fmt.Sprintf("| 413 | a body over %d KiB", web.DefaultMaxBodyBytes>>10),
		fmt.Sprintf("`BODY_READ_TIMEOUT` (%d s)", int(web.DefaultBodyReadTimeout/time.Second)),
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("api.md does not say %q", want)
		}
	}
}
