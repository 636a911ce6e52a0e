package webpush

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"
)

// A push endpoint is a URL a user hands the server, which the server then
// posts to: without care, a way to make it reach its own network (SSRF).
// Endpoints must be https on port 443 of a name or public address, and
// every connection is checked at dial time, after DNS, so a name that
// resolves to a private address (or comes to, later) is refused too.
// AllowPrivate lifts both for tests and closed networks.

// ErrEndpoint refuses a push endpoint; its text says why.
var ErrEndpoint = errors.New("push endpoint refused")

// CheckEndpoint says whether raw may be a push endpoint.
func CheckEndpoint(raw string, allowPrivate bool) error {
	if len(raw) > 2000 {
		return fmt.Errorf("%w: longer than 2000 bytes", ErrEndpoint)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return fmt.Errorf("%w: not an absolute URL without credentials", ErrEndpoint)
	}
	if allowPrivate {
		if u.Scheme != "https" && u.Scheme != "http" {
			return fmt.Errorf("%w: not http(s)", ErrEndpoint)
		}
		return nil
	}
	if u.Scheme != "https" || u.Port() != "" && u.Port() != "443" {
		return fmt.Errorf("%w: push services are https on port 443", ErrEndpoint)
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !public(ip) {
		return fmt.Errorf("%w: a private, loopback or reserved address", ErrEndpoint)
	}
	return nil
}

// public reports whether ip is an address of the Internet at large.
func public(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range reserved {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

var reserved = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fec0::/10"),       // site-local, deprecated
	netip.MustParsePrefix("0.0.0.0/8"),       // this network
	netip.MustParsePrefix("192.88.99.0/24"),  // 6to4 relay anycast
	netip.MustParsePrefix("2002::/16"),       // 6to4: may embed a private IPv4
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: may embed a private IPv4
	netip.MustParsePrefix("::ffff:0:0/96"),   // v4-mapped (Unmap handles most)
	netip.MustParsePrefix("2001::/32"),       // Teredo
	netip.MustParsePrefix("ff00::/8"),        // multicast (IsGlobalUnicast too)
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
}

// client is the HTTP client that posts to push services: no proxy, no
// redirects, bounded time, and a dialer that refuses non-public addresses
// unless allowPrivate.
func client(allowPrivate bool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		if allowPrivate {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !public(ap.Addr()) {
			return fmt.Errorf("%w: %s is not a public address", ErrEndpoint, address)
		}
		return nil
	}}
	t := &http.Transport{Proxy: nil, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	},
		TLSHandshakeTimeout: 10 * time.Second, ResponseHeaderTimeout: 15 * time.Second, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	return &http.Client{Transport: t, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
