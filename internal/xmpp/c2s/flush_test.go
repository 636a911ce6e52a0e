package c2s

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// pipeFraming is TCP's framing over a net.Pipe, which no poller parks:
// finishing the stream just closes the pipe.
type pipeFraming struct{ tcpFraming }

func (pipeFraming) finish(c *conn, _ bool) { c.nc.Close() }

// boundConn binds alice/phone on a connection over a pipe whose client
// end is drained, with its flush held back (as between binding and the
// bind result): the session's snapshot waits unsent in the outbox.
func boundConn(t *testing.T, r rig) *conn {
	t.Helper()
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	go io.Copy(io.Discard, client)
	c := &conn{s: r.srv, nc: server, frame: pipeFraming{}, account: "alice@localhost"}
	if err := c.open("phone"); err != nil {
		t.Fatal(err)
	}
	if !c.sess.Pending() {
		t.Fatal("nothing waits in the outbox: the test would prove nothing")
	}
	return c
}

// flushEnds runs c's flush as Wake would have started it and fails if it
// does not return: with events pending for another sink (or none), a flush
// that keeps looking again spins forever.
func flushEnds(t *testing.T, c *conn) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		c.flush()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second): // generous: it returns at once, or never
		t.Fatal("the flush of a connection that is no longer the session's sink is still running (spinning)")
	}
}

// TestFlushStopsWhenDropped: a connection that drops while events are
// pending (its flush running) leaves them for a resumption and its flush
// ends, although the session stays online through the grace period.
func TestFlushStopsWhenDropped(t *testing.T) {
	r := start(t, true)
	c := boundConn(t, r)
	c.unhook(io.EOF)
	if !c.sess.Pending() {
		t.Fatal("the drop discarded the outbox")
	}
	flushEnds(t, c)
}

// TestFlushStopsWhenReplaced: a session resumed on another connection,
// which has not pulled yet, leaves the old connection's flush with
// events pending that are not its own; the flush ends.
func TestFlushStopsWhenReplaced(t *testing.T) {
	r := start(t, true)
	c := boundConn(t, r)
	other := &coreSink{woke: make(chan struct{}, 1)} // never pulls
	if _, _, err := r.hub.Resume(context.Background(), "alice@localhost", "phone", 0, other); err != nil {
		t.Fatal(err)
	}
	if !c.sess.Pending() {
		t.Fatal("nothing waits for the new sink")
	}
	flushEnds(t, c)
}

// countedConn counts the Writes made on a connection.
type countedConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countedConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

// TestFlushWritesABatchAtOnce: what one flush writes over TCP leaves in
// one Write (one TLS record, one system call), not one per stanza, and
// arrives whole and in order.
func TestFlushWritesABatchAtOnce(t *testing.T) {
	r := start(t, true)
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	counted := &countedConn{Conn: server}
	c := &conn{s: r.srv, nc: counted, frame: pipeFraming{}, account: "alice@localhost"}
	if err := c.open("phone"); err != nil {
		t.Fatal(err)
	}
	other, err := r.hub.Connect(context.Background(), "alice@localhost", core.SessionOptions{Device: "desk"}, &coreSink{woke: make(chan struct{}, 1)})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	for i := range n {
		if _, err := other.Send(core.Message{Kind: core.KindMessage, Type: core.TypeChat, To: "alice@localhost/phone", ID: fmt.Sprint("m", i), Body: "hi"}); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(client)
		got <- string(b)
	}()
	if err := c.flushBatches(); err != nil {
		t.Fatal(err)
	}
	if w := counted.writes.Load(); w != 1 {
		t.Errorf("a flush of %d messages made %d writes, want 1", n, w)
	}
	server.Close()
	text := <-got
	last := -1
	for i := range n {
		at := strings.Index(text, fmt.Sprintf("id='m%d'", i))
		if at < 0 {
			at = strings.Index(text, fmt.Sprintf(`id="m%d"`, i))
		}
		if at <= last {
			t.Fatalf("message m%d missing or out of order in %q", i, text)
		}
		last = at
	}
}

// TestInitialPresenceFlushesOnce: what initial presence brings, the
// presence of every contact online, is written in one Write before the
// reader goes on to the client's next stanza, not by flushes woken one
// event at a time.
func TestInitialPresenceFlushesOnce(t *testing.T) {
	r := start(t, true)
	ctx := context.Background()
	contacts := []string{"bob@localhost", "carol@localhost", "dave@localhost"}
	for _, b := range contacts {
		if _, err := r.auth.CreateAccount(ctx, b, "pw-"+b); err != nil {
			t.Fatal(err)
		}
		for _, p := range [][2]string{{"alice@localhost", b}, {b, "alice@localhost"}} {
			if err := r.hub.Subscribe(ctx, p[0], p[1]); err != nil {
				t.Fatal(err)
			}
			if err := r.hub.Approve(ctx, p[1], p[0]); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := r.hub.Connect(ctx, b, core.SessionOptions{Device: "desk", Presence: &core.Presence{Availability: core.Available}},
			&coreSink{woke: make(chan struct{}, 1)}); err != nil {
			t.Fatal(err)
		}
	}
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	counted := &countedConn{Conn: server}
	c := &conn{s: r.srv, nc: counted, frame: pipeFraming{}, account: "alice@localhost"}
	got := make(chan string)
	go func() {
		b, _ := io.ReadAll(client)
		got <- string(b)
	}()
	if err := c.open("phone"); err != nil {
		t.Fatal(err)
	}
	c.bound()
	before := counted.writes.Load()
	el, err := xmlstream.Parse(`<presence xmlns='jabber:client'/>`)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.onPresence(el); err != nil {
		t.Fatal(err)
	}
	if w := counted.writes.Load() - before; w != 1 {
		t.Errorf("initial presence with %d contacts online made %d writes by its return, want 1", len(contacts), w)
	}
	server.Close()
	text := <-got
	for _, b := range contacts {
		if !strings.Contains(text, "from='"+b+"/") && !strings.Contains(text, `from="`+b+`/`) {
			t.Errorf("no presence from %s in %q", b, text)
		}
	}
}
