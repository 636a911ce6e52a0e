package c2s

// XEP-0198 Stream Management on the core's session outbox. Each core
// delivery becomes one or more stanzas; the stream remembers how many
// stanzas it had written after each delivery (a mark), so the client's
// <a h='N'/> acknowledges core sequence numbers, and the core keeps what is
// unacknowledged. A dropped stream is resumed with <resume/> within the
// resumption window (Server.ResumeWindow, counted from the drop; the core
// session stays online as long, by SetGrace): the core rewinds to the last
// acknowledged delivery and the new stream sends the rest again, with the
// old stream's state (who was shown online, the block list) taken over.
// Stanzas that are not core deliveries (iq results) are not kept for
// resending.

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const nsSM = "urn:xmpp:sm:3"

// maxMarks bounds the unacknowledged deliveries a stream keeps track of; a
// client that acknowledges nothing for that long is closed.
const maxMarks = 4096

// smState is one stream's stream management; a resumed stream takes it over.
type smState struct {
	id  string        // resumption id; "" when not resumable
	in  atomic.Uint32 // stanzas handled from the client
	out atomic.Uint32 // stanzas written to the client
	// asked: an <r/> is out and unanswered
	asked atomic.Bool

	mu    sync.Mutex
	marks []smMark
}

// smMark: after writing out stanzas, delivery seq was fully sent.
type smMark struct {
	out uint32
	seq uint64
}

func (sm *smState) mark(seq uint64) {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	sm.marks = append(sm.marks, smMark{sm.out.Load(), seq})
}

// acked drops the marks the client's count h covers and returns the last
// delivery they complete (0 if none).
func (sm *smState) acked(h uint32) uint64 {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	var seq uint64
	n := 0
	for _, m := range sm.marks {
		if int32(h-m.out) < 0 { // counts wrap at 2^32 (§ 4)
			break
		}
		seq, n = m.seq, n+1
	}
	sm.marks = sm.marks[n:]
	return seq
}

// resumePoint (called under the stream's fmu: no flush marks meanwhile)
// is the delivery a stream resumed with the client's count h
// goes on after: the last one h completes; when h completes none of those
// written since the last acknowledgement, the one before the first of
// them. Not the session's own acknowledgement point: the core stops
// keeping events written long ago (its retention bound), and those the
// client never acknowledged must then be resynchronised, not skipped as if
// they had arrived. With nothing written since, it is the session's.
func (sm *smState) resumePoint(h uint32, sess *core.Session) uint64 {
	sm.mu.Lock()
	var first uint64
	if len(sm.marks) > 0 {
		first = sm.marks[0].seq
	}
	sm.mu.Unlock()
	if seq := sm.acked(h); seq > 0 {
		return seq
	}
	if first > 0 {
		return first - 1
	}
	return sess.Acked()
}

func (sm *smState) pending() int {
	sm.mu.Lock()
	defer sm.mu.Unlock()
	return len(sm.marks)
}

// resumable keeps the streams that may be resumed, by id.
type resumable struct {
	mu sync.Mutex
	m  map[string]resumeEntry
}

type resumeEntry struct {
	account string
	live    *live
	conn    *conn // the connection the stream is on, or was on when it dropped
	// until is the end of the resumption window once conn dropped; zero
	// while it is connected, however long ago the stream began.
	until time.Time
}

// maxResumable bounds the table: past it, new streams get no resumption.
const maxResumable = 100_000

// put records a resumable stream on its connection; false when the table
// is full even of streams still resumable.
func (r *resumable) put(id string, e resumeEntry, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]resumeEntry{}
	}
	if len(r.m) >= maxResumable/2 { // sweep what can no longer be resumed
		for k, v := range r.m {
			if !v.until.IsZero() && now.After(v.until) {
				delete(r.m, k)
			}
		}
	}
	if _, ok := r.m[id]; !ok && len(r.m) >= maxResumable {
		return false
	}
	r.m[id] = e
	return true
}

// dropped starts the resumption window of the stream id if c, whose
// connection is gone, still carries it (not if it was resumed elsewhere).
func (r *resumable) dropped(id string, c *conn, until time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.m[id]; ok && e.conn == c {
		e.until = until
		r.m[id] = e
	}
}

// take removes and returns an entry, and whether it is resumable at now:
// connected (the server has not noticed the drop yet) or within its
// window.
func (r *resumable) take(id, account string, now time.Time) (*live, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[id]
	if !ok || e.account != account {
		return nil, false // another account's id is as unknown as a made-up one
	}
	delete(r.m, id)
	return e.live, e.until.IsZero() || !now.After(e.until)
}

// drop forgets the stream id if c carries it: c's stream ended for good.
func (r *resumable) drop(id string, c *conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.m[id]; ok && e.conn == c {
		delete(r.m, id)
	}
}

// onSM handles a stream management element on a bound stream.
func (c *conn) onSM(el *xmlstream.Element) error {
	sm := c.sm.Load()
	switch el.Name.Local {
	case "enable":
		if sm != nil {
			return c.write(smFailed("unexpected-request"))
		}
		sm = &smState{}
		enabled := xmlstream.New(nsSM, "enabled")
		if v := el.AttrValue("resume"); v == "true" || v == "1" {
			id := randomToken()
			if c.s.resume.put(id, resumeEntry{account: c.account, live: c.live, conn: c}, c.s.clock().Now()) {
				sm.id = id
				enabled.Set("resume", "true").Set("max", strconv.Itoa(int(c.s.resumeWindow()/time.Second)))
				c.sess.SetGrace(c.s.resumeWindow()) // the core keeps the session for the window
			}
		}
		// marks start with the next delivery: flushes in progress finish under fmu first
		c.fmu.Lock()
		c.sm.Store(sm)
		c.fmu.Unlock()
		return c.write(enabled.Set("id", sm.id))
	case "r":
		if sm != nil {
			return c.write(xmlstream.New(nsSM, "a").Set("h", strconv.FormatUint(uint64(sm.in.Load()), 10)))
		}
	case "a":
		if sm != nil {
			h, err := strconv.ParseUint(el.AttrValue("h"), 10, 32)
			if err != nil {
				return &xmlstream.StreamError{Condition: "undefined-condition", Text: "h must be a count"}
			}
			sm.asked.Store(false)
			if seq := sm.acked(uint32(h)); seq > 0 {
				c.sess.Ack(seq)
			}
		}
	}
	return nil
}

// requestAck asks the client for an ack when deliveries await one.
func (c *conn) requestAck(sm *smState) error {
	n := sm.pending()
	if n > maxMarks {
		return &xmlstream.StreamError{Condition: "policy-violation", Text: "too many unacknowledged stanzas"}
	}
	if n > 0 && sm.asked.CompareAndSwap(false, true) {
		return c.write(xmlstream.New(nsSM, "r"))
	}
	return nil
}

// resume takes over a dropped stream (§ 5) in place of binding. It reports
// whether it did; a failure is answered and the client may bind instead.
func (c *conn) resume(el *xmlstream.Element) (bool, error) {
	h, err := strconv.ParseUint(el.AttrValue("h"), 10, 32)
	old, inTime := c.s.resume.take(el.AttrValue("previd"), c.account, c.s.clock().Now())
	var oldSM *smState
	if old != nil {
		oldSM = old.sm.Load()
	}
	if err != nil || old == nil || !inTime || oldSM == nil {
		return false, c.write(smFailed("item-not-found"))
	}
	old.fmu.Lock() // the old stream's flush, if still running, finishes first
	lastSeq := oldSM.resumePoint(uint32(h), old.sess)
	oldSM.marks = nil // what was not acknowledged is sent again, and counted again
	oldSM.out.Store(uint32(h))
	oldSM.asked.Store(false)
	old.fmu.Unlock()
	c.writing.Store(true)
	c.live = old
	// only a stream signed in the same way resumes: an app's stream by that
	// app, a password's by a password; what it signed in with this time is
	// what revocation ends it by
	// old.sess is not written: the dropped connection, still reading it as
	// it ends, shares old; the session resumed is that one or none
	s, replayed, err := c.s.Hub.ResumeSession(context.Background(), old.sess, c.channel(), lastSeq, c)
	if err == nil {
		err = s.SetCredential(c.credential(), c.checked)
	}
	if err != nil {
		c.live = nil // writing stays taken: no flush starts without a session
		return false, c.write(smFailed("item-not-found").Set("h", strconv.FormatUint(uint64(oldSM.in.Load()), 10)))
	}
	if !replayed { // lost events: what the dropped connection wrote may not have arrived
		old.fmu.Lock()
		if old.rstate != nil {
			old.rstate.unsure = true
		}
		old.fmu.Unlock()
	}
	c.s.resume.put(oldSM.id, resumeEntry{account: c.account, live: c.live, conn: c}, c.s.clock().Now()) // it may drop again
	if err := c.write(xmlstream.New(nsSM, "resumed").Set("h", strconv.FormatUint(uint64(oldSM.in.Load()), 10)).Set("previd", el.AttrValue("previd"))); err != nil {
		return true, err
	}
	c.started()
	if !replayed && c.available.Load() {
		return true, c.sess.Probe(context.Background(), nil) // after a resynchronisation, presence anew
	}
	return true, nil
}

// smFailed is a stream management failure with a stanza error condition.
func smFailed(condition string) *xmlstream.Element {
	return xmlstream.New(nsSM, "failed").Add(xmlstream.New(nsStanzas, condition))
}

// randomToken is an unguessable identifier (144 bits): resumption ids, BOSH
// session ids.
func randomToken() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
