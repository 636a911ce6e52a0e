// Package muc turns the core's room events into the stanzas of an XEP-0045
// Multi-User Chat service, and the core's refusals into MUC errors. The
// same builders serve a client's own stream (internal/xmpp/c2s) and the
// occupants of another domain reached over federation (internal/xmpp/s2s):
// only the stream's namespace and the service's address differ.
package muc

import (
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/xmpp/stanza"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// Namespaces of XEP-0045 and of the delayed delivery of history (XEP-0203).
const (
	NS       = "http://jabber.org/protocol/muc"
	NSUser   = "http://jabber.org/protocol/muc#user"
	NSDelay  = "urn:xmpp:delay"
	nsErrors = "urn:ietf:params:xml:ns:xmpp-stanzas"
)

// Service addresses room stanzas: from the MUC service Domain (a room is
// room@Domain, an occupant room@Domain/nick) to the occupant To (a full
// address), in the stream's content namespace NS (jabber:client,
// jabber:server).
type Service struct {
	NS     string
	Domain string
	To     string
}

// JID is a room's address; with nick, an occupant's.
func (v Service) JID(room, nick string) string {
	j := room + "@" + v.Domain
	if nick != "" {
		j += "/" + nick
	}
	return j
}

// Presence is a presence from from to the occupant, of type typ ("":
// available).
func (v Service) Presence(from, typ string) *xmlstream.Element {
	return stanza.Presence(v.NS, from, v.To, typ)
}

// Status is a muc#user status code.
func Status(code int) *xmlstream.Element {
	return xmlstream.New(NSUser, "status").Set("code", strconv.Itoa(code))
}

// Item is a muc#user item: an occupant's affiliation, role and, where it
// may be seen, address.
func Item(aff, role, jid string) *xmlstream.Element {
	it := xmlstream.New(NSUser, "item").Set("affiliation", aff).Set("role", role)
	if jid != "" {
		it.Set("jid", jid)
	}
	return it
}

// OccupantPresence is an occupant's presence, with extra in its muc#user x.
func (v Service) OccupantPresence(room string, o core.RoomOccupant, extra ...xmlstream.Node) *xmlstream.Element {
	p := stanza.AddShow(v.Presence(v.JID(room, o.Nick), ""), v.NS, o.Presence.Availability, o.Presence.Status)
	return p.Add(xmlstream.New(NSUser, "x").Add(Item(o.Affiliation, o.Role, o.Address)).Add(extra...))
}

// Departure is the unavailable presence of an occupant that left; self
// adds status 110 and who did it.
func (v Service) Departure(room string, o core.RoomOccupant, reason, by, why string, self bool) *xmlstream.Element {
	item := Item(o.Affiliation, "none", o.Address)
	if reason == core.LeftBanned {
		item.Set("affiliation", store.AffOutcast)
	}
	if self && by != "" {
		item.Add(xmlstream.New(NSUser, "actor").Set("nick", by))
	}
	if self && why != "" {
		item.Add(xmlstream.New(NSUser, "reason").AddText(why))
	}
	x := xmlstream.New(NSUser, "x").Add(item)
	switch reason {
	case core.LeftKicked:
		x.Add(Status(307))
	case core.LeftBanned:
		x.Add(Status(301))
	case core.LeftMembership:
		x.Add(Status(321))
	}
	if self {
		x.Add(Status(110))
	}
	return v.Presence(v.JID(room, o.Nick), "unavailable").Add(x)
}

// Groupchat is a message of the room; delayed marks one of its history.
func (v Service) Groupchat(room string, m core.RoomHistoryItem, delayed bool) *xmlstream.Element {
	el := xmlstream.New(v.NS, "message").Set("from", v.JID(room, m.Nick)).Set("to", v.To).Set("type", "groupchat")
	if m.ID != "" {
		el.Set("id", m.ID)
	}
	el.Add(xmlstream.New(v.NS, "body").AddText(m.Body))
	if delayed { // XEP-0203
		el.Add(xmlstream.New(NSDelay, "delay").Set("from", v.JID(room, "")).Set("stamp", m.Sent.UTC().Format(time.RFC3339Nano)))
	}
	return el
}

// Private is a private message from an occupant (§ 7.5): type chat, from
// its occupant address, marked with an empty muc#user x.
func (v Service) Private(ev core.RoomPrivateEvent) *xmlstream.Element {
	el := xmlstream.New(v.NS, "message").Set("from", v.JID(ev.Room, ev.Nick)).Set("to", v.To).Set("type", core.TypeChat)
	if ev.ID != "" {
		el.Set("id", ev.ID)
	}
	return el.Add(xmlstream.New(v.NS, "body").AddText(ev.Body), xmlstream.New(NSUser, "x"))
}

// Subject is the room's subject, as set by nick.
func (v Service) Subject(room, nick, subject string) *xmlstream.Element {
	return xmlstream.New(v.NS, "message").Set("from", v.JID(room, nick)).Set("to", v.To).Set("type", "groupchat").
		Add(xmlstream.New(v.NS, "subject").AddText(subject))
}

// PresenceError is the room's answer to a presence it refused (a join):
// typ and condition of RFC 6120 § 8.3.
func (v Service) PresenceError(room, nick, typ, condition string) *xmlstream.Element {
	return v.Presence(v.JID(room, nick), "error").Add(xmlstream.New(NS, "x")).
		Add(xmlstream.New(v.NS, "error").Set("type", typ).Add(xmlstream.New(nsErrors, condition)))
}

// Stanzas are the stanzas of a room event, in XEP-0045's order (§ 7.2:
// occupants, then the user's own presence, then history, then the
// subject); nil for an event that is not a room's.
func (v Service) Stanzas(ev core.Event) []*xmlstream.Element {
	var out []*xmlstream.Element
	switch ev := ev.(type) {
	case core.RoomSnapshot:
		for _, o := range ev.Occupants {
			out = append(out, v.OccupantPresence(ev.Room, o))
		}
		codes := []xmlstream.Node{Status(110)}
		if ev.Mode == store.RoomMembers {
			codes = append(codes, Status(100)) // addresses are shown to all
		}
		if ev.Created {
			codes = append(codes, Status(201))
		}
		out = append(out, v.OccupantPresence(ev.Room, ev.Self, codes...))
		for _, m := range ev.History {
			out = append(out, v.Groupchat(ev.Room, m, true))
		}
		out = append(out, v.Subject(ev.Room, ev.SubjectBy, ev.Subject))
	case core.RoomDiff:
		for _, o := range ev.Joined {
			out = append(out, v.OccupantPresence(ev.Room, o))
		}
		for _, o := range ev.Changed {
			out = append(out, v.OccupantPresence(ev.Room, o))
		}
		for _, o := range ev.Left {
			out = append(out, v.Departure(ev.Room, o, o.Reason, "", "", false))
		}
	case core.RoomMessageEvent:
		out = append(out, v.Groupchat(ev.Room, ev.Message, false))
	case core.RoomSubjectEvent:
		out = append(out, v.Subject(ev.Room, ev.Nick, ev.Subject))
	case core.RoomLeft:
		out = append(out, v.Departure(ev.Room, ev.Self, ev.Reason, ev.By, ev.Why, true))
	case core.RoomPrivateEvent:
		out = append(out, v.Private(ev))
	}
	return out
}

// JoinRefusal is the error a room answers a refused join with (XEP-0045
// § 7.2: a token is a room's password, a ban forbidden, members-only
// registration-required, a nick in use a conflict).
func JoinRefusal(err error) (typ, condition string) {
	switch {
	case core.IsRoomTokenRefused(err):
		return "auth", "not-authorized"
	case core.IsRoomBanned(err):
		return "auth", "forbidden"
	case core.IsRoomMembersOnly(err):
		return "auth", "registration-required"
	case core.IsNickTaken(err), core.CodeOf(err) == core.CodeConflict:
		return "cancel", "conflict"
	case core.CodeOf(err) == core.CodeLimit:
		return "wait", "service-unavailable"
	case core.CodeOf(err) == core.CodeForbidden:
		return "auth", "forbidden"
	case core.CodeOf(err) == core.CodeInvalid:
		return "modify", "not-acceptable"
	case core.CodeOf(err) == core.CodeNotFound:
		return "cancel", "item-not-found"
	case core.CodeOf(err) == core.CodeUnavailable:
		return "wait", "service-unavailable"
	}
	return "wait", "internal-server-error"
}

// SendRefusal is the error a room answers a refused message or subject
// with (§ 7.4: not in the room is not-acceptable); ok is false for a
// CodeForbidden refusal, which the caller words itself.
func SendRefusal(err error) (typ, condition string, ok bool) {
	switch core.CodeOf(err) {
	case core.CodeNotFound:
		return "modify", "not-acceptable", true
	case core.CodeInvalid:
		return "modify", "bad-request", true
	case core.CodeUnavailable:
		return "cancel", "service-unavailable", true
	case core.CodeRateLimited:
		return "wait", "resource-constraint", true
	case core.CodeForbidden:
		return "auth", "forbidden", false
	}
	return "wait", "internal-server-error", true
}

// ParseJoin reads a presence to an occupant's address (room, nick) of a
// stream of namespace ns as a join: its show and status, and the history
// and password (an app's room token, docs/rooms.md) of its muc x.
func ParseJoin(el *xmlstream.Element, ns, room, nick string) core.JoinOptions {
	p := core.Presence{Availability: core.Available, Status: strings.TrimSpace(el.ChildText(ns, "status"))}
	if show := strings.TrimSpace(el.ChildText(ns, "show")); show != "" && show != "chat" {
		p.Availability = core.Availability(show)
	}
	o := core.JoinOptions{Room: room, Nick: nick, Presence: &p, History: -1}
	if x := el.Child(NS, "x"); x != nil {
		if h := x.Child(NS, "history"); h != nil {
			if n, err := strconv.Atoi(h.AttrValue("maxstanzas")); err == nil && n >= 0 {
				o.History = n
			}
			if h.AttrValue("maxchars") == "0" {
				o.History = 0
			}
		}
		o.Token = strings.TrimSpace(x.ChildText(NS, "password"))
	}
	return o
}
