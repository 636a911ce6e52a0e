package core

// The delivery path of rooms, and their batched diffs.
//
// deliverRoom is Hub.deliver for room traffic: for each recipient it
// decides (AllowRoom, policy.go), projects (hides addresses where the room
// hides them, names them by handles for an app) and routes through the
// hub's Router, the only way to reach a session, so a cluster router can
// carry room events like any other. Recipients that see an event alike
// share one Route call (one encoding).
//
// Joins, leaves and changes are not sent one by one: each is recorded in
// the room's pending diff, and when the diff window (RoomLimits.DiffWindow,
// on the hub's clock) closes, every occupant gets one RoomDiff with all of
// them. A join storm of n sessions into a room therefore costs each
// occupant one event per window, not one per join: at most as many events
// as windows the storm spans (and never more than n), instead of n² events
// in all. Beyond ListBound occupants a diff carries counts only, so each
// event stays small too.
//
// A session that joined during the window saw, in its snapshot, the room as
// it was at its join: its diff is computed from that point (every change
// carries the room's version), so it is told neither what it already knows
// nor less than what changed since.

import "github.com/presenced/presenced/internal/store"

// deliverRoom routes ev to the occupants to (r.mu held). self marks an
// event about the recipient itself (its snapshot, its departure), which it
// is told even when it is no longer in the room.
func (h *Hub) deliverRoom(r *room, ev Event, to []*occupant, self bool) Routed {
	var total Routed
	var shared [2][]Target                // first-party recipients: without, with addresses
	var elsewhere map[string][]RoomTarget // occupants of other nodes, by node (roompeers.go)
	for _, oc := range to {
		f := h.roomFacts(r, oc.s, self || r.bySess[oc.s] == oc)
		if self {
			f.Affiliation = oc.aff // a banned occupant is told it was banned
		}
		if !AllowRoom(f, RoomSee) {
			continue
		}
		addresses := r.cfg.Mode == store.RoomMembers || moderates(f.Affiliation)
		if oc.s.node() != "" { // projected there, where its grant is
			if elsewhere == nil {
				elsewhere = map[string][]RoomTarget{}
			}
			elsewhere[oc.s.node()] = append(elsewhere[oc.s.node()], RoomTarget{Address: oc.s.Address(), Addresses: addresses})
			continue
		}
		if oc.s.channel.FirstParty() {
			i := 0
			if addresses {
				i = 1
			}
			shared[i] = append(shared[i], oc.s.target())
			continue
		}
		g := h.grantOf(oc.s.Account, oc.s.channel)
		if g == nil {
			continue
		}
		n := &namer{h: h, g: g, app: oc.s.channel.App, holder: oc.s.Account}
		total.add(h.router.Route(projectRoom(ev, addresses, n), []Target{oc.s.target()}))
	}
	for i, ts := range shared {
		if len(ts) > 0 {
			total.add(h.router.Route(projectRoom(ev, i == 1, nil), ts))
		}
	}
	for node, ts := range elsewhere {
		h.cfg.Peers.RoomEvents(node, ev, ts)
		total.Sessions += len(ts) // told, not asked
		total.Online += len(ts)
	}
	return total
}

// projectRoom rewrites a room event's addresses for a recipient: hidden
// unless addresses, named by n for an app (nil: first-party).
func projectRoom(ev Event, addresses bool, n *namer) Event {
	name := func(a string) string {
		if !addresses || a == "" {
			return ""
		}
		return n.nameOf(a)
	}
	occs := func(in []RoomOccupant) []RoomOccupant {
		if in == nil {
			return nil
		}
		out := make([]RoomOccupant, len(in))
		for i, o := range in {
			o.Address = name(o.Address)
			out[i] = o
		}
		return out
	}
	switch ev := ev.(type) {
	case RoomSnapshot:
		ev.Self.Address = n.nameOf(ev.Self.Address) // its own, always
		ev.Occupants = occs(ev.Occupants)
		if ev.History != nil {
			hist := make([]RoomHistoryItem, len(ev.History))
			for i, m := range ev.History {
				m.Address = name(m.Address)
				hist[i] = m
			}
			ev.History = hist
		}
		return ev
	case RoomDiff:
		ev.Joined, ev.Changed, ev.Left = occs(ev.Joined), occs(ev.Changed), occs(ev.Left)
		return ev
	case RoomMessageEvent:
		ev.Message.Address = name(ev.Message.Address)
		return ev
	case RoomLeft:
		ev.Self.Address = n.nameOf(ev.Self.Address)
		return ev
	}
	return ev
}

// roomPending is the diff a room is gathering.
type roomPending struct {
	start    uint64 // the room's ver before the window's first change
	lastJoin uint64 // the ver of the window's latest join: the newest snapshot
	entries  map[string]*pendingNick
	order    []string // nicks by first change
}

// pendingNick is what happened to one nick during the window.
type pendingNick struct {
	before  bool // present when the window opened
	changes []nickChange
}

type nickChange struct {
	ver     uint64
	present bool
	occ     RoomOccupant
}

// maxChanges bounds the changes of one nick a window keeps (changes with
// no join between them are merged, so only a nick changing between joins
// adds one): reaching it closes the window at once.
const maxChanges = 8

// pendLocked records a change of nick (present: joined or changed, with oc
// as it is now; else it left for reason) at the room's current ver, and
// opens a diff window if none is open (r.mu held).
func (h *Hub) pendLocked(r *room, nick string, present bool, oc *occupant, reason string) {
	p := r.pend
	if p == nil {
		p = &roomPending{start: r.ver - 1, entries: map[string]*pendingNick{}}
		r.pend = p
		h.clock.AfterFunc(h.roomLimits().DiffWindow, func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.pend == p {
				h.flushLocked(r)
				h.evictLocked(r)
			}
		})
	}
	if present && oc.ver == r.ver { // a join: its snapshot shows the room as of now
		p.lastJoin = r.ver
	}
	e := p.entries[nick]
	if e == nil {
		// present before: it is there now and this is not its join, or it
		// is gone now and this is its departure
		e = &pendingNick{before: present && r.byNick[nick] == oc && oc.ver != r.ver || !present}
		p.entries[nick] = e
		p.order = append(p.order, nick)
	}
	occ := h.occView(r, oc)
	if !present {
		occ.Reason = reason
	}
	c := nickChange{ver: r.ver, present: present, occ: occ}
	if n := len(e.changes); n > 0 && e.changes[n-1].ver > p.lastJoin {
		// no snapshot was taken since the last change of this nick: nobody
		// needs the state between the two, the newer stands for both
		e.changes[n-1] = c
		return
	}
	e.changes = append(e.changes, c)
	if len(e.changes) >= maxChanges {
		h.flushLocked(r)
	}
}

// flushLocked sends the pending diff (r.mu held).
func (h *Hub) flushLocked(r *room) {
	p := r.pend
	if p == nil {
		return
	}
	r.pend = nil
	listed := len(r.bySess) <= h.roomLimits().ListBound
	var old []*occupant
	for _, oc := range r.bySess {
		if oc.ver <= p.start {
			old = append(old, oc)
			continue
		}
		if d, ok := p.diff(r, oc.ver, listed); ok { // joined in the window: from its snapshot on
			h.deliverRoom(r, d, []*occupant{oc}, false)
		}
	}
	if len(old) > 0 {
		if d, ok := p.diff(r, p.start, listed); ok {
			h.deliverRoom(r, d, old, false)
		}
	}
}

// diff is what changed after version base.
func (p *roomPending) diff(r *room, base uint64, listed bool) (RoomDiff, bool) {
	d := RoomDiff{Room: r.id.Name, Count: len(r.bySess), Listed: listed}
	for _, nick := range p.order {
		e := p.entries[nick]
		was, since := e.before, false
		for _, c := range e.changes {
			if c.ver <= base {
				was = c.present
			} else {
				since = true
			}
		}
		if !since {
			continue
		}
		last := e.changes[len(e.changes)-1]
		switch {
		case !was && last.present:
			d.JoinedCount++
			if listed {
				d.Joined = append(d.Joined, last.occ)
			}
		case was && !last.present:
			d.LeftCount++
			if listed {
				d.Left = append(d.Left, last.occ)
			}
		case was && last.present && listed:
			d.Changed = append(d.Changed, last.occ)
		}
	}
	return d, d.JoinedCount+d.LeftCount+len(d.Changed) > 0
}
