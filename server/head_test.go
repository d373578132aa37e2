package server_test

import (
	"net/http"
	"testing"
)

// TestHeadOnPages: HEAD on a page answers as GET does, with no body (it
// was 405); a route that only takes POST still refuses it.
func TestHeadOnPages(t *testing.T) {
	a := newApp(t)
	u := a.browser("")
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/", http.StatusOK},
		{"/room/", http.StatusOK},
		{"/login", http.StatusOK},
		{"/healthz", http.StatusOK},
		{"/create_member/", http.StatusMethodNotAllowed},
	} {
		res, body := u.do("HEAD", tc.path, nil, map[string]string{"Accept": "text/html"})
		if res.StatusCode != tc.want || body != "" {
			t.Errorf("HEAD %s: %d with %d bytes, want %d and no body", tc.path, res.StatusCode, len(body), tc.want)
		}
	}
}
