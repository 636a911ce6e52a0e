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
)

// Facts is everything the policy needs about one (subject, viewer) pair.
type Facts struct {
	Self      bool        // subject and viewer are the same account
	State     store.State // of the edge "viewer may see subject"
	Blocked   bool        // the subject blocks the viewer
	Hidden    bool        // the subject hides from the viewer
	Invisible bool        // the subject appears offline to everyone
	Online    bool        // the subject has at least one session
	// Channel is the recipient session's channel; Granted says the viewer's
	// grant to the channel's app covers the subject and the flow (always
	// true for first-party channels; the apps issue fills it for apps).
	Channel Channel
	Granted bool
	// Shown is not the policy's: it is the last-seen a blocked or hidden
	// viewer goes on seeing (store.ListEntry), for the absence shown to it.
	Shown time.Time
}

// Allow is the privacy rule of presenced (docs/privacy.md): the one place
// that decides whether information about a subject may flow to a viewer.
// The hub asks it before every fan-out, snapshot, query and delivery.
func Allow(f Facts, what Flow) bool {
	if !f.Channel.FirstParty() && !f.Granted {
		return false // rule 3: an app sees only what its user granted it
	}
	if f.Self {
		return true
	}
	switch what {
	case FlowRequest:
		return !f.Blocked
	case FlowPresence, FlowMessage:
		return f.State == store.Approved && !f.Blocked && !f.Hidden && !f.Invisible
	case FlowLastSeen:
		return !f.Online && Allow(f, FlowPresence)
	case FlowDirected:
		return !f.Blocked && !f.Hidden && !f.Invisible
	}
	return false
}
