package c2s

// A bound stream is its core session's Sink: the core wakes it when events
// wait, and a flush goroutine, alive only while there are some, pulls them
// and writes them as stanzas (events.go).

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/tlsrecord"
)

// live is a bound stream's core session and what it has told the client:
// the state a resumed stream (XEP-0198) takes over from the one it resumes.
// Every idle stream holds one: the small fields share a word (120 bytes,
// TestLiveSize).
type live struct {
	sess      *core.Session
	available atomic.Bool // the client sent initial presence (RFC 6121 § 4.2)
	synced    bool        // the first snapshot was delivered; under fmu
	capsAsked bool        // our disco#info query about capsVer is out (caps.go); reader only
	pushID    atomic.Uint64
	sm        atomic.Pointer[smState] // stream management, once enabled (sm.go)

	fmu    sync.Mutex   // held by a flush: one at a time, even across a resumption
	shown  shownSet     // contact → resources last announced as available (events.go); under fmu
	blocks []string     // the block list as last told; under fmu
	rstate *rosterState // the roster as last told, once read (roster.go); under fmu

	// boot is what the core read at bind, for the roster get and initial
	// presence that follow (core.View); reader only, dropped at initial
	// presence
	boot *core.View

	capsVer string // entity capabilities last seen in presence; reader only
}

// open starts the core session for the bound stream. Nothing is flushed
// until started: the bind result must go out first.
func (c *conn) open(resource string) error {
	c.writing.Store(true)
	l := &live{boot: &core.View{}}
	c.live = l // before the session exists, so the core's calls on c find it
	opts := core.SessionOptions{Transport: "xmpp", Device: "xmpp", Resource: resource, Payloads: true, Topics: []string{}, StoredOnAck: true,
		Credential: c.credential(), Checked: c.checked, Channel: c.channel(), View: l.boot, Account: c.signIn}
	c.signIn = nil
	if c.app != nil {
		opts.Scopes = c.app.scopes // what its user granted the app (oauthbearer.go)
	}
	s, err := c.s.Hub.Connect(context.Background(), c.account, opts, c)
	if err != nil {
		c.live = nil // writing stays taken: no flush starts without a session
		return err
	}
	l.sess = s
	return nil
}

// started lets events flow once the resumed result is out.
func (c *conn) started() {
	c.writing.Store(false)
	c.Wake()
}

// bound lets events flow once the bind result is out. What the core queued
// meanwhile (the snapshot: a few personal items at most) is written here,
// on the reader, which has nothing else to do until the client's next
// request, rather than by a goroutine started for it.
func (c *conn) bound() {
	c.flush()
}

// gathered runs f with the writing flag taken, when it is free, so that
// the events f causes (initial presence: the contacts' presence, the
// requests pending) wait for one flush at its end, on this goroutine,
// instead of each waking a flush as it comes. With a flush under way, that
// flush takes them as usual.
func (c *conn) gathered(f func() error) error {
	if !c.writing.CompareAndSwap(false, true) {
		return f()
	}
	err := f()
	c.flush()
	return err
}

// Wake (core.Sink) flushes events on a flusher (flushers.go) while any
// wait.
func (c *conn) Wake() {
	if c.writing.CompareAndSwap(false, true) {
		flushers.run(c.flush)
	}
}

// Close (core.Sink) ends the stream, unless the client is ending it.
func (c *conn) Close(g core.Goaway) {
	c.unhooked.Store(true) // the core calls this as it takes the session from us
	if c.leaving.Load() {
		return
	}
	go func() {
		cond := "reset"
		switch {
		case g.Reason == core.GoawayConflict:
			cond = "conflict" // RFC 6120 § 4.9.3.3
		case g.Reconnect:
			cond = "system-shutdown"
		}
		c.end(cond, g.Reason)
		c.interrupt()
	}()
}

// flush writes events until none wait. After giving up the writing flag
// it looks again, for events that arrived while it held the flag (their
// Wake found it taken). Pending counts the outbox whoever its sink is now:
// once this connection is unhooked, Pull gives it nothing, so looking again
// would spin for as long as another sink (or none, after a drop) leaves
// events unsent.
func (c *conn) flush() {
	defer c.restWrite()
	for {
		if err := c.flushBatches(); err != nil {
			c.interrupt()
			c.writing.Store(false)
			return
		}
		c.writing.Store(false)
		if c.unhooked.Load() || !c.sess.Pending() || !c.writing.CompareAndSwap(false, true) {
			return
		}
	}
}

// restWrite drops TLS's writing AEAD once a flush is over: most flushes
// reach a parked stream, which would keep it for its idle life.
func (c *conn) restWrite() {
	if rc, ok := c.tls.(*tlsrecord.Conn); ok {
		rc.RestWrite()
	}
}

// flushBatches writes what the session has queued. Without stream
// management, written is delivered (TCP); with it, the client's acks say
// what arrived (sm.go).
func (c *conn) flushBatches() error {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	defer c.shown.fit() // held as it is while the stream idles
	sm := c.sm.Load()
	me := "" // the session's address, made once per flush
	for {
		batch := c.sess.Pull(c, 64)
		if len(batch) == 0 {
			break
		}
		if me == "" {
			me = c.sess.Address()
		}
		err := c.batched(func() error {
			for _, d := range batch {
				if err := c.deliver(d.Event, me); err != nil {
					return err
				}
				if sm != nil {
					sm.mark(d.Seq)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if sm == nil { // written out: the batch has left
			c.sess.Ack(batch[len(batch)-1].Seq)
		}
	}
	if sm != nil {
		return c.requestAck(sm)
	}
	return nil
}
