package web

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// FuzzClientIP: whatever X-Forwarded-For says, an untrusted peer is the
// client, and behind a trusted proxy the answer is a valid address that is
// either the peer or one of the header's entries.
func FuzzClientIP(f *testing.F) {
	for _, s := range []string{"", "1.2.3.4", "1.2.3.4, 10.0.0.1", "garbage, ::1", " , ,", "2001:db8::1,127.0.0.1"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")}
	f.Fuzz(func(t *testing.T, xff string, fromProxy bool) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Forwarded-For", xff)
		r.RemoteAddr = "192.0.2.9:1234"
		if fromProxy {
			r.RemoteAddr = "127.0.0.1:1234"
		}
		ip, via := clientIP(r, trusted)
		if !ip.IsValid() {
			t.Fatalf("no address for %q", xff)
		}
		if !fromProxy && (via || ip != netip.MustParseAddr("192.0.2.9")) {
			t.Fatalf("untrusted peer believed X-Forwarded-For %q: %v", xff, ip)
		}
		if fromProxy && ip.String() != "127.0.0.1" && !strings.Contains(xff, ip.String()) && !strings.Contains(strings.ToLower(xff), ip.String()) {
			// Unmapped forms may differ textually; the address must parse from some entry.
			found := false
			for _, h := range strings.Split(xff, ",") {
				if a, err := netip.ParseAddr(strings.TrimSpace(h)); err == nil && a.Unmap() == ip {
					found = true
				}
			}
			if !found {
				t.Fatalf("client %v is neither the proxy nor in %q", ip, xff)
			}
		}
	})
}

// FuzzHostAllowed: only listed names (and subdomains of dotted entries)
// pass, whatever the port or case.
func FuzzHostAllowed(f *testing.F) {
	for _, s := range []string{"meet.example.com", "meet.example.com:443", "evil.com", "x.meet.example.com", "[::1]:80", "", ":80", "MEET.EXAMPLE.COM."} {
		f.Add(s)
	}
	allowed := []string{"meet.example.com", ".rooms.example.org"}
	f.Fuzz(func(t *testing.T, host string) {
		if !hostAllowed(host, allowed) {
			return
		}
		h := strings.ToLower(host)
		if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasPrefix(h, "[") {
			h = h[:i]
		}
		h = strings.TrimSuffix(h, ".")
		if h != "meet.example.com" && h != "rooms.example.org" && !strings.HasSuffix(h, ".rooms.example.org") {
			t.Fatalf("host %q allowed", host)
		}
	})
}
