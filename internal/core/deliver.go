package core

import "sync"

// The delivery path. Everything that leaves the core for a session —
// presence, personal events, relationship and privacy changes, contact sync,
// messages, signals, iqs, carbons — goes through Hub.deliver, which for each
// recipient
//
//  1. decides: asks the policy (Allow) with the facts of the subject about
//     the viewer, on the recipient's channel (facts.go);
//  2. projects: rewrites the event for that channel (project, below);
//  3. routes: hands it to the Router, the only way to reach a session.
//
// The single node routes with localRouter (router.go). A cluster router
// (NATS), a federation router (s2s) and an offline fallback (stored
// notification, Web Push) are further Router implementations; none of them
// needs a change here.

// Channel is how a recipient's session receives: first-party (the zero
// Channel: presenced's own protocols, XMPP) or an app holding a grant
// (DESIGN § 3 rules 3 and 4), through a token with some of its scopes.
// The policy reads both: an app's sessions of one account hold one grant,
// but each sees no more than its token's scopes.
type Channel struct {
	App    string   // "" for first-party
	Scopes ScopeSet // an app's: its token's scopes
}

// FirstParty reports whether the channel is presenced's own.
func (c Channel) FirstParty() bool { return c.App == "" }

// Target names the sessions one delivery goes to: those of Account (only
// Resource when set) on Channel that match Want. Targets and Events are
// plain data, so a Router can carry them to another process.
type Target struct {
	Account  string
	Resource string // "": every session of the account that matches Want
	Channel  Channel
	Want     Want
}

// Want selects sessions by what they take.
type Want struct {
	Topic string // personal events: sessions taking this topic
	Kind  string // messages: sessions accepting this kind (KindMessage …)
	// Payloads: a bodiless message (chat state, receipt …) only reaches
	// sessions that take payloads.
	Payloads bool
	// Available: only sessions that published presence, with a
	// non-negative priority (RFC 6121 § 8.5.2.1: bare-address routing).
	Available bool
	// Carbons: only sessions that asked for carbon copies (XEP-0280).
	Carbons bool
	// Except skips one session (the sender's own, for carbons).
	Except string
}

// Routed reports what a Route reached.
type Routed struct {
	Sessions int // sessions that took the event
	Online   int // sessions that matched the address (taking it or not)
}

func (r *Routed) add(o Routed) { r.Sessions += o.Sessions; r.Online += o.Online }

// Router carries events to sessions. Route hands ev to every session each
// target names and reports what it reached. It is called with the subject's
// lock held, so it must not block: it queues and returns.
type Router interface {
	Route(ev Event, to []Target) Routed
}

// delivery is one call of the delivery path.
type delivery struct {
	ev      Event
	subject *user // whose information it is: the facts are the subject's
	flow    Flow
	// viewer is the account whose right is decided. Empty: each target's
	// account (presence, events). For a message it is the sender, while
	// the targets are the recipient's sessions.
	viewer string
	// redact: a viewer the policy refuses is sent the event projected to
	// absence instead of nothing (a change of relation or privacy must
	// withdraw what the viewer saw).
	redact bool
	// stored: a stored message offered on connect (offline.go). The
	// recipient's invisibility and hiding do not withhold it: they are
	// about appearing online to the sender, who is told nothing of it.
	stored bool
	to     []Target
}

// deliver is the one way information leaves the core for a session. The
// caller holds the subject's lock (so a subject's events reach each viewer
// in order).
func (h *Hub) deliver(d delivery) Routed {
	var total Routed
	var shared []Target // given d.ev itself: routed together, encoded once
	var users []*user   // shared's live users, for the local router
	_, local := h.router.(localRouter)
	if local {
		// The local router keeps neither slice: they are pooled, as a
		// fan-out to 1,000 viewers would otherwise make ~100 KiB of
		// garbage per update. Another router may keep its targets.
		tb := getTargets()
		shared, users = tb.t, tb.u
		defer func() { tb.t, tb.u = shared, users; putTargets(tb) }()
	} else {
		shared = make([]Target, 0, len(d.to))
	}
	for _, t := range d.to {
		t, u := h.resolveTarget(t)
		if h.deliverTo(&d, t, &total) {
			shared = append(shared, t)
			if local {
				users = append(users, u)
			}
		}
		if t.Resource != "" || !t.Channel.FirstParty() || u == nil {
			continue
		}
		for _, ch := range u.appChannels() { // the account's sessions in apps
			t.Channel = ch
			h.deliverTo(&d, t, &total)
		}
	}
	if len(shared) > 0 {
		if local {
			total.add(localRouter{h}.route(d.ev, shared, users))
		} else {
			total.add(h.router.Route(d.ev, shared))
		}
	}
	return total
}

// targetBuf is scratch space for a fan-out's targets and their live users.
type targetBuf struct {
	t []Target
	u []*user
}

var targetBufs = sync.Pool{New: func() any { return new(targetBuf) }}

// maxPooledTargets bounds the slices a fan-out gives back to the pool.
const maxPooledTargets = 16 << 10

func getTargets() *targetBuf { return targetBufs.Get().(*targetBuf) }

// putTargets empties tb (its strings and users are not kept alive) and
// pools it, unless it grew too big.
func putTargets(tb *targetBuf) {
	if cap(tb.t) > maxPooledTargets || cap(tb.u) > maxPooledTargets {
		return
	}
	clear(tb.t)
	clear(tb.u)
	tb.t, tb.u = tb.t[:0], tb.u[:0]
	targetBufs.Put(tb)
}

// resolveTarget looks up a first-party target's live user once, for the
// app channels here and the local router after (one map lookup per target,
// not two), and gives a target naming one session that session's channel.
// It returns the live user too (nil for an app's target: the router looks
// it up).
func (h *Hub) resolveTarget(t Target) (Target, *user) {
	if !t.Channel.FirstParty() {
		return t, nil
	}
	u := h.live(t.Account)
	if t.Resource != "" && u != nil {
		if s := u.session(t.Resource); s != nil {
			t.Channel = s.channel
		}
	}
	return t, u
}

// deliverTo decides and projects d for one target on one channel, and
// routes what it projected. It reports whether the target takes d.ev
// unchanged, for the caller to route with the others that do.
func (h *Hub) deliverTo(d *delivery, t Target, total *Routed) (same bool) {
	viewer := d.viewer
	if viewer == "" {
		viewer = t.Account
	}
	f := h.factsOn(d.subject, viewer, t.Channel, t.Account)
	if d.stored {
		f.Invisible, f.Hidden, f.AppHidden = false, false, false
	}
	if !Allow(f, d.flow) && !d.redact {
		return false
	}
	ev, same := h.project(d.ev, d.subject, f, d.flow, t.Account)
	if ev != nil && !same {
		total.add(h.router.Route(ev, []Target{t}))
	}
	return same
}

// project rewrites ev for a recipient, holder, with facts f: what a
// refused viewer may be told of a subject is its absence; the presence of
// a subject with sessions private to an app is what f's channel may see of
// it; an app's channel sees handles instead of addresses (appview.go). It
// returns nil when nothing may cross, and same when it is ev unchanged.
func (h *Hub) project(ev Event, su *user, f Facts, flow Flow, holder string) (_ Event, same bool) {
	out, same := ev, true
	if pe, ok := ev.(PresenceEvent); ok {
		switch {
		case !f.Self && !Allow(f, flow):
			out, same = PresenceEvent{View: su.absence(f), Reset: pe.Reset}, false
		case flow != FlowDirected && su.hasPrivate() && !(f.Self && f.Channel.FirstParty()):
			out, same = PresenceEvent{View: su.view(f), Reset: pe.Reset}, false
		}
	}
	if f.Channel.FirstParty() {
		return out, same
	}
	return h.forApp(out, su, f, flow, holder), false
}
