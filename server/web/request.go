package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"roomhub"
)

// State is what the middleware learns about a request, kept in one context
// value rather than many.
type State struct {
	ID    string     // request id, returned in X-Request-ID and error bodies
	Nonce string     // CSP nonce
	IP    netip.Addr // client address, proxies resolved
	HTTPS bool       // the client connected over HTTPS (directly or via a trusted proxy)
	Org   roomhub.Org
	Base  string // URL prefix of the org's participant routes
	sess  *sessionState
	User  *SignIn // dashboard session, once loaded
	Dash  Dash    // organization and role of a dashboard request
	JSON  bool    // an API route: failures are JSON whatever Accept says
	// limitFailed: the rate-limit store failed and the request was answered
	// 503; the limiter then also calls its over-the-limit handler, which
	// must stay silent.
	limitFailed bool
}

// SignIn is the request's dashboard session and user, once loaded.
type SignIn struct {
	Sess roomhub.UserSession
	User roomhub.User
}

// Dash is the organization a dashboard request manages and the signed-in
// user's membership in it.
type Dash struct {
	Org roomhub.Org
	M   roomhub.Membership
}

type stateKey struct{}

// StateOf returns the request's state (an empty one outside the middleware).
func StateOf(r *http.Request) *State {
	if s, ok := r.Context().Value(stateKey{}).(*State); ok {
		return s
	}
	return &State{}
}

func withState(r *http.Request, s *State) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), stateKey{}, s))
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// clientIP resolves the client's address: the TCP peer, unless the peer is a
// trusted proxy, in which case X-Forwarded-For is walked from the right,
// skipping trusted proxies, and the first untrusted address is the client.
// Spoofed entries to the left of a trusted proxy's append are never reached.
func clientIP(r *http.Request, trusted []netip.Prefix) (ip netip.Addr, viaProxy bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	peer = peer.Unmap()
	if !isTrusted(peer, trusted) {
		return peer, false
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a garbled hop: stop at the last address we could trust
		}
		a = a.Unmap()
		if !isTrusted(a, trusted) {
			return a, true
		}
		peer = a
	}
	return peer, true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// hostAllowed matches a Host header against ALLOWED_HOSTS the way Django
// does: exact names, ".example.com" for a domain and its subdomains.
func hostAllowed(host string, allowed []string) bool {
	h := strings.ToLower(host)
	if strings.HasPrefix(h, "[") { // [::1]:8080
		if i := strings.Index(h, "]"); i > 0 {
			h = h[:i+1]
		}
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return false
	}
	for _, a := range allowed {
		a = strings.ToLower(a)
		switch {
		case a == "*":
			return true
		case strings.HasPrefix(a, "."):
			if h == a[1:] || strings.HasSuffix(h, a) {
				return true
			}
		case h == a:
			return true
		}
	}
	return false
}
