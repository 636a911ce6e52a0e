package c2s

// Translation of core events into stanzas: presence, messages, signals,
// routed iqs, subscription changes, roster and block list pushes, personal
// events. Runs on the flush goroutine (sink.go).

import (
	"slices"
	"strings"
	"sync"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/stanza"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// nsSignal carries the JSON protocol's signals (opaque JSON) to XMPP
// clients, inside <message type='headline'>.
const nsSignal = "urn:presenced:signal:0"

// deliver turns one core event into stanzas to me, the session's address.
func (c *conn) deliver(ev core.Event, me string) error {
	if ev, ok := ev.(core.PresenceEvent); ok { // most of what a login brings
		return c.contactPresence(ev.View, me)
	}
	switch ev := ev.(type) {
	case core.MessageEvent:
		m := ev.Message
		if m.Kind == core.KindIQ {
			return c.write(xmlstream.New(nsClient, "iq").Set("from", m.From).Set("to", me).Set("type", m.Type).Set("id", m.ID).Add(xmlstream.Raw(m.Payload)))
		}
		if m.Kind == core.KindSignal {
			return c.write(xmlstream.New(nsClient, "message").Set("from", m.From).Set("to", me).Set("type", core.TypeHeadline).Set("id", m.ID).
				Add(xmlstream.New(nsSignal, "signal").AddText(string(m.Data))))
		}
		if ev.Carbon != "" {
			return c.carbonCopy(m, ev.Carbon)
		}
		if ev.Stored != 0 { // XEP-0160 with its XEP-0203 stamp (offline.go)
			return c.write(messageStanza(m, me).Add(c.delay(m.Sent, "Offline Storage")))
		}
		return c.message(m)
	case core.Snapshot:
		c.blocks = ev.Privacy.Blocks // what the client will ask for with blocklist get
		// a snapshot after the first is a resynchronisation: events were lost
		if c.synced && c.rstate != nil {
			if err := c.rosterResync(); err != nil {
				return err
			}
		}
		c.synced = true
		return c.lastItems(ev.Items)
	case core.PersonalEvent:
		return c.notify(ev)
	case core.PrivacyEvent:
		return c.blockPush(ev.Privacy)
	case core.SubscriptionEvent:
		if err := c.rosterPush(ev.View.Address, &ev.View); err != nil {
			return err
		}
		for _, typ := range inboundSubscription(ev) {
			if err := c.write(presenceStanza(ev.View.Address, me, typ)); err != nil {
				return err
			}
		}
	case core.RoomSnapshot, core.RoomDiff, core.RoomMessageEvent, core.RoomSubjectEvent, core.RoomLeft, core.RoomInvite, core.RoomPrivateEvent:
		return c.mucEvent(ev) // muc.go
	case core.ForeignStanza:
		return c.foreignEvent(ev) // a room of another domain (foreign.go)
	case core.ContactEvent: // the roster shows the card's name and groups
		if err := c.rosterPush(ev.PrevAddress, nil); err != nil { // the item the card left
			return err
		}
		return c.rosterPush(ev.Contact.Address, nil)
	}
	return nil
}

// message writes a message from another session.
func (c *conn) message(m core.Message) error {
	return c.write(messageStanza(m, c.sess.Address()))
}

// messageStanza is m as a stanza from m.From to to: its body, then the
// extension elements an XMPP sender attached, relayed as they came.
func messageStanza(m core.Message, to string) *xmlstream.Element {
	typ := m.Type
	if typ == "" {
		typ = core.TypeChat
	}
	el := xmlstream.New(nsClient, "message").Set("from", m.From).Set("to", to).Set("type", typ)
	if m.ID != "" {
		el.Set("id", m.ID)
	}
	if m.Body != "" {
		el.Add(xmlstream.New(nsClient, "body").AddText(m.Body))
	}
	return el.Add(xmlstream.Raw(m.Payload))
}

// presenceStanza is a presence from from to to, of type typ ("": available).
func presenceStanza(from, to, typ string) *xmlstream.Element {
	return stanza.Presence(nsClient, from, to, typ)
}

// contactPresence delivers a contact's presence (or the user's other
// resources') to an available resource, me.
func (c *conn) contactPresence(v core.PresenceView, me string) error {
	if !c.available.Load() {
		return nil // presence goes to available resources only (RFC 6121 § 4.2.2)
	}
	if v.Address == c.account { // the user's other resources, not this one
		var others []core.SessionPresence
		for _, s := range v.Sessions {
			if s.Resource != c.sess.Resource {
				others = append(others, s)
			}
		}
		v.Sessions = others
	}
	return c.presence(v, me)
}

// resourceTrees lend the trees a contact's presence stanzas are built in
// (stanza.ResourceTree): write has written each when it returns.
var resourceTrees = sync.Pool{New: func() any { return new(stanza.ResourceTree) }}

// presence announces a contact's sessions to me, and the end of those
// gone.
func (c *conn) presence(v core.PresenceView, me string) error {
	tree := resourceTrees.Get().(*stanza.ResourceTree)
	defer resourceTrees.Put(tree)
	for _, s := range v.Sessions {
		if err := c.write(tree.Resource(nsClient, v.Address, me, s)); err != nil {
			return err
		}
	}
	shown, more := c.shown.list(v.Address)
	for more { // each resource shown, as of splits them
		var r string
		r, shown, more = strings.Cut(shown, "\x00")
		if !slices.ContainsFunc(v.Sessions, func(s core.SessionPresence) bool { return s.Resource == r }) {
			if err := c.write(presenceStanza(v.Address+"/"+r, me, "unavailable")); err != nil {
				return err
			}
		}
	}
	return c.shown.setList(v.Address, resourceList(v.Sessions), len(v.Sessions) > 0)
}

// resourceList is the sessions' resources as a shownSet records them:
// joined by NUL, with no copy for one session.
func resourceList(sessions []core.SessionPresence) string {
	switch len(sessions) {
	case 0:
		return ""
	case 1:
		return sessions[0].Resource
	}
	var b strings.Builder
	for i, s := range sessions {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(s.Resource)
	}
	return b.String()
}

// shownSet is, for each contact, the resources last announced to the
// client as available: a map kept as a slice sorted by contact, the
// resources of each in one string, in entries of 24 bytes (shownentry.go),
// which is a small part of what an idle stream holds (a map of slices was
// an eighth of it). It is fitted to its size after a flush (fit).
type shownSet []shownEntry

// shownExactBelow is the size under which a shownSet grows one entry at a
// time, with no spare capacity (copying it costs less than the up to 25 %
// unused a quarter's growth leaves, held for the stream's life).
const shownExactBelow = 64

func (s shownSet) find(contact string) (int, bool) {
	return slices.BinarySearchFunc(s, contact, func(e shownEntry, c string) int { return strings.Compare(e.contactAddress(), c) })
}

// of returns contact's shown resources.
func (s shownSet) of(contact string) []string {
	if list, ok := s.list(contact); ok {
		return strings.Split(list, "\x00")
	}
	return nil
}

// list returns contact's shown resources joined by NUL, and whether there
// are any.
func (s shownSet) list(contact string) (string, bool) {
	if i, ok := s.find(contact); ok {
		return s[i].resourceList(), true
	}
	return "", false
}

// set records contact's shown resources (none: forgets the contact); the
// resources are joined by NUL, which no resource contains (RFC 7622 § 3.4).
func (s *shownSet) set(contact string, resources []string) error {
	return s.setList(contact, strings.Join(resources, "\x00"), len(resources) > 0)
}

// setList is set with the resources joined (list); any tells whether
// there are some (a list of one empty resource is "" too).
func (s *shownSet) setList(contact, list string, any bool) error {
	i, ok := s.find(contact)
	if !any {
		if ok {
			*s = slices.Delete(*s, i, i+1)
			if len(*s) == 0 {
				*s = nil
			}
		}
		return nil
	}
	e, err := newShownEntry(contact, list)
	switch {
	case err != nil:
		return err
	case ok:
		(*s)[i] = e // the contact's address as last given: the older copy can go
	default:
		if len(*s) == cap(*s) { // it is held while idle: grown by one while small, then by a quarter
			grow := 1
			if len(*s) >= shownExactBelow {
				grow = len(*s) / 4
			}
			*s = append(make(shownSet, 0, len(*s)+grow), *s...)
		}
		*s = slices.Insert(*s, i, e)
	}
	return nil
}

// fit drops the spare capacity a quarter's growth left, once a flush is
// over: the set is then held as it is while the stream idles. It copies
// the set, as each insertion into it already does.
func (s *shownSet) fit() {
	if cap(*s) > len(*s) {
		fitted := make(shownSet, len(*s)) // not Clone, which rounds the capacity up
		copy(fitted, *s)
		*s = fitted
	}
}

// inboundSubscription is what RFC 6121 § 3 delivers to the user when the
// contact changed their relationship: a request, an approval, the end of
// the contact's subscription, or (after the contact removed the user) the
// end of the user's. A refusal or withdrawn approval is silent: the user's
// request just stays pending (docs/privacy.md).
func inboundSubscription(ev core.SubscriptionEvent) []string {
	was, now := ev.Before, ev.View
	var out []string
	if now.PendingIn && !was.PendingIn {
		out = append(out, "subscribe")
	}
	if ev.Mine {
		return out
	}
	if now.To && !was.To {
		out = append(out, "subscribed")
	}
	if was.From && !now.From {
		out = append(out, "unsubscribe")
	}
	if was.To && !now.To && !now.PendingOut {
		out = append(out, "unsubscribed")
	}
	return out
}
