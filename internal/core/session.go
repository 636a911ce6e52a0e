package core

import (
	"sync"
	"sync/atomic"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/ratelimit"
)

// Sink is a transport's end of a session. The hub calls it while holding
// locks, so both methods must return at once.
type Sink interface {
	// Wake says that events are waiting in the session's outbox; the
	// transport pulls them with Session.Pull.
	Wake()
	// Close tells the transport to say goodbye with g and drop its connection.
	Close(g Goaway)
}

// Session is one live connection of one device: alice@example.org/phone-3f2a.
// It keeps presence (guarded by its account's lock) and an outbox (its own
// lock).
//
// The outbox holds events with sequence numbers seq-len(queue)+1 … seq, none
// older than the client's last ack. Pull hands the unsent ones to the
// transport; Rewind sends again what a dropped connection lost. Presence
// events not yet sent are coalesced, latest per subject, once the reader
// has fallen behind (Limits.CoalesceAfter events unsent), so a slow reader
// costs one entry per contact, not one per update, while a reader a little
// behind gets every update, several per write.
type Session struct {
	hub        *Hub
	Account    string
	Resource   string
	transport  *transportGauge // its transport: name and gauge of sessions
	credential string          // what it signed in with (lifecycle.go)
	channel    Channel
	accepts    kindSet
	payloads   bool            // takes Message.Payload
	available  bool            // has published presence: shown to others; under the account's lock
	private    bool            // in an app its user keeps private (appgrants.go); under the account's lock
	resync     bool            // the outbox overflowed: the next attach starts with a snapshot; under mu
	portable   bool            // resumable on another node (SessionOptions.Resumable, adopt.go)
	offered    bool            // stored messages were offered to it (offline.go); under the account's lock
	storedAck  bool            // an ack of a stored message deletes it (SessionOptions.StoredOnAck)
	topics     atomic.Uint32   // topicSet of personal events it takes
	carbons    atomic.Bool     // takes carbon copies (XEP-0280)
	ended      atomic.Bool     // set under the account's lock
	graceMS    uint32          // this session's own grace period in milliseconds, if set; under the account's lock
	started    uint32          // when it was opened: seconds since the hub started (devices.go)
	rate       ratelimit.State // requests it may make (Spend); under mu
	// standIn is set, when it is made, on a session that stands here for
	// one of another node or domain (callpeers.go, roompeers.go); nil for
	// this node's own sessions.
	standIn *standIn

	// guarded by the account's lock
	user     *user
	presence Presence
	rare     *sessionRare // what few sessions use, or use for a while; made when needed

	mu     sync.Mutex
	sink   Sink
	seq    uint64 // last assigned sequence number
	sent   uint64 // last handed to the transport
	handed uint64 // highest ever handed to the transport: what Rewind makes unsent again is not coalesced (the client may have seen it)
	queue  []Delivery
	// coalesce maps a subject to the seq of its latest presence event never
	// handed to the transport. It is made only once a push may coalesce
	// (coalesceIndexLocked) and dropped when nothing is left unsent, so a
	// reader that keeps up pays for no map.
	coalesce map[string]uint64
}

// standIn says where the session a stand-in stands for lives.
type standIn struct {
	node   string // a session of another node standing in a call or room kept here (callpeers.go); "" for another domain's
	remote string // the domain of a session of another domain standing in a room here (roomremote.go)
}

// sessionRare holds what a session needs only while detached, or once it
// uses a feature few use: an idle session holds none of it
// (docs/benchmarks.md, idle sessions). Guarded by the account's lock.
type sessionRare struct {
	grace    clock.Timer         // ends it once its grace period passes, while detached
	directed map[string]struct{} // accounts shown directed presence (RFC 6121 § 4.6)
	queries  []pendingQuery      // its queries to other domains' accounts awaiting answers (federation.go)
	foreign  []foreignRoom       // the rooms of other domains it joined (foreignrooms.go)
}

// node is the node a stand-in's session lives on; "" for this node's
// sessions and those of other domains.
func (s *Session) node() string {
	if s.standIn == nil {
		return ""
	}
	return s.standIn.node
}

// remote is the domain of a stand-in's session of another domain; "" for
// the rest.
func (s *Session) remote() string {
	if s.standIn == nil {
		return ""
	}
	return s.standIn.remote
}

// rareLocked returns s.rare, made if need be; the caller holds the
// account's lock.
func (s *Session) rareLocked() *sessionRare {
	if s.rare == nil {
		s.rare = &sessionRare{}
	}
	return s.rare
}

// dropRareLocked lets s.rare go once nothing is left in it.
func (s *Session) dropRareLocked() {
	if r := s.rare; r != nil && r.grace == nil && r.directed == nil && len(r.queries) == 0 && len(r.foreign) == 0 {
		s.rare = nil
	}
}

// Address is the session's full address.
func (s *Session) Address() string { return s.Account + "/" + s.Resource }

type kindSet uint8

const (
	acceptMessage kindSet = 1 << iota
	acceptSignal
	acceptIQ
	acceptCall // rung by calls (calls.go)
)

func kindBit(kind string) kindSet {
	switch kind {
	case KindMessage:
		return acceptMessage
	case KindSignal:
		return acceptSignal
	case KindIQ:
		return acceptIQ
	case KindCall:
		return acceptCall
	}
	return 0
}

// first is the sequence number of queue[0] (seq+1 when the queue is empty).
func (s *Session) first() uint64 { return s.seq - uint64(len(s.queue)) + 1 }

// push appends ev to the outbox and wakes the transport; memo is shared by
// the sessions one Route reached, so a transport encodes ev once.
func (s *Session) push(ev Event, memo *Memo) {
	s.mu.Lock()
	if s.resync { // overflowed: the snapshot on resumption will cover it
		s.mu.Unlock()
		return
	}
	lim := s.hub.cfg.Limits
	pe, presence := ev.(PresenceEvent)
	if presence && s.seq > s.handed && s.seq-s.sent >= uint64(min(lim.CoalesceAfter, lim.OutboxUnsent/2)) {
		if at, ok := s.coalesceIndexLocked()[pe.View.Address]; ok && at > s.sent && at >= s.first() {
			s.queue[at-s.first()] = Delivery{Seq: at, Event: ev, Memo: memo}
			s.mu.Unlock()
			s.hub.metrics.Coalesced.Add(1)
			return
		}
	}
	s.seq++
	s.queue = append(s.queue, Delivery{Seq: s.seq, Event: ev, Memo: memo})
	if presence && s.coalesce != nil {
		s.coalesce[pe.View.Address] = s.seq
	}
	if s.seq-s.sent > uint64(lim.OutboxUnsent) {
		s.overflowLocked()
		return
	}
	for len(s.queue) > lim.OutboxRetained && s.queue[0].Seq <= s.sent {
		s.queue[0] = Delivery{}
		s.queue = s.queue[1:] // sent long ago and never acked: a resume that far back resyncs
	}
	sink := s.sink
	s.mu.Unlock()
	if sink != nil {
		sink.Wake()
	}
}

// coalesceIndexLocked returns s.coalesce, made from the events never
// handed to the transport if there is none yet: the latest presence event
// of each subject among them.
func (s *Session) coalesceIndexLocked() map[string]uint64 {
	if s.coalesce != nil {
		return s.coalesce
	}
	s.coalesce = make(map[string]uint64)
	from := s.handed + 1
	if f := s.first(); from < f {
		from = f
	}
	for _, d := range s.queue[from-s.first():] {
		if pe, ok := d.Event.(PresenceEvent); ok {
			s.coalesce[pe.View.Address] = d.Seq
		}
	}
	return s.coalesce
}

// overflowLocked handles a reader too slow to keep up: the backlog is
// dropped and the connection closed (the transport then detaches, which
// starts the grace period); a resume gets a fresh snapshot.
func (s *Session) overflowLocked() {
	s.queue, s.coalesce, s.sent, s.handed, s.resync = nil, nil, s.seq, s.seq, true
	sink := s.sink
	s.mu.Unlock()
	s.hub.metrics.QueueDrops.Add(1)
	if sink != nil {
		sink.Close(Goaway{Reason: "slow_consumer", Reconnect: true})
	}
}

// Pull returns up to max unsent events and marks them sent, if sink is
// still the session's transport (a replaced connection gets nothing).
func (s *Session) Pull(sink Sink, max int) []Delivery { return s.PullAppend(nil, sink, max) }

// PullAppend is Pull appending to dst, so a transport can reuse one slice.
func (s *Session) PullAppend(dst []Delivery, sink Sink, max int) []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sink != sink {
		return dst
	}
	start := int(s.sent + 1 - s.first())
	if start < 0 {
		start = 0
	}
	end := len(s.queue)
	if end-start > max {
		end = start + max
	}
	if start >= end {
		return dst
	}
	full := append(dst, s.queue[start:end]...)
	out := full[len(dst):]
	s.sent = out[len(out)-1].Seq
	if s.sent > s.handed {
		s.handed = s.sent
	}
	if s.coalesce != nil {
		for _, d := range out {
			if pe, ok := d.Event.(PresenceEvent); ok && s.coalesce[pe.View.Address] == d.Seq {
				delete(s.coalesce, pe.View.Address)
			}
		}
		if len(s.coalesce) == 0 {
			s.coalesce = nil
		}
	}
	s.hub.metrics.Delivered.Add(uint64(len(out)))
	return full
}

// Ack drops events up to seq: the client has them.
func (s *Session) Ack(seq uint64) {
	s.mu.Lock()
	stored := s.ackLocked(seq)
	s.mu.Unlock()
	s.forgetStored(stored)
}

// AckWritesStore reports whether Ack(seq) may have to delete stored
// messages (a store write) rather than only drop events from memory. Its
// false holds until that ack is made: seq is at most what was sent, and
// events queued later have higher numbers. A transport that must not wait
// (answering on the poller's goroutine) asks it before acking.
func (s *Session) AckWritesStore(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq > s.sent { // capped at what is sent when made, which may grow
		return true
	}
	for _, d := range s.queue {
		if d.Seq > seq {
			break
		}
		if me, ok := d.Event.(MessageEvent); ok && me.Stored != 0 && s.storedAck {
			return true
		}
	}
	return false
}

// ackLocked drops events up to seq; it returns the stored messages among
// them when their ack deletes them (StoredOnAck).
func (s *Session) ackLocked(seq uint64) (stored []int64) {
	if seq > s.sent {
		seq = s.sent
	}
	for len(s.queue) > 0 && s.queue[0].Seq <= seq {
		if me, ok := s.queue[0].Event.(MessageEvent); ok && me.Stored != 0 && s.storedAck {
			stored = append(stored, me.Stored)
		}
		s.queue[0] = Delivery{}
		s.queue = s.queue[1:]
	}
	if len(s.queue) == 0 {
		s.queue = nil // idle sessions hold no buffer
	}
	return stored
}

// Rewind makes everything after seq unsent again, as after a lost response
// or a dropped connection. It reports false if events after seq are gone.
func (s *Session) Rewind(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rewindLocked(seq)
}

func (s *Session) rewindLocked(seq uint64) bool {
	if seq > s.seq || seq+1 < s.first() || s.resync {
		return false
	}
	s.sent = seq
	s.ackLocked(seq)
	return true
}

// Acked is the last sequence number acknowledged (or resent from).
func (s *Session) Acked() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first() - 1
}

// Seq returns the last sequence number assigned.
func (s *Session) Seq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq
}

// attach connects a transport; the caller holds the account's lock.
func (s *Session) attach(sink Sink) (old Sink) {
	s.mu.Lock()
	old, s.sink = s.sink, sink
	s.mu.Unlock()
	return old
}

// Spend charges one request to the session's rate limit. ok is false when
// the request must be refused; abusive when the client should be dropped.
func (s *Session) Spend() (ok, abusive bool) {
	lim := s.hub.cfg.Limits
	now := s.hub.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rate.Take(now, lim.RequestsPerSecond, lim.RequestBurst)
}

// Strike records a bad request and reports whether the client is abusive.
func (s *Session) Strike() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rate.Strike()
}

// Pending reports whether unsent events wait in the outbox.
func (s *Session) Pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq > s.sent
}

// takes reports whether the session takes personal events of a topic.
func (s *Session) takes(bit topicSet) bool { return topicSet(s.topics.Load())&bit != 0 }

// target addresses this session alone.
func (s *Session) target() Target {
	return Target{Account: s.Account, Resource: s.Resource, Channel: s.channel}
}

// SetCredential records what a resumed session signed in with this time,
// verified after checked (SessionOptions.Checked). A right lost since ends
// the session and is returned as an error.
func (s *Session) SetCredential(c string, checked Checkpoint) error {
	h := s.hub
	defer h.lock(s.Account)()
	if reason, lost := h.rights.lostSince(s.Account, c, checked); lost {
		h.endLocked(s, reason)
		return Errorf(CodeUnauthorized, "%s", reason)
	}
	s.credential = c
	return nil
}
