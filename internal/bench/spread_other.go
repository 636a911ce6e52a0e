//go:build !linux

package bench

import (
	"context"
	"net"
)

// DefaultSourceAddrs: see spread_linux.go; elsewhere nothing is spread.
const DefaultSourceAddrs = 0

// spreadDial is nil where source addresses are not spread (spread_linux.go):
// the client dials as usual.
func spreadDial(int) func(ctx context.Context, network, addr string) (net.Conn, error) { return nil }
