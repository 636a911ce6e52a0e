// Package freeport finds a loopback TCP port nothing listens on, for a
// server process that must be told its port before it starts (another
// program, a server that must come back on the same port).
//
// Asking the kernel for port 0 and closing the listener is not enough on
// a busy machine: the port it returns lies in the ephemeral range, where
// the kernel also picks the local ports of outgoing connections, so by the
// time the server binds it a client elsewhere may hold it ("address
// already in use"). Ports here are drawn at random below that range, where
// only listeners that asked for the port by number go.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
)

// low and high bound the ports tried when the ephemeral range cannot be
// read or leaves too little room below it.
const (
	low  = 20000
	high = 32768 // Linux's default ephemeral range starts here
	// tries before falling back to a kernel-chosen port
	tries = 64
)

// Port is a loopback TCP port nothing listens on now.
func Port() (int, error) {
	lo, hi := low, ephemeralStart()
	if hi-lo < 1000 { // a configured range that starts low: use the kernel's choice
		return kernelPort()
	}
	for range tries {
		port := lo + rand.IntN(hi-lo)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		return port, nil
	}
	return kernelPort()
}

// Addr is a loopback address ("127.0.0.1:PORT") with a port from Port.
func Addr() (string, error) {
	port, err := Port()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("127.0.0.1:%d", port), nil
}

func kernelPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralStart is the first port of the kernel's ephemeral range.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return high
	}
	var first, last int
	if _, err := fmt.Sscan(string(b), &first, &last); err != nil || first <= 0 {
		return high
	}
	return first
}
