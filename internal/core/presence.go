package core

import (
	"time"
	"unicode/utf8"
)

// Availability of a session. "unavailable" is never set by a client: it is
// what a viewer sees of a subject without (visible) sessions.
type Availability string

const (
	Available   Availability = "available"
	Away        Availability = "away"
	DND         Availability = "dnd"
	XA          Availability = "xa"
	Unavailable Availability = "unavailable"
)

// canonical is a's constant when it is one: a session then keeps no string
// of its own for its availability (one decoded from a client's frame would
// stay alive with it).
func (a Availability) canonical() Availability {
	for _, c := range [...]Availability{Available, Away, DND, XA, Unavailable} {
		if a == c {
			return c
		}
	}
	return a
}

// rank orders availabilities for aggregation: more reachable first.
func (a Availability) rank() int {
	switch a {
	case Available:
		return 4
	case DND:
		return 3
	case Away:
		return 2
	case XA:
		return 1
	}
	return 0
}

// Activity is a typed description of what the user is doing.
type Activity struct {
	Kind   string `json:"kind"`             // "call", "game", "meeting", "listening" …
	Detail string `json:"detail,omitempty"` // free text
}

// Presence is what one session publishes.
type Presence struct {
	Availability Availability
	Status       string
	Activity     *Activity
	Priority     int
	LastActive   time.Time // when the user was last active on this session
}

// Limits on what a session may publish.
const (
	MaxStatus   = 512
	MaxKind     = 32
	MaxDetail   = 256
	MinPriority = -128
	MaxPriority = 127
)

// Validate checks a presence from a client.
func (p Presence) Validate() error {
	if p.Availability.rank() == 0 {
		return Errorf(CodeInvalid, "availability must be available, away, dnd or xa")
	}
	if err := checkText("status", p.Status, MaxStatus); err != nil {
		return err
	}
	if p.Priority < MinPriority || p.Priority > MaxPriority {
		return Errorf(CodeInvalid, "priority must be between %d and %d", MinPriority, MaxPriority)
	}
	if a := p.Activity; a != nil {
		if a.Kind == "" {
			return Errorf(CodeInvalid, "activity.kind is required")
		}
		if err := checkText("activity.kind", a.Kind, MaxKind); err != nil {
			return err
		}
		if err := checkText("activity.detail", a.Detail, MaxDetail); err != nil {
			return err
		}
	}
	return nil
}

func checkText(field, s string, max int) error {
	if len(s) > max {
		return Errorf(CodeInvalid, "%s is longer than %d bytes", field, max)
	}
	if !utf8.ValidString(s) {
		return Errorf(CodeInvalid, "%s is not valid UTF-8", field)
	}
	return nil
}

// SessionPresence is one session of a subject as a viewer sees it.
type SessionPresence struct {
	Resource string
	Presence
}

// PresenceView is a subject's presence as one viewer may see it.
type PresenceView struct {
	Address      string
	Availability Availability // aggregated: the best session's
	Status       string
	Activity     *Activity
	Priority     int
	LastActive   time.Time
	LastSeen     time.Time         // only for an offline subject, only if allowed
	Sessions     []SessionPresence // each visible session, best first
}

// aggregate derives a subject's presence from its sessions: the best session
// (highest priority, then most available, then most recently active) speaks
// for the user; all sessions are listed so a viewer can reach one device.
// Aggregate is the presence of address made of sessions, as a viewer
// allowed all of them sees it: a cluster merges what each node shows of
// a user whose sessions are on several (internal/cluster). It sorts sessions.
func Aggregate(address string, sessions []SessionPresence) PresenceView {
	return aggregate(address, sessions)
}

func aggregate(address string, sessions []SessionPresence) PresenceView {
	v := PresenceView{Address: address, Availability: Unavailable}
	if len(sessions) == 0 {
		return v
	}
	sortSessions(sessions)
	best := sessions[0]
	v.Availability, v.Status, v.Activity, v.Priority, v.LastActive = best.Availability, best.Status, best.Activity, best.Priority, best.LastActive
	v.Sessions = sessions
	return v
}

func better(a, b SessionPresence) bool {
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if ra, rb := a.Availability.rank(), b.Availability.rank(); ra != rb {
		return ra > rb
	}
	if !a.LastActive.Equal(b.LastActive) {
		return a.LastActive.After(b.LastActive)
	}
	return a.Resource < b.Resource
}

func sortSessions(s []SessionPresence) {
	for i := 1; i < len(s); i++ { // insertion sort: a user has few sessions
		for j := i; j > 0 && better(s[j], s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
