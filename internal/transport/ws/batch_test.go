package ws

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
)

// pipeReader reads server frames from a net.Pipe (one Read per write) and
// counts the writes they came in.
type pipeReader struct {
	t      *testing.T
	peer   net.Conn
	buf    []byte
	writes int
}

// next returns the payload of the next whole frame, reading further writes
// as needed.
func (r *pipeReader) next() []byte {
	r.t.Helper()
	for {
		if n, ok := frameLen(r.buf); ok && len(r.buf) >= n {
			f := r.buf[:n]
			r.buf = r.buf[n:]
			hdr := 2
			switch f[1] & 0x7F {
			case 126:
				hdr = 4
			case 127:
				hdr = 10
			}
			if f[0] != 0x81 || f[1]&0x80 != 0 {
				r.t.Fatalf("not a final, unmasked text frame: % x", f[:hdr])
			}
			return f[hdr:]
		}
		p := make([]byte, 1<<20)
		r.peer.SetReadDeadline(time.Now().Add(time.Minute))
		n, err := r.peer.Read(p)
		if err != nil {
			r.t.Fatalf("after %d writes: %v", r.writes, err)
		}
		r.writes++
		r.buf = append(r.buf, p[:n]...)
	}
}

// numbered reads the snapshot, then n messages whose bodies start with
// their number, 0 … n-1: each whole, in order, none lost. Presence frames
// between them (sessions arriving) are skipped.
func (r *pipeReader) numbered(n int) {
	r.t.Helper()
	if f := r.next(); !strings.Contains(string(f), `"snapshot"`) {
		r.t.Fatalf("first frame: %.80s", f)
	}
	last := uint64(0)
	for i := 0; i < n; {
		var f struct {
			Type string
			Seq  uint64
			Body string
		}
		raw := r.next()
		if err := json.Unmarshal(raw, &f); err != nil {
			r.t.Fatalf("frame %d is not whole: %v: %.80q", i, err, raw)
		}
		if f.Type == "presence" {
			continue
		}
		if f.Type != "message" || f.Seq <= last {
			r.t.Fatalf("frame %d: %.80s (previous seq %d)", i, raw, last)
		}
		last = f.Seq
		if num, _, _ := strings.Cut(f.Body, " "); num != strconv.Itoa(i) {
			r.t.Fatalf("frame %d carries message %s", i, num)
		}
		i++
	}
}

// frameLen is the length of the frame b starts with, if its header is in b.
func frameLen(b []byte) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	switch n := int(b[1] & 0x7F); n {
	case 126:
		if len(b) < 4 {
			return 0, false
		}
		return 4 + int(binary.BigEndian.Uint16(b[2:4])), true
	case 127:
		if len(b) < 10 {
			return 0, false
		}
		return 10 + int(binary.BigEndian.Uint64(b[2:10])), true
	default:
		return 2 + n, true
	}
}

// TestQueuedEventsGoOutTogetherInOrder: what a connection has queued when
// its flush runs leaves in as few writes as the batch allows, every frame
// whole (short and 16-bit lengths mixed), in order, none lost; a contact's
// presence updates queued by a reader that is not behind are all sent,
// not coalesced. The events are queued before the wake-up, so nothing here
// depends on how fast the machine is.
func TestQueuedEventsGoOutTogetherInOrder(t *testing.T) {
	writes := new(atomic.Int64)
	c, other, peer := heldConn(t, &Handler{Log: discard, Live: new(atomic.Int64), Writes: writes}, nil)
	s := c.proto.Session
	const n = 150 // more than one batch (maxBatch)
	for i := 0; i < n; i++ {
		body := strconv.Itoa(i)
		if i%3 == 0 {
			body += " " + strings.Repeat("x", 200) // a frame over 125 bytes: a 16-bit length
		}
		if _, err := other.Send(core.Message{Kind: core.KindMessage, To: s.Address(), Body: body}); err != nil {
			t.Fatal(err)
		}
	}
	c.writing.Store(false)
	c.Wake()

	r := &pipeReader{t: t, peer: peer}
	r.numbered(n)
	// 151 frames in batches of maxBatch: 3 writes, however they were woken
	if want := (n + 1 + maxBatch - 1) / maxBatch; r.writes != want {
		t.Fatalf("%d frames came in %d writes, want %d", n+1, r.writes, want)
	}
	// the flush counts a write once it returned: wait for it to finish
	for deadline := time.Now().Add(time.Minute); c.writing.Load() && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if got := writes.Load(); got != int64(r.writes) {
		t.Fatalf("counted %d writes, the peer read %d", got, r.writes)
	}
	if len(r.buf) != 0 {
		t.Fatalf("%d bytes left over", len(r.buf))
	}
	// nothing more is written: a further read would block
	peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := peer.Read(make([]byte, 1)); err == nil || err == io.EOF {
		t.Fatalf("unexpected further write (%v)", err)
	}
}

// TestPresenceUpdatesQueuedAreAllSent: a watcher that is a little behind
// (fewer than CoalesceAfter events unsent: 64, testHub) receives
// every presence update of a contact, in order, in one write.
func TestPresenceUpdatesQueuedAreAllSent(t *testing.T) {
	c, other, peer := heldConn(t, &Handler{Log: discard, Live: new(atomic.Int64)}, &core.Presence{Availability: core.Available})
	const n = 40
	for i := 0; i < n; i++ {
		other.SetPresence(core.Presence{Availability: core.Available, Status: strconv.Itoa(i)})
	}
	c.writing.Store(false)
	c.Wake()

	r := &pipeReader{t: t, peer: peer}
	next := 0
	for next < n {
		var f struct {
			Type   string
			Status string
		}
		raw := r.next()
		if err := json.Unmarshal(raw, &f); err != nil {
			t.Fatalf("frame not whole: %v: %q", err, raw)
		}
		if f.Type != "presence" || f.Status == "" {
			continue // the snapshot, b's arrival
		}
		if f.Status != strconv.Itoa(next) {
			t.Fatalf("update %d arrived as %q", next, f.Status)
		}
		next++
	}
	if r.writes != 1 {
		t.Fatalf("%d updates took %d writes, want 1", n, r.writes)
	}
}
