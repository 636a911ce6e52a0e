package s2s

// Rooms across domains (XEP-0045 over s2s, docs/federation.md): each
// served domain's MUC service, conference.<domain>, is a domain of this
// server's federation too (streams to and from it, authenticated like the
// domain's own). Stanzas of another domain's users to a room are turned
// into the core's remote room steps (core/roomremote.go), which decides
// them under the rooms' rules; the room's events for them come back
// through the Router and leave as the stanzas of the service they joined
// through (internal/xmpp/muc, the builders the client streams use).

import (
	"context"
	"strings"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/muc"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// nsMUCOwner is XEP-0045's namespace of the owner's requests.
const nsMUCOwner = "http://jabber.org/protocol/muc#owner"

// mucPrefix names a served domain's MUC service.
const mucPrefix = "conference."

// maxJoinedVia bounds the services remembered for remote occupants; beyond
// it, the primary domain's service is named.
const maxJoinedVia = 1 << 16

// isMUCService reports whether domain is the MUC service of a served domain.
func (s *Server) isMUCService(domain string) bool {
	d, ok := strings.CutPrefix(strings.ToLower(domain), mucPrefix)
	return ok && s.servesAccounts(d)
}

// viaKey names a remote occupant (its full address) in room.
func viaKey(occupant, room string) string { return occupant + "\x00" + room }

// mucService is the service a remote occupant joined room through.
func (s *Server) mucService(occupant, room string, left bool) muc.Service {
	k := viaKey(occupant, room)
	s.viaMu.Lock()
	service := s.via[k]
	if left {
		delete(s.via, k)
	}
	s.viaMu.Unlock()
	if service == "" {
		service = mucPrefix + s.cfg.Domain
	}
	return muc.Service{NS: nsServer, Domain: service, To: occupant}
}

// joinedVia remembers the service occupant joins room through, and
// reports whether it was new (not in the room already).
func (s *Server) joinedVia(occupant, room, service string) bool {
	k := viaKey(occupant, room)
	s.viaMu.Lock()
	defer s.viaMu.Unlock()
	if _, ok := s.via[k]; ok || len(s.via) >= maxJoinedVia {
		return false
	}
	s.via[k] = service
	return true
}

// roomStanzas are a room event's stanzas for a remote occupant.
func (s *Server) roomStanzas(ev core.Event, to string) []*xmlstream.Element {
	var room string
	left := false
	switch e := ev.(type) {
	case core.RoomSnapshot:
		room = e.Room
	case core.RoomDiff:
		room = e.Room
	case core.RoomMessageEvent:
		room = e.Room
	case core.RoomSubjectEvent:
		room = e.Room
	case core.RoomPrivateEvent:
		room = e.Room
	case core.RoomLeft:
		room, left = e.Room, true
	default:
		return nil // invitations and the like: not for another domain
	}
	return s.mucService(to, room, left).Stanzas(ev)
}

// onMUC takes a stanza of a remote user to the MUC service: to a room or
// an occupant. Presence (join, change, leave), groupchat messages (a
// message, a subject) and muc#admin iqs of occupants are served over
// federation; the rest is refused.
func (s *Server) onMUC(ctx context.Context, el *xmlstream.Element, from, to string) {
	rest, nick, _ := strings.Cut(to, "/")
	room, service, hasRoom := strings.Cut(rest, "@")
	room, service = strings.ToLower(room), strings.ToLower(service)
	typ := el.AttrValue("type")
	if typ == "error" || typ == "result" {
		return
	}
	if s.onMUCDisco(ctx, el, from, to, room, hasRoom, nick) {
		return
	}
	if !hasRoom || room == "" || !strings.Contains(from, "/") { // the service itself, or a room without a name
		if el.Name.Local != "presence" {
			s.stanzaError(el, from, to, "cancel", "service-unavailable")
		}
		return
	}
	v := muc.Service{NS: nsServer, Domain: service, To: from}
	switch el.Name.Local {
	case "presence":
		s.onMUCPresence(ctx, el, v, room, nick)
	case "message":
		s.onMUCMessage(ctx, el, v, room, nick)
	case "iq":
		s.onMUCIQ(ctx, el, v, room, nick)
	default:
		s.stanzaError(el, from, to, "cancel", "service-unavailable")
	}
}

// onMUCIQ serves a remote occupant's muc#admin requests to a room (§ 8.2
// kick, § 9 admins' and § 10 owners' uses of muc#admin: bans, members,
// admins and their lists), run as the occupant it is (core.RemoteRoomAdmin:
// the stand-in its presence joined, authenticated as its messages are);
// muc#owner is the owner's, always a local account; disco and the rest
// are not served over federation.
func (s *Server) onMUCIQ(ctx context.Context, el *xmlstream.Element, v muc.Service, room, nick string) {
	to := v.JID(room, nick)
	typ := el.AttrValue("type")
	var q *xmlstream.Element
	for _, n := range el.Children {
		if ch, ok := n.(*xmlstream.Element); ok {
			q = ch
			break
		}
	}
	switch {
	case nick != "" || q == nil || typ != "get" && typ != "set":
		s.stanzaError(el, v.To, to, "cancel", "service-unavailable")
		return
	case q.Name.Space == nsMUCOwner:
		s.stanzaError(el, v.To, to, "auth", "forbidden")
		return
	case q.Name.Space != muc.NSAdmin || q.Name.Local != "query":
		s.stanzaError(el, v.To, to, "cancel", "service-unavailable")
		return
	}
	m, err := s.core.RemoteRoomAdmin(v.To)
	if err != nil {
		s.stanzaError(el, v.To, to, "cancel", "item-not-found") // in no room here: as a local non-occupant is answered
		return
	}
	var out *xmlstream.Element
	var etyp, condition string
	if typ == "set" {
		etyp, condition = muc.AdminSet(ctx, m, room, q)
	} else {
		out, etyp, condition = muc.AdminList(ctx, m, room, q)
	}
	if condition != "" {
		s.stanzaError(el, v.To, to, etyp, condition)
		return
	}
	res := xmlstream.New(nsServer, "iq").Set("type", "result").Set("id", el.AttrValue("id")).Set("from", to).Set("to", v.To)
	if out != nil {
		res.Add(out)
	}
	s.enqueue(domainOfAddress(v.To), res)
}

// onMUCPresence joins, changes presence in or leaves a room (XEP-0045 §
// 7.2, § 7.7, § 7.14).
func (s *Server) onMUCPresence(ctx context.Context, el *xmlstream.Element, v muc.Service, room, nick string) {
	switch el.AttrValue("type") {
	case "unavailable":
		if err := s.core.RemoteRoomLeave(ctx, v.To, room); err != nil { // not in it: answered as its own leave
			s.enqueue(domainOfAddress(v.To), v.Presence(v.JID(room, nick), "unavailable").
				Add(xmlstream.New(muc.NSUser, "x").Add(muc.Item("none", "none", ""), muc.Status(110))))
		}
		return
	case "":
	default:
		return
	}
	if nick == "" {
		s.enqueue(domainOfAddress(v.To), v.PresenceError(room, nick, "modify", "jid-malformed")) // § 7.2.1
		return
	}
	o := muc.ParseJoin(el, nsServer, room, nick)
	o.Token = ""                               // the deployment's own rooms: no app's token
	fresh := s.joinedVia(v.To, room, v.Domain) // before: the snapshot is routed during the join
	if err := s.core.RemoteRoomJoin(ctx, v.To, o); err != nil {
		if fresh {
			s.mucService(v.To, room, true)
		}
		typ, condition := muc.JoinRefusal(err)
		s.enqueue(domainOfAddress(v.To), v.PresenceError(room, nick, typ, condition))
	}
}

// onMUCMessage: a groupchat message or subject to a room, or a private
// message to an occupant (§ 7.5); mediated invitations are not served.
func (s *Server) onMUCMessage(ctx context.Context, el *xmlstream.Element, v muc.Service, room, nick string) {
	if nick != "" {
		s.onMUCPrivate(ctx, el, v, room, nick)
		return
	}
	if el.AttrValue("type") != "groupchat" {
		s.stanzaError(el, v.To, v.JID(room, ""), "modify", "bad-request")
		return
	}
	body, subject := el.Child(nsServer, "body"), el.Child(nsServer, "subject")
	var err error
	switch {
	case subject != nil && body == nil:
		err = s.core.RemoteRoomSubject(ctx, v.To, room, subject.Text())
	case body != nil:
		_, err = s.core.RemoteRoomSend(ctx, v.To, room, el.AttrValue("id"), body.Text())
	default:
		return // chat states and the like: not kept, not relayed
	}
	if err != nil {
		typ, condition, _ := muc.SendRefusal(err)
		s.stanzaError(el, v.To, v.JID(room, ""), typ, condition)
	}
}

// onMUCDisco answers a disco#info or disco#items get of the service or of
// a room (§ 6.1–6.4) from another domain — a user's or a server's own —
// with what a local stranger is told: the service's description and its
// open rooms; a room's description if it is open or names the asker's
// account (item-not-found alike otherwise); no occupants (§ 6.5). It
// reports whether el was such a query.
func (s *Server) onMUCDisco(ctx context.Context, el *xmlstream.Element, from, to, room string, hasRoom bool, nick string) bool {
	if el.Name.Local != "iq" || el.AttrValue("type") != "get" || nick != "" || hasRoom && room == "" {
		return false
	}
	q := firstChild(el)
	if q == nil || q.Name.Local != "query" || q.Name.Space != muc.NSDiscoInfo && q.Name.Space != muc.NSDiscoItems || q.AttrValue("node") != "" {
		return false
	}
	_, service, _ := strings.Cut(to, "@")
	if !hasRoom {
		service = strings.ToLower(to)
	}
	var out *xmlstream.Element
	switch {
	case !hasRoom && q.Name.Space == muc.NSDiscoInfo:
		out = muc.ServiceInfo()
	case !hasRoom:
		rooms, err := s.core.RemoteRooms(ctx)
		if err != nil {
			s.stanzaError(el, from, to, "wait", "internal-server-error")
			return true
		}
		out = muc.Service{Domain: service}.Items(rooms)
	default:
		info, err := s.core.RemoteRoomInfo(ctx, from, room)
		if err != nil {
			s.stanzaError(el, from, to, "cancel", "item-not-found") // unknown and hidden alike
			return true
		}
		out = xmlstream.New(muc.NSDiscoItems, "query")
		if q.Name.Space == muc.NSDiscoInfo {
			out = muc.RoomInfo(info)
		}
	}
	s.enqueue(domainOfAddress(from), xmlstream.New(nsServer, "iq").Set("type", "result").Set("id", el.AttrValue("id")).
		Set("from", to).Set("to", from).Add(out))
	return true
}

// firstChild is el's first child element, if any.
func firstChild(el *xmlstream.Element) *xmlstream.Element {
	for _, n := range el.Children {
		if ch, ok := n.(*xmlstream.Element); ok {
			return ch
		}
	}
	return nil
}

// onMUCPrivate: a remote occupant's private message to another occupant
// (type chat, with a body), run as its stand-in (core.RemoteRoomPrivate);
// refused as a local occupant's is.
func (s *Server) onMUCPrivate(ctx context.Context, el *xmlstream.Element, v muc.Service, room, nick string) {
	to := v.JID(room, nick)
	body := el.Child(nsServer, "body")
	switch typ := el.AttrValue("type"); {
	case typ != core.TypeChat && typ != "" && typ != core.TypeNormal:
		s.stanzaError(el, v.To, to, "modify", "bad-request")
		return
	case body == nil:
		return // chat states and the like: not relayed
	}
	if _, err := s.core.RemoteRoomPrivate(ctx, v.To, room, nick, el.AttrValue("id"), body.Text()); err != nil {
		typ, condition, _ := muc.SendRefusal(err)
		if core.CodeOf(err) == core.CodeNotFound {
			typ, condition = "cancel", "item-not-found" // not in the room, or no such occupant
		}
		s.stanzaError(el, v.To, to, typ, condition)
	}
}
