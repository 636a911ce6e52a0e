package core

import (
	"time"

	"github.com/presenced/presenced/internal/store"
)

// The policy's inputs are assembled here and nowhere else: from the
// subject's in-memory state when it has sessions, from the store's
// SubjectFacts (through a stand-in user, storedUser) when it has none.

// factsLocked is what the policy needs about subject su and viewer, seen
// on the viewer's channel ch. The caller holds su's lock.
func (h *Hub) factsLocked(su *user, viewer string, ch Channel) Facts {
	return h.factsOn(su, viewer, ch, viewer)
}

// factsOn is factsLocked where the session on ch is holder's: the viewer's
// for presence and events, the recipient's (su) when a message arrives in
// an app. Its grant decides what ch may see (grantOf).
func (h *Hub) factsOn(su *user, viewer string, ch Channel, holder string) Facts {
	var g *liveGrant
	if !ch.FirstParty() {
		g = h.grantOf(holder, ch)
	}
	return factsWith(su, viewer, ch, holder, g)
}

// factsWith is factsOn with holder's grant g given (nil: none).
func factsWith(su *user, viewer string, ch Channel, holder string, g *liveGrant) Facts {
	approved := su.viewers.has(viewer)
	blockShown, blocked := su.blocks[viewer]
	hideShown, hidden := su.hidden[viewer]
	f := Facts{Self: viewer == su.address, Channel: ch, Covered: ch.FirstParty(),
		Blocked: blocked, Hidden: hidden, Invisible: su.invisible, Online: su.online(), Shown: hideShown}
	if blocked {
		f.Shown = blockShown // the store's choice too (SubjectFacts.Shown)
	}
	if approved {
		f.State = store.Approved
	}
	if g != nil {
		other := su.address
		if holder == su.address {
			other = viewer
		}
		f.Covered, f.Scopes = other == holder || g.covers(other), g.scopes&ch.Scopes
		f.AppHidden = su.hiddenIn(ch.App)
	}
	return f
}

// storedUser stands for a subject without sessions, as far as one viewer
// is concerned, from the row the viewer's query read (store.ApprovedBy):
// the facts of the two are then assembled by factsLocked like any other.
func storedUser(sf store.SubjectFacts, viewer string) *user {
	u := &user{address: sf.Subject, viewers: viewerSet{sorted: []string{viewer}}, invisible: sf.Invisible, lastSeen: sf.LastSeen}
	if sf.Blocked {
		u.blocks = map[string]time.Time{viewer: sf.Shown}
	}
	if sf.Hidden {
		u.hidden = map[string]time.Time{viewer: sf.Shown}
	}
	return u
}

// absence is what a viewer refused the subject's presence sees of it: the
// same as a subject that simply signed out. An approved viewer of an
// invisible subject is shown the last-seen it had when it went invisible
// (frozen since: lastSeen does not advance while invisible); a blocked or
// hidden-from one, the last-seen it saw when the block or hide began.
func (u *user) absence(f Facts) PresenceView {
	v := PresenceView{Address: u.address, Availability: Unavailable}
	switch {
	case f.State != store.Approved:
	case f.Blocked || f.Hidden:
		v.LastSeen = f.Shown
	default:
		v.LastSeen = u.lastSeen
	}
	return v
}
