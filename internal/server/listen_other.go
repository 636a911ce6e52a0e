//go:build !linux

package server

import "net"

// Listen opens the TCP listener of the public HTTP server (and of XMPP's),
// with Go's default keep-alive on each accepted connection.
func Listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
