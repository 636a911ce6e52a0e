package bench

import (
	"context"
	"net"
	"sync/atomic"
	"syscall"
)

// Spreading a load generator's connections over source addresses.
//
// A storm dials 15,000 connections from one address to one server port,
// and a reconnect storm dials them again while the 15,000 it just cut
// wait in TIME_WAIT: Linux then looks for a free local port through a
// range (32768–60999 by default) that is mostly taken, and a profile of
// `bench reconnect-storm` showed that search (__inet_hash_connect,
// __inet_check_established) as a fifth of the machine's CPU, charged to
// the load generator's connect(2). Real clients come from many
// addresses; on loopback the whole of 127.0.0.0/8 is ours, so each dial
// takes the next of a few source addresses (`--source-addrs`), and the
// server sees the same connections, upgrades and hellos as before.

// DefaultSourceAddrs is how many loopback source addresses a storm's dials
// rotate through unless told otherwise: 15,000 connections plus as many
// in TIME_WAIT leave each address about 1,000 of its 28,000 ports taken.
const DefaultSourceAddrs = 32

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT (linux/in.h;
// the syscall package does not name it): a bind(2) to a source address
// leaves the port to connect(2), which may then share a port with
// connections to other destinations, instead of reserving one of its own.
const ipBindAddressNoPort = 24

// spreadDial returns a dial function for client.Client.Dial that spreads
// connections to 127.0.0.1 over n loopback source addresses (127.0.0.2
// and up, at most 250); other destinations are dialed as usual. n <= 0
// returns nil: the client dials from the address the system picks.
func spreadDial(n int) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if n <= 0 {
		return nil
	}
	n = min(n, 250)
	var next atomic.Uint32
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}
		src := net.IPv4(127, 0, 0, byte(2+next.Add(1)%uint32(n)))
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Control: bindNoPort}
		return d.DialContext(ctx, network, addr)
	}
}

// bindNoPort sets IP_BIND_ADDRESS_NO_PORT before the dialer binds.
func bindNoPort(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	}); err != nil {
		return err
	}
	return serr
}
