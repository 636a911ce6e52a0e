package wire

// The frames of rooms (docs/rooms.md): what a client sends to join, talk
// in and moderate a room, and the room events it receives.

import (
	"context"
	"encoding/json"
	"time"

	"github.com/presenced/presenced/internal/core"
)

// RoomFields are a client frame's fields for rooms.
type RoomFields struct {
	Room        string          `json:"room,omitempty"`
	Nick        string          `json:"nick,omitempty"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	History     *int            `json:"history,omitempty"` // join: messages of history wanted; absent: all kept
	Subject     *string         `json:"subject,omitempty"`
	Mode        string          `json:"mode,omitempty"`
	Affiliation string          `json:"affiliation,omitempty"`
	RoomToken   string          `json:"room_token,omitempty"` // join: the app's room token, where the app authorizes joins
}

// roomOps answer the room frames; the int is the ok reply's delivered.
var roomOps = map[string]func(context.Context, *core.Session, ClientFrame) (int, error){
	"join": func(ctx context.Context, s *core.Session, f ClientFrame) (int, error) {
		o := core.JoinOptions{Room: f.Room, Nick: f.Nick, Meta: f.Metadata, History: -1, Token: f.RoomToken}
		if f.History != nil {
			if *f.History < 0 {
				return 0, core.Errorf(core.CodeInvalid, "history must not be negative")
			}
			o.History = *f.History
		}
		if f.Presence != nil {
			p := f.Presence.core()
			o.Presence = &p
		}
		return 0, s.Join(ctx, o)
	},
	"leave": func(ctx context.Context, s *core.Session, f ClientFrame) (int, error) {
		return 0, s.Leave(ctx, f.Room)
	},
	"room_message": func(ctx context.Context, s *core.Session, f ClientFrame) (int, error) {
		return s.RoomSend(ctx, f.Room, f.ID, f.Body)
	},
	"subject": func(ctx context.Context, s *core.Session, f ClientFrame) (int, error) {
		if f.Subject == nil {
			return 0, core.Errorf(core.CodeInvalid, "subject needs subject (\"\" clears it)")
		}
		return 0, s.SetSubject(ctx, f.Room, *f.Subject)
	},
	"kick": func(ctx context.Context, s *core.Session, f ClientFrame) (int, error) {
		if f.Nick == "" {
			return 0, core.Errorf(core.CodeInvalid, "kick needs a nick")
		}
		return 0, s.Kick(ctx, f.Room, f.Nick, f.Reason)
	},
	"ban": func(ctx context.Context, s *core.Session, f ClientFrame) (int, error) {
		return 0, s.Ban(ctx, f.Room, core.RoomWho{Nick: f.Nick, Address: f.Address}, f.Reason)
	},
	"affiliation": func(ctx context.Context, s *core.Session, f ClientFrame) (int, error) {
		return 0, s.SetAffiliation(ctx, f.Room, core.RoomWho{Nick: f.Nick, Address: f.Address}, f.Affiliation, f.Reason)
	},
	"room_config": func(ctx context.Context, s *core.Session, f ClientFrame) (int, error) {
		return 0, s.SetRoomMode(ctx, f.Room, f.Mode)
	},
	"room_private": func(ctx context.Context, s *core.Session, f ClientFrame) (int, error) {
		return s.RoomPrivate(ctx, f.Room, f.Nick, f.ID, f.Body)
	},
	"invite": func(ctx context.Context, s *core.Session, f ClientFrame) (int, error) {
		return s.Invite(ctx, f.Room, f.To, f.Reason)
	},
}

// OccupantJSON is one occupant of a room.
type OccupantJSON struct {
	Nick         string          `json:"nick"`
	Address      string          `json:"address,omitempty"`
	Availability string          `json:"availability"`
	Status       string          `json:"status,omitempty"`
	Activity     *core.Activity  `json:"activity,omitempty"`
	Metadata     json.RawMessage `json:"metadata,omitempty"`
	Affiliation  string          `json:"affiliation"`
	Role         string          `json:"role"`
	Reason       string          `json:"reason,omitempty"`
}

func occupant(o core.RoomOccupant) OccupantJSON {
	return OccupantJSON{Nick: o.Nick, Address: o.Address, Availability: string(o.Presence.Availability), Status: o.Presence.Status,
		Activity: o.Presence.Activity, Metadata: o.Meta, Affiliation: o.Affiliation, Role: o.Role, Reason: o.Reason}
}

func occupants(in []core.RoomOccupant) []OccupantJSON {
	if in == nil {
		return nil
	}
	return convert(in, occupant)
}

// RoomMessageJSON is a message of a room.
type RoomMessageJSON struct {
	ID      string    `json:"id,omitempty"`
	Nick    string    `json:"nick"`
	Address string    `json:"address,omitempty"`
	Body    string    `json:"body"`
	Sent    time.Time `json:"sent"`
}

func roomMessage(m core.RoomHistoryItem) RoomMessageJSON {
	return RoomMessageJSON{ID: m.ID, Nick: m.Nick, Address: m.Address, Body: m.Body, Sent: m.Sent}
}

type roomSnapshotFrame struct {
	Type      string            `json:"type"`
	Seq       uint64            `json:"seq"`
	Room      string            `json:"room"`
	Self      OccupantJSON      `json:"self"`
	Occupants []OccupantJSON    `json:"occupants"`
	Count     int               `json:"count"`
	Mode      string            `json:"mode,omitempty"` // "" for a room of another domain (not known)
	Subject   string            `json:"subject,omitempty"`
	SubjectBy string            `json:"subject_by,omitempty"`
	History   []RoomMessageJSON `json:"history"`
	Created   bool              `json:"created,omitempty"`
}

// roomDiffBody and roomMessageBody are encoded once per fan-out, then
// given each session's type and seq (withHeader).
type roomDiffBody struct {
	Room        string         `json:"room"`
	Joined      []OccupantJSON `json:"joined,omitempty"`
	Changed     []OccupantJSON `json:"changed,omitempty"`
	Left        []OccupantJSON `json:"left,omitempty"`
	JoinedCount int            `json:"joined_count"`
	LeftCount   int            `json:"left_count"`
	Count       int            `json:"count"`
	Listed      bool           `json:"listed"`
}

type roomMessageBody struct {
	Room string `json:"room"`
	RoomMessageJSON
}

type roomSubjectFrame struct {
	Type    string `json:"type"`
	Seq     uint64 `json:"seq"`
	Room    string `json:"room"`
	Subject string `json:"subject"`
	Nick    string `json:"nick"`
}

type roomLeftFrame struct {
	Type   string `json:"type"`
	Seq    uint64 `json:"seq"`
	Room   string `json:"room"`
	Nick   string `json:"nick"`
	Reason string `json:"reason"`
	By     string `json:"by,omitempty"`
	Why    string `json:"why,omitempty"`
}

type roomInviteFrame struct {
	Type   string `json:"type"`
	Seq    uint64 `json:"seq"`
	Room   string `json:"room"`
	From   string `json:"from"`
	Reason string `json:"reason,omitempty"`
}

// roomPrivateFrame is a private message from an occupant (Nick).
type roomPrivateFrame struct {
	Type string    `json:"type"`
	Seq  uint64    `json:"seq"`
	Room string    `json:"room"`
	ID   string    `json:"id,omitempty"`
	Nick string    `json:"nick"`
	Body string    `json:"body"`
	Sent time.Time `json:"sent"`
}

// roomEvent encodes a room event, nil for other events. A diff or a
// message shared by many sessions is encoded once (its Memo).
func roomEvent(d core.Delivery) []byte {
	switch ev := d.Event.(type) {
	case core.RoomSnapshot:
		hist := convert(ev.History, roomMessage)
		return mustJSON(roomSnapshotFrame{Type: "room_snapshot", Seq: d.Seq, Room: ev.Room, Self: occupant(ev.Self),
			Occupants: convert(ev.Occupants, occupant), Count: ev.Count, Mode: ev.Mode, Subject: ev.Subject, SubjectBy: ev.SubjectBy,
			History: hist, Created: ev.Created})
	case core.RoomDiff:
		body := d.Memo.Do(func() any {
			return mustJSON(roomDiffBody{Room: ev.Room, Joined: occupants(ev.Joined), Changed: occupants(ev.Changed), Left: occupants(ev.Left),
				JoinedCount: ev.JoinedCount, LeftCount: ev.LeftCount, Count: ev.Count, Listed: ev.Listed})
		}).([]byte)
		return withHeader("room_diff", d.Seq, body)
	case core.RoomMessageEvent:
		body := d.Memo.Do(func() any {
			return mustJSON(roomMessageBody{Room: ev.Room, RoomMessageJSON: roomMessage(ev.Message)})
		}).([]byte)
		return withHeader("room_message", d.Seq, body)
	case core.RoomSubjectEvent:
		return mustJSON(roomSubjectFrame{Type: "room_subject", Seq: d.Seq, Room: ev.Room, Subject: ev.Subject, Nick: ev.Nick})
	case core.RoomLeft:
		return mustJSON(roomLeftFrame{Type: "room_left", Seq: d.Seq, Room: ev.Room, Nick: ev.Nick, Reason: ev.Reason, By: ev.By, Why: ev.Why})
	case core.RoomInvite:
		return mustJSON(roomInviteFrame{Type: "room_invite", Seq: d.Seq, Room: ev.Room, From: ev.From, Reason: ev.Reason})
	case core.RoomPrivateEvent:
		return mustJSON(roomPrivateFrame{Type: "room_private", Seq: d.Seq, Room: ev.Room, ID: ev.ID, Nick: ev.Nick, Body: ev.Body, Sent: ev.Sent})
	}
	return nil
}
