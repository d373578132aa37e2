package webhook_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"roomhub"
	"roomhub/webhook"
)

// fakeDNS answers names from a table, like a resolver an attacker controls.
type fakeDNS map[string][]string

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, s := range f[host] {
		out = append(out, netip.MustParseAddr(s))
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

var dns = fakeDNS{
	"hooks.example.com":     {"93.184.216.34"},
	"internal.example.com":  {"10.0.0.5"},
	"metadata.example.com":  {"169.254.169.254"},
	"mixed.example.com":     {"93.184.216.34", "192.168.1.1"},
	"v6local.example.com":   {"fd00::1"},
	"rebinder.example.com":  {"127.0.0.1"},
	"cgnat.example.com":     {"100.64.0.1"},
	"loopback6.example.com": {"::1"},
}

func TestCheckIP(t *testing.T) {
	var p webhook.Policy
	for _, s := range []string{
		"127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.0.1", "169.254.169.254",
		"100.64.0.1", "100.127.255.255", "0.0.0.0", "0.1.2.3", "224.0.0.1", "239.255.255.250", "255.255.255.255", "240.0.0.1",
		"198.18.0.1", "192.0.0.8",
		"::", "::1", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1", "ff02::1", "fec0::1",
		"::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.1",
		"64:ff9b::7f00:1", "64:ff9b::a00:1", "2002:7f00:1::", "2002:a9fe:a9fe::1",
	} {
		if err := p.CheckIP(netip.MustParseAddr(s)); !errors.Is(err, webhook.ErrRefusedAddress) {
			t.Errorf("%s allowed: %v", s, err)
		}
	}
	for _, s := range []string{"93.184.216.34", "8.8.8.8", "1.1.1.1", "100.128.0.1", "172.32.0.1", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::"} {
		if err := p.CheckIP(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s refused: %v", s, err)
		}
	}
	allow := webhook.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16")}}
	for _, s := range []string{"127.0.0.1", "::ffff:127.0.0.1", "10.1.2.3"} {
		if err := allow.CheckIP(netip.MustParseAddr(s)); err != nil {
			t.Errorf("%s refused despite the allow-list: %v", s, err)
		}
	}
	if err := allow.CheckIP(netip.MustParseAddr("10.2.0.1")); err == nil {
		t.Error("10.2.0.1 is outside the allow-list")
	}
}

func TestCheckURLRefuses(t *testing.T) {
	p := webhook.Policy{Resolver: dns}
	for _, raw := range []string{
		"https://127.0.0.1/hook",
		"https://127.0.0.1:8443/hook",
		"https://10.1.2.3/hook",
		"https://169.254.169.254/latest/meta-data/",
		"https://[::1]/hook",
		"https://[::1]:443/hook",
		"https://0.0.0.0/hook",
		"https://[::ffff:127.0.0.1]/hook",
		"https://[fe80::1%25eth0]/hook",
		"https://100.64.0.1/",
		"https://255.255.255.255/",
		"https://internal.example.com/hook",
		"https://metadata.example.com/hook",
		"https://mixed.example.com/hook", // one bad address is enough
		"https://v6local.example.com/hook",
		"https://rebinder.example.com/hook",
		"https://cgnat.example.com/hook",
		"https://loopback6.example.com/hook",
		"https://nxdomain.example.com/hook",
		"http://hooks.example.com/hook", // plain http to the internet
		"ftp://hooks.example.com/hook",
		"gopher://hooks.example.com/hook",
		"file:///etc/passwd",
		"https://user:pass@hooks.example.com/hook",
		"https://user@hooks.example.com/hook",
		"https://hooks.example.com/hook#frag",
		"https://hooks.example.com/ho ok",
		"https://hooks.example.com/\x00",
		"/relative/path",
		"hooks.example.com/hook",
		"https:///nohost",
		"",
		"https://hooks.example.com/" + strings.Repeat("a", roomhub.MaxWebhookURLLen),
	} {
		u, err := p.CheckURL(t.Context(), raw)
		if err == nil || roomhub.ErrorCode(err) != roomhub.EINVALID || roomhub.ErrorMessage(err) == "" {
			t.Errorf("CheckURL(%q) = %v, %v; want EINVALID", raw, u, err)
		}
	}
	// The system resolver: localhost is loopback.
	if _, err := (webhook.Policy{}).CheckURL(t.Context(), "https://localhost/hook"); roomhub.ErrorCode(err) != roomhub.EINVALID {
		t.Errorf("https://localhost/hook: %v", err)
	}
}

func TestCheckURLAccepts(t *testing.T) {
	p := webhook.Policy{Resolver: dns}
	u, err := p.CheckURL(t.Context(), "  https://Hooks.Example.com:8443/roomhub?x=1  ")
	if err != nil || u.String() != "https://hooks.example.com:8443/roomhub?x=1" {
		t.Fatalf("CheckURL: %v %v", u, err)
	}
	if _, err := p.CheckURL(t.Context(), "https://93.184.216.34/hook"); err != nil {
		t.Fatal(err)
	}
	// The operator's allow-list opens private ranges, and plain http to them.
	allow := webhook.Policy{Resolver: dns, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/24")}}
	for _, raw := range []string{"http://127.0.0.1:8080/hook", "https://internal.example.com/hook", "http://internal.example.com/hook", "http://rebinder.example.com/x"} {
		if _, err := allow.CheckURL(t.Context(), raw); err != nil {
			t.Errorf("%s with the allow-list: %v", raw, err)
		}
	}
	if _, err := allow.CheckURL(t.Context(), "http://hooks.example.com/hook"); err == nil {
		t.Error("the allow-list made plain http to the internet acceptable")
	}
}

// TestClientRefusesAtConnect: whatever passed at creation, the client checks
// the address it is about to connect to, so DNS rebinding to loopback or a
// private network is caught, and nothing is ever sent there.
func TestClientRefusesAtConnect(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	c := webhook.Policy{}.Client(2 * time.Second)
	for _, u := range []string{
		srv.URL,                             // 127.0.0.1
		"http://localhost:" + port + "/",    // a name resolving to loopback
		"http://[::1]:" + port + "/",        // IPv6 loopback
		"http://0.0.0.0:" + port + "/",      // "this host"
		"http://10.255.255.1:81/",           // private: refused before any packet is sent
		"http://169.254.169.254/latest/",    // cloud metadata
		"http://[::ffff:127.0.0.1]:" + port, // IPv4-mapped loopback
	} {
		start := time.Now()
		res, err := c.Get(u)
		if err == nil {
			res.Body.Close()
			t.Errorf("GET %s: %d, want refused", u, res.StatusCode)
			continue
		}
		if !errors.Is(err, webhook.ErrRefusedAddress) {
			t.Errorf("GET %s: %v, want ErrRefusedAddress", u, err)
		}
		if time.Since(start) > time.Second {
			t.Errorf("GET %s took %s: the refusal must come before connecting", u, time.Since(start))
		}
	}
	if hits != 0 {
		t.Fatalf("the receiver on loopback got %d requests", hits)
	}
	allowed := webhook.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}.Client(2 * time.Second)
	res, err := allowed.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if hits != 1 {
		t.Fatal("the allow-list did not let the request through")
	}
}

func TestClientIgnoresProxyAndRedirects(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://192.0.2.1:3128")
	t.Setenv("HTTPS_PROXY", "http://192.0.2.1:3128")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	}))
	defer srv.Close()
	c := webhook.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}.Client(2 * time.Second)
	res, err := c.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET through the environment's proxy? %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		t.Fatalf("status %d: the redirect was followed", res.StatusCode)
	}
}
