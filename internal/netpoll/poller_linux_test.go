package netpoll

import (
	"io"
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

// TestReadNowWriteNow: ReadNow takes what waits without waiting (nothing:
// ErrWouldBlock; after the peer's close: io.EOF), and WriteNow writes what
// the socket takes at once; a connection without a descriptor (its zero
// value) has them do nothing, for the caller to use its net.Conn.
func TestReadNowWriteNow(t *testing.T) {
	c, _, peer := tcpConn(t, func() {}, func() {})
	buf := make([]byte, 64)
	if n, err := c.ReadNow(buf); n != 0 || err != ErrWouldBlock {
		t.Fatalf("nothing sent: ReadNow = %d, %v", n, err)
	}
	if n := c.WriteNow([]byte("pong")); n != 4 {
		t.Fatalf("WriteNow wrote %d of 4 bytes to an empty socket", n)
	}
	got := make([]byte, 4)
	peer.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(peer, got); err != nil || string(got) != "pong" {
		t.Fatalf("the peer read %q, %v", got, err)
	}
	peer.Write([]byte("ping"))
	var n int
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if n, err = c.ReadNow(buf); err != ErrWouldBlock || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("ReadNow = %q, %v", buf[:n], err)
	}
	peer.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if n, err = c.ReadNow(buf); err != ErrWouldBlock || time.Now().After(deadline) {
			break
		}
	}
	if n != 0 || err != io.EOF {
		t.Fatalf("after the peer's close: ReadNow = %d, %v", n, err)
	}

	var none Conn
	if n, err := none.ReadNow(buf); n != 0 || err != ErrWouldBlock {
		t.Fatalf("zero Conn: ReadNow = %d, %v", n, err)
	}
	if n := none.WriteNow([]byte("x")); n != 0 {
		t.Fatalf("zero Conn: WriteNow = %d", n)
	}
}

// TestWriteNowStopsWhenFull: WriteNow returns what a full socket took
// rather than waiting for the peer to read.
func TestWriteNowStopsWhenFull(t *testing.T) {
	c, _, _ := tcpConn(t, func() {}, func() {})
	big := make([]byte, 64<<20) // more than loopback buffers hold
	done := make(chan int, 1)
	go func() { done <- c.WriteNow(big) }()
	select {
	case n := <-done:
		if n <= 0 || n >= len(big) {
			t.Fatalf("WriteNow wrote %d of %d bytes to a peer that reads nothing", n, len(big))
		}
	case <-time.After(20 * time.Second):
		t.Fatal("WriteNow waited for the peer")
	}
}

// TestPollerWaitsThroughTheRuntime: the poller's loop waits in the Go
// runtime's poller, not in a thread of its own; a wake-up still reaches a
// parked connection, many times over.
func TestPollerWaitsThroughTheRuntime(t *testing.T) {
	p := New()
	if p.ep == nil {
		t.Fatal("the epoll set was not handed to the runtime's poller")
	}
	resumed := make(chan struct{}, 1)
	c, _, peer := tcpConn(t, func() { resumed <- struct{}{} }, func() {})
	buf := make([]byte, 8)
	for i := 0; i < 50; i++ {
		if !p.Park(c, never) {
			t.Fatalf("round %d: an idle connection did not park", i)
		}
		peer.Write([]byte("x"))
		select {
		case <-resumed:
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: no wake-up", i)
		}
		if n, err := c.ReadNow(buf); n != 1 || err != nil {
			t.Fatalf("round %d: ReadNow = %d, %v", i, n, err)
		}
	}
	p.Unpark(c)
}

// echoer is a connection's owner that echoes what it reads and parks
// whenever nothing waits, as the transports' readers do.
type echoer struct {
	p     *Poller
	c     *Conn
	nc    net.Conn
	ended chan struct{} // closed when a read fails (the peer closed)
}

func (e *echoer) Resume() { e.run() }
func (e *echoer) Expire() {}

func (e *echoer) run() {
	buf := make([]byte, 64)
	for {
		if !e.c.Readable() && e.p.Park(e.c, never) {
			return
		}
		e.nc.SetReadDeadline(time.Now().Add(time.Minute))
		n, err := e.nc.Read(buf)
		if err != nil {
			close(e.ended)
			return
		}
		e.nc.Write(buf[:n])
	}
}

// TestNoWakeUpLost: a peer that sends the next byte as soon as it has the
// echo of the last one races the reader's parking every round; no round
// may leave a byte unread in a parked connection.
func TestNoWakeUpLost(t *testing.T) {
	p := New()
	e := &echoer{p: p, ended: make(chan struct{})}
	c, nc, peer := tcpConn(t, func() { e.Resume() }, func() {})
	e.c, e.nc = c, nc
	go e.run()
	buf := make([]byte, 64)
	for i := 0; i < 5000; i++ {
		peer.SetDeadline(time.Now().Add(30 * time.Second)) // a hang guard: a lost wake-up waits for ever
		peer.Write([]byte("x"))
		if _, err := peer.Read(buf); err != nil {
			t.Fatalf("round %d: %v (state %d)", i, err, c.state.Load())
		}
	}
	peer.Close() // the echoer reads the end and stops, before the next test sets parkHook
	select {
	case <-e.ended:
	case <-time.After(30 * time.Second):
		t.Fatal("the peer's close did not reach the echoer")
	}
	p.Unpark(c)
}
