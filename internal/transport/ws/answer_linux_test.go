package ws

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/netpoll"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/wire"
)

// TestHeartbeatsAnsweredOnThePoller: a client that sends its next frame as
// soon as it has the answer to the last races the connection's parking
// every round; lone heartbeats are answered on the poller's goroutine,
// anything else by a reader, and every frame is answered, in order.
func TestHeartbeatsAnsweredOnThePoller(t *testing.T) {
	lim := core.DefaultLimits
	lim.RequestsPerSecond, lim.RequestBurst = 1e6, 1e6 // a frame a round, as fast as the machine goes
	h, url, account := heartbeatHandler(t, 30*time.Second, lim)
	raw := rawClient(t, url, account("alice"))
	ping := clientFrame(websocket.TextMessage, `{"type":"ping"}`)
	ack := clientFrame(websocket.TextMessage, `{"type":"ack","seq":1}`)
	withID := clientFrame(websocket.TextMessage, `{"type":"ping","id":"x"}`)
	for i := 0; i < 3000; i++ {
		raw.nc.SetDeadline(time.Now().Add(30 * time.Second)) // a hang guard: a lost wake-up waits for ever
		switch i % 4 {
		case 0:
			raw.write(t, ping)
			raw.expect(t, `{"type":"pong"}`)
		case 1: // an ack has no answer: the ping after it shows it was read
			raw.write(t, ack)
			raw.write(t, ping)
			raw.expect(t, `{"type":"pong"}`)
		case 2: // not a heartbeat DecodeHeartbeat knows: the reader's
			raw.write(t, withID)
			raw.expect(t, `{"type":"pong","id":"x"}`)
		case 3: // two at once: not lone, the reader's, in order
			raw.write(t, append(append([]byte(nil), withID...), ping...))
			raw.expect(t, `{"type":"pong","id":"x"}`, `{"type":"pong"}`)
		}
	}
	if h.answered.Load() == 0 {
		t.Fatal("no heartbeat was answered on the poller's goroutine")
	}
}

// TestAnswerNowNeverWaits: a connection whose writes are held (a flush
// writing to it) does not hold up the poller: its heartbeat's reply waits
// on a goroutine of its own while another connection's is answered, and
// goes out once the writer is done.
func TestAnswerNowNeverWaits(t *testing.T) {
	h := &Handler{poller: netpoll.New(), Log: discard, Live: new(atomic.Int64)}
	hub := testHub(t)
	h.Proto = &wire.Server{Hub: hub, Auth: &auth.Auth{Store: nil, Clock: clock.Real{}}, Heartbeat: 30 * time.Second}
	held, heldPeer := parkedConn(t, h, hub, "a")
	_, freePeer := parkedConn(t, h, hub, "b")
	deadline := time.Now().Add(30 * time.Second) // a hang guard

	held.writeMu.Lock()
	heldPeer.Write(clientFrame(websocket.TextMessage, `{"type":"ping"}`))
	for h.poller.Parked() != 1 { // the poller took it: its answer is under way
		if time.Now().After(deadline) {
			t.Fatal("the held connection's heartbeat did not wake it")
		}
		time.Sleep(time.Millisecond)
	}
	freePeer.Write(clientFrame(websocket.TextMessage, `{"type":"ping"}`))
	(&frameClient{nc: freePeer}).expect(t, `{"type":"pong"}`)
	held.writeMu.Unlock()
	(&frameClient{nc: heldPeer}).expect(t, `{"type":"pong"}`)
}

// parkedConn is a session of alice's on a loopback TCP connection, parked
// in h's poller as after its hello; the peer end reads under a hang guard.
func parkedConn(t *testing.T, h *Handler, hub *core.Hub, device string) (*conn, net.Conn) {
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
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close(); nc.Close() })
	peer.SetDeadline(time.Now().Add(30 * time.Second))
	c := &conn{h: h, nc: nc, direct: true, proto: h.Proto.NewConn("ws", &store.Token{Account: "alice@localhost"}, 0)}
	s, err := hub.Connect(context.Background(), "alice@localhost", core.SessionOptions{Transport: "ws", Device: device}, quietSink{})
	if err != nil {
		t.Fatal(err)
	}
	c.proto.Session = s
	c.pc.Init(nc, c)
	if !h.poller.Park(&c.pc, c.closed.Load) {
		t.Fatal("an idle connection did not park")
	}
	t.Cleanup(func() {
		if c.pc.Take() {
			h.poller.Unpark(&c.pc)
		}
	})
	return c, peer
}
