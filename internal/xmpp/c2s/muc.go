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
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const (
	nsMUC         = "http://jabber.org/protocol/muc"
	nsMUCUser     = "http://jabber.org/protocol/muc#user"
	nsMUCAdmin    = "http://jabber.org/protocol/muc#admin"
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
	j := room + "@" + c.mucDomain()
	if nick != "" {
		j += "/" + nick
	}
	return j
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
	p := core.Presence{Availability: core.Available, Status: childText(el, "status")}
	if show := childText(el, "show"); show != "" && show != "chat" {
		p.Availability = core.Availability(show)
	}
	o := core.JoinOptions{Room: room, Nick: nick, Presence: &p, History: -1}
	if x := el.Child(nsMUC, "x"); x != nil {
		if h := x.Child(nsMUC, "history"); h != nil {
			if n, err := strconv.Atoi(h.AttrValue("maxstanzas")); err == nil && n >= 0 {
				o.History = n
			}
			if h.AttrValue("maxchars") == "0" {
				o.History = 0
			}
		}
		o.Token = strings.TrimSpace(x.ChildText(nsMUC, "password")) // an app's room token (docs/rooms.md)
	}
	err := c.sess.Join(ctx, o)
	switch {
	case err == nil:
		return nil
	case core.IsRoomTokenRefused(err): // as a password-protected room answers (XEP-0045)
		return c.mucPresenceError(room, nick, "auth", "not-authorized")
	case core.IsRoomBanned(err):
		return c.mucPresenceError(room, nick, "auth", "forbidden")
	case core.IsRoomMembersOnly(err):
		return c.mucPresenceError(room, nick, "auth", "registration-required")
	case core.IsNickTaken(err), core.CodeOf(err) == core.CodeConflict:
		return c.mucPresenceError(room, nick, "cancel", "conflict")
	case core.CodeOf(err) == core.CodeLimit:
		return c.mucPresenceError(room, nick, "wait", "service-unavailable")
	case core.CodeOf(err) == core.CodeForbidden:
		return c.mucPresenceError(room, nick, "auth", "forbidden")
	case core.CodeOf(err) == core.CodeInvalid:
		return c.mucPresenceError(room, nick, "modify", "not-acceptable")
	}
	return c.mucPresenceError(room, nick, "wait", "internal-server-error")
}

func (c *conn) mucPresenceError(room, nick, typ, condition string) error {
	return c.write(presenceStanza(c.roomJID(room, nick), c.sess.Address(), "error").
		Add(xmlstream.New(nsMUC, "x")).Add(stanzaError(typ, condition)))
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
	if room == "" || nick != "" {
		return c.messageError(from, id, "cancel", "feature-not-implemented")
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
	switch {
	case err == nil:
		return nil
	case core.CodeOf(err) == core.CodeNotFound:
		return c.messageError(from, id, "modify", "not-acceptable")
	case core.CodeOf(err) == core.CodeInvalid:
		return c.messageError(from, id, "modify", "bad-request")
	case core.CodeOf(err) == core.CodeUnavailable:
		return c.messageError(from, id, "cancel", "service-unavailable")
	case core.CodeOf(err) == core.CodeRateLimited:
		return c.messageError(from, id, "wait", "resource-constraint")
	}
	if why, ok := refusal(err); ok {
		return c.write(messageErrorStanza(from, id).Add(forbidden(why)))
	}
	return c.messageError(from, id, "wait", "internal-server-error")
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
	q := xmlstream.New(nsDiscoInfo, "query")
	feature := func(v string) { q.Add(xmlstream.New(nsDiscoInfo, "feature").Set("var", v)) }
	if room == "" {
		q.Add(xmlstream.New(nsDiscoInfo, "identity").Set("category", "conference").Set("type", "text").Set("name", "Rooms"))
		for _, f := range []string{nsDiscoInfo, nsDiscoItem, nsMUC, nsConference} {
			feature(f)
		}
		return c.iqResult(rq, q)
	}
	info, err := c.sess.RoomInfo(ctx, room)
	if err != nil {
		return c.iqError(rq, "cancel", "item-not-found")
	}
	q.Add(xmlstream.New(nsDiscoInfo, "identity").Set("category", "conference").Set("type", "text").Set("name", info.Name))
	feats := []string{nsDiscoInfo, nsDiscoItem, nsMUC, "muc_persistent", "muc_unmoderated", "muc_unsecured"}
	if info.Mode == store.RoomMembers {
		feats = append(feats, "muc_membersonly", "muc_nonanonymous", "muc_hidden")
	} else {
		feats = append(feats, "muc_open", "muc_semianonymous", "muc_public")
	}
	for _, f := range feats {
		feature(f)
	}
	form := xmlstream.New(nsData, "x").Set("type", "result").
		Add(dataField("FORM_TYPE", "hidden", "http://jabber.org/protocol/muc#roominfo")).
		Add(dataField("muc#roominfo_subject", "", info.Subject)).
		Add(dataField("muc#roominfo_occupants", "", strconv.Itoa(info.Count)))
	return c.iqResult(rq, q.Add(form))
}

func dataField(v, typ, value string) *xmlstream.Element {
	f := xmlstream.New(nsData, "field").Set("var", v)
	if typ != "" {
		f.Set("type", typ)
	}
	return f.Add(xmlstream.New(nsData, "value").AddText(value))
}

func (c *conn) mucDiscoItems(ctx context.Context, rq iqRequest, room string) error {
	q := xmlstream.New(nsDiscoItem, "query")
	if room != "" { // occupants are not listed (§ 6.5 lets a service refuse)
		if _, err := c.sess.RoomInfo(ctx, room); err != nil {
			return c.iqError(rq, "cancel", "item-not-found")
		}
		return c.iqResult(rq, q)
	}
	rooms, err := c.sess.Rooms(ctx)
	if err != nil {
		if why, ok := refusal(err); ok {
			return c.iqForbidden(rq, why)
		}
		return c.iqError(rq, "wait", "internal-server-error")
	}
	for _, r := range rooms {
		name := r.Name
		if r.Count > 0 {
			name += " (" + strconv.Itoa(r.Count) + ")"
		}
		q.Add(xmlstream.New(nsDiscoItem, "item").Set("jid", c.roomJID(r.Name, "")).Set("name", name))
	}
	return c.iqResult(rq, q)
}

// mucAdmin applies the items of a muc#admin set (§ 8.2 kick, § 9.1 ban,
// § 9.3 members, § 10.3 admins): role none kicks; an affiliation names
// the account (by jid or by the nick of an occupant).
func (c *conn) mucAdmin(ctx context.Context, rq iqRequest, room string, q *xmlstream.Element) error {
	for _, n := range q.Children {
		item, ok := n.(*xmlstream.Element)
		if !ok || item.Name != xmlName(nsMUCAdmin, "item") {
			continue
		}
		nick, jid := item.AttrValue("nick"), item.AttrValue("jid")
		if bare, _, found := strings.Cut(jid, "/"); found {
			jid = bare
		}
		why := strings.TrimSpace(item.ChildText(nsMUCAdmin, "reason"))
		var err error
		switch aff, role := item.AttrValue("affiliation"), item.AttrValue("role"); {
		case role == "none" && nick != "":
			err = c.sess.Kick(ctx, room, nick, why)
		case aff != "" && aff != store.AffOwner:
			err = c.sess.SetAffiliation(ctx, room, core.RoomWho{Nick: nick, Address: jid}, aff, why)
		default:
			return c.iqError(rq, "cancel", "feature-not-implemented") // roles other than none: no voice or visitors here
		}
		if err != nil {
			switch core.CodeOf(err) {
			case core.CodeNotFound:
				return c.iqError(rq, "cancel", "item-not-found")
			case core.CodeInvalid:
				return c.iqError(rq, "modify", "bad-request")
			case core.CodeForbidden:
				return c.iqError(rq, "cancel", "not-allowed")
			case core.CodeLimit:
				return c.iqError(rq, "wait", "resource-constraint")
			}
			return c.iqError(rq, "wait", "internal-server-error")
		}
	}
	return c.iqResult(rq, nil)
}

// mucAdminList answers a muc#admin get of the accounts with one
// affiliation (§ 9.5 bans, § 9.8 members, § 10.5 owners, § 10.8 admins).
func (c *conn) mucAdminList(ctx context.Context, rq iqRequest, room string, q *xmlstream.Element) error {
	item := q.Child(nsMUCAdmin, "item")
	if item == nil || item.AttrValue("affiliation") == "" {
		return c.iqError(rq, "modify", "bad-request") // lists by role (moderators, participants) are not kept
	}
	aff := item.AttrValue("affiliation")
	accounts, err := c.sess.Affiliated(ctx, room, aff)
	switch {
	case err == nil:
	case core.CodeOf(err) == core.CodeNotFound:
		return c.iqError(rq, "cancel", "item-not-found")
	case core.CodeOf(err) == core.CodeForbidden:
		return c.iqError(rq, "auth", "forbidden")
	case core.CodeOf(err) == core.CodeInvalid:
		return c.iqError(rq, "modify", "bad-request")
	default:
		return c.iqError(rq, "wait", "internal-server-error")
	}
	out := xmlstream.New(nsMUCAdmin, "query")
	for _, a := range accounts {
		out.Add(xmlstream.New(nsMUCAdmin, "item").Set("affiliation", aff).Set("jid", a))
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

// Room events as the stanzas of a MUC service.

func status(code int) *xmlstream.Element {
	return xmlstream.New(nsMUCUser, "status").Set("code", strconv.Itoa(code))
}

func mucItem(aff, role, jid string) *xmlstream.Element {
	it := xmlstream.New(nsMUCUser, "item").Set("affiliation", aff).Set("role", role)
	if jid != "" {
		it.Set("jid", jid)
	}
	return it
}

// occupantPresence is an occupant's presence, with extra in its muc#user x.
func (c *conn) occupantPresence(room string, o core.RoomOccupant, extra ...xmlstream.Node) *xmlstream.Element {
	p := presenceStanza(c.roomJID(room, o.Nick), c.sess.Address(), "")
	if o.Presence.Availability != core.Available && o.Presence.Availability != "" {
		p.Add(xmlstream.New(nsClient, "show").AddText(string(o.Presence.Availability)))
	}
	if o.Presence.Status != "" {
		p.Add(xmlstream.New(nsClient, "status").AddText(o.Presence.Status))
	}
	return p.Add(xmlstream.New(nsMUCUser, "x").Add(mucItem(o.Affiliation, o.Role, o.Address)).Add(extra...))
}

// departure is the unavailable presence of an occupant that left; self
// adds status 110 and who did it.
func (c *conn) departure(room string, o core.RoomOccupant, reason, by, why string, self bool) *xmlstream.Element {
	item := mucItem(o.Affiliation, "none", o.Address)
	if reason == core.LeftBanned {
		item.Set("affiliation", store.AffOutcast)
	}
	if self && by != "" {
		item.Add(xmlstream.New(nsMUCUser, "actor").Set("nick", by))
	}
	if self && why != "" {
		item.Add(xmlstream.New(nsMUCUser, "reason").AddText(why))
	}
	x := xmlstream.New(nsMUCUser, "x").Add(item)
	switch reason {
	case core.LeftKicked:
		x.Add(status(307))
	case core.LeftBanned:
		x.Add(status(301))
	case core.LeftMembership:
		x.Add(status(321))
	}
	if self {
		x.Add(status(110))
	}
	return presenceStanza(c.roomJID(room, o.Nick), c.sess.Address(), "unavailable").Add(x)
}

func (c *conn) groupchat(room string, m core.RoomHistoryItem, delayed bool) *xmlstream.Element {
	el := xmlstream.New(nsClient, "message").Set("from", c.roomJID(room, m.Nick)).Set("to", c.sess.Address()).Set("type", "groupchat")
	if m.ID != "" {
		el.Set("id", m.ID)
	}
	el.Add(xmlstream.New(nsClient, "body").AddText(m.Body))
	if delayed { // XEP-0203
		el.Add(xmlstream.New(nsDelay, "delay").Set("from", c.roomJID(room, "")).Set("stamp", m.Sent.UTC().Format(time.RFC3339Nano)))
	}
	return el
}

func (c *conn) subject(room, nick, subject string) *xmlstream.Element {
	from := c.roomJID(room, nick)
	return xmlstream.New(nsClient, "message").Set("from", from).Set("to", c.sess.Address()).Set("type", "groupchat").
		Add(xmlstream.New(nsClient, "subject").AddText(subject))
}

// mucEvent writes a room event as stanzas (XEP-0045 § 7.2: occupants, then
// the user's own presence, then history, then the subject).
func (c *conn) mucEvent(ev core.Event) error {
	switch ev := ev.(type) {
	case core.RoomSnapshot:
		for _, o := range ev.Occupants {
			if err := c.write(c.occupantPresence(ev.Room, o)); err != nil {
				return err
			}
		}
		codes := []xmlstream.Node{status(110)}
		if ev.Mode == store.RoomMembers {
			codes = append(codes, status(100)) // addresses are shown to all
		}
		if ev.Created {
			codes = append(codes, status(201))
		}
		if err := c.write(c.occupantPresence(ev.Room, ev.Self, codes...)); err != nil {
			return err
		}
		for _, m := range ev.History {
			if err := c.write(c.groupchat(ev.Room, m, true)); err != nil {
				return err
			}
		}
		return c.write(c.subject(ev.Room, ev.SubjectBy, ev.Subject))
	case core.RoomDiff:
		for _, o := range ev.Joined {
			if err := c.write(c.occupantPresence(ev.Room, o)); err != nil {
				return err
			}
		}
		for _, o := range ev.Changed {
			if err := c.write(c.occupantPresence(ev.Room, o)); err != nil {
				return err
			}
		}
		for _, o := range ev.Left {
			if err := c.write(c.departure(ev.Room, o, o.Reason, "", "", false)); err != nil {
				return err
			}
		}
	case core.RoomMessageEvent:
		return c.write(c.groupchat(ev.Room, ev.Message, false))
	case core.RoomSubjectEvent:
		return c.write(c.subject(ev.Room, ev.Nick, ev.Subject))
	case core.RoomLeft:
		return c.write(c.departure(ev.Room, ev.Self, ev.Reason, ev.By, ev.Why, true))
	case core.RoomInvite:
		x := xmlstream.New(nsConference, "x").Set("jid", c.roomJID(ev.Room, ""))
		if ev.Reason != "" {
			x.Set("reason", ev.Reason)
		}
		return c.write(xmlstream.New(nsClient, "message").Set("from", ev.From).Set("to", c.sess.Address()).Add(x))
	}
	return nil
}

func xmlName(space, local string) xml.Name { return xml.Name{Space: space, Local: local} }
