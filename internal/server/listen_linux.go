package server

import (
	"context"
	"net"
	"syscall"
	"time"
)

// Listen opens the TCP listener of the public HTTP server (and of XMPP's).
// Its connections get the TCP keep-alive that net.Listen gives every
// accepted connection (probes after 15 s idle, every 15 s, 9 of them),
// set once on the listening socket instead: Linux gives an accepted socket
// the listening socket's options, while Go sets them on each accepted
// connection, four setsockopt(2) calls per connection, about 5 % of a
// WebSocket session's start (docs/benchmarks.md, issue 9).
func Listen(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			for _, o := range []struct{ level, opt, v int }{
				{syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
				{syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, int(keepAliveIdle / time.Second)},
				{syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, int(keepAliveIdle / time.Second)},
				{syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, keepAliveCount},
			} {
				if serr = syscall.SetsockoptInt(int(fd), o.level, o.opt, o.v); serr != nil {
					return
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
	return lc.Listen(context.Background(), "tcp", addr)
}

// Go's defaults for an accepted connection's keep-alive (net.KeepAliveConfig).
const (
	keepAliveIdle  = 15 * time.Second
	keepAliveCount = 9
)
