package c2s

// XEP-0045 Multi-User Chat (a subset) over the core's rooms (docs/rooms.md),
// and XEP-0249 direct invitations. The service is the subdomain
// conference.<domain> of the stream's domain (or Server.MUCDomain),
// reached through the client's own stream: stanzas to it are turned into
// core calls here, not routed to another server, and room events come
// back as the stanzas of a MUC service. A room is room@conference.<domain>;
// an occupant room@conference.<domain>/nick. The rooms are those of the
// stream's namespace: presenced's own (the same rooms JSON-protocol
// sessions join), or an app's for a stream signed in with the app's token.
// Rooms have no domain: a server hosting several domains has one service
// per domain, and each addresses the same rooms.

import (
	"context"
	"encoding/xml"
	"strings"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/xmpp/muc"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const (
	nsMUC         = muc.NS
	nsMUCUser     = muc.NSUser
	nsMUCAdmin    = muc.NSAdmin
	nsMUCOwner    = "http://jabber.org/protocol/muc#owner"
	nsConference  = "jabber:x:conference" // XEP-0249
	roomConfigFTy = "http://jabber.org/protocol/muc#roomconfig"
)

// mucDomain is the MUC service's address on this stream: each served
// domain has its own, conference.<domain>, all addressing the same rooms
// (rooms have no domain: they are the deployment's, as for JSON-protocol
// sessions).
func (c *conn) mucDomain() string {
	if c.s.MUCDomain != "" {
		return strings.ToLower(c.s.MUCDomain)
	}
	return "conference." + c.domain
}

// mucAddress splits an address of the MUC service: the service itself
// (room ""), a room, or an occupant (nick set).
func (c *conn) mucAddress(to string) (room, nick string, ok bool) {
	rest, nick, _ := strings.Cut(to, "/")
	room, domain, hasAt := strings.Cut(rest, "@")
	if !hasAt {
		room, domain = "", rest
	}
	if !strings.EqualFold(domain, c.mucDomain()) {
		return "", "", false
	}
	return strings.ToLower(room), nick, true
}

// roomJID is a room's address; with nick, an occupant's.
func (c *conn) roomJID(room, nick string) string {
	return muc.Service{Domain: c.mucDomain()}.JID(room, nick)
}

// onMUC handles a stanza to the MUC service, a room or an occupant.
func (c *conn) onMUC(el *xmlstream.Element, room, nick string) error {
	switch el.Name.Local {
	case "presence":
		return c.onMUCPresence(el, room, nick)
	case "message":
		return c.onMUCMessage(el, room, nick)
	case "iq":
		return c.onMUCIQ(el, room, nick)
	}
	return nil
}

// onMUCPresence joins a room, changes presence in it, or leaves it
// (XEP-0045 § 7.2, § 7.7, § 7.14).
func (c *conn) onMUCPresence(el *xmlstream.Element, room, nick string) error {
	ctx := context.Background()
	typ := el.AttrValue("type")
	if room == "" || typ != "" && typ != "unavailable" {
		return nil
	}
	if typ == "unavailable" {
		if err := c.sess.Leave(ctx, room); err != nil {
			// not in it: answer as the room would to its own leave
			return c.write(presenceStanza(c.roomJID(room, nick), c.sess.Address(), "unavailable").
				Add(xmlstream.New(nsMUCUser, "x").Add(mucItem(store.AffNone, "none", ""), status(110))))
		}
		return nil
	}
	if nick == "" {
		return c.mucPresenceError(room, nick, "modify", "jid-malformed") // § 7.2.1: a nick is required
	}
	o := muc.ParseJoin(el, nsClient, room, nick)
	if err := c.sess.Join(ctx, o); err != nil {
		typ, condition := muc.JoinRefusal(err)
		return c.mucPresenceError(room, nick, typ, condition)
	}
	return nil
}

func (c *conn) mucPresenceError(room, nick, typ, condition string) error {
	return c.write(c.muc().PresenceError(room, nick, typ, condition))
}

// onMUCMessage: a groupchat message or subject to a room, or a mediated
// invitation (§ 7.8.2); private messages between occupants are not served.
func (c *conn) onMUCMessage(el *xmlstream.Element, room, nick string) error {
	ctx := context.Background()
	id, typ := el.AttrValue("id"), el.AttrValue("type")
	from := c.roomJID(room, nick)
	if typ == core.TypeError {
		return nil
	}
	if room == "" {
		return c.messageError(from, id, "cancel", "feature-not-implemented")
	}
	if nick != "" { // a private message to an occupant (§ 7.5)
		body := el.Child(nsClient, "body")
		if body == nil {
			return nil // chat states and the like: not relayed
		}
		_, err := c.sess.RoomPrivate(ctx, room, nick, id, body.Text())
		if core.CodeOf(err) == core.CodeNotFound {
			return c.messageError(from, id, "cancel", "item-not-found") // not in the room, or no such occupant
		}
		return c.mucMessageError(from, id, err)
	}
	if x := el.Child(nsMUCUser, "x"); x != nil {
		if inv := x.Child(nsMUCUser, "invite"); inv != nil {
			_, err := c.sess.Invite(ctx, room, inv.AttrValue("to"), strings.TrimSpace(inv.ChildText(nsMUCUser, "reason")))
			return c.mucMessageError(from, id, err)
		}
	}
	if typ != "groupchat" {
		return c.messageError(from, id, "modify", "bad-request")
	}
	body := el.Child(nsClient, "body")
	if subj := el.Child(nsClient, "subject"); subj != nil && body == nil {
		return c.mucMessageError(from, id, c.sess.SetSubject(ctx, room, subj.Text()))
	}
	if body == nil {
		return nil // chat states and the like: not kept, not relayed
	}
	_, err := c.sess.RoomSend(ctx, room, id, body.Text())
	return c.mucMessageError(from, id, err)
}

// mucMessageError answers a refused message to a room (§ 7.4: not in it is
// not-acceptable).
func (c *conn) mucMessageError(from, id string, err error) error {
	if err == nil {
		return nil
	}
	typ, condition, ok := muc.SendRefusal(err)
	if why, forbid := refusal(err); forbid && !ok {
		return c.write(messageErrorStanza(from, id).Add(forbidden(why)))
	}
	return c.messageError(from, id, typ, condition)
}

// onMUCIQ answers iqs to the service, a room or an occupant: disco#info
// and #items, the admin iqs (kick, ban, members), the owner's
// configuration form, and XEP-0410 self-pings.
func (c *conn) onMUCIQ(el *xmlstream.Element, room, nick string) error {
	ctx := context.Background()
	typ := el.AttrValue("type")
	if typ != "get" && typ != "set" {
		return nil
	}
	rq := iqRequest{el: el, id: el.AttrValue("id"), typ: typ, to: toOther, from: c.roomJID(room, nick)}
	if room == "" {
		rq.from = c.mucDomain()
	}
	var payload *xmlstream.Element
	for _, n := range el.Children {
		if ch, ok := n.(*xmlstream.Element); ok {
			payload = ch
			break
		}
	}
	if payload == nil {
		return c.iqError(rq, "modify", "bad-request")
	}
	switch {
	case nick != "" && payload.Name == xmlName(nsPing, "ping"):
		if me, in := c.sess.InRoom(room); in && me == nick {
			return c.iqResult(rq, nil)
		}
		return c.iqError(rq, "cancel", "not-acceptable")
	case nick != "":
		return c.iqError(rq, "cancel", "feature-not-implemented")
	case payload.Name == xmlName(nsDiscoInfo, "query") && typ == "get":
		return c.mucDiscoInfo(ctx, rq, room)
	case payload.Name == xmlName(nsDiscoItem, "query") && typ == "get":
		return c.mucDiscoItems(ctx, rq, room)
	case room == "":
	case payload.Name == xmlName(nsMUCAdmin, "query") && typ == "set":
		return c.mucAdmin(ctx, rq, room, payload)
	case payload.Name == xmlName(nsMUCAdmin, "query"):
		return c.mucAdminList(ctx, rq, room, payload)
	case payload.Name == xmlName(nsMUCOwner, "query"):
		return c.mucOwner(ctx, rq, room, payload)
	}
	return c.iqError(rq, "cancel", "service-unavailable")
}

func (c *conn) mucDiscoInfo(ctx context.Context, rq iqRequest, room string) error {
	if room == "" {
		return c.iqResult(rq, muc.ServiceInfo())
	}
	info, err := c.sess.RoomInfo(ctx, room)
	if err != nil {
		return c.iqError(rq, "cancel", "item-not-found")
	}
	return c.iqResult(rq, muc.RoomInfo(info))
}

func dataField(v, typ, value string) *xmlstream.Element { return muc.DataField(v, typ, value) }

func (c *conn) mucDiscoItems(ctx context.Context, rq iqRequest, room string) error {
	if room != "" { // occupants are not listed (§ 6.5 lets a service refuse)
		if _, err := c.sess.RoomInfo(ctx, room); err != nil {
			return c.iqError(rq, "cancel", "item-not-found")
		}
		return c.iqResult(rq, xmlstream.New(nsDiscoItem, "query"))
	}
	rooms, err := c.sess.Rooms(ctx)
	if err != nil {
		if why, ok := refusal(err); ok {
			return c.iqForbidden(rq, why)
		}
		return c.iqError(rq, "wait", "internal-server-error")
	}
	return c.iqResult(rq, c.muc().Items(rooms))
}

// mucAdmin applies the items of a muc#admin set (muc.AdminSet).
func (c *conn) mucAdmin(ctx context.Context, rq iqRequest, room string, q *xmlstream.Element) error {
	if typ, condition := muc.AdminSet(ctx, c.sess, room, q); condition != "" {
		return c.iqError(rq, typ, condition)
	}
	return c.iqResult(rq, nil)
}

// mucAdminList answers a muc#admin get of the accounts with one
// affiliation (muc.AdminList).
func (c *conn) mucAdminList(ctx context.Context, rq iqRequest, room string, q *xmlstream.Element) error {
	out, typ, condition := muc.AdminList(ctx, c.sess, room, q)
	if condition != "" {
		return c.iqError(rq, typ, condition)
	}
	return c.iqResult(rq, out)
}

// mucOwner serves the room configuration form (§ 10.1–10.2): one field,
// members-only. Rooms are created ready (instant, § 10.1.2): submitting
// the empty form, or cancelling, leaves the room as it is.
func (c *conn) mucOwner(ctx context.Context, rq iqRequest, room string, q *xmlstream.Element) error {
	info, err := c.sess.RoomInfo(ctx, room)
	if err != nil {
		return c.iqError(rq, "cancel", "item-not-found")
	}
	if rq.typ == "get" {
		members := "0"
		if info.Mode == store.RoomMembers {
			members = "1"
		}
		form := xmlstream.New(nsData, "x").Set("type", "form").
			Add(dataField("FORM_TYPE", "hidden", roomConfigFTy)).
			Add(dataField("muc#roomconfig_membersonly", "boolean", members))
		return c.iqResult(rq, xmlstream.New(nsMUCOwner, "query").Add(form))
	}
	x := q.Child(nsData, "x")
	if x == nil || x.AttrValue("type") == "cancel" {
		return c.iqResult(rq, nil)
	}
	for _, n := range x.Children {
		f, ok := n.(*xmlstream.Element)
		if !ok || f.AttrValue("var") != "muc#roomconfig_membersonly" {
			continue
		}
		mode := store.RoomOpen
		if v := strings.TrimSpace(f.ChildText(nsData, "value")); v == "1" || v == "true" {
			mode = store.RoomMembers
		}
		if err := c.sess.SetRoomMode(ctx, room, mode); err != nil {
			if code := core.CodeOf(err); code == core.CodeUnavailable || code == core.CodeBusy {
				return c.iqError(rq, "wait", "service-unavailable") // the room's node cannot be reached
			}
			return c.iqError(rq, "auth", "forbidden")
		}
	}
	return c.iqResult(rq, nil)
}

// onDirectInvite sends a XEP-0249 invitation the client wrote to a user
// (a message carrying <x xmlns='jabber:x:conference' jid='room@service'/>).
func (c *conn) onDirectInvite(el, x *xmlstream.Element) error {
	room, _, ok := c.mucAddress(x.AttrValue("jid"))
	to, id := el.AttrValue("to"), el.AttrValue("id")
	if !ok || room == "" {
		return c.messageError(to, id, "modify", "bad-request")
	}
	_, err := c.sess.Invite(context.Background(), room, to, x.AttrValue("reason"))
	if err == nil {
		return nil
	}
	if core.CodeOf(err) == core.CodeNotFound {
		return c.messageError(to, id, "modify", "not-acceptable") // not in that room
	}
	return c.mucMessageError(to, id, err)
}

// Room events as the stanzas of a MUC service (internal/xmpp/muc).

// muc is the MUC service of this stream, addressing its session.
func (c *conn) muc() muc.Service {
	return muc.Service{NS: nsClient, Domain: c.mucDomain(), To: c.sess.Address()}
}

func status(code int) *xmlstream.Element { return muc.Status(code) }

func mucItem(aff, role, jid string) *xmlstream.Element { return muc.Item(aff, role, jid) }

// mucEvent writes a room event as stanzas; a direct invitation (XEP-0249)
// is this stream's own.
func (c *conn) mucEvent(ev core.Event) error {
	if ev, ok := ev.(core.RoomInvite); ok {
		jid := ev.Room // a room of another domain, by its address (an invitation from there)
		if !strings.Contains(jid, "@") {
			jid = c.roomJID(ev.Room, "")
		}
		x := xmlstream.New(nsConference, "x").Set("jid", jid)
		if ev.Reason != "" {
			x.Set("reason", ev.Reason)
		}
		return c.write(xmlstream.New(nsClient, "message").Set("from", ev.From).Set("to", c.sess.Address()).Add(x))
	}
	for _, el := range c.muc().Stanzas(ev) {
		if err := c.write(el); err != nil {
			return err
		}
	}
	return nil
}

func xmlName(space, local string) xml.Name { return xml.Name{Space: space, Local: local} }
