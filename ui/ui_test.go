package ui

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"regexp"
	"strings"
	"testing"
)

func newUI(t *testing.T) *UI {
	t.Helper()
	u, err := New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return u
}

func render(t *testing.T, u *UI, status int, page string, data Page) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	if err := u.Render(rec, status, page, data); err != nil {
		t.Fatalf("Render(%q): %v", page, err)
	}
	return rec
}

func basePage() Page {
	return Page{
		Nonce:     "n0nce123",
		CSRFToken: "tok-abc",
		Base:      "/o/acme",
		OrgName:   "Acme",
	}
}

func TestRenderPages(t *testing.T) {
	u := newUI(t)
	common := []string{
		"<!doctype html>",
		`<html lang="en">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1">`,
		`<meta name="csrf-token" content="tok-abc">`,
		`<meta name="roomhub-base" content="/o/acme">`,
		`<link rel="stylesheet" href="/static/css/roomhub.css">`,
		`<link rel="icon" href="/static/img/favicon.svg" type="image/svg+xml">`,
		`<script src="/static/vendor/htmx.min.js" nonce="n0nce123"`,
		`<script src="/static/js/csrf.js" nonce="n0nce123"`,
		`href="/o/acme/"`,
	}
	tests := []struct {
		name   string
		page   string
		status int
		data   func(Page) Page
		want   []string
		absent []string
	}{
		{
			name: "lobby", page: "lobby", status: http.StatusOK,
			want: []string{`id="join-form"`, `id="room"`, `id="name"`, `id="room-error"`, `id="name-error"`,
				`<script src="/static/js/lobby.js" nonce="n0nce123"`, "<title>Join a room · Acme · Roomhub</title>"},
		},
		{
			name: "room with video", page: "room", status: http.StatusOK,
			data: func(p Page) Page { p.VideoConfigured = true; return p },
			want: []string{`<ul id="roster"`, `id="chat-log"`, `id="chat-input"`, `id="chat-send"`,
				`id="raise-hand"`, `id="leave"`, `id="video-status"`, `id="local-video"`, `id="remote-videos"`,
				`id="conn-status"`, `<meta name="roomhub-video" content="on">`,
				`<script src="/static/vendor/AgoraRTC_N-production.js" nonce="n0nce123"`,
				`<script src="/static/js/room.js" nonce="n0nce123"`},
			absent: []string{"Video is not configured"},
		},
		{
			name: "room without video", page: "room", status: http.StatusOK,
			want: []string{"Video is not configured on this server; presence and chat still work.",
				`<meta name="roomhub-video" content="off">`, `<script src="/static/js/room.js" nonce="n0nce123"`},
			absent: []string{"AgoraRTC"},
		},
		{
			name: "error with message", page: "error", status: http.StatusNotFound,
			data: func(p Page) Page {
				p.Error = &PageError{Status: 404, Message: "No such room.", RequestID: "req-42"}
				return p
			},
			want: []string{"Error 404", "Not Found", "No such room.", "req-42", "Quote this id if you contact support."},
		},
		{
			name: "error without message", page: "error", status: http.StatusInternalServerError,
			data: func(p Page) Page { p.Error = &PageError{RequestID: "req-7"}; return p },
			want: []string{"Error 500", "Something went wrong on our side.", "req-7"},
		},
		{
			name: "error with nil Error", page: "error", status: http.StatusServiceUnavailable,
			want:   []string{"Error 503", "Service Unavailable", "temporarily unavailable"},
			absent: []string{"Request id"},
		},
		{
			name: "default org", page: "lobby", status: http.StatusOK,
			data: func(p Page) Page { p.Base = ""; p.OrgName = ""; return p },
			want: []string{`<meta name="roomhub-base" content="">`, `class="brand" href="/"`, "<title>Join a room · Roomhub</title>"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := basePage()
			if tt.data != nil {
				data = tt.data(data)
			}
			rec := render(t, u, tt.status, tt.page, data)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", cc)
			}
			body := rec.Body.String()
			want := tt.want
			if !(tt.name == "default org") {
				want = append(append([]string{}, common...), want...)
			}
			for _, s := range want {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q", s)
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(body, s) {
					t.Errorf("body contains %q", s)
				}
			}
		})
	}
}

func TestRenderEscapesUserValues(t *testing.T) {
	u := newUI(t)
	const evil = `<script>alert(1)</script>`
	tests := []struct {
		name string
		page string
		data Page
		raw  []string // must not appear verbatim
		want []string // escaped forms that must appear
	}{
		{
			name: "org name", page: "lobby",
			data: Page{Nonce: "n", OrgName: evil},
			raw:  []string{evil},
			want: []string{"&lt;script&gt;alert(1)&lt;/script&gt;"},
		},
		{
			name: "error message and request id", page: "error",
			data: Page{Nonce: "n", Error: &PageError{Status: 400, Message: `<img src=x onerror="alert(1)">`, RequestID: evil}},
			raw:  []string{`<img src=x`, evil},
			want: []string{"&lt;img src=x onerror=&#34;alert(1)&#34;&gt;", "&lt;script&gt;"},
		},
		{
			name: "csrf token", page: "room",
			data: Page{Nonce: "n", CSRFToken: `"><script>alert(1)</script>`},
			raw:  []string{`"><script>alert(1)`},
			want: []string{`content="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`},
		},
		{
			name: "nonce", page: "lobby",
			data: Page{Nonce: `"><script>x()</script>`},
			raw:  []string{`"><script>x()`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := render(t, u, http.StatusOK, tt.page, tt.data).Body.String()
			for _, s := range tt.raw {
				if strings.Contains(body, s) {
					t.Errorf("unescaped %q in output", s)
				}
			}
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("output lacks escaped %q", s)
				}
			}
		})
	}
}

var (
	tagRE      = regexp.MustCompile(`(?is)<(script|style)\b([^>]*)>(.*?)</(?:script|style)\s*>`)
	handlerRE  = regexp.MustCompile(`(?i)<[^>]*\son[a-z]+\s*=`)
	styleRE    = regexp.MustCompile(`(?i)<[^>]*\sstyle\s*=`)
	scriptSrcs = regexp.MustCompile(`(?i)<script\b[^>]*\ssrc="([^"]+)"`)
)

func TestCSPCompliance(t *testing.T) {
	u := newUI(t)
	const nonce = "Zm9vYmFyYmF6"

	t.Run("templates have no inline handlers or style attributes", func(t *testing.T) {
		err := fs.WalkDir(templateFS, "templates", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := fs.ReadFile(templateFS, p)
			if err != nil {
				return err
			}
			if m := handlerRE.Find(b); m != nil {
				t.Errorf("%s: inline event handler: %s", p, m)
			}
			if m := styleRE.Find(b); m != nil {
				t.Errorf("%s: style attribute: %s", p, m)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})

	for _, page := range []string{"lobby", "room", "error"} {
		for _, video := range []bool{false, true} {
			name := page
			if video {
				name += " video"
			}
			t.Run(name, func(t *testing.T) {
				body := render(t, u, http.StatusOK, page, Page{Nonce: nonce, VideoConfigured: video}).Body.String()
				tags := tagRE.FindAllStringSubmatch(body, -1)
				if len(tags) == 0 {
					t.Fatal("no <script> tags found")
				}
				if got := strings.Count(strings.ToLower(body), "<script"); got != len(tags) {
					t.Fatalf("found %d <script but parsed %d tags", got, len(tags))
				}
				for _, m := range tags {
					attrs, content := m[2], m[3]
					if !strings.Contains(attrs, `nonce="`+nonce+`"`) {
						t.Errorf("<%s%s> lacks the nonce", m[1], attrs)
					}
					if strings.EqualFold(m[1], "script") {
						if !strings.Contains(attrs, `src="/static/`) {
							t.Errorf("<script%s> is not a /static/ file", attrs)
						}
						if strings.TrimSpace(content) != "" {
							t.Errorf("inline script body: %q", content)
						}
					}
				}
				if m := handlerRE.FindString(body); m != "" {
					t.Errorf("inline event handler in output: %s", m)
				}
				if m := styleRE.FindString(body); m != "" {
					t.Errorf("style attribute in output: %s", m)
				}
				// Every referenced script is served.
				for _, m := range scriptSrcs.FindAllStringSubmatch(body, -1) {
					if _, ok := u.static[staticName(m[1])]; !ok {
						t.Errorf("script %s is not an embedded static file", m[1])
					}
				}
			})
		}
	}
}

func TestRenderErrors(t *testing.T) {
	u := newUI(t)
	// A template that writes part of the page before failing.
	broken := template.Must(template.New("broken").Parse(`{{define "layout"}}<p>half a page{{.Error.Status}}</p>{{end}}`))
	u.pages["broken"] = broken

	tests := []struct {
		name   string
		page   string
		status int
	}{
		{"unknown page", "nope", http.StatusOK},
		{"template error", "broken", http.StatusOK},
		{"bad status", "lobby", 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := u.Render(rec, tt.status, tt.page, Page{}); err == nil {
				t.Fatal("Render succeeded, want an error")
			}
			if rec.Body.Len() != 0 || len(rec.Header()) != 0 {
				t.Errorf("Render wrote a response: headers %v body %q", rec.Header(), rec.Body.String())
			}
		})
	}

	t.Run("caller's error is not modified", func(t *testing.T) {
		e := &PageError{Message: "x"}
		render(t, u, http.StatusTeapot, "error", Page{Error: e})
		if e.Status != 0 {
			t.Errorf("Render set the caller's Status to %d", e.Status)
		}
	})

	t.Run("caller's Cache-Control is kept", func(t *testing.T) {
		rec := httptest.NewRecorder()
		rec.Header().Set("Cache-Control", "private, max-age=10")
		if err := u.Render(rec, http.StatusOK, "lobby", Page{}); err != nil {
			t.Fatal(err)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "private, max-age=10" {
			t.Errorf("Cache-Control = %q", cc)
		}
	})
}

func TestStatic(t *testing.T) {
	u := newUI(t)
	h := u.Static()
	tests := []struct {
		name   string
		method string
		path   string
		status int
		ctype  string // prefix
	}{
		{"room.js", "GET", "/static/js/room.js", 200, "text/javascript"},
		{"lobby.js", "GET", "/static/js/lobby.js", 200, "text/javascript"},
		{"csrf.js", "GET", "/static/js/csrf.js", 200, "text/javascript"},
		{"stylesheet", "GET", "/static/css/roomhub.css", 200, "text/css"},
		{"htmx", "GET", "/static/vendor/htmx.min.js", 200, "text/javascript"},
		{"agora", "HEAD", "/static/vendor/AgoraRTC_N-production.js", 200, "text/javascript"},
		{"prefix stripped", "GET", "/js/room.js", 200, "text/javascript"},
		{"missing file", "GET", "/static/js/missing.js", 404, ""},
		{"directory", "GET", "/static/js/", 404, ""},
		{"directory without slash", "GET", "/static/js", 404, ""},
		{"root", "GET", "/static/", 404, ""},
		{"vendor directory", "GET", "/static/vendor/", 404, ""},
		{"versions file not served", "GET", "/static/vendor/VERSIONS.md", 404, ""},
		{"traversal", "GET", "/static/../ui.go", 404, ""},
		{"encoded traversal", "GET", "/static/js/..%2f..%2fui.go", 404, ""},
		{"template not served", "GET", "/static/templates/layout.html", 404, ""},
		{"post", "POST", "/static/js/room.js", 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "http://example.test/", nil)
			req.URL.Path = tt.path
			req.URL.RawPath = ""
			if strings.Contains(tt.path, "%") {
				req = httptest.NewRequest(tt.method, "http://example.test"+tt.path, nil)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d", rec.Code, tt.status)
			}
			body := rec.Body.String()
			if tt.status != 200 {
				if strings.Contains(body, "<a href") || strings.Contains(body, "room.js") {
					t.Errorf("response looks like a listing: %q", body)
				}
				return
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.ctype) {
				t.Errorf("Content-Type = %q, want %s", ct, tt.ctype)
			}
			if rec.Header().Get("Cache-Control") == "" || rec.Header().Get("ETag") == "" {
				t.Errorf("missing caching headers: %v", rec.Header())
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Error("missing X-Content-Type-Options: nosniff")
			}
			if tt.method == "GET" && rec.Body.Len() == 0 {
				t.Error("empty body")
			}
		})
	}

	t.Run("If-None-Match gives 304", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/static/js/room.js", nil))
		etag := rec.Header().Get("ETag")
		req := httptest.NewRequest("GET", "/static/js/room.js", nil)
		req.Header.Set("If-None-Match", etag)
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified {
			t.Errorf("status = %d, want 304", rec.Code)
		}
	})

	t.Run("mounted on a mux", func(t *testing.T) {
		mux := http.NewServeMux()
		mux.Handle("/static/", u.Static())
		srv := httptest.NewServer(mux)
		defer srv.Close()
		for path, want := range map[string]int{"/static/js/room.js": 200, "/static/js/": 404, "/static/nope.js": 404} {
			res, err := srv.Client().Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != want {
				t.Errorf("GET %s = %d, want %d", path, res.StatusCode, want)
			}
		}
	})
}

// TestVendoredChecksums fails when a vendored file differs from the sha256
// recorded in static/vendor/VERSIONS.md by vendor.sh, or is not listed.
func TestVendoredChecksums(t *testing.T) {
	f, err := os.Open("static/vendor/VERSIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	type row struct{ pkg, version, file, sha, integrity string }
	var rows []row
	hexRE := regexp.MustCompile(`^[0-9a-f]{64}$`)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) < 5 || !hexRE.MatchString(cells[3]) {
			continue // header or separator
		}
		rows = append(rows, row{cells[0], cells[1], cells[2], cells[3], cells[4]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}

	wantPkgs := map[string]string{"htmx.org": "2.0.11", "agora-rtc-sdk-ng": "4.24.8"}
	listed := map[string]bool{}
	for _, r := range rows {
		t.Run(r.file, func(t *testing.T) {
			if v, ok := wantPkgs[r.pkg]; ok {
				if r.version != v {
					t.Errorf("%s version %s, want %s", r.pkg, r.version, v)
				}
				delete(wantPkgs, r.pkg)
			}
			if !strings.HasPrefix(r.integrity, "sha512-") {
				t.Errorf("integrity %q is not an npm sha512 integrity string", r.integrity)
			}
			if r.file != path.Base(r.file) {
				t.Fatalf("file %q must be a plain name", r.file)
			}
			listed[r.file] = true
			disk, err := os.ReadFile("static/vendor/" + r.file)
			if err != nil {
				t.Fatal(err)
			}
			if got := sha256Hex(disk); got != r.sha {
				t.Errorf("static/vendor/%s: sha256 %s, VERSIONS.md says %s", r.file, got, r.sha)
			}
			embedded, err := staticFS.ReadFile("static/vendor/" + r.file)
			if err != nil {
				t.Fatal(err)
			}
			if got := sha256Hex(embedded); got != r.sha {
				t.Errorf("embedded %s: sha256 %s, VERSIONS.md says %s", r.file, got, r.sha)
			}
		})
	}
	for pkg := range wantPkgs {
		t.Errorf("VERSIONS.md does not list %s", pkg)
	}

	entries, err := os.ReadDir("static/vendor")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".js") && !listed[e.Name()] {
			t.Errorf("static/vendor/%s is not listed in VERSIONS.md", e.Name())
		}
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestFaviconServed: every page names an icon the server has, so no first
// visit ends in a 404 for /favicon.ico.
func TestFaviconServed(t *testing.T) {
	u := newUI(t)
	rec := httptest.NewRecorder()
	u.Static().ServeHTTP(rec, httptest.NewRequest("GET", "/static/img/favicon.svg", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/svg+xml" || !strings.Contains(rec.Body.String(), "<svg") {
		t.Fatalf("favicon: %d %q %.60q", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
}
