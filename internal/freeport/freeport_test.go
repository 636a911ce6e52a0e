package freeport

import (
	"net"
	"strconv"
	"testing"
)

// TestPortIsBindableAndBelowEphemeral: the port can be listened on, and it
// lies below the ephemeral range when there is room there.
func TestPortIsBindableAndBelowEphemeral(t *testing.T) {
	for range 20 {
		port, err := Port()
		if err != nil {
			t.Fatal(err)
		}
		if start := ephemeralStart(); start-low >= 1000 && (port < low || port >= start) {
			t.Fatalf("port %d outside [%d, %d)", port, low, start)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		ln.Close()
	}
}
