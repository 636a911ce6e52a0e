package s2s

// Rooms of other domains that local users join (XEP-0045 across domains,
// core/foreignrooms.go): a local session's stanzas to such a room leave
// as they came, from the session's full address; the room's stanzas to a
// local full address are handed to the core, which takes them only for a
// session that joined the room (else they are decided as any other
// stanza of that sender, below in stanzas.go).

import (
	"context"
	"strings"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/muc"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// foreignStanza is a local session's stanza to a room of another domain:
// an XMPP client's as it came, a JSON session's written from what it says.
func (s *Server) foreignStanza(ev core.ForeignStanza) []*xmlstream.Element {
	if !s.isLocal(bareOf(ev.From)) {
		return nil // a server never relays
	}
	el := xmlstream.New(nsServer, ev.Kind).Set("from", ev.From).Set("to", ev.To)
	if ev.Type != "" {
		el.Set("type", ev.Type)
	}
	if ev.ID != "" {
		el.Set("id", ev.ID)
	}
	if ev.Room != nil { // a JSON session's: written as an XMPP client would
		return []*xmlstream.Element{muc.WriteContent(el, nsServer, ev.Join, ev.Room)}
	}
	return []*xmlstream.Element{el.Add(xmlstream.Raw(ev.Payload))}
}

// fromForeignRoom offers a presence or message to a local full address to
// the core as a room's traffic, as it came (for XMPP clients) and read (for
// JSON sessions); it reports whether the core took it.
func (s *Server) fromForeignRoom(ctx context.Context, el *xmlstream.Element, from, to string) bool {
	if el.Name.Local != "presence" && el.Name.Local != "message" || !strings.Contains(to, "/") {
		return false
	}
	typ := el.AttrValue("type")
	if el.Name.Local == "presence" && typ != "" && typ != "unavailable" && typ != "error" {
		return false // subscriptions and probes are an account's
	}
	if !s.core.InForeignRooms(domainOfAddress(from)) {
		return false // no session is in a room there (most stanzas): not read
	}
	var payload strings.Builder
	for _, n := range el.Children {
		if ch, ok := n.(*xmlstream.Element); ok {
			payload.WriteString(ch.String(nsServer))
		}
	}
	st := core.ForeignStanza{Kind: el.Name.Local, Type: typ, ID: el.AttrValue("id"), From: from, To: to,
		Payload: payload.String(), Left: typ == "unavailable" && leftRoom(el), Room: muc.ReadContent(el, nsServer)}
	return s.core.FromForeignRoom(ctx, st) == nil
}

// leftRoom reports whether an unavailable presence from a room says the
// recipient is out of it (XEP-0045 § 7.14, § 8.2, § 9.1, § 10.9): status
// 110 (about the recipient itself) without 303 (a nickname change, after
// which it is still in), or the room's destruction.
func leftRoom(el *xmlstream.Element) bool {
	x := el.Child(muc.NSUser, "x")
	if x == nil {
		return false
	}
	if x.Child(muc.NSUser, "destroy") != nil {
		return true
	}
	self, renamed := false, false
	for _, n := range x.Children {
		if st, ok := n.(*xmlstream.Element); ok && st.Name.Space == muc.NSUser && st.Name.Local == "status" {
			switch st.AttrValue("code") {
			case "110":
				self = true
			case "303":
				renamed = true
			}
		}
	}
	return self && !renamed
}

// isJoin reports whether a presence carries XEP-0045's join element: it
// must reach the room, never be replaced in a queue by a later presence.
func isJoin(el *xmlstream.Element) bool {
	return el.Name.Local == "presence" && el.Child(muc.NS, "x") != nil
}
