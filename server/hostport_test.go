package server_test

import (
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"roomhub"
	"roomhub/config"
)

// TestHostPortChecked: a listed name on a port the server is not reached
// on is refused like a foreign name; the real port, no port and a port
// listed explicitly pass.
func TestHostPortChecked(t *testing.T) {
	a := newApp(t, func(c *config.Config) {
		c.AllowedHosts = []string{"127.0.0.1", "meet.example.com", "alt.example.com:8443"}
	})
	_, realPort, _ := net.SplitHostPort(strings.TrimPrefix(a.srv.URL, "http://"))
	for _, tc := range []struct {
		host string
		want int
	}{
		{"127.0.0.1:" + realPort, 200},
		{"127.0.0.1", 200},
		{"meet.example.com", 200},
		{"meet.example.com:443", 200},
		{"127.0.0.1:1", 400},
		{"meet.example.com:1234", 400},
		{"alt.example.com:8443", 200},
		{"alt.example.com", 400},
		{"alt.example.com:9443", 400},
	} {
		t.Run(tc.host, func(t *testing.T) {
			req, _ := http.NewRequest("GET", a.srv.URL+"/healthz?x", nil)
			req.URL.Path = "/get_token/"
			req.URL.RawQuery = "channel=r"
			req.Host = tc.host
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("Host %s: %d, want %d", tc.host, res.StatusCode, tc.want)
			}
		})
	}
}

// TestLinksUsePublicURL: with PUBLIC_URL set, an invitation link made
// through another allowed name still points at PUBLIC_URL.
func TestLinksUsePublicURL(t *testing.T) {
	a := newApp(t, func(c *config.Config) { c.PublicURL = "https://meet.example.com" })
	acme := a.org("acme")
	owner := a.signedIn(acme, "ada@acme.example", roomhub.RoleOwner)
	owner.refreshCSRF("/dashboard/acme/users")
	res, body := owner.form("/dashboard/acme/invitations", url.Values{"email": {"new@acme.example"}, "role": {"viewer"}})
	wantStatus(t, res, body, 200)
	if !strings.Contains(body, "https://meet.example.com/invite/") || strings.Contains(body, a.srv.URL+"/invite/") {
		t.Fatalf("the invitation link is not built from PUBLIC_URL: %.2000s", body)
	}
}
