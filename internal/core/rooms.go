package core

// Rooms (docs/rooms.md): a session joins a named room under a nickname and
// sees who else is there (a snapshot on joining, then batched diffs), sends
// it messages, and leaves. A room's configuration, the accounts it names
// (admins, members, bans) and its bounded history are durable (store.Rooms);
// who is in it now lives here, in memory, while it has occupants.
//
// Rooms live in a namespace: the rooms of presenced's own clients (JSON
// first-party sessions and XMPP clients, which see them as a multi-user
// chat service), and those of each app, which only that app's sessions
// with the rooms scope reach. The rule of who may join, see and moderate
// is AllowRoom (policy.go); every room event leaves through deliverRoom
// (roomdeliver.go), which decides, projects and routes like Hub.deliver.
//
// Locks: a room has two. wmu orders its store writes (history, subject,
// affiliations) and is never taken under another lock; mu guards its live
// state and is taken under a shard lock (a session that ends leaves its
// rooms) but never takes one. roomTable.mu is innermost.

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/store"
)

// RoomLimits bound rooms.
type RoomLimits struct {
	RoomsPerAccount int           // rooms an account owns
	RoomsPerSession int           // rooms one session is in at once
	MembersPerRoom  int           // occupants of one room at once
	NamedPerRoom    int           // admins, members and bans one room keeps
	HistoryCount    int           // messages a room keeps
	HistoryBytes    int           // … and bytes of their bodies
	ListBound       int           // occupants listed in a snapshot; beyond it diffs carry counts only
	DiffWindow      time.Duration // joins, leaves and changes within it go out as one diff
	Listed          int           // rooms a listing (XMPP disco#items) names
}

// DefaultRoomLimits are used where Config.Rooms leaves a field zero.
var DefaultRoomLimits = RoomLimits{RoomsPerAccount: 100, RoomsPerSession: 64, MembersPerRoom: 20000, NamedPerRoom: 10000,
	HistoryCount: 50, HistoryBytes: 64 << 10, ListBound: 100, DiffWindow: 250 * time.Millisecond, Listed: 200}

// Limits of what a room frame carries.
const (
	MaxRoomName   = 64
	MaxNick       = 64
	MaxRoomMeta   = 1 << 10
	MaxRoomReason = 256
	MaxSubject    = 1 << 10
)

// Reasons a session leaves a room (RoomLeft, RoomOccupant.Reason).
const (
	LeftLeft       = "left"       // it left, or ended
	LeftKicked     = "kicked"     // a moderator removed it
	LeftBanned     = "banned"     // its account was banned
	LeftMembership = "membership" // the room became members-only, or it lost its membership
)

// Roles of occupants (XEP-0045 § 5.1): owners and admins moderate.
const (
	RoleModerator   = "moderator"
	RoleParticipant = "participant"
)

func (h *Hub) roomLimits() RoomLimits {
	l, d := h.cfg.Rooms, DefaultRoomLimits
	pick := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&l.RoomsPerAccount, d.RoomsPerAccount)
	pick(&l.RoomsPerSession, d.RoomsPerSession)
	pick(&l.MembersPerRoom, d.MembersPerRoom)
	pick(&l.NamedPerRoom, d.NamedPerRoom)
	pick(&l.HistoryCount, d.HistoryCount)
	pick(&l.HistoryBytes, d.HistoryBytes)
	pick(&l.ListBound, d.ListBound)
	pick(&l.Listed, d.Listed)
	if l.DiffWindow <= 0 {
		l.DiffWindow = d.DiffWindow
	}
	return l
}

// Errors of rooms. Not being in a room and the room not existing look
// alike: a session learns nothing of rooms it is not in.
var (
	errNotInRoom     = Errorf(CodeNotFound, "you are not in that room")
	errRoomBanned    = Errorf(CodeForbidden, "you are banned from that room")
	errMembersOnly   = Errorf(CodeForbidden, "that room is for its members only")
	errNickTaken     = Errorf(CodeConflict, "that nickname is in use in the room")
	errNotModerator  = Errorf(CodeForbidden, "only the room's owner and admins may do that")
	errNotOwner      = Errorf(CodeForbidden, "only the room's owner may do that")
	errNoSuchNick    = Errorf(CodeNotFound, "nobody in the room has that nickname")
	errOutranked     = Errorf(CodeForbidden, "you may not do that to someone of equal or higher affiliation")
	errRoomNamespace = Errorf(CodeForbidden, "the app was not granted rooms: its user can grant it on the app's next sign-in")
)

// Room errors a protocol adapter tells apart (XMPP's conditions).
func IsRoomBanned(err error) bool      { return errors.Is(err, errRoomBanned) }
func IsRoomMembersOnly(err error) bool { return errors.Is(err, errMembersOnly) }
func IsNickTaken(err error) bool       { return errors.Is(err, errNickTaken) }

// RoomID names a room: its namespace (App) and its name.
type RoomID struct{ App, Name string }

// roomTable holds the rooms with occupants, and the rooms of each session.
type roomTable struct {
	mu    sync.Mutex
	rooms map[RoomID]*room
	of    map[*Session]map[RoomID]struct{}
	// cluster (roompeers.go): this node's sessions in rooms kept by
	// other nodes, and the stand-ins of other nodes' sessions in rooms
	// kept here (by node, address and app)
	homes    map[*Session]map[RoomID]*remoteRoom
	standIns map[string]*Session
}

func (t *roomTable) get(id RoomID) *room {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rooms[id]
}

// room is a room with occupants.
type room struct {
	id      RoomID
	wmu     sync.Mutex // orders its store writes; never under another lock
	mu      sync.Mutex
	gone    bool // evicted from the table: look it up again
	cfg     store.Room
	affs    map[string]string // account → admin, member or outcast
	history []store.RoomMessage
	byNick  map[string]*occupant
	bySess  map[*Session]*occupant
	mods    map[*occupant]struct{} // occupants who moderate: listed first
	ver     uint64                 // changes of occupants so far
	pend    *roomPending           // the diff being gathered (roomdeliver.go)
}

// occupant is one session in a room.
type occupant struct {
	s        *Session
	nick     string
	presence Presence
	follows  bool // its presence is its session's (joined without one)
	meta     json.RawMessage
	aff      string
	ver      uint64 // the room's ver when it joined: its snapshot's
}

func (r *room) affOf(account string) string {
	if account == r.cfg.Owner {
		return store.AffOwner
	}
	if a, ok := r.affs[account]; ok {
		return a
	}
	return store.AffNone
}

func moderates(aff string) bool { return aff == store.AffOwner || aff == store.AffAdmin }

func rank(aff string) int {
	switch aff {
	case store.AffOwner:
		return 3
	case store.AffAdmin:
		return 2
	case store.AffMember, store.AffNone:
		return 1
	}
	return 0
}

// facts are the policy's inputs about s and r (r.mu held).
func (h *Hub) roomFacts(r *room, s *Session, occupant bool) RoomFacts {
	f := RoomFacts{Channel: s.channel, RoomApp: r.id.App, Affiliation: r.affOf(s.Account),
		MembersOnly: r.cfg.Mode == store.RoomMembers, Occupant: occupant}
	if s.node() != "" {
		f.Scopes = s.channel.Scopes // another node's session: its grant's, as its node said (roompeers.go)
	} else if !s.channel.FirstParty() {
		if g := h.grantOf(s.Account, s.channel); g != nil {
			f.Scopes = g.scopes & s.channel.Scopes
		}
	}
	return f
}

// roomName checks and normalizes a room's name: lower-case letters,
// digits, '.', '_' and '-' (an XMPP local part as it is).
func roomName(name string) (string, error) {
	name = strings.ToLower(name)
	if name == "" || len(name) > MaxRoomName {
		return "", Errorf(CodeInvalid, "room must be 1 to %d bytes", MaxRoomName)
	}
	for _, c := range []byte(name) {
		if c == '@' {
			return "", foreignOnly(name)
		}
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return "", Errorf(CodeInvalid, "room may hold letters, digits, '.', '_' and '-' only")
		}
	}
	return name, nil
}

func checkNick(nick string) error {
	if nick == "" || len(nick) > MaxNick || strings.TrimSpace(nick) == "" {
		return Errorf(CodeInvalid, "nick must be 1 to %d bytes, not only spaces", MaxNick)
	}
	if err := addr.Resource(nick); err != nil {
		return Errorf(CodeInvalid, "nick: %v", err)
	}
	return nil
}

func checkMeta(meta json.RawMessage) error {
	if len(meta) == 0 {
		return nil
	}
	if len(meta) > MaxRoomMeta || !json.Valid(meta) || !utf8.Valid(meta) || meta[0] != '{' {
		return Errorf(CodeInvalid, "metadata must be a JSON object of at most %d bytes", MaxRoomMeta)
	}
	return nil
}

// roomOf finds s's room by name (r.mu not held), in memory only: a session
// in a room finds it there.
func (h *Hub) roomOf(s *Session, name string) (*room, error) {
	if err := s.may(ScopeRooms); err != nil {
		return nil, err
	}
	name, err := roomName(name)
	if err != nil {
		return nil, err
	}
	r := h.rooms.get(RoomID{App: s.channel.App, Name: name})
	if r == nil {
		if _, _, ok := h.elsewhere(s, name); ok {
			return nil, errRoomElsewhere
		}
		return nil, errNotInRoom
	}
	return r, nil
}

// text is a text field of a room call, and its bound.
type text struct {
	field, value string
	max          int
}

// findRoom checks a room call's text fields, then finds s's room by name.
func (s *Session) findRoom(room string, texts ...text) (*Hub, *room, error) {
	for _, t := range texts {
		if err := checkText(t.field, t.value, t.max); err != nil {
			return nil, nil, err
		}
	}
	r, err := s.hub.roomOf(s, room)
	return s.hub, r, err
}

// load returns the room id in memory, reading it from the store (and
// creating it, owned by s's account, when it does not exist and create
// is set).
func (h *Hub) loadRoom(ctx context.Context, id RoomID, s *Session, create bool) (r *room, created bool, err error) {
	lim := h.roomLimits()
	for attempt := 0; ; attempt++ {
		if r := h.rooms.get(id); r != nil {
			return r, false, nil
		}
		cfg, err := h.store.GetRoom(ctx, id.App, id.Name)
		created = false
		switch {
		case errors.Is(err, store.ErrNotFound) && !create:
			return nil, false, errNotInRoom
		case errors.Is(err, store.ErrNotFound):
			cfg = store.Room{App: id.App, Name: id.Name, Owner: s.Account, Mode: store.RoomOpen, Created: h.clock.Now()}
			err = h.store.CreateRoom(ctx, cfg, lim.RoomsPerAccount)
			switch {
			case errors.Is(err, store.ErrExists) && attempt < 3:
				continue // created meanwhile: read it
			case errors.Is(err, store.ErrLimit):
				return nil, false, Errorf(CodeLimit, "you own %d rooms, the limit", lim.RoomsPerAccount)
			case err != nil:
				return nil, false, err
			}
			created = true
		case err != nil:
			return nil, false, err
		}
		var affs []store.RoomAffiliation
		var hist []store.RoomMessage
		if !created {
			if affs, err = h.store.Affiliations(ctx, id.App, id.Name); err != nil {
				return nil, false, err
			}
			if hist, err = h.store.RoomHistory(ctx, id.App, id.Name); err != nil {
				return nil, false, err
			}
		}
		r = &room{id: id, cfg: cfg, affs: map[string]string{}, history: hist, byNick: map[string]*occupant{},
			bySess: map[*Session]*occupant{}, mods: map[*occupant]struct{}{}}
		for _, a := range affs {
			if a.Remote && !h.Remote(a.Account) {
				continue // named when its domain was another server's: not this server's account of that name
			}
			r.affs[a.Account] = a.Affiliation
		}
		h.rooms.mu.Lock()
		if old := h.rooms.rooms[id]; old != nil {
			r, created = old, false
		} else {
			if h.rooms.rooms == nil {
				h.rooms.rooms = map[RoomID]*room{}
			}
			h.rooms.rooms[id] = r
		}
		h.rooms.mu.Unlock()
		return r, created, nil
	}
}

// evictLocked drops r from memory once nobody is in it and nothing is
// pending; the caller holds r.mu.
func (h *Hub) evictLocked(r *room) {
	if len(r.bySess) > 0 || r.pend != nil || r.gone {
		return
	}
	r.gone = true
	h.rooms.mu.Lock()
	if h.rooms.rooms[r.id] == r {
		delete(h.rooms.rooms, r.id)
	}
	h.rooms.mu.Unlock()
}

// JoinOptions describe a join.
type JoinOptions struct {
	Room string
	Nick string
	// Presence in the room; nil: the session's own presence, followed as it
	// changes.
	Presence *Presence
	Meta     json.RawMessage // a JSON object other occupants see (≤ MaxRoomMeta bytes)
	// History: how many messages of the room's history the snapshot
	// carries; negative: all the room keeps.
	History int
	// Token is a room token of the session's app, when the app authorizes
	// who joins its rooms (roomtokens.go).
	Token string
}

// Join puts s in a room (creating it, owned by s's account, if it does not
// exist) and sends s a RoomSnapshot; the others learn of it in the next
// diff. Joining a room s is in already changes its presence and metadata.
func (s *Session) Join(ctx context.Context, o JoinOptions) error {
	if err := s.may(ScopeRooms); err != nil {
		return err
	}
	if isForeignRoom(o.Room) {
		return s.joinForeign(o) // room@service: another domain's (foreignview.go)
	}
	name, err := roomName(o.Room)
	if err != nil {
		return err
	}
	if err := checkNick(o.Nick); err != nil {
		return err
	}
	if err := checkMeta(o.Meta); err != nil {
		return err
	}
	if o.Presence != nil {
		if err := o.Presence.Validate(); err != nil {
			return err
		}
	}
	h := s.hub
	id := RoomID{App: s.channel.App, Name: name}
	if home, err := h.roomHome(ctx, s, id); err != nil {
		return err
	} else if home != "" {
		return h.joinElsewhere(ctx, s, home, id, o) // kept by another node (roompeers.go)
	}
	auth, err := h.roomAuthOf(ctx, s, name, o.Token)
	if err != nil {
		return err
	}
	if err := h.indexRoom(s, id); err != nil {
		return err
	}
	p, follows := Presence{Availability: Available}, o.Presence == nil
	if follows {
		unlock := h.lock(s.Account)
		if s.available {
			p = s.presence
		}
		unlock()
	} else {
		p = *o.Presence
	}
	p.LastActive = time.Time{}
	for {
		// only the app creates rooms in a namespace it authorizes
		r, created, err := h.loadRoom(ctx, id, s, (!auth.appAuthorizes || auth.token) && s.remote() == "")
		if err != nil {
			h.unindexRoom(s, id)
			switch {
			case err == errNotInRoom && s.remote() != "":
				err = errRemoteCreates
			case err == errNotInRoom:
				err = errRoomTokenNeeded
			}
			return err
		}
		r.mu.Lock()
		if r.gone {
			r.mu.Unlock()
			continue
		}
		err = h.joinLocked(r, s, o, p, follows, created, auth)
		h.evictLocked(r)
		r.mu.Unlock()
		if err != nil {
			h.unindexRoom(s, id)
		}
		return err
	}
}

func (h *Hub) joinLocked(r *room, s *Session, o JoinOptions, p Presence, follows, created bool, auth roomAuth) error {
	if s.ended.Load() {
		return errSessionGone
	}
	if oc := r.bySess[s]; oc != nil { // already in: a change of presence or metadata
		if oc.nick != o.Nick {
			return Errorf(CodeConflict, "already in the room as %q: leave and join again to change nickname", oc.nick)
		}
		oc.presence, oc.follows = p, follows
		if o.Meta != nil {
			oc.meta = o.Meta
		}
		h.changedLocked(r, oc)
		return nil
	}
	f := h.roomFacts(r, s, false)
	f.AppAuthorizes, f.Token = auth.appAuthorizes, auth.token
	if !AllowRoom(f, RoomJoin) {
		switch {
		case f.Channel.App != f.RoomApp || !f.Channel.FirstParty() && !f.Scopes.Has(ScopeRooms):
			return errRoomNamespace
		case f.Affiliation == store.AffOutcast:
			return errRoomBanned
		case f.MembersOnly:
			return errMembersOnly
		}
		return errRoomTokenNeeded
	}
	if r.byNick[o.Nick] != nil {
		return errNickTaken
	}
	if lim := h.roomLimits(); len(r.bySess) >= lim.MembersPerRoom {
		return Errorf(CodeLimit, "the room holds %d occupants, the limit", lim.MembersPerRoom)
	}
	r.ver++
	oc := &occupant{s: s, nick: o.Nick, presence: p, follows: follows, meta: o.Meta, aff: f.Affiliation, ver: r.ver}
	r.byNick[oc.nick], r.bySess[s] = oc, oc
	if moderates(oc.aff) {
		r.mods[oc] = struct{}{}
	}
	h.deliverRoom(r, h.snapshotOf(r, oc, o.History, created), []*occupant{oc}, true)
	h.pendLocked(r, oc.nick, true, oc, "")
	return nil
}

// indexRoom records that s is in (or about to be in) room id, within the
// limit of rooms per session.
func (h *Hub) indexRoom(s *Session, id RoomID) error {
	t := &h.rooms
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := t.of[s]
	if _, ok := ids[id]; ok {
		return nil
	}
	if lim := h.roomLimits(); len(ids) >= lim.RoomsPerSession {
		return Errorf(CodeLimit, "this session is in %d rooms, the limit", lim.RoomsPerSession)
	}
	if ids == nil {
		ids = map[RoomID]struct{}{}
		if t.of == nil {
			t.of = map[*Session]map[RoomID]struct{}{}
		}
		t.of[s] = ids
	}
	ids[id] = struct{}{}
	return nil
}

// unindexRoom forgets that s is in room id, unless it is.
func (h *Hub) unindexRoom(s *Session, id RoomID) {
	if r := h.rooms.get(id); r != nil {
		r.mu.Lock()
		in := r.bySess[s] != nil
		r.mu.Unlock()
		if in {
			return
		}
	}
	h.dropIndex(s, id)
}

// roomsOf lists the rooms s is in.
func (h *Hub) roomsOf(s *Session) []*room {
	t := &h.rooms
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*room
	for id := range t.of[s] {
		if r := t.rooms[id]; r != nil {
			out = append(out, r)
		}
	}
	return out
}

// Leave takes s out of a room: it is sent RoomLeft, the others see it go
// in the next diff.
func (s *Session) Leave(ctx context.Context, room string) error {
	if isForeignRoom(room) {
		return s.leaveForeign(room)
	}
	h := s.hub
	if _, err, ok := h.stepElsewhere(ctx, s, room, RoomStep{Op: roomLeave}); ok {
		return err
	}
	r, err := h.roomOf(s, room)
	if err != nil {
		return err
	}
	r.mu.Lock()
	oc := r.bySess[s]
	if oc != nil {
		h.removeLocked(r, oc, LeftLeft, "", "", true)
	}
	h.evictLocked(r)
	r.mu.Unlock()
	if oc == nil {
		return errNotInRoom
	}
	h.unindexRoom(s, r.id)
	return nil
}

// removeLocked takes oc out of r for reason, telling it when tell is set.
func (h *Hub) removeLocked(r *room, oc *occupant, reason, by, why string, tell bool) {
	delete(r.bySess, oc.s)
	delete(r.byNick, oc.nick)
	delete(r.mods, oc)
	r.ver++
	if tell {
		h.deliverRoom(r, RoomLeft{Room: r.id.Name, Nick: oc.nick, Reason: reason, By: by, Why: why, Self: h.occView(r, oc)}, []*occupant{oc}, true)
	}
	h.pendLocked(r, oc.nick, false, oc, reason)
}

// leaveRoomsLocked takes an ending session out of its rooms; the caller
// holds its account's lock (which room locks come after).
func (h *Hub) leaveRoomsLocked(s *Session) {
	if h.cfg.Peers != nil && s.node() == "" {
		h.leaveRemoteRoomsLocked(s)
	}
	t := &h.rooms
	t.mu.Lock()
	ids := t.of[s]
	delete(t.of, s)
	var rs []*room
	for id := range ids {
		if r := t.rooms[id]; r != nil {
			rs = append(rs, r)
		}
	}
	t.mu.Unlock()
	for _, r := range rs {
		r.mu.Lock()
		if oc := r.bySess[s]; oc != nil {
			h.removeLocked(r, oc, LeftLeft, "", "", false)
		}
		h.evictLocked(r)
		r.mu.Unlock()
	}
}

// roomPresenceLocked passes s's new presence to the rooms where its
// presence follows the session's; the caller holds its account's lock.
func (h *Hub) roomPresenceLocked(s *Session) {
	if h.cfg.Peers != nil {
		h.presenceToRoomHomesLocked(s)
	}
	for _, r := range h.roomsOf(s) {
		r.mu.Lock()
		if oc := r.bySess[s]; oc != nil && oc.follows {
			oc.presence = s.presence
			oc.presence.LastActive = time.Time{}
			h.changedLocked(r, oc)
		}
		r.mu.Unlock()
	}
}

// changedLocked records a change of oc's presence, metadata or affiliation.
func (h *Hub) changedLocked(r *room, oc *occupant) {
	r.ver++
	h.pendLocked(r, oc.nick, true, oc, "")
}

// RoomSend sends a message to a room s is in: every occupant gets it, s
// too (as XEP-0045 reflects it); it is kept in the room's history.
func (s *Session) RoomSend(ctx context.Context, room, id, body string) (int, error) {
	if body == "" {
		return 0, Errorf(CodeInvalid, "body is required")
	}
	if isForeignRoom(room) { // delivered by the room's server: none counted here
		return 0, s.sendForeign(room, "", id, ForeignRoomContent{Body: body})
	}
	if a, err, ok := s.hub.stepElsewhere(ctx, s, room, RoomStep{Op: roomSend, ID: id, Text: body}); ok {
		return a.Sessions, err
	}
	h, r, err := s.findRoom(room, text{"id", id, MaxMessageID}, text{"body", body, MaxMessageBody})
	if err != nil {
		return 0, err
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.mu.Lock()
	oc := r.bySess[s]
	allowed := oc != nil && AllowRoom(h.roomFacts(r, s, true), RoomSpeak)
	r.mu.Unlock()
	if !allowed {
		return 0, errNotInRoom
	}
	lim := h.roomLimits()
	m := store.RoomMessage{ID: id, Account: s.Account, Nick: oc.nick, Body: body, Sent: h.clock.Now()}
	if err := h.store.AppendRoomMessage(ctx, r.id.App, r.id.Name, m, lim.HistoryCount, lim.HistoryBytes); err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bySess[s] != oc {
		return 0, errNotInRoom // kicked meanwhile: it is in the history, which is what the room saw
	}
	r.history = append(r.history, m)
	trimHistory(&r.history, lim)
	routed := h.deliverRoom(r, RoomMessageEvent{Room: r.id.Name, Message: historyItem(m)}, r.occupants(), false)
	return routed.Sessions, nil
}

func trimHistory(hist *[]store.RoomMessage, lim RoomLimits) {
	total := 0
	for _, m := range *hist {
		total += len(m.Body)
	}
	for len(*hist) > 0 && (len(*hist) > lim.HistoryCount || total > lim.HistoryBytes) {
		total -= len((*hist)[0].Body)
		(*hist)[0] = store.RoomMessage{}
		*hist = (*hist)[1:]
	}
}

func (r *room) occupants() []*occupant {
	out := make([]*occupant, 0, len(r.bySess))
	for _, oc := range r.bySess {
		out = append(out, oc)
	}
	return out
}

// moderator finds s's occupant in r, one that may moderate (r.mu held).
func (h *Hub) moderatorLocked(r *room, s *Session, what RoomFlow) (*occupant, error) {
	oc := r.bySess[s]
	if oc == nil {
		return nil, errNotInRoom
	}
	if !AllowRoom(h.roomFacts(r, s, true), what) {
		if what == RoomConfigure {
			return nil, errNotOwner
		}
		return nil, errNotModerator
	}
	return oc, nil
}

// SetSubject sets a room's subject (owners and admins).
func (s *Session) SetSubject(ctx context.Context, room, subject string) error {
	if isForeignRoom(room) {
		return s.sendForeign(room, "", "", ForeignRoomContent{Subject: &subject})
	}
	if _, err, ok := s.hub.stepElsewhere(ctx, s, room, RoomStep{Op: roomSubject, Text: subject}); ok {
		return err
	}
	h, r, err := s.findRoom(room, text{"subject", subject, MaxSubject})
	if err != nil {
		return err
	}
	return h.roomEdit(ctx, r, s, RoomModerate, func(oc *occupant, cfg *store.Room) error {
		cfg.Subject, cfg.SubjectBy = subject, oc.nick
		return nil
	}, func(oc *occupant) {
		h.deliverRoom(r, RoomSubjectEvent{Room: r.id.Name, Subject: subject, Nick: oc.nick}, r.occupants(), false)
	})
}

// SetRoomMode makes a room open or members-only (its owner). Occupants
// who are not members leave a room that becomes members-only.
func (s *Session) SetRoomMode(ctx context.Context, room, mode string) error {
	if mode != store.RoomOpen && mode != store.RoomMembers {
		return Errorf(CodeInvalid, "mode must be %q or %q", store.RoomOpen, store.RoomMembers)
	}
	h := s.hub
	if _, err, ok := h.stepElsewhere(ctx, s, room, RoomStep{Op: roomMode, Text: mode}); ok {
		return err
	}
	r, err := h.roomOf(s, room)
	if err != nil {
		return err
	}
	return h.roomEdit(ctx, r, s, RoomConfigure, func(_ *occupant, cfg *store.Room) error {
		cfg.Mode = mode
		return nil
	}, func(oc *occupant) {
		if mode != store.RoomMembers {
			return
		}
		for _, x := range r.occupants() {
			if x.aff == store.AffNone {
				h.removeLocked(r, x, LeftMembership, oc.nick, "", true)
				h.dropRemoved(x.s, r.id)
			}
		}
	})
}

// roomEdit changes a room's stored configuration, then its live state:
// actor must be allowed what; change edits a copy of the configuration,
// then applied runs with r.mu held once it is stored.
func (h *Hub) roomEdit(ctx context.Context, r *room, s *Session, what RoomFlow, change func(*occupant, *store.Room) error, applied func(*occupant)) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.mu.Lock()
	oc, err := h.moderatorLocked(r, s, what)
	cfg := r.cfg
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if err := change(oc, &cfg); err != nil {
		return err
	}
	if err := h.store.UpdateRoom(ctx, cfg); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cfg = cfg
	applied(oc)
	h.evictLocked(r)
	return nil
}

// dropIndex forgets the room of a session not (or no longer) in it; the
// caller may hold r.mu (the table's lock comes after it).
func (h *Hub) dropIndex(s *Session, id RoomID) {
	t := &h.rooms
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.of[s], id)
	if len(t.of[s]) == 0 {
		delete(t.of, s)
	}
}

// Kick removes the occupant with nick from a room (owners and admins,
// over occupants of lower affiliation).
func (s *Session) Kick(ctx context.Context, room, nick, why string) error {
	if _, err, ok := s.hub.stepElsewhere(ctx, s, room, RoomStep{Op: roomKick, Nick: nick, Text: why}); ok {
		return err
	}
	h, r, err := s.findRoom(room, text{"reason", why, MaxRoomReason})
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	oc, err := h.moderatorLocked(r, s, RoomModerate)
	if err != nil {
		return err
	}
	target := r.byNick[nick]
	switch {
	case target == nil:
		return errNoSuchNick
	case rank(target.aff) >= rank(oc.aff):
		return errOutranked
	}
	h.removeLocked(r, target, LeftKicked, oc.nick, why, true)
	h.dropRemoved(target.s, r.id)
	h.evictLocked(r)
	return nil
}

// RoomWho names an account in a room: an occupant's nick, or an address
// (an app without the addresses permission writes its handle).
type RoomWho struct{ Nick, Address string }

// SetAffiliation names an account in a room: member, admin, outcast
// (banned) or none. Owners name admins; owners and admins name members,
// bans and none over accounts of lower affiliation. A banned account's
// occupants leave the room, as do those of an account that is no longer a
// member of a members-only room.
func (s *Session) SetAffiliation(ctx context.Context, room string, who RoomWho, aff, why string) error {
	if err := checkAffiliation(aff); err != nil {
		return err
	}
	h := s.hub
	resolved := false
	if who.Nick == "" && who.Address != "" && !s.channel.FirstParty() {
		// a handle of a contact the app's grant covers (store reads: before the locks)
		m := Message{To: who.Address}
		if _, err := h.resolveTo(s, &m); err == nil {
			who.Address, resolved = m.To, true
		}
	}
	if _, err, ok := h.stepElsewhere(ctx, s, room, RoomStep{Op: roomAffiliation, Nick: who.Nick, Who: who.Address,
		Resolved: resolved, Aff: aff, Text: why}); ok {
		return err // decided at the room's home (roompeers.go)
	}
	return h.setAffiliation(ctx, s, room, who, aff, why, resolved)
}

func checkAffiliation(aff string) error {
	switch aff {
	case store.AffAdmin, store.AffMember, store.AffOutcast, store.AffNone:
		return nil
	}
	return Errorf(CodeInvalid, "affiliation must be admin, member, outcast or none")
}

// setAffiliation is SetAffiliation at the room's home; resolved: who's
// address was turned from the app's handle into an account already.
func (h *Hub) setAffiliation(ctx context.Context, s *Session, room string, who RoomWho, aff, why string, resolved bool) error {
	if err := checkAffiliation(aff); err != nil {
		return err
	}
	_, r, err := s.findRoom(room, text{"reason", why, MaxRoomReason})
	if err != nil {
		return err
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.mu.Lock()
	oc, err := h.moderatorLocked(r, s, RoomModerate)
	var account string
	if err == nil {
		account, err = h.resolveWho(r, s, who, resolved)
	}
	if err == nil {
		cur := r.affOf(account)
		switch {
		case account == s.Account || cur == store.AffOwner:
			err = Errorf(CodeForbidden, "the owner's affiliation, and your own, stay as they are")
		case rank(cur) >= rank(oc.aff) || aff == store.AffAdmin && oc.aff != store.AffOwner:
			err = errOutranked
		}
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if err := h.store.SetAffiliation(ctx, r.id.App, r.id.Name, h.affiliation(account, aff), h.roomLimits().NamedPerRoom); err != nil {
		switch {
		case errors.Is(err, store.ErrLimit):
			return Errorf(CodeLimit, "the room names %d accounts, the limit", h.roomLimits().NamedPerRoom)
		case errors.Is(err, store.ErrNotFound):
			return Errorf(CodeNotFound, "no such account")
		}
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if aff == store.AffNone {
		delete(r.affs, account)
	} else {
		r.affs[account] = aff
	}
	for _, x := range r.occupants() {
		if x.s.Account != account {
			continue
		}
		switch {
		case aff == store.AffOutcast:
			h.removeLocked(r, x, LeftBanned, oc.nick, why, true)
			h.dropRemoved(x.s, r.id)
		case aff == store.AffNone && r.cfg.Mode == store.RoomMembers:
			h.removeLocked(r, x, LeftMembership, oc.nick, why, true)
			h.dropRemoved(x.s, r.id)
		default:
			x.aff = aff
			if moderates(aff) {
				r.mods[x] = struct{}{}
			} else {
				delete(r.mods, x)
			}
			h.changedLocked(r, x)
		}
	}
	h.evictLocked(r)
	return nil
}

// affiliation is the store's entry naming account: a local account's is
// tied to it (no such account: not found), an account of another domain's
// is kept on its own (docs/federation.md, rooms across domains), and then
// named exactly as a local one is: AllowRoom reads the affiliation of a
// remote occupant's stand-in as of any session's account.
func (h *Hub) affiliation(account, aff string) store.RoomAffiliation {
	return store.RoomAffiliation{Account: account, Affiliation: aff, Remote: h.Remote(account)}
}

// Affiliated lists the accounts a room names with affiliation aff (owner,
// admin, member or outcast), for its moderators; an app's session sees
// them by its handles unless its grant has addresses.
func (s *Session) Affiliated(ctx context.Context, room, aff string) ([]string, error) {
	h := s.hub
	accounts, err, ok := h.stepElsewhere(ctx, s, room, RoomStep{Op: roomAffiliated, Aff: aff})
	if !ok {
		accounts.Accounts, err = h.affiliated(s, room, aff)
	}
	if err != nil {
		return nil, err
	}
	var n *namer // named here, where the session's grant is
	if !s.channel.FirstParty() {
		g := h.grantOf(s.Account, s.channel)
		if g == nil {
			return nil, errNoGrant
		}
		n = &namer{h: h, g: g, app: s.channel.App, holder: s.Account}
	}
	out := make([]string, 0, len(accounts.Accounts))
	for _, a := range accounts.Accounts {
		out = append(out, n.nameOf(a))
	}
	slices.Sort(out)
	return out, nil
}

// affiliated lists the accounts room names with aff, for a moderator s, at
// the room's home.
func (h *Hub) affiliated(s *Session, room, aff string) ([]string, error) {
	_, r, err := s.findRoom(room)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := h.moderatorLocked(r, s, RoomModerate); err != nil {
		return nil, err
	}
	var out []string
	switch aff {
	case store.AffOwner:
		out = append(out, r.cfg.Owner)
	case store.AffAdmin, store.AffMember, store.AffOutcast:
		for a, x := range r.affs {
			if x == aff {
				out = append(out, a)
			}
		}
	default:
		return nil, Errorf(CodeInvalid, "affiliation must be owner, admin, member or outcast")
	}
	return out, nil
}

// Ban bans the account of the occupant with nick, or the account named.
func (s *Session) Ban(ctx context.Context, room string, who RoomWho, why string) error {
	return s.SetAffiliation(ctx, room, who, store.AffOutcast, why)
}

// resolveWho finds the account who names (r.mu held): an occupant's nick,
// an address, or, for an app without addresses, the handle of an occupant
// or of an account the room names (resolved: the caller found the handle
// among the app's contacts already).
func (h *Hub) resolveWho(r *room, s *Session, who RoomWho, resolved bool) (string, error) {
	if who.Nick != "" {
		if oc := r.byNick[who.Nick]; oc != nil {
			return oc.s.Account, nil
		}
		return "", errNoSuchNick
	}
	if who.Address == "" {
		return "", Errorf(CodeInvalid, "name a nick or an address")
	}
	if !s.channel.FirstParty() && !resolved {
		g := h.grantOf(s.Account, s.channel)
		if s.node() != "" {
			g = &liveGrant{} // another node's session: its node resolved what was no handle (RoomStep.Resolved)
		}
		if g == nil {
			return "", errNoGrant
		}
		if !g.addresses {
			n := namer{h: h, g: g, app: s.channel.App, holder: s.Account}
			for _, oc := range r.bySess {
				if n.name(oc.s.Account) == who.Address {
					return oc.s.Account, nil
				}
			}
			for a := range r.affs {
				if n.name(a) == who.Address {
					return a, nil
				}
			}
			return "", Errorf(CodeNotFound, "nobody the room knows has that handle")
		}
	}
	bare, err := addr.Bare(who.Address)
	if err != nil {
		return "", Errorf(CodeInvalid, "address: %v", err)
	}
	return bare, nil
}

// Invite invites an account to a room s is in (XEP-0249): the invitee's
// sessions get a RoomInvite, under the message rule (it must share
// presence with s, else unavailable, as for a message). In a members-only
// room only owners and admins invite, and the invitee becomes a member.
func (s *Session) Invite(ctx context.Context, room, to, why string) (int, error) {
	h := s.hub
	if _, _, ok := h.elsewhere(s, room); ok {
		return h.inviteElsewhere(ctx, s, room, to, why) // roompeers.go
	}
	h, r, err := s.findRoom(room, text{"reason", why, MaxRoomReason})
	if err != nil {
		return 0, err
	}
	bare, err := h.inviteeOf(s, to)
	if err != nil {
		return 0, err
	}
	if err := h.admitInvitee(ctx, r, s, bare); err != nil {
		return 0, err
	}
	return h.deliverInvite(s, r.id.Name, bare, why)
}

// inviteeOf is the account s invites, written to (a handle for an app
// without addresses).
func (h *Hub) inviteeOf(s *Session, to string) (string, error) {
	m := Message{Kind: KindMessage, To: to}
	if _, err := h.resolveTo(s, &m); err != nil {
		return "", err
	}
	bare, err := addr.Bare(m.To)
	if err != nil {
		return "", Errorf(CodeInvalid, "to: %v", err)
	}
	return bare, nil
}

// admitInvitee checks, at the room's home, that s may invite bare to r,
// and makes bare a member of a members-only room that does not name it.
func (h *Hub) admitInvitee(ctx context.Context, r *room, s *Session, bare string) (err error) {
	r.mu.Lock()
	oc := r.bySess[s]
	var members bool
	if oc != nil {
		members = r.cfg.Mode == store.RoomMembers && r.affOf(bare) == store.AffNone
		if members && !moderates(oc.aff) {
			err = errNotModerator
		}
	} else {
		err = errNotInRoom
	}
	r.mu.Unlock()
	if err != nil {
		return err
	}
	if members {
		return h.addMember(ctx, r, bare)
	}
	return nil
}

// deliverInvite sends bare s's invitation to room, under the message rule,
// from s's node: the account's node decides when it has no session here.
func (h *Hub) deliverInvite(s *Session, room, bare, why string) (int, error) {
	ev := RoomInvite{Room: room, From: s.Address(), Reason: why}
	if h.Remote(bare) {
		return h.inviteRemote(s, ev, bare) // over federation (roominvites.go)
	}
	if h.cfg.Peers != nil && h.live(bare) == nil && h.cfg.Peers.Holds(bare) {
		return h.inviteToPeer(s, ev, bare) // roompeers.go
	}
	defer h.lock(bare, s.Account)()
	ru := h.live(bare)
	if ru == nil || s.ended.Load() {
		return 0, errUnavailable
	}
	if g := h.grantOf(s.Account, s.channel); !s.channel.FirstParty() && (g == nil || !Allow(factsWith(ru, s.Account, s.channel, s.Account, g), FlowMessage)) {
		return 0, errUnavailable
	}
	routed := h.deliver(delivery{ev: ev, subject: ru, flow: FlowMessage, viewer: s.Account,
		to: []Target{{Account: bare, Want: Want{Kind: KindMessage}}}})
	if routed.Sessions == 0 {
		return 0, errUnavailable
	}
	return routed.Sessions, nil
}

// addMember makes account a member of r, unless it is named already.
func (h *Hub) addMember(ctx context.Context, r *room, account string) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.mu.Lock()
	named := r.affOf(account) != store.AffNone
	r.mu.Unlock()
	if named {
		return nil
	}
	lim := h.roomLimits().NamedPerRoom
	if err := h.store.SetAffiliation(ctx, r.id.App, r.id.Name, h.affiliation(account, store.AffMember), lim); errors.Is(err, store.ErrLimit) {
		return Errorf(CodeLimit, "the room names %d accounts, the limit", lim)
	} else if err != nil {
		return errUnavailable // no such account: as for one that does not share presence
	}
	r.mu.Lock()
	if r.affOf(account) == store.AffNone {
		r.affs[account] = store.AffMember
	}
	r.mu.Unlock()
	return nil
}

// RoomInfo is what a listing says of a room.
type RoomInfo struct {
	Name    string
	Mode    string
	Subject string
	Count   int // occupants now
}

// Rooms lists the open rooms of s's namespace (for XMPP disco#items):
// members-only rooms are not listed.
func (s *Session) Rooms(ctx context.Context) ([]RoomInfo, error) {
	if err := s.may(ScopeRooms); err != nil {
		return nil, err
	}
	return s.hub.openRooms(ctx, s.channel.App)
}

// openRooms lists the open rooms of a namespace (members-only rooms are
// hidden, whoever asks).
func (h *Hub) openRooms(ctx context.Context, app string) ([]RoomInfo, error) {
	rs, err := h.store.ListRooms(ctx, app, h.roomLimits().Listed)
	if err != nil {
		return nil, err
	}
	out := make([]RoomInfo, 0, len(rs))
	for _, cfg := range rs {
		if cfg.Mode != store.RoomOpen {
			continue
		}
		out = append(out, h.roomInfo(cfg))
	}
	return out, nil
}

// RoomInfo describes one room of s's namespace; a members-only room only
// to an account it names. Unknown and hidden rooms alike are not_found.
func (s *Session) RoomInfo(ctx context.Context, room string) (RoomInfo, error) {
	if err := s.may(ScopeRooms); err != nil {
		return RoomInfo{}, err
	}
	return s.hub.roomInfoFor(ctx, s.channel.App, s.Account, room)
}

// roomInfoFor describes a room of app's namespace to account (of this
// server's domains or another's): a members-only room only if it names
// the account (and does not ban it).
func (h *Hub) roomInfoFor(ctx context.Context, app, account, room string) (RoomInfo, error) {
	name, err := roomName(room)
	if err != nil {
		return RoomInfo{}, err
	}
	cfg, err := h.store.GetRoom(ctx, app, name)
	if errors.Is(err, store.ErrNotFound) {
		return RoomInfo{}, errNotInRoom
	}
	if err != nil {
		return RoomInfo{}, err
	}
	if cfg.Mode == store.RoomMembers && cfg.Owner != account {
		affs, err := h.store.Affiliations(ctx, app, name)
		if err != nil {
			return RoomInfo{}, err
		}
		named := false
		for _, a := range affs {
			named = named || a.Account == account && a.Affiliation != store.AffOutcast
		}
		if !named {
			return RoomInfo{}, errNotInRoom
		}
	}
	return h.roomInfo(cfg), nil
}

func (h *Hub) roomInfo(cfg store.Room) RoomInfo {
	info := RoomInfo{Name: cfg.Name, Mode: cfg.Mode, Subject: cfg.Subject}
	if r := h.rooms.get(RoomID{App: cfg.App, Name: cfg.Name}); r != nil {
		r.mu.Lock()
		info.Count = len(r.bySess)
		r.mu.Unlock()
	}
	return info
}

// InRoom reports s's nick in a room, if it is in it.
func (s *Session) InRoom(room string) (nick string, ok bool) {
	if _, id, ok := s.hub.elsewhere(s, room); ok {
		s.hub.rooms.mu.Lock()
		defer s.hub.rooms.mu.Unlock()
		return s.hub.rooms.homes[s][id].nick, true
	}
	r, err := s.hub.roomOf(s, room)
	if err != nil {
		return "", false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if oc := r.bySess[s]; oc != nil {
		return oc.nick, true
	}
	return "", false
}
