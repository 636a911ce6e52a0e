package core

import (
	"context"
	"crypto/hmac"
	"errors"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// Room tokens: how an app authorizes who joins the rooms of its namespace
// (docs/rooms.md). An app that registered a room key (store.App.RoomKey)
// signs, for one of its users and one room, a short-lived token; the
// user's session presents it when joining. Checking the signature is JOSE
// work done outside the core (RoomTokenVerifier, internal/oauth); whether
// the token lets this session into this room is decided here and in
// AllowRoom.

// RoomToken is what a room token whose signature checked says.
type RoomToken struct {
	// Subject is the user as the app knows them: the app's handle of the
	// account, the sub of the ID tokens it was given.
	Subject string
	Room    string
	Expires time.Time
}

// RoomTokenVerifier checks a room token: signed with app's room key,
// issued by the app, for this server. It returns what the token says, or
// an error saying why it is refused.
type RoomTokenVerifier interface {
	VerifyRoomToken(app store.App, token string) (RoomToken, error)
}

// tokenRefused is a join refused for want of a valid room token: XMPP
// answers it as a room answers a wrong password.
type tokenRefused struct{ e *Error }

func (r tokenRefused) Error() string { return r.e.Error() }
func (r tokenRefused) Unwrap() error { return r.e }

func refusedf(format string, args ...any) error {
	return tokenRefused{Errorf(CodeForbidden, format, args...)}
}

// IsRoomTokenRefused reports whether err refused a join for want of a
// valid room token.
func IsRoomTokenRefused(err error) bool {
	var r tokenRefused
	return errors.As(err, &r)
}

var (
	errRoomTokenNeeded = refusedf("the app authorizes who joins its rooms: join with a room token the app gives you")
	errRoomTokenOther  = refusedf("the room token is for another room or another user")
	errRoomTokenOld    = refusedf("the room token has expired: ask the app for a new one")
)

// roomAuth is what a join carries towards the room rule.
type roomAuth struct {
	appAuthorizes bool // the namespace's app authorizes joins with room tokens
	token         bool // and s presented a valid one for this room
}

// roomAuthOf checks o.Token for s joining room name (normalized). A
// session of presenced's own clients needs none; nor does an app's that
// registered no room key (its grant's rooms scope authorizes). A token
// that does not hold is an error, not a silent refusal: the app's
// developer needs to know why.
func (h *Hub) roomAuthOf(ctx context.Context, s *Session, name, token string) (roomAuth, error) {
	if s.channel.FirstParty() {
		return roomAuth{}, nil
	}
	app, err := h.store.GetApp(ctx, s.channel.App)
	if errors.Is(err, store.ErrNotFound) {
		return roomAuth{}, errRoomNamespace // the app went: its sessions are ending
	}
	if err != nil || len(app.RoomKey) == 0 {
		return roomAuth{}, err
	}
	if token == "" {
		return roomAuth{appAuthorizes: true}, nil
	}
	if h.cfg.RoomTokens == nil {
		return roomAuth{}, refusedf("this server checks no room tokens")
	}
	t, err := h.cfg.RoomTokens.VerifyRoomToken(app, token)
	if err != nil {
		return roomAuth{}, refusedf("the room token is not valid: %v", err)
	}
	room, err := roomName(t.Room)
	self := h.handles.Of(app.ID, s.Account, s.Account)
	switch {
	case err != nil || room != name || !hmac.Equal([]byte(t.Subject), []byte(self)):
		return roomAuth{}, errRoomTokenOther
	case !h.clock.Now().Before(t.Expires):
		return roomAuth{}, errRoomTokenOld
	}
	return roomAuth{appAuthorizes: true, token: true}, nil
}
