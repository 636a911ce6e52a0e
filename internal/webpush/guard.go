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

	"github.com/presenced/presenced/internal/netguard"
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
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil && !netguard.Public(ip) {
		return fmt.Errorf("%w: a private, loopback or reserved address", ErrEndpoint)
	}
	return nil
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
		if err != nil || !netguard.Public(ap.Addr()) {
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
