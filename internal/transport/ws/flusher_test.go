package ws

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/wire"
)

// tcpPair is a connected pair of loopback TCP connections with small
// socket buffers, so that a few tens of KiB fill them.
func tcpPair(t *testing.T) (server, peer *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed := make(chan net.Conn, 1)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Error(err)
		}
		dialed <- c
	}()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	pc := <-dialed
	if pc == nil {
		t.FailNow()
	}
	server, peer = sc.(*net.TCPConn), pc.(*net.TCPConn)
	t.Cleanup(func() { server.Close(); peer.Close() })
	server.SetWriteBuffer(4096)
	peer.SetReadBuffer(4096)
	return server, peer
}

// tcpConn is a conn of a new session of alice's on hub over a TCP pair,
// flushed by h's workers; writing is held until the test wakes it.
func tcpConn(t *testing.T, h *Handler, hub *core.Hub, device string) (*conn, *net.TCPConn) {
	t.Helper()
	server, peer := tcpPair(t)
	c := &conn{h: h, nc: server, direct: rawConn(server) != nil, proto: &wire.Conn{}}
	if !c.direct {
		t.Fatal("a TCP connection has no raw connection")
	}
	c.pc.Init(server, c) // as serve does: the flush writes through it
	c.writing.Store(true)
	s, err := hub.Connect(context.Background(), "alice@localhost", core.SessionOptions{Transport: "ws", Device: device}, c)
	if err != nil {
		t.Fatal(err)
	}
	c.proto.Session = s
	return c, peer
}

// TestFullSocketDoesNotHoldTheWorker: with a single flush worker, a
// connection whose reader does not read (its socket full long before its
// events are written) does not keep the worker from flushing another
// connection; once read, its events arrive whole, in order, none lost.
func TestFullSocketDoesNotHoldTheWorker(t *testing.T) {
	hub := testHub(t)
	h := &Handler{Log: discard, Live: new(atomic.Int64), flusher: newFlusher(1)}
	slow, slowPeer := tcpConn(t, h, hub, "slow")
	fast, fastPeer := tcpConn(t, h, hub, "fast")
	other, err := hub.Connect(context.Background(), "alice@localhost", core.SessionOptions{Transport: "ws", Device: "other"}, quietSink{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200 // 200 × 2 KiB: far more than the socket buffers hold
	big := strings.Repeat("x", 2000)
	for i := 0; i < n; i++ {
		if _, err := other.Send(core.Message{Kind: core.KindMessage, To: slow.proto.Session.Address(), Body: strconv.Itoa(i) + " " + big}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := other.Send(core.Message{Kind: core.KindMessage, To: fast.proto.Session.Address(), Body: "for fast"}); err != nil {
		t.Fatal(err)
	}
	slow.writing.Store(false)
	slow.Wake() // queued first: the worker meets the full socket first
	fast.writing.Store(false)
	fast.Wake()

	// fast's frames come although nobody reads slow's socket
	fr := &pipeReader{t: t, peer: fastPeer}
	for {
		if f := fr.next(); strings.Contains(string(f), `"for fast"`) {
			break
		}
	}
	(&pipeReader{t: t, peer: slowPeer}).numbered(n)
}
