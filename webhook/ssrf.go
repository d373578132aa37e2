package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"roomhub"
)

// Timeouts of resolving and reaching an endpoint.
const (
	// ResolveTimeout bounds the DNS lookup that validates a new endpoint.
	ResolveTimeout = 3 * time.Second
	// ConnectTimeout bounds one TCP connection attempt.
	ConnectTimeout = 5 * time.Second
)

// blockedNets are the addresses an endpoint may never reach unless the
// operator allows them (WEBHOOK_ALLOW_NETS): everything that is not the
// public internet. IPv4 addresses embedded in IPv6 (mapped, NAT64, 6to4)
// are checked as the IPv4 address they carry.
var blockedNets = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8",       // "this network", 0.0.0.0 included
		"10.0.0.0/8",      // RFC 1918 private
		"100.64.0.0/10",   // carrier-grade NAT (RFC 6598)
		"127.0.0.0/8",     // loopback
		"169.254.0.0/16",  // link-local, cloud metadata (169.254.169.254)
		"172.16.0.0/12",   // RFC 1918 private
		"192.0.0.0/24",    // IETF protocol assignments
		"192.0.2.0/24",    // documentation
		"192.88.99.0/24",  // 6to4 relay anycast
		"192.168.0.0/16",  // RFC 1918 private
		"198.18.0.0/15",   // benchmarking
		"198.51.100.0/24", // documentation
		"203.0.113.0/24",  // documentation
		"224.0.0.0/4",     // multicast
		"240.0.0.0/4",     // reserved, 255.255.255.255 (broadcast) included
		"::/128",          // unspecified
		"::1/128",         // loopback
		"::/96",           // IPv4-compatible (deprecated)
		"100::/64",        // discard
		"2001::/32",       // Teredo
		"2001:db8::/32",   // documentation
		"fc00::/7",        // unique local
		"fe80::/10",       // link-local
		"fec0::/10",       // site-local (deprecated)
		"ff00::/8",        // multicast
		"64:ff9b:1::/48",  // local-use NAT64
		"::ffff:0:0:0/96", // SIIT translated
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// embeddedV4 returns the IPv4 address an IPv6 address carries: IPv4-mapped
// (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:aabb:ccdd::).
func embeddedV4(ip netip.Addr) (netip.Addr, bool) {
	if ip.Is4In6() {
		return ip.Unmap(), true
	}
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	if netip.MustParsePrefix("64:ff9b::/96").Contains(ip) {
		return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}), true
	}
	if netip.MustParsePrefix("2002::/16").Contains(ip) {
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

// Resolver looks host names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Policy decides which addresses webhook requests may reach. The zero
// Policy refuses every non-public address.
type Policy struct {
	// Allow lists networks reachable despite the rules (WEBHOOK_ALLOW_NETS),
	// e.g. 10.1.2.0/24 for a receiver inside the operator's network, or
	// 127.0.0.0/8 in tests. Addresses in it may also be reached over plain
	// http.
	Allow []netip.Prefix
	// Resolver validates host names at creation; nil is net.DefaultResolver.
	// Connections always resolve through the system and are checked at
	// connect time.
	Resolver Resolver
}

// ErrRefusedAddress is wrapped by every refusal of an address.
var ErrRefusedAddress = errors.New("address not allowed for webhooks")

func (p Policy) allowed(ip netip.Addr) bool {
	ip = ip.WithZone("")
	for _, n := range p.Allow {
		if n.Contains(ip) || ip.Is4In6() && n.Contains(ip.Unmap()) {
			return true
		}
	}
	return false
}

// CheckIP returns nil if ip may be reached, or an error wrapping
// ErrRefusedAddress that says why not.
func (p Policy) CheckIP(ip netip.Addr) error {
	if !ip.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrRefusedAddress)
	}
	ip = ip.WithZone("")
	if p.allowed(ip) {
		return nil
	}
	check := []netip.Addr{ip}
	if v4, ok := embeddedV4(ip); ok {
		check = append(check, v4)
	}
	for _, a := range check {
		for _, n := range blockedNets {
			if n.Contains(a) {
				return fmt.Errorf("%w: %s is in %s, which is not on the public internet", ErrRefusedAddress, ip, n)
			}
		}
	}
	return nil
}

// control is the dialer's hook: it runs after DNS, before connecting, on
// the very address about to be connected to, so a host name that resolved
// to a public address at creation and to an internal one now (DNS
// rebinding) is still refused.
func (p Policy) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrRefusedAddress, address)
	}
	return p.CheckIP(ap.Addr())
}

// Client returns an HTTP client for deliveries: it connects only to
// addresses the policy allows, never through a proxy from the environment
// (which would connect on our behalf, unchecked), and never follows a
// redirect (a 3xx is the endpoint's answer, and a failure). timeout bounds
// each request as a whole.
func (p Policy) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: ConnectTimeout, KeepAlive: 30 * time.Second, Control: p.control}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   ConnectTimeout,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// CheckURL validates an endpoint URL when it is created and returns it
// normalised. The rules, each refusal an EINVALID the dashboard shows:
//
//   - at most roomhub.MaxWebhookURLLen bytes, no spaces or control
//     characters, an absolute http(s) URL with a host, no user:password@
//     and no #fragment;
//   - the host (an IP address, or every address its name resolves to) is
//     one CheckIP allows;
//   - https, unless every address is in the operator's Allow list: plain
//     http is for receivers the operator vouches for (an internal network,
//     tests on loopback).
//
// Passing here is not enough to be reached: the client checks each
// connection again (see Client).
func (p Policy) CheckURL(ctx context.Context, raw string) (*url.URL, error) {
	bad := func(format string, args ...any) (*url.URL, error) {
		return nil, roomhub.Invalid("url", format, args...)
	}
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return bad("Enter the URL that receives the events.")
	}
	if len(raw) > roomhub.MaxWebhookURLLen {
		return bad("The URL is longer than %d characters.", roomhub.MaxWebhookURLLen)
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return bad("The URL must not contain spaces or control characters.")
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		return bad("Enter a full URL like https://hooks.example.com/roomhub.")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "https" && u.Scheme != "http" {
		return bad("The URL must start with https://.")
	}
	if u.User != nil {
		return bad("The URL must not contain a user name or password; the signature authenticates Roomhub to your endpoint.")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return bad("The URL must not contain a #fragment.")
	}
	u.Host = strings.ToLower(u.Host)
	host := u.Hostname()
	if host == "" {
		return bad("Enter a full URL like https://hooks.example.com/roomhub.")
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		r := p.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		lctx, cancel := context.WithTimeout(ctx, ResolveTimeout)
		defer cancel()
		addrs, err = r.LookupNetIP(lctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			return bad("The host name %s does not resolve.", host)
		}
	}
	allAllowed := true
	for _, a := range addrs {
		if err := p.CheckIP(a); err != nil {
			return bad("The URL leads to %s, a private or reserved address; webhooks go to public addresses only.", a.WithZone(""))
		}
		allAllowed = allAllowed && p.allowed(a)
	}
	if u.Scheme == "http" && !allAllowed {
		return bad("The URL must start with https://.")
	}
	return u, nil
}
