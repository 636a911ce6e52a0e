package muc

// The stanzas between a JSON-protocol session and a room of another domain
// (core/foreignview.go): the session's room frames are written as the
// XEP-0045 stanzas an XMPP client would send, and the room's stanzas are
// read into what they say (core.ForeignRoomContent), from which the core
// makes the JSON protocol's room events.

import (
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/stanza"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// WriteContent adds to el, a session's presence or message to a room in
// namespace ns, the children that say c: a presence's show and status
// (and, for a join, the muc x with the history wanted), a message's body
// or subject.
func WriteContent(el *xmlstream.Element, ns string, join bool, c *core.ForeignRoomContent) *xmlstream.Element {
	if el.Name.Local == "presence" {
		if el.AttrValue("type") == "" {
			stanza.AddShow(el, ns, c.Presence.Availability, c.Presence.Status)
		}
		if join {
			x := xmlstream.New(NS, "x")
			if c.History >= 0 {
				x.Add(xmlstream.New(NS, "history").Set("maxstanzas", strconv.Itoa(c.History)))
			}
			el.Add(x)
		}
		return el
	}
	if c.Subject != nil {
		el.Add(xmlstream.New(ns, "subject").AddText(*c.Subject))
	}
	if c.Body != "" {
		el.Add(xmlstream.New(ns, "body").AddText(c.Body))
	}
	return el
}

// ReadContent reads what a room's presence or message el, in namespace ns,
// says: an occupant's presence, its muc#user item and status codes (at most
// core.MaxForeignCodes), a message's body, subject and delay, an error's
// condition. Anything missing or malformed is left out.
func ReadContent(el *xmlstream.Element, ns string) *core.ForeignRoomContent {
	c := &core.ForeignRoomContent{History: -1}
	typ := el.AttrValue("type")
	if e := el.Child(ns, "error"); e != nil && typ == "error" {
		for _, n := range e.Children {
			if ch, ok := n.(*xmlstream.Element); ok && ch.Name.Space == nsErrors && ch.Name.Local != "text" {
				c.Condition = ch.Name.Local
				break
			}
		}
		return c
	}
	if el.Name.Local == "message" {
		readMessage(el, ns, c)
		return c
	}
	c.Presence = core.Presence{Availability: core.Available, Status: strings.TrimSpace(el.ChildText(ns, "status"))}
	switch show := core.Availability(strings.TrimSpace(el.ChildText(ns, "show"))); {
	case typ == "unavailable":
		c.Presence.Availability = core.Unavailable
	case show == core.Away || show == core.DND || show == core.XA:
		c.Presence.Availability = show
	}
	if x := el.Child(NSUser, "x"); x != nil {
		readUser(x, c)
	}
	return c
}

// readUser reads a muc#user x: the item, the status codes, a destruction.
func readUser(x *xmlstream.Element, c *core.ForeignRoomContent) {
	for _, n := range x.Children {
		ch, ok := n.(*xmlstream.Element)
		if !ok || ch.Name.Space != NSUser {
			continue
		}
		switch ch.Name.Local {
		case "item":
			c.Affiliation, c.Role, c.NewNick = ch.AttrValue("affiliation"), ch.AttrValue("role"), ch.AttrValue("nick")
			if jid := ch.AttrValue("jid"); jid != "" {
				c.Address, _, _ = strings.Cut(jid, "/")
			}
			if a := ch.Child(NSUser, "actor"); a != nil {
				c.By = a.AttrValue("nick")
			}
			c.Why = strings.TrimSpace(ch.ChildText(NSUser, "reason"))
		case "status":
			if code, err := strconv.Atoi(ch.AttrValue("code")); err == nil && len(c.Codes) < core.MaxForeignCodes {
				c.Codes = append(c.Codes, code)
			}
		case "destroy":
			c.Destroyed = true
			if c.Why == "" {
				c.Why = strings.TrimSpace(ch.ChildText(NSUser, "reason"))
			}
		}
	}
}

// readMessage reads a message's body, subject and delay (XEP-0203).
func readMessage(el *xmlstream.Element, ns string, c *core.ForeignRoomContent) {
	c.Body = el.ChildText(ns, "body")
	if s := el.Child(ns, "subject"); s != nil {
		subject := s.Text()
		c.Subject = &subject
	}
	if d := el.Child(NSDelay, "delay"); d != nil {
		if t, err := time.Parse(time.RFC3339Nano, d.AttrValue("stamp")); err == nil {
			c.Delayed = t.UTC()
		}
	}
}
