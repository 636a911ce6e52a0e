package core

// JSON-protocol sessions in rooms of other domains (docs/federation.md,
// "Local users in other servers' rooms"). An XMPP client speaks XEP-0045
// with such a room itself, and its stanzas pass as XML (foreignrooms.go).
// A JSON session speaks the JSON protocol's room frames instead: its join,
// leave, room_message and subject name the room by its address
// (room@service) and become ForeignStanzas carrying what they say
// (ForeignRoomContent), which the federation writes as XEP-0045 stanzas;
// the room's stanzas come back read the same way, and are turned here into
// the room events of rooms of this server (RoomSnapshot, RoomDiff,
// RoomMessageEvent, RoomSubjectEvent, RoomLeft), so the session sees the
// same frames for both. The decisions are those of XMPP clients:
// AllowForeignRoom, the same per-session list of rooms and its limit.
//
// XEP-0045 § 7.2 answers a join with the occupants' presence, the user's
// own (status 110), the history (delayed messages), then the subject,
// always last (§ 7.2.15, empty when there is none); the snapshot is
// gathered until then. Later presence becomes a diff of one occupant at
// once (the other server paces it; nothing is batched here).

import (
	"slices"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/addr"
)

// Reasons a JSON session leaves a room of another domain, besides those of
// rooms here (RoomLeft.Reason).
const (
	LeftRefused = "refused" // the room refused the join; Why is the XMPP condition
	LeftGone    = "gone"    // the room was destroyed, shut down, or its server cannot be reached
)

// whyLost is RoomLeft.Why when the room's server cannot be reached.
const whyLost = "the room's server cannot be reached"

// maxForeignKnown bounds the occupants' nicknames remembered per room of
// another domain for a JSON session (to tell a join from a change, and
// count); beyond it, newcomers are listed as changes and not counted.
const maxForeignKnown = 1000

// MaxForeignCodes bounds the muc#user status codes a room's stanza is read
// with.
const MaxForeignCodes = 16

// ForeignRoomContent is what a stanza between a session and a room of
// another domain says, read: presence in the room, its muc#user item and
// status codes, a message's body, subject and delay, an error's condition.
// It is how a JSON session speaks to such a room and hears it; the
// federation writes it into a stanza's children and reads it from them.
type ForeignRoomContent struct {
	Presence Presence // a presence's show and status
	History  int      // a join: messages of history wanted; negative: the room's default
	// the room's muc#user item and statuses
	Affiliation string
	Role        string
	Address     string // the occupant's bare address, where the room shows it
	Codes       []int  // status codes (110 self, 201 created, 303 new nick, 307 kicked, 301 banned, 321 membership, 332 shutdown)
	NewNick     string // with 303: the occupant's new nickname
	By          string // the actor of a removal (its nick)
	Why         string // the reason of a removal
	Destroyed   bool   // the room was destroyed (§ 10.9)
	// a message's
	Body    string
	Subject *string   // a subject ("" clears it)
	Delayed time.Time // a message of the history: when it was sent (XEP-0203); zero: live
	// an error's condition (RFC 6120 § 8.3.3), e.g. "registration-required"
	Condition string
}

func (c *ForeignRoomContent) has(code int) bool { return c != nil && slices.Contains(c.Codes, code) }

// bounded is a copy of what a room of another domain said, its texts cut
// to the bounds of rooms here (the other server's may be larger), so that
// the JSON frames made of it stay as small as a room here makes them.
func bounded(in *ForeignRoomContent) *ForeignRoomContent {
	var c ForeignRoomContent
	if in != nil {
		c = *in
	}
	cut := func(s *string, n int) {
		if len(*s) > n {
			*s = strings.ToValidUTF8((*s)[:n], "")
		}
	}
	cut(&c.Presence.Status, MaxStatus)
	cut(&c.Body, MaxMessageBody)
	cut(&c.Why, MaxRoomReason)
	cut(&c.By, MaxNick)
	if c.Address != "" { // the room's word for the occupant's address: shown only if it is one
		c.Address, _ = addr.Bare(c.Address)
	}
	cut(&c.Affiliation, 16)
	cut(&c.Role, 16)
	cut(&c.Condition, 64)
	if c.Subject != nil && len(*c.Subject) > MaxSubject {
		s := strings.ToValidUTF8((*c.Subject)[:MaxSubject], "")
		c.Subject = &s
	}
	return &c
}

// foreignView is a JSON session's reading of a room of another domain.
type foreignView struct {
	snap      *RoomSnapshot       // being gathered, from the join until the subject; nil once sent
	selfSeen  bool                // the room sent the session's own presence
	known     map[string]struct{} // the other occupants' nicknames (at most maxForeignKnown)
	count     int                 // occupants, the session included
	histBytes int                 // the bytes of the gathered history's bodies
}

func newForeignView() *foreignView {
	return &foreignView{snap: &RoomSnapshot{}, known: map[string]struct{}{}}
}

// isForeignRoom reports whether a room frame's room names a room of another
// domain (room@service) rather than one of this server (which have no @).
func isForeignRoom(room string) bool { return strings.Contains(room, "@") }

// foreignRoomOf checks a JSON session's room address: the bare address of a
// room of another domain.
func (h *Hub) foreignRoomOf(room string) (string, error) {
	bare, err := addr.Bare(room)
	if err != nil || !h.Remote(bare) {
		return "", Errorf(CodeInvalid, "room: a room here is named without @; %q is not a room of another domain", clip(room))
	}
	return bare, nil
}

// joinForeign joins a room of another domain (o.Room, room@service), or
// changes the session's presence or nickname in it: the room answers
// asynchronously, with a RoomSnapshot, or RoomLeft (LeftRefused) when it
// refuses. The session's presence is sent at the join (o.Presence, else
// the session's own) and, unlike a room here, not followed afterwards.
func (s *Session) joinForeign(o JoinOptions) error {
	h := s.hub
	room, err := h.foreignRoomOf(o.Room)
	if err != nil {
		return err
	}
	if err := checkNick(o.Nick); err != nil {
		return err
	}
	if _, _, err := addr.Full(room + "/" + o.Nick); err != nil {
		return Errorf(CodeInvalid, "nick: not a valid nickname for a room of another domain")
	}
	if len(o.Meta) > 0 || o.Token != "" {
		return Errorf(CodeInvalid, "metadata and room tokens are for rooms here, not rooms of other domains")
	}
	defer h.lock(s.Account)()
	p := Presence{Availability: Available}
	switch {
	case o.Presence != nil:
		if err := o.Presence.Validate(); err != nil {
			return err
		}
		p = *o.Presence
	case s.available:
		p = s.presence
	}
	p.LastActive = time.Time{}
	i := s.foreignAt(room)
	join := i < 0 || s.foreignLocked()[i].state == foreignLeaving
	st := ForeignStanza{Kind: StanzaPresence, To: room + "/" + o.Nick, Join: join,
		Room: &ForeignRoomContent{Presence: p, History: o.History}}
	return s.toForeignLocked(st, room, o.Nick)
}

// foreignRoomIn is s's room of another domain named room, with its bare
// address; errNotInRoom if s did not join it or left it. The caller holds
// s's account lock.
func (s *Session) foreignRoomIn(room string) (*foreignRoom, string, error) {
	bare, err := s.hub.foreignRoomOf(room)
	if err != nil {
		return nil, "", err
	}
	i := s.foreignAt(bare)
	if i < 0 || s.foreignLocked()[i].state == foreignLeaving {
		return nil, "", errNotInRoom
	}
	return &s.foreignLocked()[i], bare, nil
}

// leaveForeign leaves a room of another domain; RoomLeft follows when the
// room confirms.
func (s *Session) leaveForeign(room string) error {
	defer s.hub.lock(s.Account)()
	r, bare, err := s.foreignRoomIn(room)
	if err != nil {
		return err
	}
	st := ForeignStanza{Kind: StanzaPresence, Type: "unavailable", To: bare + "/" + r.nick, Room: &ForeignRoomContent{}}
	return s.toForeignLocked(st, bare, r.nick)
}

// sendForeign sends a groupchat message (or, with subject, a subject) to a
// room of another domain, which reflects it back as it does to everyone;
// with nick, a private message to that occupant (type chat).
func (s *Session) sendForeign(room, nick, id string, c ForeignRoomContent) error {
	if err := checkText("id", id, MaxMessageID); err != nil {
		return err
	}
	if err := checkText("body", c.Body, MaxMessageBody); err != nil {
		return err
	}
	if c.Subject != nil {
		if err := checkText("subject", *c.Subject, MaxSubject); err != nil {
			return err
		}
	}
	defer s.hub.lock(s.Account)()
	_, bare, err := s.foreignRoomIn(room)
	if err != nil {
		return err
	}
	st := ForeignStanza{Kind: StanzaMessage, Type: "groupchat", ID: id, To: bare, Room: &c}
	if nick != "" {
		if _, _, err := addr.Full(bare + "/" + nick); err != nil {
			return Errorf(CodeInvalid, "nick: not a valid nickname for a room of another domain")
		}
		st.Type, st.To = TypeChat, bare+"/"+nick
	}
	return s.toForeignLocked(st, bare, nick)
}

// foreignOnly refuses what a room of another domain does not take from a
// JSON session (moderation, configuration, invitations: not yet).
func foreignOnly(room string) error {
	if isForeignRoom(room) {
		return Errorf(CodeInvalid, "a room of another domain takes join, leave, room_message, room_private and subject only")
	}
	return nil
}

// read turns a room's stanza st into the room events the JSON session
// sees (none for what it has no frame for: private messages, errors of a
// message, invitations). The caller holds the session's account lock.
func (r *foreignRoom) read(st ForeignStanza, lim RoomLimits, now time.Time) []Event {
	v := r.view
	if v == nil {
		return nil
	}
	c := bounded(st.Room)
	_, nick, _ := strings.Cut(st.From, "/")
	switch st.Kind {
	case StanzaPresence:
		return v.presence(r, st, c, nick, lim)
	case StanzaMessage:
		if (st.Type == TypeChat || st.Type == "") && c.Body != "" && nick != "" { // an occupant's private message (§ 7.5)
			return []Event{RoomPrivateEvent{Room: r.room, Nick: nick, ID: st.ID, Body: c.Body, Sent: now}}
		}
		if st.Type != "groupchat" {
			return nil
		}
		if c.Subject != nil && c.Body == "" {
			if v.snap != nil && v.selfSeen {
				v.snap.Subject, v.snap.SubjectBy = *c.Subject, nick
				return v.flush(r.room)
			}
			return []Event{RoomSubjectEvent{Room: r.room, Subject: *c.Subject, Nick: nick}}
		}
		if c.Body == "" {
			return nil // chat states and the like
		}
		m := RoomHistoryItem{ID: st.ID, Nick: nick, Body: c.Body, Sent: now}
		if !c.Delayed.IsZero() {
			m.Sent = c.Delayed
			if v.snap != nil && v.selfSeen {
				v.snap.History = append(v.snap.History, m)
				v.histBytes += len(m.Body)
				for len(v.snap.History) > lim.HistoryCount || v.histBytes > lim.HistoryBytes { // as a room here keeps
					v.histBytes -= len(v.snap.History[0].Body)
					v.snap.History = slices.Delete(v.snap.History, 0, 1)
				}
				return nil
			}
		}
		return append(v.flush(r.room), RoomMessageEvent{Room: r.room, Message: m})
	}
	return nil
}

// presence reads an occupant's presence in the room (or the session's own).
func (v *foreignView) presence(r *foreignRoom, st ForeignStanza, c *ForeignRoomContent, nick string, lim RoomLimits) []Event {
	if st.Type == "error" {
		if v.snap != nil && !v.selfSeen { // the join refused
			return []Event{RoomLeft{Room: r.room, Nick: r.nick, Reason: LeftRefused, Why: c.Condition}}
		}
		return nil // a refused change: the room keeps what it had
	}
	occ := RoomOccupant{Nick: nick, Address: c.Address, Presence: c.Presence, Affiliation: c.Affiliation, Role: c.Role}
	gone := st.Type == "unavailable"
	if gone {
		occ.Presence, occ.Reason = Presence{Availability: Unavailable}, leftReason(c)
	}
	switch {
	case st.Left: // the session is out (foreign.go of the federation read it so)
		return []Event{RoomLeft{Room: r.room, Nick: nick, Reason: leftReason(c), By: c.By, Why: c.Why, Self: occ}}
	case c.has(110) && gone: // its nickname changed (303): it is still in
		if c.NewNick != "" {
			r.nick = c.NewNick
		}
		return nil
	case c.has(110):
		if v.snap != nil && !v.selfSeen {
			v.selfSeen = true
			v.count++
			v.snap.Self, v.snap.Created = occ, c.has(201)
			return nil
		}
		return append(v.flush(r.room), RoomDiff{Room: r.room, Changed: []RoomOccupant{occ}, Count: v.count, Listed: true})
	}
	_, known := v.known[nick]
	if v.snap != nil && !v.selfSeen { // the occupants, before the session's own presence
		if gone {
			return nil
		}
		if !known {
			v.remember(nick)
		}
		v.snap.Occupants = slices.DeleteFunc(v.snap.Occupants, func(o RoomOccupant) bool { return o.Nick == nick })
		if len(v.snap.Occupants) < lim.ListBound {
			v.snap.Occupants = append(v.snap.Occupants, occ)
		}
		return nil
	}
	out := v.flush(r.room)
	d := RoomDiff{Room: r.room, Listed: true}
	switch {
	case gone:
		if known {
			delete(v.known, nick)
			v.count--
		}
		d.Left, d.LeftCount = []RoomOccupant{occ}, 1
	case known || !v.remember(nick):
		d.Changed = []RoomOccupant{occ}
	default:
		d.Joined, d.JoinedCount = []RoomOccupant{occ}, 1
	}
	d.Count = v.count
	return append(out, d)
}

// remember notes a new occupant, and counts it; false beyond the bound.
func (v *foreignView) remember(nick string) bool {
	if len(v.known) >= maxForeignKnown {
		return false
	}
	v.known[nick] = struct{}{}
	v.count++
	return true
}

// flush is the snapshot gathered so far, once the session's own presence
// came (the subject, or anything after the history, ends the join).
func (v *foreignView) flush(room string) []Event {
	if v.snap == nil || !v.selfSeen {
		return nil
	}
	snap := *v.snap
	v.snap = nil
	snap.Room, snap.Count = room, v.count
	if snap.Occupants == nil {
		snap.Occupants = []RoomOccupant{}
	}
	return []Event{snap}
}

// leftReason is why an occupant left, from the room's status codes.
func leftReason(c *ForeignRoomContent) string {
	switch {
	case c.Destroyed, c.has(332):
		return LeftGone
	case c.has(301):
		return LeftBanned
	case c.has(307):
		return LeftKicked
	case c.has(321):
		return LeftMembership
	}
	return LeftLeft
}
