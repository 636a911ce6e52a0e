package core

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/presenced/presenced/internal/addr"
)

// Rooms across the nodes of a cluster (docs/architecture.md, "Cluster",
// "Rooms across nodes"). A room has one home node at a time, which keeps
// its live state and runs rooms.go as on one node (Peers.RoomHome says
// which, claiming the room for this node when nobody holds it or its home
// died). A session of another node takes part through a stand-in at the
// home (a Session naming its node, as calls do), whose Join, Leave,
// RoomSend, SetSubject, Kick, SetRoomMode, SetAffiliation, Affiliated and
// the room's part of Invite the home runs when the session's node
// forwards them (Peers.RoomStep, answered by Hub.RoomStepFrom); the
// session's presence changes and its end cross as notices
// (Peers.RoomNotify). The home decides what each occupant may see
// (deliverRoom) and sends the occupants of another node each event once
// per node (Peers.RoomEvents), which that node projects for each
// session's channel (Hub.RoomEventsFrom). When a home dies, the sessions
// in its rooms are told they left; when an occupant's node dies, its
// stand-ins leave the home's rooms (Hub.PeerGone).

// Room steps a session's node hands to the room's home (RoomStep.Op).
const (
	roomJoin     = "join"
	roomLeave    = "leave"
	roomSend     = "send"
	roomSubject  = "subject"
	roomKick     = "kick"
	roomPresence = "presence" // notice: the session's presence, followed in the room
	roomGone     = "gone"     // notice: the session ended
)

// Steps of the room's administration, decided at the home like the rest.
const (
	roomMode        = "mode"        // Text: the mode
	roomAffiliation = "affiliation" // Nick or Who, Aff, Text: the reason
	roomAffiliated  = "affiliated"  // Aff: the affiliation listed (RoomAnswer.Accounts)
	roomInvite      = "invite"      // Who: the invitee's account; the invitation leaves from the session's node
)

// RoomStep is what a session's node asks of a room's home: plain data.
type RoomStep struct {
	Op       string
	Room     string          `json:",omitempty"`
	From     string          // the session's full address
	App      string          `json:",omitempty"` // its channel's app
	Scopes   ScopeSet        `json:",omitempty"` // an app's session: its grant's scopes and its token's
	Nick     string          `json:",omitempty"` // join, presence; kick: the nick kicked
	Presence *Presence       `json:",omitempty"` // join, presence
	Meta     json.RawMessage `json:",omitempty"`
	History  int             `json:",omitempty"`
	Token    string          `json:",omitempty"`
	ID       string          `json:",omitempty"` // send
	Text     string          `json:",omitempty"` // send: the body; subject: the subject; kick, affiliation: the reason; mode: the mode
	Who      string          `json:",omitempty"` // affiliation: an address or an app's handle; invite: the invitee's account
	Resolved bool            `json:",omitempty"` // affiliation: Who is an address, resolved from a handle by the session's node
	Aff      string          `json:",omitempty"` // affiliation, affiliated
}

// RoomAnswer is a room's home's answer to a step (Peers.RoomStep).
type RoomAnswer struct {
	Sessions int      `json:",omitempty"` // send: the sessions reached
	Accounts []string `json:",omitempty"` // affiliated: bare accounts, named for the session by its node
}

// RoomTarget is one occupant of a room, on another node, that an event of
// the room is for, and whether it may see occupants' addresses.
type RoomTarget struct {
	Address   string
	Addresses bool
}

// remoteRoom is a room of another node's that a session here is in.
type remoteRoom struct {
	home    string
	nick    string
	follows bool
	leaving bool // it left: the home's RoomLeft, on its way, is still let through
}

// errRoomElsewhere: a step that found the room kept by another node after
// it looked here (the session joined it meanwhile).
var errRoomElsewhere = Errorf(CodeUnavailable, "that room is kept by another node: try again")

// roomHome reports the node that is the home of id when it is not this
// one ("" here). A stand-in's steps are this node's: it is the home.
func (h *Hub) roomHome(ctx context.Context, s *Session, id RoomID) (string, error) {
	if h.cfg.Peers == nil || s.node() != "" {
		return "", nil
	}
	home, err := h.cfg.Peers.RoomHome(ctx, id)
	if err != nil {
		h.log.Warn("cluster room home", "room", id.Name, "err", err)
		return "", Errorf(CodeUnavailable, "the room's node cannot be found: try again")
	}
	if home != "" && s.remote() != "" {
		return "", errRemoteElsewhere // roomremote.go
	}
	return home, nil
}

// joinElsewhere joins s to the room id kept by node home.
func (h *Hub) joinElsewhere(ctx context.Context, s *Session, home string, id RoomID, o JoinOptions) error {
	if err := h.indexRoom(s, id); err != nil {
		return err
	}
	unlock := h.lock(s.Account)
	p, follows := Presence{Availability: Available}, o.Presence == nil
	if !follows {
		p = *o.Presence
	} else if s.available {
		p = s.presence
	}
	var scopes ScopeSet
	if !s.channel.FirstParty() {
		if g := h.grantOf(s.Account, s.channel); g != nil {
			scopes = g.scopes & s.channel.Scopes
		}
	}
	unlock()
	p.LastActive = p.LastActive.UTC()
	h.rooms.mu.Lock()
	if h.rooms.homes == nil {
		h.rooms.homes = map[*Session]map[RoomID]*remoteRoom{}
	}
	if h.rooms.homes[s] == nil {
		h.rooms.homes[s] = map[RoomID]*remoteRoom{}
	}
	was := h.rooms.homes[s][id] // in it already: this changes its presence
	if was != nil && was.leaving {
		was = nil
	}
	if was == nil {
		h.rooms.homes[s][id] = &remoteRoom{home: home, nick: o.Nick, follows: follows}
	}
	h.rooms.mu.Unlock()
	_, err := h.roomStep(ctx, home, RoomStep{Op: roomJoin, Room: id.Name, From: s.Address(), App: s.channel.App, Scopes: scopes,
		Nick: o.Nick, Presence: &p, Meta: o.Meta, History: o.History, Token: o.Token})
	switch {
	case err != nil && was == nil:
		h.forgetRemoteRoom(s, id)
	case err == nil && was != nil:
		h.rooms.mu.Lock()
		was.follows = follows
		h.rooms.mu.Unlock()
	}
	return err
}

// roomStep hands a step to the home and returns its answer.
// A dead or unreachable home answers nothing: the bus bounds the wait.
func (h *Hub) roomStep(ctx context.Context, home string, st RoomStep) (RoomAnswer, error) {
	a, err := h.cfg.Peers.RoomStep(ctx, home, st)
	var ce *Error
	if err != nil && !errors.As(err, &ce) {
		h.log.Warn("cluster room step", "room", st.Room, "err", err)
		return RoomAnswer{}, Errorf(CodeUnavailable, "the room's node cannot be reached: try again")
	}
	return a, err
}

// elsewhere reports the home of the room name that s is in on another node.
func (h *Hub) elsewhere(s *Session, name string) (home string, id RoomID, ok bool) {
	return h.elsewhereOr(s, name, false)
}

// elsewhereOr is elsewhere, counting a room s is leaving when leaving is set.
func (h *Hub) elsewhereOr(s *Session, name string, leaving bool) (home string, id RoomID, ok bool) {
	n, err := roomName(name)
	if err != nil || h.cfg.Peers == nil {
		return "", RoomID{}, false
	}
	id = RoomID{App: s.channel.App, Name: n}
	h.rooms.mu.Lock()
	defer h.rooms.mu.Unlock()
	if rr := h.rooms.homes[s][id]; rr != nil && (leaving || !rr.leaving) {
		return rr.home, id, true
	}
	return "", id, false
}

// forgetRemoteRoom drops id from s's rooms of other nodes.
func (h *Hub) forgetRemoteRoom(s *Session, id RoomID) {
	h.rooms.mu.Lock()
	delete(h.rooms.homes[s], id)
	if len(h.rooms.homes[s]) == 0 {
		delete(h.rooms.homes, s)
	}
	h.rooms.mu.Unlock()
	h.dropIndex(s, id)
}

// stepElsewhere runs a step of s in a room of another node, if name is one.
func (h *Hub) stepElsewhere(ctx context.Context, s *Session, name string, st RoomStep) (a RoomAnswer, err error, ok bool) {
	home, id, ok := h.elsewhere(s, name)
	if !ok {
		return RoomAnswer{}, nil, false
	}
	st.Room, st.From, st.App = id.Name, s.Address(), s.channel.App
	a, err = h.roomStep(ctx, home, st)
	switch {
	case st.Op == roomLeave && err == nil: // its RoomLeft comes from the home, and forgets it
		h.rooms.mu.Lock()
		if rr := h.rooms.homes[s][id]; rr != nil {
			rr.leaving = true
		}
		h.rooms.mu.Unlock()
		h.dropIndex(s, id)
	case st.Op == roomLeave && CodeOf(err) == CodeNotFound:
		h.forgetRemoteRoom(s, id)
	}
	return a, err, true
}

// leaveRemoteRoomsLocked tells the homes of s's rooms elsewhere that s
// ended; the caller holds s's lock.
func (h *Hub) leaveRemoteRoomsLocked(s *Session) {
	h.rooms.mu.Lock()
	rs := h.rooms.homes[s]
	delete(h.rooms.homes, s)
	h.rooms.mu.Unlock()
	told := map[string]bool{}
	for _, rr := range rs {
		if !told[rr.home] {
			told[rr.home] = true
			h.cfg.Peers.RoomNotify(rr.home, RoomStep{Op: roomGone, From: s.Address(), App: s.channel.App})
		}
	}
}

// presenceToRoomHomesLocked passes s's new presence to the homes of its rooms
// elsewhere where it follows the session's; the caller holds s's lock.
func (h *Hub) presenceToRoomHomesLocked(s *Session) {
	h.rooms.mu.Lock()
	var steps []RoomStep
	var homes []string
	for id, rr := range h.rooms.homes[s] {
		if rr.follows {
			p := s.presence
			p.LastActive = p.LastActive.UTC()
			steps = append(steps, RoomStep{Op: roomPresence, Room: id.Name, From: s.Address(), App: s.channel.App, Nick: rr.nick, Presence: &p})
			homes = append(homes, rr.home)
		}
	}
	h.rooms.mu.Unlock()
	for i, st := range steps {
		h.cfg.Peers.RoomNotify(homes[i], st)
	}
}

// RoomStepFrom runs, at a room's home, a step of a session of node
// origin: the stand-in of that session takes it, as a session here would.
// It is input from another process: checked like a client's.
func (h *Hub) RoomStepFrom(ctx context.Context, origin string, st RoomStep) (RoomAnswer, error) {
	account, resource, err := addr.Parse(st.From)
	if err != nil || resource == "" {
		return RoomAnswer{}, Errorf(CodeInvalid, "from: a full address is required")
	}
	if err := checkText("app", st.App, 256); err != nil {
		return RoomAnswer{}, err
	}
	if st.Op == roomGone {
		h.dropStandIn(origin, st.From, st.App)
		return RoomAnswer{}, nil
	}
	x := h.roomStandIn(origin, account, resource, Channel{App: st.App, Scopes: st.Scopes}, st.Op == roomJoin)
	if x == nil {
		return RoomAnswer{}, errNotInRoom
	}
	if st.Op == roomAffiliated {
		accounts, err := h.affiliated(x, st.Room, st.Aff)
		return RoomAnswer{Accounts: accounts}, err
	}
	n, err := h.standInStep(ctx, x, st)
	return RoomAnswer{Sessions: n}, err
}

// standInStep runs st as the stand-in x: a session of another node
// (RoomStepFrom) or of another domain (RemoteRoomStep, roomremote.go).
func (h *Hub) standInStep(ctx context.Context, x *Session, st RoomStep) (n int, err error) {
	switch st.Op {
	case roomJoin:
		if st.Presence == nil {
			return 0, Errorf(CodeInvalid, "a join from another node carries the presence")
		}
		err = x.Join(ctx, JoinOptions{Room: st.Room, Nick: st.Nick, Presence: st.Presence, Meta: st.Meta, History: st.History, Token: st.Token})
	case roomPresence:
		if st.Presence == nil {
			return 0, Errorf(CodeInvalid, "a presence step carries the presence")
		}
		if _, in := x.InRoom(st.Room); in {
			err = x.Join(ctx, JoinOptions{Room: st.Room, Nick: st.Nick, Presence: st.Presence})
		}
	case roomLeave:
		err = x.Leave(ctx, st.Room)
	case roomSend:
		return x.RoomSend(ctx, st.Room, st.ID, st.Text)
	case roomSubject:
		err = x.SetSubject(ctx, st.Room, st.Text)
	case roomPrivate:
		return x.RoomPrivate(ctx, st.Room, st.Nick, st.ID, st.Text)
	case roomKick:
		err = x.Kick(ctx, st.Room, st.Nick, st.Text)
	case roomMode:
		err = x.SetRoomMode(ctx, st.Room, st.Text)
	case roomAffiliation:
		err = h.setAffiliation(ctx, x, st.Room, RoomWho{Nick: st.Nick, Address: st.Who}, st.Aff, st.Text, st.Resolved)
	case roomInvite:
		err = h.inviteHere(ctx, x, st.Room, st.Who)
	default:
		return 0, Errorf(CodeInvalid, "unknown room step %q", clip(st.Op))
	}
	return 0, err
}

// roomStandIn is the stand-in here of the session account/resource of
// node origin on ch, made when create is set.
func (h *Hub) roomStandIn(origin, account, resource string, ch Channel, create bool) *Session {
	k := origin + "\x00" + account + "/" + resource + "\x00" + ch.App
	h.rooms.mu.Lock()
	defer h.rooms.mu.Unlock()
	x := h.rooms.standIns[k]
	if x == nil && create {
		if h.rooms.standIns == nil {
			h.rooms.standIns = map[string]*Session{}
		}
		x = &Session{hub: h, Account: account, Resource: resource, standIn: &standIn{node: origin}, channel: ch}
		if domain, ok := strings.CutPrefix(origin, remoteOrigin); ok { // roomremote.go
			x.standIn = &standIn{remote: domain}
		}
		h.rooms.standIns[k] = x
	}
	return x // its channel is fixed: a grant that loses scopes ends the session on its node
}

// dropStandIn takes the stand-in of a session of origin that ended out of
// its rooms here.
func (h *Hub) dropStandIn(origin, address, app string) {
	k := origin + "\x00" + address + "\x00" + app
	h.rooms.mu.Lock()
	x := h.rooms.standIns[k]
	delete(h.rooms.standIns, k)
	h.rooms.mu.Unlock()
	if x != nil {
		unlock := h.lock(x.Account)
		h.leaveRoomsLocked(x)
		unlock()
	}
}

// RoomEventsFrom delivers an event of a room kept by node origin to this
// node's sessions in it, projected for each one's channel. It is input
// from another process: the sessions must be in that room at that node.
func (h *Hub) RoomEventsFrom(origin string, ev Event, to []RoomTarget) Routed {
	name := roomOfEvent(ev)
	var total Routed
	if name == "" {
		return total
	}
	_, left := ev.(RoomLeft)
	for _, t := range to {
		account, resource, err := addr.Parse(t.Address)
		if err != nil || resource == "" {
			continue
		}
		u := h.live(account)
		if u == nil {
			continue
		}
		s := u.session(resource)
		if s == nil {
			continue
		}
		home, id, ok := h.elsewhereOr(s, name, left)
		if !ok || home != origin {
			continue
		}
		total.add(h.roomEventHere(s, ev, t.Addresses))
		if left {
			h.forgetRemoteRoom(s, id)
		}
	}
	return total
}

// roomEventHere projects a room event for s, a session here, and routes it.
func (h *Hub) roomEventHere(s *Session, ev Event, addresses bool) Routed {
	var n *namer
	if !s.channel.FirstParty() {
		g := h.grantOf(s.Account, s.channel)
		if g == nil {
			return Routed{}
		}
		n = &namer{h: h, g: g, app: s.channel.App, holder: s.Account}
	}
	return h.LocalRouter().Route(projectRoom(ev, addresses, n), []Target{s.target()})
}

// roomOfEvent is the name of the room an event of a room is about.
func roomOfEvent(ev Event) string {
	switch ev := ev.(type) {
	case RoomSnapshot:
		return ev.Room
	case RoomDiff:
		return ev.Room
	case RoomMessageEvent:
		return ev.Room
	case RoomSubjectEvent:
		return ev.Room
	case RoomLeft:
		return ev.Room
	case RoomPrivateEvent:
		return ev.Room
	}
	return ""
}

// roomPeerGone: node died. Stand-ins of its sessions leave the rooms here;
// this node's sessions in rooms kept there are told they left.
func (h *Hub) roomPeerGone(node string) {
	h.dropStandIns(func(_ string, x *Session) bool { return x.node() == node })
	type lost struct {
		s    *Session
		id   RoomID
		nick string
	}
	var ls []lost
	h.rooms.mu.Lock()
	for s, rs := range h.rooms.homes {
		for id, rr := range rs {
			if rr.home == node {
				ls = append(ls, lost{s, id, rr.nick})
			}
		}
	}
	h.rooms.mu.Unlock()
	for _, l := range ls {
		unlock := h.lock(l.s.Account)
		if !l.s.ended.Load() {
			h.roomEventHere(l.s, RoomLeft{Room: l.id.Name, Nick: l.nick, Reason: LeftLeft, Why: "the room's node was lost: join it again",
				Self: RoomOccupant{Nick: l.nick, Address: l.s.Address()}}, false)
		}
		unlock()
		h.forgetRemoteRoom(l.s, l.id)
	}
}

// inviteElsewhere is Invite in a room of another node: the home decides
// whether s may invite (and names the invitee a member of a members-only
// room); the invitation then leaves from here, where s's grant is.
func (h *Hub) inviteElsewhere(ctx context.Context, s *Session, room, to, why string) (int, error) {
	if err := checkText("reason", why, MaxRoomReason); err != nil {
		return 0, err
	}
	if err := s.may(ScopeRooms); err != nil {
		return 0, err
	}
	bare, err := h.inviteeOf(s, to)
	if err != nil {
		return 0, err
	}
	_, err, ok := h.stepElsewhere(ctx, s, room, RoomStep{Op: roomInvite, Who: bare})
	if !ok {
		return 0, errNotInRoom // it left meanwhile
	}
	if err != nil {
		return 0, err
	}
	name, _ := roomName(room)
	return h.deliverInvite(s, name, bare, why)
}

// inviteHere is the home's part of an invitation of a session of another
// node, x: whether it may invite bare to room.
func (h *Hub) inviteHere(ctx context.Context, x *Session, room, bare string) error {
	if b, err := addr.Bare(bare); err != nil || b != bare {
		return Errorf(CodeInvalid, "an invitation from another node names an account")
	}
	_, r, err := x.findRoom(room)
	if err != nil {
		return err
	}
	return h.admitInvitee(ctx, r, x, bare)
}

// inviteToPeer hands s's invitation ev to the node holding sessions of
// bare, whose facts decide it (Hub.Receive), as for a message; the app's
// grant is asked here first.
func (h *Hub) inviteToPeer(s *Session, ev RoomInvite, bare string) (int, error) {
	if !s.channel.FirstParty() {
		g := h.grantOf(s.Account, s.channel)
		if g == nil || !appSees(Facts{Covered: bare == s.Account || g.covers(bare), Scopes: g.scopes & s.channel.Scopes}, FlowMessage) {
			return 0, errUnavailable
		}
	}
	if s.ended.Load() {
		return 0, errSessionGone
	}
	m := Message{Kind: KindMessage, To: bare, From: s.Address(), Sent: h.clock.Now()}
	r, err := h.cfg.Peers.Send(context.Background(), PeerMessage{Sender: s.Account, Message: m, App: s.channel.App, Invite: &ev})
	var ce *Error
	if errors.As(err, &ce) {
		return 0, err
	} else if err != nil {
		h.log.Warn("cluster invite", "to", bare, "err", err)
		return 0, errUnavailable
	}
	if r.Sessions == 0 {
		return 0, errUnavailable
	}
	return r.Sessions, nil
}
