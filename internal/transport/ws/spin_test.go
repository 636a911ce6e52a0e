package ws

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/wire"
)

// quietSink is a sink that never flushes: the events wait for it.
type quietSink struct{}

func (quietSink) Wake()             {}
func (quietSink) Close(core.Goaway) {}

// TestFlushOfAReplacedConnectionEnds: a flush running on a connection whose
// session was resumed elsewhere must end although the session still has
// unsent events (Pending), which Pull no longer gives this connection.
// It used to loop on Pending without end, a core spinning for as long as
// the new connection had not sent them (or the whole grace period).
func TestFlushOfAReplacedConnectionEnds(t *testing.T) {
	ctx := context.Background()
	hub := testHub(t)

	server, peer := net.Pipe()
	defer server.Close()
	defer peer.Close()
	go io.Copy(io.Discard, peer)
	c := &conn{h: &Handler{Log: discard, Live: new(atomic.Int64)}, nc: server, proto: &wire.Conn{}}
	c.writing.Store(true) // the test runs the flush itself
	s, err := hub.Connect(ctx, "alice@localhost", core.SessionOptions{Transport: "ws"}, c)
	if err != nil {
		t.Fatal(err)
	}
	c.proto.Session = s
	// a resumed connection takes the session, from the start, and does not
	// flush yet: the snapshot stays unsent
	if _, _, err := hub.Resume(ctx, "alice@localhost", s.Resource, 0, quietSink{}); err != nil {
		t.Fatal(err)
	}
	if !s.Pending() {
		t.Fatal("the session should have unsent events")
	}
	done := make(chan struct{})
	go func() {
		c.flush()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the replaced connection's flush still runs after 10 s (spinning on Pending)")
	}
	if c.writing.Load() {
		t.Fatal("the flush ended but left writing set")
	}
}
