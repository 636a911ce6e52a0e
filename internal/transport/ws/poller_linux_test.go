package ws

import (
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/presenced/presenced/internal/websocket"
	"github.com/presenced/presenced/internal/wire"
)

// tcpConn returns a conn around the server end of a loopback TCP
// connection, with its descriptor looked up as serve does, and the peer.
func tcpConn(t *testing.T, h *Handler) (*conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &conn{h: h, nc: nc, proto: &wire.Conn{}, fd: -1}
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	c.rc = rc
	rc.Control(func(fd uintptr) { c.fd = int(fd) })
	return c, peer
}

func testHandler() *Handler {
	return &Handler{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Live: new(atomic.Int64), poller: newPoller()}
}

func setParkHook(t *testing.T, f func(*conn)) {
	parkHook = f
	t.Cleanup(func() { parkHook = nil })
}

// TestCloseWhileParkingKeepsTheDescriptor: a goaway sent while the reader
// registers its connection with the poller must not close the descriptor
// under the registration (the number would be reused by the next accepted
// connection, which park would then register or delete instead). The
// reader keeps the connection and sees the close through itself.
func TestCloseWhileParkingKeepsTheDescriptor(t *testing.T) {
	h := testHandler()
	c, peer := tcpConn(t, h)
	setParkHook(t, func(c *conn) { c.closeWith(websocket.CloseGoingAway, "bye", nil) })
	if h.poller.park(c) {
		t.Fatal("a connection closed while parking was parked")
	}
	if st := c.state.Load(); st != stateRunning {
		t.Fatalf("state %d after a close while parking, want running (the reader's)", st)
	}
	if err := c.rc.Control(func(uintptr) {}); err != nil {
		t.Fatalf("the descriptor was closed while park used it: %v", err)
	}
	h.poller.mu.Lock()
	_, inMap := h.poller.parked[c.fd]
	h.poller.mu.Unlock()
	if inMap || c.registered.Load() {
		t.Fatalf("still known to the poller: map %v, registered %v", inMap, c.registered.Load())
	}
	peer.Close() // finish then need not wait for the peer's close frame
	c.finish()
	if err := c.rc.Control(func(uintptr) {}); err == nil {
		t.Fatal("finish left the descriptor open")
	}
}

// TestWakeWhileParking: bytes seen by the poller before the connection is
// published as parked leave it with its reader (nothing is lost, and no
// second reader starts).
func TestWakeWhileParking(t *testing.T) {
	h := testHandler()
	c, _ := tcpConn(t, h)
	setParkHook(t, func(c *conn) { h.poller.wake(c) })
	if h.poller.park(c) {
		t.Fatal("parked although the poller had seen bytes")
	}
	if st := c.state.Load(); st != stateRunning {
		t.Fatalf("state %d, want running", st)
	}
	h.poller.mu.Lock()
	n := len(h.poller.parked)
	h.poller.mu.Unlock()
	if n != 0 || c.registered.Load() {
		t.Fatalf("still known to the poller: %d entries, registered %v", n, c.registered.Load())
	}
	// and it can park again afterwards
	parkHook = nil
	if !h.poller.park(c) {
		t.Fatal("cannot park again")
	}
	if c.state.CompareAndSwap(stateParked, stateRunning) {
		h.poller.unpark(c)
	}
}

// TestFailedParkLeavesNoEntry: a descriptor epoll refuses (here a regular
// file) is not left in the poller's map, where the sweep and a later
// connection with the same number would find it.
func TestFailedParkLeavesNoEntry(t *testing.T) {
	h := testHandler()
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := &conn{h: h, proto: &wire.Conn{}, fd: int(f.Fd())}
	if h.poller.park(c) {
		t.Fatal("a regular file was parked")
	}
	h.poller.mu.Lock()
	n := len(h.poller.parked)
	h.poller.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d entries left in the poller's map", n)
	}
	if st := c.state.Load(); st != stateRunning {
		t.Fatalf("state %d, want running", st)
	}
}
