//go:build !linux

package bench

import (
	"context"
	"net"
)

// spreadDial is nil where source addresses are not spread (spread_linux.go):
// the client dials as usual.
func spreadDial() func(ctx context.Context, network, addr string) (net.Conn, error) { return nil }
