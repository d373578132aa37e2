package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"roomhub"
)

// MaxBodyBytes bounds every request body; participant requests are tiny.
const MaxBodyBytes = 16 << 10

// Begin creates the request's state (id, nonce, client address, scheme),
// logs the request when it ends, and turns a panic into a generic 500.
func (s *Kit) Begin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ip, viaProxy := clientIP(r, s.cfg.TrustedProxies)
		st := &State{ID: randomHex(8), Nonce: randomHex(16), IP: ip, HTTPS: r.TLS != nil}
		if viaProxy {
			st.HTTPS = strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
		}
		r = withState(r, st)
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		ww.Header().Set("X-Request-ID", st.ID)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic", "request_id", st.ID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				if ww.Status() == 0 {
					s.Fail(ww, r, errors.New("panic"))
				}
			}
			route := chi.RouteContext(r.Context())
			pattern := ""
			if route != nil {
				pattern = route.RoutePattern()
			}
			s.obs.Request(pattern, r.Method, ww.Status(), time.Since(start))
			s.log.Info("request", "request_id", st.ID, "method", r.Method, "path", r.URL.Path, "route", pattern,
				"status", ww.Status(), "bytes", ww.BytesWritten(), "duration_ms", time.Since(start).Milliseconds(), "ip", st.IP.String())
		}()
		next.ServeHTTP(ww, r)
	})
}

// probe reports whether a path is a health probe: probes come from load
// balancers by IP address and over plain HTTP, so they skip the host check
// and the HTTPS redirect.
func probe(r *http.Request) bool { return r.URL.Path == "/healthz" || r.URL.Path == "/readyz" }

// CheckHost refuses Host headers outside ALLOWED_HOSTS (DNS rebinding,
// poisoned absolute URLs).
func (s *Kit) CheckHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !probe(r) && !s.hostOK(r) {
			s.Security(r, "disallowed_host", "host", r.Host)
			s.Fail(w, r, roomhub.Errorf(roomhub.EINVALID, "Invalid Host header."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RedirectHTTPS sends plain-HTTP requests to HTTPS when SECURE_SSL_REDIRECT
// is on; behind a trusted proxy X-Forwarded-Proto tells the scheme.
func (s *Kit) RedirectHTTPS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.SecureSSLRedirect && !StateOf(r).HTTPS && !probe(r) {
			u := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawQuery: r.URL.RawQuery}
			http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// agoraOrigins are the hosts the Agora Web SDK talks to.
const agoraOrigins = "https://*.agora.io wss://*.agora.io https://*.sd-rtn.com wss://*.sd-rtn.com"

// Headers sets the security headers every response carries. The CSP has a
// fresh nonce per request; pages put it on their script and style tags.
func (s *Kit) Headers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := StateOf(r)
		h := w.Header()
		n := "'nonce-" + st.Nonce + "'"
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self' "+n+"; style-src 'self' "+n+
			"; img-src 'self' data: blob:; media-src 'self' blob:; font-src 'self'; worker-src 'self' blob:"+
			"; connect-src 'self' "+agoraOrigins+
			"; frame-ancestors 'none'; object-src 'none'; base-uri 'self'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		// The legacy XSS auditor is gone from browsers and "1; mode=block"
		// enabled cross-site leaks where it lingered: disable it; the CSP
		// above is the protection.
		h.Set("X-XSS-Protection", "0")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), display-capture=(), geolocation=(), payment=(), usb=(), interest-cohort=()")
		if st.HTTPS && s.cfg.HSTSSeconds > 0 {
			h.Set("Strict-Transport-Security", "max-age="+strconv.Itoa(s.cfg.HSTSSeconds)+"; includeSubDomains; preload")
		}
		next.ServeHTTP(w, r)
	})
}

// CORS answers cross-origin requests only for CORS_ALLOWED_ORIGINS, with
// credentials; other origins get no CORS headers and their preflights fail.
func (s *Kit) CORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		allowed := false
		for _, o := range s.cfg.CORSOrigins {
			if strings.EqualFold(o, origin) {
				allowed = true
			}
		}
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if allowed {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			if preflight {
				w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
				w.Header().Set("Access-Control-Allow-Headers", "Content-Type, X-CSRF-Token")
				w.Header().Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		} else if preflight {
			s.Security(r, "cors_refused", "origin", origin)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// CSRF guards every state-changing request twice: the browser's own
// Sec-Fetch-Site / Origin must say same origin (or a CORS-allowed one), and
// the session's CSRF token must come back, in the X-CSRF-Token header or,
// for navigator.sendBeacon (which cannot set headers), a csrf_token field of
// the body.
func (s *Kit) CSRF(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			next.ServeHTTP(w, r)
			return
		}
		if err := s.cop.Check(r); err != nil {
			s.csrfFailure(w, r, "cross-origin request")
			return
		}
		sent := r.Header.Get("X-CSRF-Token")
		if sent == "" {
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
			if err != nil {
				s.Fail(w, r, roomhub.Errorf(roomhub.EINVALID, "Request body is too large (at most %d bytes).", MaxBodyBytes))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			sent = bodyCSRF(r.Header.Get("Content-Type"), body)
		}
		if !s.csrfValid(r, sent) {
			s.csrfFailure(w, r, "missing or wrong CSRF token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func bodyCSRF(contentType string, body []byte) string {
	if strings.HasPrefix(contentType, "application/x-www-form-urlencoded") {
		v, _ := url.ParseQuery(string(body))
		return v.Get("csrf_token")
	}
	var f struct {
		Token string `json:"csrf_token"`
	}
	json.Unmarshal(body, &f)
	return f.Token
}

// csrfFailure is the custom CSRF failure response: logged as a security
// event, answered with a 403 that says what to do.
func (s *Kit) csrfFailure(w http.ResponseWriter, r *http.Request, why string) {
	s.obs.CSRFFailure()
	s.Security(r, "csrf_failure", "reason", why, "origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
	s.Fail(w, r, roomhub.Errorf(roomhub.EFORBIDDEN, "Security check failed (CSRF). Reload the page and try again."))
}

// Security logs a security event with the request's context.
func (s *Kit) Security(r *http.Request, event string, attrs ...any) {
	st := StateOf(r)
	base := []any{"security", true, "event", event, "request_id", st.ID, "ip", st.IP.String(),
		"method", r.Method, "path", r.URL.Path, "user_agent", r.UserAgent()}
	s.log.Warn("security event", append(base, attrs...)...)
}
