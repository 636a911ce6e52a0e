package bench

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestSpreadDialRotatesSourceAddresses dials a real listener on 127.0.0.1
// and checks where the connections came from: the given number of
// loopback source addresses in turn, and the system's own without spreading.
func TestSpreadDialRotatesSourceAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a hang guard only
	defer cancel()
	from := func(dial func(context.Context, string, string) (net.Conn, error)) string {
		t.Helper()
		if dial == nil {
			dial = (&net.Dialer{}).DialContext
		}
		c, err := dial(ctx, "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		return s.RemoteAddr().(*net.TCPAddr).IP.String()
	}
	dial := spreadDial(3)
	seen := map[string]int{}
	for range 6 {
		seen[from(dial)]++
	}
	if len(seen) != 3 || seen["127.0.0.2"] != 2 || seen["127.0.0.3"] != 2 || seen["127.0.0.4"] != 2 {
		t.Errorf("6 dials over 3 addresses came from %v, want 127.0.0.2–4 twice each", seen)
	}
	if got := from(spreadDial(0)); got != "127.0.0.1" {
		t.Errorf("without spreading the dial came from %s, want 127.0.0.1", got)
	}
}
