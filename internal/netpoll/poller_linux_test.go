package netpoll

import (
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// tcpConn returns a Conn around the server end of a loopback TCP
// connection, and the peer.
func tcpConn(t *testing.T, resume, expire func()) (*Conn, net.Conn, net.Conn) {
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
	c := &Conn{}
	c.Init(nc, owner{resume, expire})
	return c, nc, peer
}

// owner calls the functions it was given.
type owner struct{ resume, expire func() }

func (o owner) Resume() { o.resume() }
func (o owner) Expire() { o.expire() }

func setParkHook(t *testing.T, f func(*Conn)) {
	parkHook = f
	t.Cleanup(func() { parkHook = nil })
}

func never() bool { return false }

func (p *Poller) entries() int { return p.Parked() }

// TestParkThenWake: a parked connection has its resume started when bytes
// arrive, once, and is then its reader's again.
func TestParkThenWake(t *testing.T) {
	p := New()
	resumed := make(chan struct{}, 2)
	c, _, peer := tcpConn(t, func() { resumed <- struct{}{} }, func() {})
	if !p.Park(c, never) {
		t.Fatal("an idle connection did not park")
	}
	peer.Write([]byte("x"))
	<-resumed
	if st := c.state.Load(); st != stateRunning {
		t.Fatalf("state %d after the wake, want running", st)
	}
	if p.entries() != 0 {
		t.Fatal("a woken connection is still in the poller's map")
	}
	if !c.Readable() {
		t.Fatal("the byte that woke it is not there to read")
	}
	p.Unpark(c)
}

// TestCloseWhileParkingKeepsTheDescriptor: a close that comes while the
// reader registers its connection cannot take it (the state is parking);
// park sees the close, keeps the connection with its reader and leaves
// nothing registered, so the reader can close the descriptor safely.
func TestCloseWhileParkingKeepsTheDescriptor(t *testing.T) {
	p := New()
	c, _, _ := tcpConn(t, func() {}, func() {})
	var closed atomic.Bool
	setParkHook(t, func(c *Conn) {
		closed.Store(true)
		if c.TakeDone() {
			t.Error("a close took a connection that was parking")
		}
	})
	if p.Park(c, closed.Load) {
		t.Fatal("a connection closed while parking was parked")
	}
	if st := c.state.Load(); st != stateRunning {
		t.Fatalf("state %d after a close while parking, want running (the reader's)", st)
	}
	if err := c.rc.Control(func(uintptr) {}); err != nil {
		t.Fatalf("the descriptor was closed while park used it: %v", err)
	}
	if p.entries() != 0 || c.registered.Load() {
		t.Fatalf("still known to the poller: %d entries, registered %v", p.entries(), c.registered.Load())
	}
}

// TestWakeWhileParking: bytes seen by the poller before the connection is
// published as parked leave it with its reader (nothing is lost, and no
// second reader starts).
func TestWakeWhileParking(t *testing.T) {
	p := New()
	c, _, _ := tcpConn(t, func() { t.Error("a second reader started") }, func() {})
	setParkHook(t, func(c *Conn) { p.wake(c) })
	if p.Park(c, never) {
		t.Fatal("parked although the poller had seen bytes")
	}
	if st := c.state.Load(); st != stateRunning {
		t.Fatalf("state %d, want running", st)
	}
	if p.entries() != 0 || c.registered.Load() {
		t.Fatalf("still known to the poller: %d entries, registered %v", p.entries(), c.registered.Load())
	}
	parkHook = nil // and it can park again afterwards
	if !p.Park(c, never) {
		t.Fatal("cannot park again")
	}
	if c.Take() {
		p.Unpark(c)
	}
}

// TestFailedParkLeavesNoEntry: a descriptor epoll refuses (here a regular
// file) is not left in the poller's map, where the sweep and a later
// connection with the same number would find it.
func TestFailedParkLeavesNoEntry(t *testing.T) {
	p := New()
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := &Conn{fd: int(f.Fd()), owner: owner{func() {}, func() {}}}
	if p.Park(c, never) {
		t.Fatal("a regular file was parked")
	}
	if p.entries() != 0 {
		t.Fatalf("%d entries left in the poller's map", p.entries())
	}
	if st := c.state.Load(); st != stateRunning {
		t.Fatalf("state %d, want running", st)
	}
}

// TestSweepExpiresTheSilent: the sweep hands a parked connection silent for
// longer than the timeout to its expire, as its owner; one heard from
// recently stays parked.
func TestSweepExpiresTheSilent(t *testing.T) {
	p := New()
	expired := make(chan struct{}, 1)
	silent, _, _ := tcpConn(t, func() {}, func() { expired <- struct{}{} })
	fresh, _, _ := tcpConn(t, func() {}, func() { t.Error("a connection heard from just now expired") })
	silent.lastRead.Store(time.Now().Add(-24 * time.Hour).UnixNano())
	if !p.Park(silent, never) || !p.Park(fresh, never) {
		t.Fatal("idle connections did not park")
	}
	p.Sweep(time.Hour)
	<-expired
	if st := silent.state.Load(); st != stateRunning {
		t.Fatalf("an expired connection is in state %d, want running (owned by expire)", st)
	}
	if st := fresh.state.Load(); st != stateParked {
		t.Fatalf("the fresh connection is in state %d, want parked", st)
	}
	p.Unpark(silent)
	if fresh.Take() {
		p.Unpark(fresh)
	}
}
