package store

import (
	"context"
	"time"
)

// Rooms (docs/rooms.md): the durable part of a room — its configuration,
// the accounts it names (admins, members, bans) and its bounded history.
// Who is in a room now lives in memory, in package core.

// Room membership modes.
const (
	RoomOpen    = "open"    // anyone not banned may join
	RoomMembers = "members" // only the owner, admins and members may join
)

// Affiliations an account holds with a room (XEP-0045 § 5.2). The owner is
// the room's Owner; the others are kept per account.
const (
	AffOwner   = "owner"
	AffAdmin   = "admin"
	AffMember  = "member"
	AffOutcast = "outcast" // banned
	AffNone    = "none"
)

// Room is a room's configuration. App is its namespace: "" for presenced's
// own clients, else the ID of the app whose sessions use it.
type Room struct {
	App       string
	Name      string
	Owner     string // bare address of the account that created it
	Mode      string // RoomOpen or RoomMembers
	Subject   string
	SubjectBy string // nickname of who set it
	Created   time.Time
}

// RoomAffiliation is an account named by a room.
type RoomAffiliation struct {
	Account     string
	Affiliation string // AffAdmin, AffMember or AffOutcast
	// Remote: Account is of another domain (a user of another server,
	// docs/federation.md), which no local account backs. A local account's
	// affiliation is tied to the account (ErrNotFound without it, removed
	// with it); a remote one's is kept until it is changed or its room
	// goes. Which domains are remote is the caller's to say: the store
	// does not know the domains served.
	Remote bool
}

// RoomMessage is one message of a room's history.
type RoomMessage struct {
	ID      string
	Account string // the sender's bare address
	Nick    string
	Body    string
	Sent    time.Time
}

// Rooms keeps rooms. A room goes with its owner's account; a local
// account's affiliations go with it.
type Rooms interface {
	// CreateRoom creates a room owned by r.Owner: ErrExists if the name is
	// taken in its namespace, ErrNotFound without such an account, ErrLimit
	// when the owner already owns maxOwned rooms.
	CreateRoom(ctx context.Context, r Room, maxOwned int) error
	// GetRoom returns a room or ErrNotFound.
	GetRoom(ctx context.Context, app, name string) (Room, error)
	// UpdateRoom stores a room's mode and subject (ErrNotFound without it).
	UpdateRoom(ctx context.Context, r Room) error
	// DeleteRoom removes a room with its affiliations and history.
	DeleteRoom(ctx context.Context, app, name string) error
	// ListRooms lists up to limit rooms of a namespace, by name.
	ListRooms(ctx context.Context, app string, limit int) ([]Room, error)
	// SetAffiliation names a.Account in a room with a.Affiliation (AffNone
	// removes it), local or remote as a.Remote says: ErrLimit when a new
	// entry would make more than max (local and remote ones together),
	// ErrNotFound without the room or, unless remote, without the account.
	SetAffiliation(ctx context.Context, app, name string, a RoomAffiliation, max int) error
	// Affiliations lists the accounts a room names, by account, with
	// Remote set for those of other domains.
	Affiliations(ctx context.Context, app, name string) ([]RoomAffiliation, error)
	// AppendRoomMessage adds m to the room's history and drops the oldest
	// messages beyond maxCount messages or maxBytes bytes of bodies.
	AppendRoomMessage(ctx context.Context, app, name string, m RoomMessage, maxCount, maxBytes int) error
	// RoomHistory returns the room's history, oldest first.
	RoomHistory(ctx context.Context, app, name string) ([]RoomMessage, error)
}
