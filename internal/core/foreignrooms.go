package core

// Rooms of other domains (XEP-0045 across domains, docs/federation.md):
// a local user's XMPP client joins a room another server keeps by sending
// presence to room@service/nick there, as it would to a room here. The
// room is the other server's: what it says (occupants, messages, subject,
// errors, kicks) is its business and passes through as it comes; the core
// decides only whether a stanza may pass, by AllowForeignRoom
// (policy.go), and for that remembers, per session, the rooms it joined.
// Joining is the user's own act, so no subscription is asked of the room;
// a stanza from a room the session did not join (or was told it left) is
// not taken here, and the transport decides it as any stanza from that
// sender (a stranger's groupchat is refused). The session's presence
// broadcast never goes to its rooms (clients send their rooms presence
// themselves, as RFC 6121 § 4.6 has it for directed presence), and what a
// room says never reaches contacts: its stanzas go to the one session.
// A session that goes unavailable or ends leaves its rooms; when the
// room's server cannot be reached any more, the session is told it left.

import (
	"context"
	"strings"
	"sync"

	"github.com/presenced/presenced/internal/addr"
)

// Kinds of ForeignStanza.
const (
	StanzaPresence = "presence"
	StanzaMessage  = "message"
	StanzaIQ       = "iq"
)

// ForeignStanza is a stanza between a session and a room of another domain
// (or an occupant of it), carried as it is: Payload holds its children,
// XML the core passes through untouched. It is an Event both ways: to the
// room through the federation Router, to the session from the room.
type ForeignStanza struct {
	Kind    string // StanzaPresence, StanzaMessage or StanzaIQ
	Type    string // the stanza's type ("": an available presence, a normal message)
	ID      string
	From    string // the session's full address, or the room's or an occupant's
	To      string // the room's or an occupant's address, or the session's
	Payload string
	// Join (from the session): a presence carrying XEP-0045's
	// <x xmlns='http://jabber.org/protocol/muc'/>, which enters a room.
	Join bool
	// Left (from the room): the room tells the session it is not an
	// occupant any more: its own unavailable presence (status 110) other
	// than a nickname change, or the room's destruction.
	Left bool
	// Lost (to the session): the room's server cannot be reached, and
	// the session was taken out of the room here; the transport tells
	// the client as a room shutting down would. Nothing else is set
	// but From (the occupant address it had) and To.
	Lost bool
	// Room is what the stanza says, read rather than carried as XML, for
	// sessions that take no XML (the JSON protocol, foreignview.go): set
	// by a JSON session's stanza instead of Payload, and by the federation
	// beside Payload on a room's stanza. Nil: nothing read.
	Room *ForeignRoomContent
}

func (ForeignStanza) isEvent() {}

var (
	// errNotForeign: the stanza is not traffic of a room the session joined
	// (nor a join): the transport handles it as any other.
	errNotForeign = Errorf(CodeNotFound, "not a room of another domain that the session joined")
	errForeignBad = Errorf(CodeInvalid, "a stanza to a room is a presence, a message or an iq request of at most %d bytes", MaxPayload)
)

// IsNotForeign reports an error of ToForeignRoom or FromForeignRoom that
// says the stanza is not a foreign room's business: the caller routes it
// as any other stanza.
func IsNotForeign(err error) bool { return err == errNotForeign }

// foreignRoom is a room of another domain a session joined.
type foreignRoom struct {
	room  string // its bare address, normalised
	nick  string // the nickname the session last sent it
	state uint8
	view  *foreignView // a JSON session's reading of the room (foreignview.go); nil for XMPP
}

const (
	foreignJoining uint8 = iota // join sent, no presence from the room yet
	foreignIn                   // the room sent presence: an occupant
	foreignLeaving              // the session left; kept until the room confirms
)

// foreignIndex finds the sessions with rooms of a domain, for the
// federation's watch of the domain (RemoteOnline) and its loss
// (RemoteDomainGone). Taken after an account's lock, never before.
type foreignIndex struct {
	mu       sync.Mutex
	byDomain map[string]map[*Session]int // domain → sessions → their rooms there
}

func (x *foreignIndex) add(domain string, s *Session, n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.byDomain == nil {
		x.byDomain = map[string]map[*Session]int{}
	}
	m := x.byDomain[domain]
	if m == nil {
		m = map[*Session]int{}
		x.byDomain[domain] = m
	}
	if m[s] += n; m[s] <= 0 {
		delete(m, s)
	}
	if len(m) == 0 {
		delete(x.byDomain, domain)
	}
}

// has reports whether a session is in a room of domain (lower-cased).
func (x *foreignIndex) has(domain string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.byDomain[domain]) > 0
}

func (x *foreignIndex) sessions(domain string) []*Session {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]*Session, 0, len(x.byDomain[domain]))
	for s := range x.byDomain[domain] {
		out = append(out, s)
	}
	return out
}

// foreignAt is the index of room in s's rooms of other domains, or -1.
// The caller holds s's account lock.
func (s *Session) foreignAt(room string) int {
	for i, r := range s.foreignLocked() {
		if r.room == room {
			return i
		}
	}
	return -1
}

// foreignLocked is s's rooms of other domains; the caller holds s's
// account lock.
func (s *Session) foreignLocked() []foreignRoom {
	if s.rare == nil {
		return nil
	}
	return s.rare.foreign
}

// setForeignLocked makes rooms s's rooms of other domains.
func (s *Session) setForeignLocked(rooms []foreignRoom) {
	if len(rooms) == 0 {
		rooms = nil
	}
	if rooms == nil && s.rare == nil {
		return
	}
	s.rareLocked().foreign = rooms
	s.dropRareLocked()
}

// dropForeignLocked forgets s's room i; the caller holds s's account lock.
func (h *Hub) dropForeignLocked(s *Session, i int) {
	h.foreign.add(addr.DomainOf(s.foreignLocked()[i].room), s, -1)
	s.setForeignLocked(append(s.foreignLocked()[:i], s.foreignLocked()[i+1:]...))
}

// InForeignRoom reports whether the session joined room, a bare address of
// another domain, and has not left it.
func (s *Session) InForeignRoom(room string) bool {
	bare, err := addr.Bare(room)
	if err != nil {
		return false
	}
	defer s.hub.lock(s.Account)()
	i := s.foreignAt(bare)
	return i >= 0 && s.foreignLocked()[i].state != foreignLeaving
}

// checkForeign validates a session's stanza to a room.
func checkForeign(st *ForeignStanza) error {
	if err := checkText("id", st.ID, MaxMessageID); err != nil {
		return err
	}
	if len(st.Payload) > MaxPayload {
		return errForeignBad
	}
	switch st.Kind {
	case StanzaPresence:
		if st.Type == "" || st.Type == "unavailable" {
			return nil
		}
	case StanzaMessage:
		switch st.Type {
		case "", TypeNormal, TypeChat, "groupchat", TypeError:
			return nil
		}
	case StanzaIQ:
		if (st.Type == "get" || st.Type == "set") && st.ID != "" && st.Payload != "" {
			return nil
		}
	}
	return errForeignBad
}

// ToForeignRoom sends the session's stanza st to a room of another domain
// (st.To: the room, or an occupant): a join (st.Join, to room/nick), a
// presence change or nickname change, its departure, a groupchat or
// private message, a mediated invitation, an iq (whose answer then
// reaches the session, as a query's does). It returns IsNotForeign when
// st.To is not a room of another domain that the session joined and st is
// no join: the caller then routes st as any other stanza. A room the user
// blocks is refused (CodeUnavailable), as one nobody could reach.
func (s *Session) ToForeignRoom(st ForeignStanza) error {
	room, nick, err := addr.Parse(st.To)
	if err != nil || !s.hub.Remote(room) {
		return errNotForeign
	}
	defer s.hub.lock(s.Account)()
	if !s.payloads { // a room's stanzas pass as XML: XMPP sessions only
		if s.foreignAt(room) < 0 && !st.Join {
			return errNotForeign
		}
		return Errorf(CodeInvalid, "this session does not take a room's stanzas")
	}
	return s.toForeignLocked(st, room, nick)
}

// toForeignLocked sends st, to room (nick: its resource, if any), for
// ToForeignRoom and the JSON session's room calls (foreignview.go); the
// caller holds s's account lock.
func (s *Session) toForeignLocked(st ForeignStanza, room, nick string) error {
	h := s.hub
	join := st.Kind == StanzaPresence && st.Type == "" && st.Join && nick != ""
	i := s.foreignAt(room)
	if i < 0 && !join {
		return errNotForeign // not a room's business: decided as any stanza
	}
	if s.ended.Load() {
		return errSessionGone
	}
	if err := checkForeign(&st); err != nil {
		return err
	}
	f := ForeignRoomFacts{Channel: s.channel, Blocked: h.factsLocked(s.user, room, s.channel).Blocked, Joined: i >= 0}
	what := ForeignSend
	if join && i < 0 {
		what = ForeignJoin
	}
	if !AllowForeignRoom(f, what) {
		return errUnavailable
	}
	if i < 0 {
		if len(s.foreignLocked()) >= h.roomLimits().RoomsPerSession && !s.dropLeavingLocked() {
			return Errorf(CodeLimit, "this session is in %d rooms of other domains, the limit", h.roomLimits().RoomsPerSession)
		}
		s.setForeignLocked(append(s.foreignLocked(), foreignRoom{room: room, nick: nick, state: foreignJoining}))
		h.foreign.add(addr.DomainOf(room), s, 1)
		i = len(s.foreignLocked()) - 1
	}
	s.noteSentLocked(i, st, nick)
	st.From = s.Address()
	r := h.deliver(delivery{ev: st, subject: s.user, flow: FlowDirected, viewer: s.Account,
		to: []Target{{Account: room, Resource: nick}}})
	if r.Online == 0 {
		if join && s.foreignLocked()[i].state == foreignJoining {
			h.dropForeignLocked(s, i) // the join never left: not in it
		}
		return errUnavailable // the domain is refused, or federation is off
	}
	if st.Kind == StanzaIQ {
		s.expectAnswer(st.ID, room) // federation.go: its answer comes from an occupant of room
	}
	return nil
}

// noteSentLocked records what s's stanza st to its room i changes: a
// presence sets the nickname; unavailable leaves (until the room
// confirms), an available one after it joins again.
func (s *Session) noteSentLocked(i int, st ForeignStanza, nick string) {
	if st.Kind != StanzaPresence {
		return
	}
	r := &s.foreignLocked()[i]
	if nick != "" {
		r.nick = nick
	}
	switch {
	case st.Type == "unavailable":
		r.state = foreignLeaving
	case r.state == foreignLeaving:
		r.state = foreignJoining
	}
	if !s.payloads && r.state == foreignJoining {
		r.view = newForeignView() // a join: the room's answer is read afresh
	}
}

// dropLeavingLocked forgets one room s left whose confirmation never came,
// to make room for a new one; false when there is none.
func (s *Session) dropLeavingLocked() bool {
	for i, r := range s.foreignLocked() {
		if r.state == foreignLeaving {
			s.hub.dropForeignLocked(s, i)
			return true
		}
	}
	return false
}

// FromForeignRoom delivers st, a stanza a room of another domain (or an
// occupant of it) sent to a local session's full address, to that
// session, if it joined the room and the user does not block it; it
// returns IsNotForeign otherwise, and the caller decides st as a stanza of
// any other sender. The session is out of the room once the room says so
// (st.Left), or refused its join (an error presence before any other).
func (h *Hub) FromForeignRoom(ctx context.Context, st ForeignStanza) error {
	if b, _, _ := strings.Cut(st.From, "/"); !h.foreign.has(strings.ToLower(addr.DomainOf(b))) {
		return errNotForeign // no session is in a room there: not parsed (most stanzas)
	}
	room, _, err := addr.Parse(st.From)
	if err != nil || !h.Remote(room) {
		return errNotForeign
	}
	local, resource, err := addr.Parse(st.To)
	if err != nil || resource == "" || h.Remote(local) || st.Lost {
		return errNotForeign
	}
	if len(st.Payload) > MaxPayload || checkText("id", st.ID, MaxMessageID) != nil {
		return errForeignBad
	}
	defer h.lock(local)()
	lu := h.live(local)
	if lu == nil {
		return errNotForeign
	}
	s := lu.session(resource)
	if s == nil || s.ended.Load() {
		return errNotForeign
	}
	i := s.foreignAt(room)
	f := ForeignRoomFacts{Channel: s.channel, Blocked: h.factsLocked(lu, room, s.channel).Blocked, Joined: i >= 0}
	if !AllowForeignRoom(f, ForeignReceive) {
		return errNotForeign
	}
	evs := []Event{st}
	if !s.payloads { // a JSON session: the room events it reads as (foreignview.go)
		evs = s.foreignLocked()[i].read(st, h.roomLimits(), h.clock.Now())
	}
	for _, ev := range evs {
		h.deliver(delivery{ev: ev, subject: lu, flow: FlowMessage, viewer: local, to: []Target{s.target()}})
	}
	if st.Kind != StanzaPresence {
		return nil
	}
	switch r := &s.foreignLocked()[i]; {
	case st.Left, st.Type == "error" && r.state == foreignJoining:
		h.dropForeignLocked(s, i)
	case st.Type != "error" && r.state == foreignJoining:
		r.state = foreignIn
	}
	return nil
}

// leaveForeignLocked has s leave its rooms of other domains (an
// unavailable presence to each): it went unavailable (keep: the rooms'
// confirmations still reach it) or ended (they are forgotten). The caller
// holds s's account lock.
func (h *Hub) leaveForeignLocked(s *Session, keep bool) {
	for i := len(s.foreignLocked()) - 1; i >= 0; i-- {
		r := s.foreignLocked()[i]
		if r.state != foreignLeaving {
			st := ForeignStanza{Kind: StanzaPresence, Type: "unavailable", From: s.Address(), To: r.room + "/" + r.nick}
			h.deliver(delivery{ev: st, subject: s.user, flow: FlowDirected, viewer: s.Account,
				to: []Target{{Account: r.room, Resource: r.nick}}})
		}
		if keep {
			s.foreignLocked()[i].state = foreignLeaving
		} else {
			h.dropForeignLocked(s, i)
		}
	}
}

// foreignDomainGone: the server of domain (a rooms service, or any domain
// with rooms sessions joined) cannot be reached. Sessions in its rooms are
// taken out of them and told so (ForeignStanza.Lost), as a room shutting
// down tells its occupants: what it said no longer holds, and they may
// join again once it is back.
func (h *Hub) foreignDomainGone(domain string) {
	domain = strings.ToLower(domain)
	for _, s := range h.foreign.sessions(domain) {
		unlock := h.lock(s.Account)
		for i := len(s.foreignLocked()) - 1; i >= 0; i-- {
			r := s.foreignLocked()[i]
			if addr.DomainOf(r.room) != domain {
				continue
			}
			if r.state != foreignLeaving {
				var ev Event = ForeignStanza{Kind: StanzaPresence, Type: "unavailable", From: r.room + "/" + r.nick, To: s.Address(), Lost: true}
				if !s.payloads {
					ev = RoomLeft{Room: r.room, Nick: r.nick, Reason: LeftGone, Why: whyLost}
				}
				h.deliver(delivery{ev: ev, subject: s.user, flow: FlowMessage, viewer: s.Account, to: []Target{s.target()}})
			}
			h.dropForeignLocked(s, i)
		}
		unlock()
	}
}

// InForeignRooms reports whether a local session is in a room of domain
// (or joining it): the federation reads stanzas from there as a room's
// only then.
func (h *Hub) InForeignRooms(domain string) bool { return h.foreignOnline(domain) }

// foreignOnline reports whether a session is in a room of domain: the
// federation keeps watching the domain's server meanwhile.
func (h *Hub) foreignOnline(domain string) bool {
	return h.foreign.has(strings.ToLower(domain))
}
