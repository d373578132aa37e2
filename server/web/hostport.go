package web

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// hostOK checks the request's Host header with its port: the name must be
// in ALLOWED_HOSTS (hostAllowed) and the port must be one this server is
// really reached on. An entry of ALLOWED_HOSTS with a port
// ("meet.example.com:8443") admits exactly that host and port; one
// without admits no port, 80, 443, the port of PUBLIC_URL and the port the
// connection came in on. Without it, Host: meet.example.com:1234 passed
// and, when PUBLIC_URL is unset, ended up in links.
func (s *Kit) hostOK(r *http.Request) bool {
	host := strings.ToLower(r.Host)
	for _, a := range s.cfg.AllowedHosts {
		if _, p, err := net.SplitHostPort(a); err == nil && p != "" && strings.EqualFold(strings.TrimSuffix(host, "."), a) {
			return true
		}
	}
	if !hostAllowed(r.Host, s.cfg.AllowedHosts) {
		return false
	}
	_, port, err := net.SplitHostPort(host)
	if err != nil {
		return !strings.Contains(strings.TrimPrefix(host, "["), "]:") // no port at all
	}
	switch port {
	case "", "80", "443":
		return true
	}
	if u, err := url.Parse(s.cfg.PublicURL); err == nil && u.Port() == port {
		return true
	}
	if la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, lp, err := net.SplitHostPort(la.String()); err == nil && lp == port {
			return true
		}
	}
	return false
}
