package core

import (
	"context"

	"github.com/presenced/presenced/internal/addr"
)

// Adopting a session whose node is gone (docs/architecture.md, "Cluster").
// A session lives in the memory of one node. So that its client can
// resume it on another node when that node dies or shuts down, each node
// keeps in the cluster's registry a record of its resumable sessions
// (what a session needs to start again: its channel, presence, grace and
// what it takes), and a resume of a session this node does not hold asks
// the cluster to hand that record over (Adopter.Adopt): the session
// starts here under the same resource, shown with the presence it had,
// its undelivered events lost (the client gets a snapshot) and its
// sequence numbers continuing after the client's. The cluster decides
// whether the node that held it is gone and makes sure one node at most
// takes it; the core decides nothing else differently.

// SessionRecord is what a node keeps of one resumable session: plain
// data, so that another node can start it again.
type SessionRecord struct {
	Account, Resource string
	App               string    // the app of its channel; "" first-party
	Presence          *Presence // nil: not shown available
	GraceMS           uint32    // its own grace period; 0: the hub's
	Accepts           uint8     // what it takes: opaque bits of the core's
	Topics            uint32
	Ended             bool // the session ended: forget its record
}

// Adopter is what a Peers that also lets sessions move between nodes
// implements (a cluster; nil Peers or one without it: no adoption).
type Adopter interface {
	// Record says what a resumable session of this node is now. It is
	// called under the session's account lock: it must not block.
	Record(r SessionRecord)
	// Adopt hands over the record of session account/resource of app's
	// channel ("" first-party) when the node that held it no longer does
	// (it died or is shutting down), so that no other node can take it
	// too; ok is false when there is none to take. It is called without
	// locks and may block until ctx is done.
	Adopt(ctx context.Context, account, resource, app string) (r SessionRecord, ok bool)
}

// ResumeAs is ResumeOn for a client that may also be given back, here, a
// session of a node that is gone (Adopter): opts describe the resuming
// connection as for Connect (Transport, Credential, Checked, Channel and
// Scopes). An adopted session reports replayed false, its snapshot
// numbered right after lastSeq. A session that cannot be adopted gets
// exactly the answer of an unknown one.
func (h *Hub) ResumeAs(ctx context.Context, account, resource string, lastSeq uint64, opts SessionOptions, sink Sink) (*Session, bool, error) {
	s, replayed, err := h.resume(ctx, account, resource, nil, Channel{App: opts.Channel.App}, lastSeq, sink)
	if CodeOf(err) != CodeSessionGone || h.adopter == nil || len(resource) > 64 || addr.Resource(resource) != nil {
		return s, replayed, err
	}
	if u := h.live(account); u != nil && u.session(resource) != nil {
		return nil, false, err // here, but not this client's to resume
	}
	rec, ok := h.adopter.Adopt(ctx, account, resource, opts.Channel.App)
	if !ok || rec.Account != account || rec.Resource != resource || rec.App != opts.Channel.App {
		return nil, false, err
	}
	opts.Resource, opts.Presence, opts.Resumable = resource, rec.Presence, true
	if !opts.Channel.FirstParty() && !ScopesOf(opts.Scopes).Has(ScopePresencePublish) {
		opts.Presence = nil // its app may no longer publish
	}
	opts.adopted, opts.seqFrom = &rec, lastSeq
	s, cerr := h.Connect(ctx, account, opts, sink)
	if cerr != nil {
		h.log.Warn("adopting a session of another node", "account", account, "err", cerr)
		return nil, false, cerr
	}
	return s, false, nil
}

// recordLocked tells the cluster what s is now, when it is resumable on
// another node; the caller holds its account's lock.
func (h *Hub) recordLocked(s *Session) {
	if h.adopter == nil || !s.portable {
		return
	}
	r := SessionRecord{Account: s.Account, Resource: s.Resource, App: s.channel.App, GraceMS: s.graceMS,
		Accepts: uint8(s.accepts), Topics: s.topics.Load(), Ended: s.ended.Load()}
	if s.available && !r.Ended {
		p := s.presence
		r.Presence = &p
	}
	h.adopter.Record(r)
}

// adoptOptions gives a session started from an adopted record what the
// record says it took; the caller checked the rest as for any session.
func (s *Session) adoptOptions(r *SessionRecord, seqFrom uint64) {
	s.accepts = kindSet(r.Accepts) & (acceptMessage | acceptSignal | acceptIQ | acceptCall)
	s.topics.Store(r.Topics & uint32(allTopics))
	s.graceMS = r.GraceMS
	s.seq, s.sent, s.handed = seqFrom, seqFrom, seqFrom
}

// Holding reports whether this hub holds the session account/resource
// (attached or in its grace period), and whether it is shutting down:
// then it resumes none, and another node may adopt them.
func (h *Hub) Holding(account, resource string) (held, closing bool) {
	if h.closing.Load() {
		return false, true
	}
	u := h.live(account)
	if u == nil {
		return false, false
	}
	s := u.session(resource)
	return s != nil && !s.ended.Load(), false
}
