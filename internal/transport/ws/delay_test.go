package ws

import (
	"bytes"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
)

// TestWriteDelayJoinsWrites: with a WriteDelay, events that wake a
// connection written to less than the delay ago go out together, in one
// write, once the delay has passed. The events are queued before the
// wake-up, so nothing here depends on how fast the machine is.
func TestWriteDelayJoinsWrites(t *testing.T) {
	h := &Handler{Log: discard, Live: new(atomic.Int64), WriteDelay: 200 * time.Millisecond}
	c, other, peer := heldConn(t, h, nil)
	s := c.proto.Session
	for _, body := range []string{"one", "two", "three"} {
		if _, err := other.Send(core.Message{Kind: core.KindMessage, To: s.Address(), Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	c.lastWrite.Store(time.Now().UnixNano()) // as if it had just written
	c.writing.Store(false)
	c.Wake()

	buf := make([]byte, 1<<16)
	peer.SetReadDeadline(time.Now().Add(time.Minute))
	n, err := peer.Read(buf) // net.Pipe: one read per write
	if err != nil {
		t.Fatal(err)
	}
	got := buf[:n]
	for _, body := range []string{`"snapshot"`, `"body":"one"`, `"body":"two"`, `"body":"three"`} {
		if !bytes.Contains(got, []byte(body)) {
			t.Fatalf("the delayed write lacks %s: %q", body, got)
		}
	}
}
