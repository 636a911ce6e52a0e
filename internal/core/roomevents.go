package core

import (
	"encoding/json"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// The events of rooms (rooms.go). Room names the room within the
// recipient's namespace. Addresses of occupants are bare addresses, shown
// only where the room shows them (members-only rooms, and to moderators:
// an open room is semi-anonymous, XEP-0045 § 4.2), and to an app as its
// handles unless its grant has addresses.

// RoomOccupant is one occupant as a recipient sees it.
type RoomOccupant struct {
	Nick        string
	Address     string // bare; "" where the room hides it
	Presence    Presence
	Meta        json.RawMessage `json:",omitempty"`
	Affiliation string
	Role        string
	// Reason, for an occupant that left: LeftLeft, LeftKicked …
	Reason string `json:",omitempty"`
}

// RoomHistoryItem is one message of a room's history, or a new one.
type RoomHistoryItem struct {
	ID      string
	Nick    string
	Address string // the sender's bare address, where the room shows it
	Body    string
	Sent    time.Time
}

// RoomSnapshot is what a session sees when it joins a room: itself, the
// occupants (moderators first, at most RoomLimits.ListBound of them; Count
// says how many there are), the subject and the history it asked for.
type RoomSnapshot struct {
	Room      string
	Self      RoomOccupant
	Occupants []RoomOccupant
	Count     int // occupants, itself included
	Mode      string
	Subject   string
	SubjectBy string
	History   []RoomHistoryItem
	Created   bool // its join created the room
}

// RoomDiff is what changed in a room over one diff window (RoomLimits.
// DiffWindow): occupants that joined, changed (presence, metadata,
// affiliation) or left since what the recipient last saw. In a room of more
// than ListBound occupants only the counts are sent (Listed false).
type RoomDiff struct {
	Room        string
	Joined      []RoomOccupant
	Changed     []RoomOccupant
	Left        []RoomOccupant
	JoinedCount int
	LeftCount   int
	Count       int // occupants now
	Listed      bool
}

// RoomMessageEvent is a message sent to a room.
type RoomMessageEvent struct {
	Room    string
	Message RoomHistoryItem
}

// RoomSubjectEvent: the room's subject changed.
type RoomSubjectEvent struct {
	Room    string
	Subject string
	Nick    string // who set it
}

// RoomLeft tells a session it is out of a room: it left, was kicked or
// banned, or lost its membership. By is the moderator's nick, Why its reason.
type RoomLeft struct {
	Room   string
	Nick   string
	Reason string
	By     string
	Why    string
	Self   RoomOccupant // as it was
}

// RoomInvite invites the recipient to a room of its namespace (XEP-0249).
type RoomInvite struct {
	Room   string
	From   string // the inviting session's full address
	Reason string
}

func (RoomSnapshot) isEvent()     {}
func (RoomDiff) isEvent()         {}
func (RoomMessageEvent) isEvent() {}
func (RoomSubjectEvent) isEvent() {}
func (RoomLeft) isEvent()         {}
func (RoomInvite) isEvent()       {}

func roleOf(aff string) string {
	if moderates(aff) {
		return RoleModerator
	}
	return RoleParticipant
}

// occView is oc as the room shows it (with its address; projection hides
// it where the room does).
func (h *Hub) occView(r *room, oc *occupant) RoomOccupant {
	return RoomOccupant{Nick: oc.nick, Address: oc.s.Account, Presence: oc.presence, Meta: oc.meta, Affiliation: oc.aff, Role: roleOf(oc.aff)}
}

func historyItem(m store.RoomMessage) RoomHistoryItem {
	return RoomHistoryItem{ID: m.ID, Nick: m.Nick, Address: m.Account, Body: m.Body, Sent: m.Sent}
}

// snapshotOf is the snapshot for oc, just joined (r.mu held): moderators
// first, then others, at most ListBound in all, without walking the rest.
func (h *Hub) snapshotOf(r *room, oc *occupant, history int, created bool) RoomSnapshot {
	bound := h.roomLimits().ListBound
	snap := RoomSnapshot{Room: r.id.Name, Self: h.occView(r, oc), Count: len(r.bySess), Mode: r.cfg.Mode,
		Subject: r.cfg.Subject, SubjectBy: r.cfg.SubjectBy, Created: created}
	for m := range r.mods {
		if len(snap.Occupants) >= bound {
			break
		}
		if m != oc {
			snap.Occupants = append(snap.Occupants, h.occView(r, m))
		}
	}
	for _, x := range r.bySess {
		if len(snap.Occupants) >= bound {
			break
		}
		if _, mod := r.mods[x]; !mod && x != oc {
			snap.Occupants = append(snap.Occupants, h.occView(r, x))
		}
	}
	hist := r.history
	if history >= 0 && history < len(hist) {
		hist = hist[len(hist)-history:]
	}
	for _, m := range hist {
		snap.History = append(snap.History, historyItem(m))
	}
	return snap
}
