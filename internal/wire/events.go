package wire

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
)

// PresenceJSON is a subject's presence as a viewer sees it.
type PresenceJSON struct {
	Address      string         `json:"address"`
	Availability string         `json:"availability"`
	Status       string         `json:"status,omitempty"`
	Activity     *core.Activity `json:"activity,omitempty"`
	Priority     int            `json:"priority,omitempty"`
	LastActive   *time.Time     `json:"last_active,omitempty"`
	LastSeen     *time.Time     `json:"last_seen,omitempty"`
	Sessions     []SessionJSON  `json:"sessions,omitempty"`
}

// SessionJSON is one visible session of a subject.
type SessionJSON struct {
	Resource     string         `json:"resource"`
	Availability string         `json:"availability"`
	Status       string         `json:"status,omitempty"`
	Activity     *core.Activity `json:"activity,omitempty"`
	Priority     int            `json:"priority,omitempty"`
}

// SubscriptionJSON is one relationship.
type SubscriptionJSON struct {
	Address      string `json:"address"`
	Subscription string `json:"subscription"` // none, to, from, both
	PendingOut   bool   `json:"pending_out,omitempty"`
	PendingIn    bool   `json:"pending_in,omitempty"`
	PreApproved  bool   `json:"preapproved,omitempty"`
}

// PrivacyJSON is a user's own visibility settings.
type PrivacyJSON struct {
	Invisible bool     `json:"invisible"`
	Blocks    []string `json:"blocks"`
	Hidden    []string `json:"hidden"`
}

// ContactJSON is an address book entry.
type ContactJSON struct {
	ID      string     `json:"id"`
	Name    string     `json:"name"`
	Emails  []string   `json:"emails,omitempty"`
	Phones  []string   `json:"phones,omitempty"`
	Notes   string     `json:"notes,omitempty"`
	Groups  []string   `json:"groups,omitempty"`
	Address string     `json:"address,omitempty"`
	Version int64      `json:"version,omitempty"`
	Updated *time.Time `json:"updated,omitempty"`
}

// Presence converts a core view.
func Presence(v core.PresenceView) PresenceJSON {
	p := PresenceJSON{Address: v.Address, Availability: string(v.Availability), Status: v.Status, Activity: v.Activity,
		Priority: v.Priority, LastActive: timeOrNil(v.LastActive), LastSeen: timeOrNil(v.LastSeen)}
	for _, s := range v.Sessions {
		p.Sessions = append(p.Sessions, SessionJSON{Resource: s.Resource, Availability: string(s.Availability), Status: s.Status, Activity: s.Activity, Priority: s.Priority})
	}
	return p
}

// convert maps a list, giving an empty (not null) JSON array for none.
func convert[T, U any](in []T, f func(T) U) []U {
	out := make([]U, 0, len(in))
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}

// Presences converts a list of views.
func Presences(vs []core.PresenceView) []PresenceJSON { return convert(vs, Presence) }

// Subscription converts a core view.
func Subscription(v core.SubscriptionView) SubscriptionJSON {
	return SubscriptionJSON{Address: v.Address, Subscription: v.State(), PendingOut: v.PendingOut, PendingIn: v.PendingIn, PreApproved: v.PreApproved}
}

// Subscriptions converts a list of views.
func Subscriptions(vs []core.SubscriptionView) []SubscriptionJSON { return convert(vs, Subscription) }

// Contacts converts stored contacts.
func Contacts(cs []store.Contact) []ContactJSON { return convert(cs, Contact) }

// Privacy converts settings.
func Privacy(p core.Privacy) PrivacyJSON {
	nz := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	return PrivacyJSON{Invisible: p.Invisible, Blocks: nz(p.Blocks), Hidden: nz(p.Hidden)}
}

// Contact converts a stored contact.
func Contact(c store.Contact) ContactJSON {
	return ContactJSON{ID: c.ID, Name: c.Name, Emails: c.Emails, Phones: c.Phones, Notes: c.Notes, Groups: c.Groups,
		Address: c.Address, Version: c.Version, Updated: timeOrNil(c.Updated)}
}

// StoreContact converts a contact from a client.
func (c ContactJSON) StoreContact(owner string) store.Contact {
	return store.Contact{ID: c.ID, Owner: owner, Name: c.Name, Emails: c.Emails, Phones: c.Phones, Notes: c.Notes, Groups: c.Groups, Address: c.Address}
}

type snapshotFrame struct {
	Type          string             `json:"type"`
	Seq           uint64             `json:"seq"`
	Self          PresenceJSON       `json:"self"`
	Presence      []PresenceJSON     `json:"presence"`
	Subscriptions []SubscriptionJSON `json:"subscriptions"`
	Privacy       PrivacyJSON        `json:"privacy"`
	Personal      []PersonalJSON     `json:"personal"`
}

// PersonalJSON is the last item of a topic of someone's personal events.
type PersonalJSON struct {
	From      string          `json:"from"`
	Topic     string          `json:"topic"`
	Item      string          `json:"item,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
	Published *time.Time      `json:"published,omitempty"`
	Retracted bool            `json:"retracted,omitempty"`
}

// Personal converts a stored item.
func Personal(it store.PersonalItem) PersonalJSON {
	return PersonalJSON{From: it.Account, Topic: it.Topic, Item: it.ItemID, Data: json.RawMessage(it.Data), Published: timeOrNil(it.Published)}
}

type personalFrame struct {
	Type string `json:"type"`
	Seq  uint64 `json:"seq"`
	PersonalJSON
}

type subscriptionFrame struct {
	Type string `json:"type"`
	Seq  uint64 `json:"seq"`
	SubscriptionJSON
}

type privacyFrame struct {
	Type string `json:"type"`
	Seq  uint64 `json:"seq"`
	PrivacyJSON
}

type messageFrame struct {
	Type string          `json:"type"` // "message" or "signal"
	Seq  uint64          `json:"seq"`
	ID   string          `json:"id,omitempty"`
	From string          `json:"from"`
	To   string          `json:"to"`
	Body string          `json:"body,omitempty"`
	Data json.RawMessage `json:"data,omitempty"`
	Sent time.Time       `json:"sent"`
}

type contactFrame struct {
	Type    string      `json:"type"`
	Seq     uint64      `json:"seq"`
	Op      string      `json:"op"`
	Contact ContactJSON `json:"contact"`
}

// withHeader splices type and seq in front of an encoded object's fields:
// {"type":…,"seq":N,<fields of body>}.
func withHeader(typ string, seq uint64, body []byte) []byte {
	out := make([]byte, 0, len(body)+32+len(typ))
	out = append(out, `{"type":"`...)
	out = append(out, typ...)
	out = append(out, `","seq":`...)
	out = strconv.AppendUint(out, seq, 10)
	out = append(out, ',')
	return append(out, body[1:]...)
}

// AppendEvent appends Event(d) to dst; a presence event (the bulk of a
// fan-out) is written straight from its shared encoding, without a frame
// of its own.
func AppendEvent(dst []byte, d core.Delivery) []byte {
	ev, ok := d.Event.(core.PresenceEvent)
	if !ok {
		return append(dst, Event(d)...)
	}
	body := d.Memo.Do(func() any { return mustJSON(Presence(ev.View)) }).([]byte)
	dst = append(dst, `{"type":"presence","seq":`...)
	dst = strconv.AppendUint(dst, d.Seq, 10)
	dst = append(dst, ',')
	return append(dst, body[1:]...)
}

// Event encodes one delivery as a server frame.
func Event(d core.Delivery) []byte {
	switch ev := d.Event.(type) {
	case core.Snapshot:
		items := make([]PersonalJSON, len(ev.Items))
		for i, it := range ev.Items {
			items[i] = Personal(it)
		}
		return mustJSON(snapshotFrame{Type: "snapshot", Seq: d.Seq, Self: Presence(ev.Self), Presence: Presences(ev.Presence),
			Subscriptions: Subscriptions(ev.Subscriptions), Privacy: Privacy(ev.Privacy), Personal: items})
	case core.PersonalEvent:
		p := Personal(ev.Item)
		if ev.Retracted {
			p = PersonalJSON{From: ev.Item.Account, Topic: ev.Item.Topic, Retracted: true}
		}
		return mustJSON(personalFrame{Type: "personal", Seq: d.Seq, PersonalJSON: p})
	case core.PresenceEvent:
		body := d.Memo.Do(func() any { return mustJSON(Presence(ev.View)) }).([]byte)
		return withHeader("presence", d.Seq, body)
	case core.SubscriptionEvent:
		return mustJSON(subscriptionFrame{Type: "subscription", Seq: d.Seq, SubscriptionJSON: Subscription(ev.View)})
	case core.PrivacyEvent:
		return mustJSON(privacyFrame{Type: "privacy", Seq: d.Seq, PrivacyJSON: Privacy(ev.Privacy)})
	case core.MessageEvent:
		if ev.Stored != 0 {
			return storedEvent(d, ev)
		}
		m := ev.Message
		return mustJSON(messageFrame{Type: m.Kind, Seq: d.Seq, ID: m.ID, From: m.From, To: m.To, Body: m.Body, Data: m.Data, Sent: m.Sent})
	case core.ContactEvent:
		c := Contact(ev.Contact)
		if ev.Op == "delete" {
			c = ContactJSON{ID: ev.Contact.ID}
		}
		return mustJSON(contactFrame{Type: "contact", Seq: d.Seq, Op: ev.Op, Contact: c})
	case core.CallEvent:
		return callEvent(d.Seq, ev)
	case core.Goaway:
		return GoawayFrame(ev)
	}
	if b := roomEvent(d); b != nil {
		return b
	}
	panic("wire: unknown event type")
}
