package core

import (
	"time"

	"github.com/presenced/presenced/internal/store"
)

// The policy's inputs are assembled here and nowhere else: from the
// subject's in-memory state when it has sessions, from the store's
// SubjectFacts (through a stand-in user, storedUser) when it has none.

// factsLocked is what the policy needs about subject su and viewer on
// channel ch. The caller holds su's lock.
func (h *Hub) factsLocked(su *user, viewer string, ch Channel) Facts {
	_, approved := su.viewers[viewer]
	blockShown, blocked := su.blocks[viewer]
	hideShown, hidden := su.hidden[viewer]
	f := Facts{Self: viewer == su.address, Channel: ch, Granted: ch.FirstParty(),
		Blocked: blocked, Hidden: hidden, Invisible: su.invisible, Online: su.online(), Shown: hideShown}
	if blocked {
		f.Shown = blockShown // the store's choice too (SubjectFacts.Shown)
	}
	if approved {
		f.State = store.Approved
	}
	return f
}

// storedUser stands for a subject without sessions, as far as one viewer
// is concerned, from the row the viewer's query read (store.ApprovedBy):
// the facts of the two are then assembled by factsLocked like any other.
func storedUser(sf store.SubjectFacts, viewer string) *user {
	u := &user{address: sf.Subject, viewers: map[string]struct{}{viewer: {}}, invisible: sf.Invisible, lastSeen: sf.LastSeen}
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
