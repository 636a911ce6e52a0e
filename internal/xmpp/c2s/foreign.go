package c2s

// Rooms of other domains (XEP-0045 across domains, core/foreignrooms.go):
// what the client sends to an address of another domain is first offered
// to the core as traffic of a room there — a join (presence with the muc
// x to room@service/nick), or anything to a room the session joined —
// and leaves over federation as it came; the rest is routed as before.
// What such a room sends the session is written as it came.

import (
	"strings"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/muc"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// toForeign offers a stanza the client addressed to another domain to the
// core as a foreign room's; handled reports that the core took it or
// refused it (the refusal is answered here), and false that it is no room's
// business.
func (c *conn) toForeign(el *xmlstream.Element) (handled bool, err error) {
	to := el.AttrValue("to")
	_, rest, hasAt := strings.Cut(to, "@")
	if domain, _, _ := strings.Cut(rest, "/"); !hasAt || strings.EqualFold(domain, c.domain) {
		return false, nil // the stream's own domain (most stanzas): parsed once, later
	}
	bare, _, perr := addr.Parse(to)
	if perr != nil || !c.s.Hub.Remote(bare) || c.ownRooms(addr.DomainOf(bare)) {
		return false, nil
	}
	var payload strings.Builder
	for _, n := range el.Children {
		if ch, ok := n.(*xmlstream.Element); ok {
			payload.WriteString(ch.String(nsClient))
		}
	}
	st := core.ForeignStanza{Kind: el.Name.Local, Type: el.AttrValue("type"), ID: el.AttrValue("id"), To: to,
		Payload: payload.String(), Join: el.Name.Local == "presence" && el.Child(muc.NS, "x") != nil}
	err = c.sess.ToForeignRoom(st)
	switch {
	case core.IsNotForeign(err):
		return false, nil
	case err == nil:
		return true, nil
	}
	switch st.Kind {
	case "presence":
		if st.Type != "" {
			return true, nil // a departure refused: nothing to say
		}
		typ, condition := muc.JoinRefusal(err)
		return true, c.write(presenceStanza(to, c.sess.Address(), "error").Add(xmlstream.New(muc.NS, "x")).Add(stanzaError(typ, condition)))
	case "iq":
		if st.Type != "get" && st.Type != "set" {
			return true, nil // an answer: rooms send no requests through here
		}
		return true, c.iqError(iqRequest{id: st.ID, from: to}, "cancel", "service-unavailable")
	}
	if st.Type == core.TypeError {
		return true, nil
	}
	if core.CodeOf(err) == core.CodeInvalid {
		return true, c.messageError(to, st.ID, "modify", "bad-request")
	}
	return true, c.messageError(to, st.ID, "cancel", "service-unavailable")
}

// foreignEvent writes a foreign room's stanza to the client as it came;
// a room lost with its server is told as XEP-0045 § 10.9's shutdown
// (status 332), with 110: it is about the client itself.
func (c *conn) foreignEvent(ev core.ForeignStanza) error {
	el := xmlstream.New(nsClient, ev.Kind).Set("from", ev.From).Set("to", c.sess.Address())
	if ev.Type != "" {
		el.Set("type", ev.Type)
	}
	if ev.ID != "" {
		el.Set("id", ev.ID)
	}
	if ev.Lost {
		return c.write(el.Add(xmlstream.New(muc.NSUser, "x").Add(muc.Item("none", "none", ""), muc.Status(110), muc.Status(332))))
	}
	return c.write(el.Add(xmlstream.Raw(ev.Payload)))
}

// foreignRoomJID reports whether jid names a room of another domain (a
// XEP-0249 invitation to it travels as an ordinary message).
func (c *conn) foreignRoomJID(jid string) bool {
	bare, resource, err := addr.Parse(jid)
	return err == nil && resource == "" && c.s.Hub.Remote(bare) && !c.ownRooms(addr.DomainOf(bare))
}

// ownRooms reports whether domain is a rooms service of this server: the
// stream's, or that of another domain it serves (whose rooms are the same
// ones, docs/rooms.md), which are not another domain's rooms.
func (c *conn) ownRooms(domain string) bool {
	if strings.EqualFold(domain, c.mucDomain()) {
		return true
	}
	d, ok := strings.CutPrefix(strings.ToLower(domain), "conference.")
	return ok && c.s.Hub.Serves(d)
}
