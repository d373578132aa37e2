// Package ui renders Roomhub's participant pages (lobby, room, error) from
// embedded html/template files and serves the embedded static assets.
//
// The pages work under a strict Content-Security-Policy: every <script> and
// <style> element carries the per-request nonce, all JavaScript lives in files
// under /static/js/, and no template uses inline event handlers or style
// attributes.
//
// Browser contract (what the scripts expect from the server):
//
//   - <meta name="csrf-token"> holds the CSRF token; fetches send it in the
//     X-CSRF-Token header, sendBeacon in the JSON body field "csrf_token".
//   - <meta name="roomhub-base"> holds the organization's URL prefix; every
//     link, fetch and WebSocket URL is built from it.
//   - The lobby stores the result of get_token in sessionStorage under the
//     keys "room", "name", "uid", "token", "app_id", "channel" and
//     "expires_at" (token, app_id and expires_at are absent when null); the
//     room page reads them and sends the visitor back to the lobby when they
//     are missing. A message for the lobby to show (e.g. why the visitor was
//     removed from a room) is stored under "notice".
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

// staticFS holds the files served under /static/. VERSIONS.md is not
// embedded: it documents the vendored files and is checked by the tests.
//
//go:embed static/css/*.css static/js/*.js static/vendor/*.js static/img/*.svg
var staticFS embed.FS

// Pages rendered by Render.
const (
	pageLobby = "lobby"
	pageRoom  = "room"
	pageError = "error"
)

// Dashboard and account pages.
const (
	PageLogin       = "login"
	PageTwoFactor   = "twofactor"
	PageEnrol       = "enrol"
	PageBackupCodes = "backupcodes"
	PageOrgs        = "orgs"
	PageSettings    = "settings"
	PageUsers       = "users"
	PageKeys        = "keys"
	PageAudit       = "audit"
	PageInvite      = "invite"
	PageReset       = "reset"
	PageLive        = "live"
	PageHistory     = "history"
	PageRoomAdmin   = "roomadmin"
	PageJoin        = "join"
	PageWebhooks    = "webhooks"
)

var pages = []string{pageLobby, pageRoom, pageError,
	PageLogin, PageTwoFactor, PageEnrol, PageBackupCodes, PageOrgs, PageSettings, PageUsers, PageKeys, PageAudit, PageInvite, PageReset,
	PageLive, PageHistory, PageRoomAdmin, PageJoin, PageWebhooks}

// defaultTitles are used when Page.Title is empty.
var defaultTitles = map[string]string{
	pageLobby: "Join a room",
	pageRoom:  "Room",
	pageError: "Error",

	PageLogin:       "Sign in",
	PageTwoFactor:   "Two-factor authentication",
	PageEnrol:       "Set up two-factor authentication",
	PageBackupCodes: "Backup codes",
	PageOrgs:        "Organizations",
	PageSettings:    "Settings",
	PageUsers:       "Users",
	PageKeys:        "API keys",
	PageAudit:       "Audit log",
	PageInvite:      "Accept invitation",
	PageReset:       "Choose a new password",
	PageLive:        "Live rooms",
	PageHistory:     "Room history",
	PageRoomAdmin:   "Room",
	PageJoin:        "Invitation",
	PageWebhooks:    "Webhooks",
}

// Page is the data every page is rendered with.
type Page struct {
	// Nonce is the CSP nonce of this response; every <script> and <style>
	// element carries it.
	Nonce string
	// CSRFToken is published as <meta name="csrf-token">.
	CSRFToken string
	// Base is the URL prefix of the organization: "" for the default
	// organization, "/o/acme" for others. It has no trailing slash.
	Base    string
	OrgName string
	// VideoConfigured reports whether the server can issue Agora tokens. When
	// false the room page says so and does not load the video SDK.
	VideoConfigured bool
	Title           string
	// Error is shown by the "error" page.
	Error *PageError

	// Dashboard pages. User is the signed-in user (nil on participant
	// pages); Org the organization being managed; Nav the current section.
	User  *DashUser
	Org   *DashOrg
	Nav   string
	Flash string // a one-line confirmation shown above the content
	// FormError is a problem with the submitted form, shown next to it.
	FormError string
	// Data is the page's own content; each template documents its type.
	Data any
	// Fragment renders only the page's "main" block, for an htmx request
	// that swaps the content area; the server decides (HX-Request).
	Fragment bool
}

// DashUser is the signed-in dashboard user.
type DashUser struct {
	ID    int64
	Email string
	Name  string
}

// DashOrg is the organization a dashboard page manages and the viewer's role.
type DashOrg struct {
	Slug, Name string
	Role       string
	CanManage  bool // owner or admin: action buttons are shown
	IsOwner    bool
}

// PageError describes the failure shown by the "error" page.
type PageError struct {
	Status    int
	Message   string // safe to show; a generic message is used when empty
	RequestID string
}

// UI holds the parsed templates and the static file index.
type UI struct {
	pages  map[string]*template.Template
	static map[string]staticFile
}

type staticFile struct {
	data         []byte
	etag         string
	contentType  string
	cacheControl string
}

// Cache lifetimes of static files. Their URLs carry no version, so app files
// are kept briefly; vendored files change only with an explicit upgrade.
// Every file has a strong ETag, so a revalidation costs a 304.
const (
	cacheApp    = "public, max-age=300"
	cacheVendor = "public, max-age=86400"
)

// contentTypes overrides the system MIME table, which varies between hosts.
var contentTypes = map[string]string{
	".css":   "text/css; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".ico":   "image/x-icon",
	".webp":  "image/webp",
	".woff2": "font/woff2",
	".txt":   "text/plain; charset=utf-8",
}

// New parses the embedded templates once and indexes the static files.
func New() (*UI, error) {
	u := &UI{
		pages:  make(map[string]*template.Template, len(pages)),
		static: make(map[string]staticFile),
	}
	funcs := template.FuncMap{
		"statusText":     statusText,
		"genericMessage": genericMessage,
		"when":           when,
		"dataURI":        dataURI,
	}
	for _, name := range pages {
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: parse %s: %w", name, err)
		}
		if t.Lookup("layout") == nil {
			return nil, fmt.Errorf("ui: %s: no layout template", name)
		}
		u.pages[name] = t
	}

	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("ui: static: %w", err)
	}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		f := staticFile{
			data:         data,
			etag:         `"` + hex.EncodeToString(sum[:16]) + `"`,
			contentType:  contentTypeOf(p, data),
			cacheControl: cacheApp,
		}
		if strings.HasPrefix(p, "vendor/") {
			f.cacheControl = cacheVendor
		}
		u.static[p] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ui: static: %w", err)
	}
	return u, nil
}

func contentTypeOf(name string, data []byte) string {
	ext := strings.ToLower(path.Ext(name))
	if ct, ok := contentTypes[ext]; ok {
		return ct
	}
	if ct := mime.TypeByExtension(ext); ct != "" {
		return ct
	}
	return http.DetectContentType(data)
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Partial executes one named template of a page (a room card, a list) into
// w, for updates pushed outside a page render.
func (u *UI) Partial(w io.Writer, page, name string, data any) error {
	t, ok := u.pages[page]
	if !ok || t.Lookup(name) == nil {
		return fmt.Errorf("ui: no template %q in page %q", name, page)
	}
	return t.ExecuteTemplate(w, name, data)
}

// Render writes the named page ("lobby", "room", "error") with data and the
// given status. The page is rendered into a buffer first, so a template error
// sends nothing and the caller can still write an error response.
//
// Render sets Content-Type and Content-Length, and Cache-Control: no-store
// unless the caller set a Cache-Control header (pages carry a CSRF token and
// a nonce). For the "error" page a nil data.Error, or one without a status,
// takes status.
func (u *UI) Render(w http.ResponseWriter, status int, page string, data Page) error {
	t, ok := u.pages[page]
	if !ok {
		return fmt.Errorf("ui: unknown page %q", page)
	}
	if status == 0 {
		status = http.StatusOK
	}
	if status < 100 || status > 999 {
		return fmt.Errorf("ui: invalid status %d", status)
	}
	if data.Title == "" {
		data.Title = defaultTitles[page]
	}
	if page == pageError {
		e := PageError{Status: status}
		if data.Error != nil {
			e = *data.Error // a copy: the caller's value is not modified
			if e.Status == 0 {
				e.Status = status
			}
		}
		data.Error = &e
	}

	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 {
			bufPool.Put(buf)
		}
	}()
	block := "layout"
	if data.Fragment {
		block = "body"
	}
	if err := t.ExecuteTemplate(buf, block, data); err != nil {
		return fmt.Errorf("ui: render %s: %w", page, err)
	}

	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	if h.Get("Cache-Control") == "" {
		h.Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// Static serves the embedded static files. Mount it at "/static/", with or
// without stripping the prefix: "/static/js/room.js" and "/js/room.js" both
// name static/js/room.js. It answers GET and HEAD only, never lists a
// directory, and sets Content-Type, Cache-Control, ETag and
// X-Content-Type-Options.
func (u *UI) Static() http.Handler {
	return http.HandlerFunc(u.serveStatic)
}

func (u *UI) serveStatic(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
		return
	}
	f, ok := u.static[staticName(r.URL.Path)]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", f.cacheControl)
	h.Set("ETag", f.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.data))
}

// staticName maps a request path to a key of UI.static; "" for paths that
// cannot name a file.
func staticName(p string) string {
	if strings.HasPrefix(p, "/static/") {
		p = p[len("/static/"):]
	} else {
		p = strings.TrimPrefix(p, "/")
	}
	if p == "" || strings.HasSuffix(p, "/") || !fs.ValidPath(p) {
		return ""
	}
	return p
}

// when formats a time for tables: UTC, to the minute; "never" for zero.
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// dataURI embeds a PNG (the TOTP QR code) in an <img>; the CSP allows data:
// images only.
func dataURI(png []byte) template.URL {
	return template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png))
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Error"
}

// genericMessage is the message the error page shows when the handler gave
// none: plain words, no internals.
func genericMessage(code int) string {
	switch {
	case code == http.StatusBadRequest:
		return "The request could not be understood. Please check the address and try again."
	case code == http.StatusUnauthorized:
		return "You need to sign in to see this page."
	case code == http.StatusForbidden:
		return "You do not have permission to see this page."
	case code == http.StatusNotFound:
		return "We could not find the page you were looking for."
	case code == http.StatusMethodNotAllowed:
		return "This page cannot be used that way."
	case code == http.StatusTooManyRequests:
		return "Too many requests. Please wait a moment and try again."
	case code == http.StatusServiceUnavailable:
		return "Roomhub is temporarily unavailable. Please try again in a moment."
	case code >= 500:
		return "Something went wrong on our side. Please try again in a moment."
	case code >= 400:
		return "The request could not be completed."
	default:
		return "Something unexpected happened."
	}
}
