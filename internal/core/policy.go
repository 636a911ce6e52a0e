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
