package core

// Private messages through a room (XEP-0045 § 7.5): an occupant writes to
// another by its nickname, and the recipient sees the sender by its
// nickname only, as the room shows it (its address stays hidden, as in the
// room's own messages of a semi-anonymous room). They are decided as a
// message to the room (AllowRoom, RoomSpeak: an occupant whom the room lets
// speak), reach the one occupant (RoomSee), are not kept in the history,
// and work whoever the occupants are: local sessions, sessions of other
// nodes (the step goes to the room's home, roompeers.go) and users of
// other domains (their stand-ins, roomremote.go).

import (
	"context"
	"time"
)

// roomPrivate is the step of a private message (Nick: the recipient's,
// ID, Text: the body), decided at the room's home.
const roomPrivate = "private"

// RoomPrivateEvent is a private message from the occupant Nick of Room to
// the recipient, one of its occupants.
type RoomPrivateEvent struct {
	Room string
	Nick string // the sender's nickname in the room
	ID   string
	Body string
	Sent time.Time
}

func (RoomPrivateEvent) isEvent() {}

// RoomPrivate sends a private message to the occupant nick of a room s is
// in; it returns the sessions reached (the recipient's one).
func (s *Session) RoomPrivate(ctx context.Context, room, nick, id, body string) (int, error) {
	if body == "" || nick == "" {
		return 0, Errorf(CodeInvalid, "a private message needs a nick and a body")
	}
	if isForeignRoom(room) { // another domain's: the room delivers it
		return 0, s.sendForeign(room, nick, id, ForeignRoomContent{Body: body})
	}
	if a, err, ok := s.hub.stepElsewhere(ctx, s, room, RoomStep{Op: roomPrivate, Nick: nick, ID: id, Text: body}); ok {
		return a.Sessions, err
	}
	h, r, err := s.findRoom(room, text{"id", id, MaxMessageID}, text{"body", body, MaxMessageBody})
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	oc := r.bySess[s]
	if oc == nil || !AllowRoom(h.roomFacts(r, s, true), RoomSpeak) {
		return 0, errNotInRoom
	}
	to := r.byNick[nick]
	if to == nil {
		return 0, errNoSuchNick
	}
	ev := RoomPrivateEvent{Room: r.id.Name, Nick: oc.nick, ID: id, Body: body, Sent: h.clock.Now()}
	routed := h.deliverRoom(r, ev, []*occupant{to}, false)
	if routed.Sessions == 0 {
		return 0, errUnavailable
	}
	return routed.Sessions, nil
}

// RemoteRoomPrivate sends from's private message (from: an occupant of
// another domain) to the occupant nick of room, as Session.RoomPrivate.
func (h *Hub) RemoteRoomPrivate(ctx context.Context, from, room, nick, id, body string) (int, error) {
	return h.remoteRoomStep(ctx, RoomStep{Op: roomPrivate, Room: room, From: from, Nick: nick, ID: id, Text: body})
}
