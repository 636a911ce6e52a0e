package core

import (
	"time"

	"github.com/presenced/presenced/internal/store"
)

// Flow is a kind of information that may pass from a subject to a viewer.
type Flow int

const (
	// FlowPresence: the subject's availability, status, activity, sessions.
	FlowPresence Flow = iota
	// FlowLastSeen: when the offline subject was last online.
	FlowLastSeen
	// FlowMessage: the viewer's message or signal reaches the subject. It is
	// allowed exactly when the viewer may see the subject's presence, so a
	// delivery error never tells more than presence already does.
	FlowMessage
	// FlowRequest: the viewer's subscription request is shown to the subject.
	FlowRequest
	// FlowDirected: presence the subject directed at the viewer outside any
	// subscription (RFC 6121 § 4.6). The subject chose the viewer, so no
	// approval is needed, but its blocks, hiding and invisibility still hold.
	FlowDirected
	// FlowEvent: the subject's personal events (docs/personal-events.md).
	// First-party, the rule of presence; an app needs events:read for it
	// where presence needs presence:read.
	FlowEvent
)

// Facts is everything the policy needs about one (subject, viewer) pair.
type Facts struct {
	Self      bool        // subject and viewer are the same account
	State     store.State // of the edge "viewer may see subject"
	Blocked   bool        // the subject blocks the viewer
	Hidden    bool        // the subject hides from the viewer
	Invisible bool        // the subject appears offline to everyone
	Online    bool        // the subject has at least one session
	// Channel is where the information is seen: the recipient session's
	// channel, or the sending session's when a message leaves an app. On
	// an app's channel the grant of the account holding it decides too
	// (DESIGN § 3 rule 3): Covered says it covers the other party (the
	// subject, or a message's other end; always true of the holder itself),
	// Scopes what it allows. AppHidden: the subject appears offline in that
	// app (its own grant's per-app visibility).
	Channel   Channel
	Covered   bool
	Scopes    ScopeSet
	AppHidden bool
	// Shown is not the policy's: it is the last-seen a blocked or hidden
	// viewer goes on seeing (store.ListEntry), for the absence shown to it.
	Shown time.Time
}

// Allow is the privacy rule of presenced (docs/privacy.md): the one place
// that decides whether information about a subject may flow to a viewer.
// The hub asks it before every fan-out, snapshot, query and delivery.
func Allow(f Facts, what Flow) bool {
	if !f.Channel.FirstParty() && !appMay(f, what) {
		return false // rules 3 and 4: an app sees only what its user granted it
	}
	if f.Self {
		return true
	}
	switch what {
	case FlowRequest:
		return !f.Blocked
	case FlowPresence, FlowMessage, FlowEvent:
		return f.State == store.Approved && !f.Blocked && !f.Hidden && !f.Invisible
	case FlowLastSeen:
		return !f.Online && Allow(f, FlowPresence)
	case FlowDirected:
		return !f.Blocked && !f.Hidden && !f.Invisible
	}
	return false
}

// appMay is the app dimension of the rule: on an app's channel the grant
// must cover the other party and hold the flow's scope, and a subject
// hidden in the app is offline there to everyone but itself.
// Subscription requests are first-party business: no app sees them.
func appMay(f Facts, what Flow) bool {
	return appSees(f, what) && (!f.AppHidden || f.Self)
}

// appSees: the grant covers the other party and holds the flow's scope.
func appSees(f Facts, what Flow) bool {
	if !f.Covered {
		return false
	}
	switch what {
	case FlowPresence, FlowLastSeen, FlowDirected:
		return f.Scopes.Has(ScopePresenceRead)
	case FlowEvent:
		return f.Scopes.Has(ScopeEventsRead)
	case FlowMessage:
		return f.Scopes.Has(ScopeMessage) || f.Scopes.Has(ScopeSignal)
	}
	return false
}

// RoomFacts is what the policy needs to decide a session's part in a room
// (docs/rooms.md): rooms are not about a subject's presence, so the rule
// of a room is its own, kept here beside the rule of presence.
type RoomFacts struct {
	// Channel is the session's; RoomApp the room's namespace ("" for
	// presenced's own clients, else an app's ID). Scopes are, on an app's
	// channel, what its grant and token both hold.
	Channel Channel
	RoomApp string
	Scopes  ScopeSet
	// Affiliation is the account's with the room (store.AffOwner …;
	// AffNone when it has none); MembersOnly the room's mode.
	Affiliation string
	MembersOnly bool
	// Occupant: the session is in the room (or was, for its own departure).
	Occupant bool
	// AppAuthorizes: the room's app authorizes joins with room tokens
	// (roomtokens.go); Token: the session presented a valid one.
	AppAuthorizes bool
	Token         bool
}

// RoomFlow is something a session may do in or receive from a room.
type RoomFlow int

const (
	RoomJoin      RoomFlow = iota // enter it (and create it when it does not exist)
	RoomSee                       // receive its traffic: who is there, messages, subject
	RoomSpeak                     // send it messages and invitations
	RoomModerate                  // kick, ban, name members, set the subject
	RoomConfigure                 // change its mode
)

// AllowRoom is the rule of rooms: a session sees and uses only rooms of
// its own namespace (an app's session needs the rooms scope, and sees the
// rooms of its app only); a banned account nothing of the room; a
// members-only room admits only the accounts it names; in the namespace
// of an app that authorizes joins, joining takes the app's room token or
// an affiliation the owner gave; moderating takes an owner or admin,
// configuring the owner.
func AllowRoom(f RoomFacts, what RoomFlow) bool {
	if f.Channel.App != f.RoomApp || !f.Channel.FirstParty() && !f.Scopes.Has(ScopeRooms) {
		return false
	}
	if f.Affiliation == store.AffOutcast {
		return false
	}
	switch what {
	case RoomJoin:
		if f.AppAuthorizes && !f.Token && f.Affiliation == store.AffNone {
			return false
		}
		return !f.MembersOnly || f.Affiliation != store.AffNone
	case RoomSee, RoomSpeak:
		return f.Occupant
	case RoomModerate:
		return f.Occupant && (f.Affiliation == store.AffOwner || f.Affiliation == store.AffAdmin)
	case RoomConfigure:
		return f.Occupant && f.Affiliation == store.AffOwner
	}
	return false
}

// ForeignRoomFacts is what the policy needs to decide a session's traffic
// with a room of another domain (XEP-0045 across domains, foreignrooms.go):
// the room is not a contact, so neither the rule of presence nor the
// rule of rooms (this server's own) applies; the user's choice does.
type ForeignRoomFacts struct {
	Channel Channel
	// Blocked: the user blocks the room's address (XEP-0191: nothing from
	// it, nothing to it).
	Blocked bool
	// Joined: the session sent the room a join and has not been told it
	// left (or left by its own word, until the room confirms).
	Joined bool
}

// ForeignFlow is a kind of traffic between a session and a room of
// another domain.
type ForeignFlow int

const (
	ForeignJoin    ForeignFlow = iota // the session's join: its presence to an occupant address with XEP-0045's x
	ForeignSend                       // its presence changes, departure, messages, private messages, invitations, iqs to the room
	ForeignReceive                    // the room's stanzas to the session's full address
)

// AllowForeignRoom is the rule of rooms of other domains: the user's own
// clients (never an app's: a grant names accounts, not another server's
// rooms) join them by their own action, which is the approval — no
// subscription is asked, and invisibility does not hide the presence the
// user sends there itself; everything else passes only for a room the
// session joined: so what a room sends to a session that never joined it
// is decided as any stranger's stanza. A room the user blocks is refused
// both ways.
func AllowForeignRoom(f ForeignRoomFacts, what ForeignFlow) bool {
	if !f.Channel.FirstParty() || f.Blocked {
		return false
	}
	switch what {
	case ForeignJoin:
		return true
	case ForeignSend, ForeignReceive:
		return f.Joined
	}
	return false
}
