package core

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// Event is something a session is told. Transports encode each kind.
type Event interface{ isEvent() }

// Delivery is an event with its position in the session's stream. Memo is
// shared by every session one fan-out reached, so a transport encodes the
// event once, not once per viewer; it never leaves this process.
type Delivery struct {
	Seq   uint64
	Event Event
	Memo  *Memo
}

// Snapshot resets the client's view: everything it may see now.
type Snapshot struct {
	Self          PresenceView
	Presence      []PresenceView
	Subscriptions []SubscriptionView
	Privacy       Privacy
	Items         []store.PersonalItem // last personal events: its own and those it may see
}

// PresenceEvent: a subject's visible presence changed.
type PresenceEvent struct {
	View PresenceView
	// Reset asks a remote viewer's server to forget every resource of the
	// subject it was shown before this view (a node of the cluster that
	// showed some is dead: fedpeers.go); only the federation reads it.
	Reset bool `json:",omitempty"`
}

// Memo caches a transport's encoding of an event shared by many sessions
// (the local router gives one to each fan-out).
// A nil Memo caches nothing.
type Memo struct {
	once sync.Once
	val  any
}

// Do returns f's result, computing it once per Memo.
func (m *Memo) Do(f func() any) any {
	if m == nil {
		return f()
	}
	m.once.Do(func() { m.val = f() })
	return m.val
}

// SubscriptionEvent: the relationship with a counterpart changed, from
// Before to View. Mine is set when the user made the change (from any of its
// sessions), clear when the counterpart did.
type SubscriptionEvent struct {
	View, Before SubscriptionView
	Mine         bool
}

// PrivacyEvent: the user's own blocks, hidden list or invisibility changed
// (from another of its sessions or the REST API).
type PrivacyEvent struct{ Privacy Privacy }

// MessageEvent: a message or signal from another session; or, with
// Carbon set, a copy of a message one of the user's other sessions sent or
// received (XEP-0280), for a session that asked for copies.
type MessageEvent struct {
	Message Message
	Carbon  string // "", CarbonSent or CarbonReceived
	// Stored is set on a message kept for the recipient while it was away
	// (offline.go): the store's ID of it, which acknowledgements name.
	// Message.Sent is then when it was sent (the delay stamp).
	Stored int64
}

// Kinds of carbon copies.
const (
	CarbonSent     = "sent"
	CarbonReceived = "received"
)

// ContactEvent: the user's address book changed on another device.
type ContactEvent struct {
	Op      string // "put" or "delete"
	Contact store.Contact
	// PrevAddress is the presence address a put moved the card away from
	// ("" when the address did not change): an XMPP roster item is the
	// card with an address, so the item left behind changes too.
	PrevAddress string
}

// GoawayReplaced is the reason given to a connection whose session was
// resumed on another connection.
const GoawayReplaced = "replaced by a resumed connection"

// Goaway: the server is going away or closing this session; reconnect (and
// resume) if Reconnect is set.
type Goaway struct {
	Reason    string
	Reconnect bool
}

func (Snapshot) isEvent()          {}
func (PresenceEvent) isEvent()     {}
func (SubscriptionEvent) isEvent() {}
func (PrivacyEvent) isEvent()      {}
func (MessageEvent) isEvent()      {}
func (ContactEvent) isEvent()      {}
func (Goaway) isEvent()            {}

// Message kinds.
const (
	KindMessage = "message" // a text message
	KindSignal  = "signal"  // opaque JSON for call set-up (WebRTC offer/answer/ICE …)
	// KindIQ is an XMPP request or response to one session: Type is get,
	// set, result or error, Payload its content. Only sessions that take
	// payloads (XMPP) receive it.
	KindIQ = "iq"
)

// Message is a message or a signal between sessions.
type Message struct {
	ID   string          // client-chosen, echoed to the recipient
	Kind string          // KindMessage or KindSignal
	Type string          // for KindMessage: TypeChat (also when empty), TypeNormal …
	From string          // full address of the sending session
	To   string          // bare or full address as the sender wrote it
	Body string          // for KindMessage
	Data json.RawMessage // for KindSignal
	// Payload is XML the core passes through untouched: the extension
	// elements of an XMPP message (receipts, chat states, encrypted
	// content). Only sessions opened with Payloads receive it.
	Payload string
	// Private keeps the message out of carbon copies (XEP-0280 § 6).
	Private bool
	Sent    time.Time
}

// Message types of KindMessage, as RFC 6121 § 5.2.2 names them. The JSON
// protocol sends chat.
const (
	TypeChat     = "chat"
	TypeNormal   = "normal"
	TypeHeadline = "headline"
	TypeError    = "error"
)

// Privacy is a user's own visibility settings.
type Privacy struct {
	Invisible bool
	Blocks    []string
	Hidden    []string
}
