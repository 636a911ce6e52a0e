package core

import (
	"context"
	"strings"

	"github.com/presenced/presenced/internal/addr"
)

// Rooms across domains (docs/rooms.md, docs/federation.md). A user of
// another domain, whose server forwards its MUC presence and messages over
// federation, takes part in a room here through a stand-in, as a session
// of another node of a cluster does (roompeers.go): the stand-in joins,
// speaks, sets the subject and leaves under the same rules (AllowRoom,
// bans, members-only), decided here. Unlike another node's, a remote
// stand-in is not told its events through Peers: it is a session of this
// node whose target is of another domain, so deliverRoom routes its
// events through the hub's Router, where the federation router makes them
// MUC stanzas. It leaves on its unavailable presence, when a moderator
// removes it (its account banned, or no longer a member of a members-only
// room: a remote account is named like a local one, store.RoomAffiliation
// Remote) and when its domain is gone (RemoteDomainGone); an occupant
// whose account the room names admin moderates through it
// (RemoteRoomAdmin). Its rooms are presenced's own (an app's
// rooms are its users'); it joins rooms that exist but creates none; and
// in a cluster it reaches only rooms kept by this node.

// remoteOrigin + a domain is the origin of that domain's stand-ins.
const remoteOrigin = "\x01domain:"

var (
	errRemoteCreates   = Errorf(CodeNotFound, "no such room: a user of another domain joins rooms, it does not create them")
	errRemoteElsewhere = Errorf(CodeUnavailable, "that room is kept by another node of this cluster, which users of another domain do not reach yet")
)

// RemoteRoomJoin joins from, a full address of another domain, to a room
// here (o.Presence is its presence there, required), or changes its
// presence in it.
func (h *Hub) RemoteRoomJoin(ctx context.Context, from string, o JoinOptions) error {
	if o.Presence == nil {
		return Errorf(CodeInvalid, "a join from another domain carries the presence")
	}
	_, err := h.remoteRoomStep(ctx, RoomStep{Op: roomJoin, Room: o.Room, From: from, Nick: o.Nick, Presence: o.Presence, History: o.History})
	return err
}

// RemoteRoomLeave takes from, of another domain, out of room.
func (h *Hub) RemoteRoomLeave(ctx context.Context, from, room string) error {
	_, err := h.remoteRoomStep(ctx, RoomStep{Op: roomLeave, Room: room, From: from})
	return err
}

// RemoteRoomSend sends from's message, of another domain, to the room it
// is in, as Session.RoomSend.
func (h *Hub) RemoteRoomSend(ctx context.Context, from, room, id, body string) (int, error) {
	return h.remoteRoomStep(ctx, RoomStep{Op: roomSend, Room: room, From: from, ID: id, Text: body})
}

// RemoteRoomSubject sets the subject of a room from, of another domain,
// is in, as Session.SetSubject.
func (h *Hub) RemoteRoomSubject(ctx context.Context, from, room, subject string) error {
	_, err := h.remoteRoomStep(ctx, RoomStep{Op: roomSubject, Room: room, From: from, Text: subject})
	return err
}

// remoteRoomStep runs st as the stand-in of st.From, made by a join; a
// stand-in in no room after it is dropped.
func (h *Hub) remoteRoomStep(ctx context.Context, st RoomStep) (int, error) {
	x, origin, err := h.remoteRoomStandIn(st.From, st.Op == roomJoin)
	if err != nil {
		return 0, err
	}
	n, err := h.standInStep(ctx, x, st)
	h.dropIdleStandIn(origin, x)
	return n, err
}

// remoteRoomStandIn is the stand-in of from, a full address of another
// domain, and its origin; made when create is set, else errNotInRoom
// without one (it is in no room here).
func (h *Hub) remoteRoomStandIn(from string, create bool) (*Session, string, error) {
	account, resource, err := addr.Parse(from)
	if err != nil || resource == "" || !h.Remote(account) {
		return nil, "", Errorf(CodeInvalid, "from: a full address of another domain is required")
	}
	origin := remoteOrigin + strings.ToLower(addr.DomainOf(account))
	x := h.roomStandIn(origin, account, resource, Channel{}, create)
	if x == nil {
		return nil, "", errNotInRoom
	}
	return x, origin, nil
}

// RemoteRoomAdmin is what an occupant of another domain moderates a room
// here as (XEP-0045 muc#admin over federation): its stand-in, the same
// session its presence joined and its messages speak through, so the
// request is authenticated as they are (the federation took it on a
// stream that proved from's domain, and from must be an occupant's full
// address), and decided under the same rule as a local moderator's
// (AllowRoom: an occupant whose account is the room's owner or admin,
// over accounts of lower affiliation). errNotInRoom when from is in no
// room here.
func (h *Hub) RemoteRoomAdmin(from string) (RoomModerator, error) {
	x, _, err := h.remoteRoomStandIn(from, false)
	if err != nil {
		return nil, err
	}
	return remoteModerator{x}, nil
}

// RoomModerator is what a moderator does to a room by name: kick, name
// accounts, list the accounts named (a Session is one).
type RoomModerator interface {
	Kick(ctx context.Context, room, nick, why string) error
	SetAffiliation(ctx context.Context, room string, who RoomWho, aff, why string) error
	Affiliated(ctx context.Context, room, aff string) ([]string, error)
}

// remoteModerator is a remote occupant's stand-in as a RoomModerator, and
// nothing else of a session.
type remoteModerator struct{ s *Session }

func (m remoteModerator) Kick(ctx context.Context, room, nick, why string) error {
	return m.s.Kick(ctx, room, nick, why)
}

func (m remoteModerator) SetAffiliation(ctx context.Context, room string, who RoomWho, aff, why string) error {
	return m.s.SetAffiliation(ctx, room, who, aff, why)
}

func (m remoteModerator) Affiliated(ctx context.Context, room, aff string) ([]string, error) {
	return m.s.Affiliated(ctx, room, aff)
}

// dropIdleStandIn forgets x, of origin, if it is in no room. Marked ended,
// a join racing with this is refused rather than leaving a stand-in in a
// room that nobody can find again.
func (h *Hub) dropIdleStandIn(origin string, x *Session) {
	k := origin + "\x00" + x.Address() + "\x00"
	h.rooms.mu.Lock()
	defer h.rooms.mu.Unlock()
	if len(h.rooms.of[x]) == 0 && h.rooms.standIns[k] == x {
		delete(h.rooms.standIns, k)
		x.ended.Store(true)
	}
}

// dropRemoved forgets the room id of s, which a moderator or the room's
// mode removed from it (r.mu may be held); a stand-in of another domain
// left in no room is dropped too, as after its own leave, rather than kept
// until its domain is gone.
func (h *Hub) dropRemoved(s *Session, id RoomID) {
	h.dropIndex(s, id)
	if s.remote() != "" {
		h.dropIdleStandIn(remoteOrigin+s.remote(), s)
	}
}

// roomDomainGone: the server of domain is unreachable. Its users' stand-ins
// leave the rooms here, as when they say so.
func (h *Hub) roomDomainGone(domain string) {
	prefix := remoteOrigin + strings.ToLower(domain) + "\x00"
	h.dropStandIns(func(k string, _ *Session) bool { return strings.HasPrefix(k, prefix) })
}

// dropStandIns takes the stand-ins whose key and session match out of the
// rooms here.
func (h *Hub) dropStandIns(match func(k string, x *Session) bool) {
	h.rooms.mu.Lock()
	var gone []*Session
	for k, x := range h.rooms.standIns {
		if match(k, x) {
			gone = append(gone, x)
			delete(h.rooms.standIns, k)
		}
	}
	h.rooms.mu.Unlock()
	for _, x := range gone {
		unlock := h.lock(x.Account)
		h.leaveRoomsLocked(x)
		unlock()
	}
}

// RemoteRooms lists the rooms a user (or server) of another domain sees
// in the rooms service's disco#items: presenced's own open rooms, as a
// local stranger sees them.
func (h *Hub) RemoteRooms(ctx context.Context) ([]RoomInfo, error) { return h.openRooms(ctx, "") }

// RemoteRoomInfo describes a room here (disco#info) to from, an address of
// another domain (an account's, or a server's own: a stranger to every
// room), as to a local account: a members-only room only if it names from's
// account; not_found alike for a room that does not exist.
func (h *Hub) RemoteRoomInfo(ctx context.Context, from, room string) (RoomInfo, error) {
	account := ""
	if strings.Contains(from, "@") {
		bare, _, err := addr.Parse(from)
		if err != nil || !h.Remote(bare) {
			return RoomInfo{}, Errorf(CodeInvalid, "from: an address of another domain is required")
		}
		account = bare
	} else if d, _, _ := strings.Cut(from, "/"); h.Serves(d) {
		return RoomInfo{}, Errorf(CodeInvalid, "from: an address of another domain is required")
	}
	return h.roomInfoFor(ctx, "", account, room)
}
