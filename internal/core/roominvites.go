package core

// Invitations across domains (XEP-0249 direct invitations, docs/federation.md
// "Invitations across domains"). A local occupant's invitation to an
// account of another domain leaves through the federation Router, decided
// as a local user's message to that account is (the message rule, on
// what its server said: the mirror); an invitation from a user of another
// domain to a local account reaches its sessions as a RoomInvite — the
// room named by its address when another server keeps it, by its name
// when it is one of this server's — under the same rule as that user's
// messages: a stranger's invitation is refused as a stranger's message is.

import (
	"context"
	"strings"

	"github.com/presenced/presenced/internal/addr"
)

// inviteRemote sends s's invitation ev to bare, an account of another
// domain. Only rooms of presenced's own namespace are joined from other
// domains (an app's rooms are its users'), so only they are offered.
func (h *Hub) inviteRemote(s *Session, ev RoomInvite, bare string) (int, error) {
	if !s.channel.FirstParty() {
		return 0, errUnavailable
	}
	stand, err := h.remoteStandIn(context.Background(), bare)
	if err != nil {
		return 0, err
	}
	defer h.lock(bare, s.Account)()
	if s.ended.Load() {
		return 0, errSessionGone
	}
	if u := h.live(bare); u != nil {
		stand = u
	}
	r := h.deliver(delivery{ev: ev, subject: stand, flow: FlowMessage, viewer: s.Account, to: []Target{{Account: bare}}})
	if r.Sessions == 0 {
		return 0, errUnavailable // not approved by its server, or the domain is not federated with
	}
	return r.Sessions, nil
}

// RemoteInvite delivers an invitation of from (an account of another
// domain, its full or bare address) to to (a local account, or one of its
// sessions) to room: the bare address of a room of another domain, or the
// name of a room here. It is decided as from's message to to would be:
// CodeUnavailable when to does not share presence with from or no session
// of it takes messages, as for a message to nobody.
func (h *Hub) RemoteInvite(ctx context.Context, from, to, room, why string) error {
	rbare, _, local, err := h.remoteParties(from, to)
	if err != nil {
		return err
	}
	_, resource, _ := addr.Parse(to)
	if room, err = h.invitedRoom(room); err != nil {
		return err
	}
	if len(why) > MaxRoomReason {
		why = strings.ToValidUTF8(why[:MaxRoomReason], "") // a reason is advice: cut (on a rune), not refused
	}
	defer h.lock(local)()
	lu := h.live(local)
	if lu == nil {
		return errUnavailable
	}
	ev := RoomInvite{Room: room, From: from, Reason: why}
	r := h.deliver(delivery{ev: ev, subject: lu, flow: FlowMessage, viewer: rbare,
		to: []Target{{Account: local, Resource: resource, Want: Want{Kind: KindMessage}}}})
	if r.Sessions == 0 {
		return errUnavailable
	}
	return nil
}

// invitedRoom checks the room of an invitation from another domain: a room
// of another domain by its bare address, or one here by its name.
func (h *Hub) invitedRoom(room string) (string, error) {
	if isForeignRoom(room) {
		return h.foreignRoomOf(room)
	}
	return roomName(room)
}
