// Package wire is presenced's JSON protocol (docs/protocol.md): the frames a
// client sends, the frames it receives, and the dispatcher that turns one
// into calls on the core. WebSocket and long-polling share all of it, so
// both transports have the same semantics by construction.
package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/jsonerr"
)

// Version is the protocol version, also the WebSocket subprotocol name.
const Version = "presenced.v1"

// MaxFrame bounds one client frame in bytes.
const MaxFrame = 64 << 10

// maxDepth bounds the nesting of a frame's JSON.
const maxDepth = 16

// ClientFrame is any frame a client sends; Type says which fields apply.
type ClientFrame struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`

	// hello
	Token   string      `json:"token,omitempty"`
	Device  string      `json:"device,omitempty"`
	Accepts []string    `json:"accepts,omitempty"`
	Topics  []string    `json:"topics,omitempty"` // personal events to receive; absent: all
	Resume  *ResumeInfo `json:"resume,omitempty"`
	// Grace asks for a longer grace period (seconds) for this session,
	// granted up to Server.MaxGrace: a long-poll client that polls rarely.
	Grace *int64 `json:"grace,omitempty"`
	// hello (initial presence) and presence
	Presence *PresenceFields `json:"presence,omitempty"`
	PresenceFields
	// subscribe, approve, deny, unsubscribe, remove, block, unblock, hide, unhide
	Address string `json:"address,omitempty"`
	// invisible
	Invisible *bool `json:"invisible,omitempty"`
	// message, signal
	To   string          `json:"to,omitempty"`
	Body string          `json:"body,omitempty"`
	Data json.RawMessage `json:"data,omitempty"` // also publish
	// publish, retract
	Topic string `json:"topic,omitempty"`
	Item  string `json:"item,omitempty"`
	// ack
	Seq uint64 `json:"seq,omitempty"`
	// offline_ack (offline.go): the stored messages the client has
	OfflineIDs []int64 `json:"offline_ids,omitempty"`
	// history (offline.go): a page of the user's history
	With   string     `json:"with,omitempty"`
	After  int64      `json:"after,omitempty"`
	Before int64      `json:"before,omitempty"`
	Last   bool       `json:"last,omitempty"`
	Max    int        `json:"max,omitempty"`
	Start  *time.Time `json:"start,omitempty"`
	End    *time.Time `json:"end,omitempty"`
	// ringing, answer, reject, cancel, hangup, and a signal within a call (docs/calls.md)
	Call   string `json:"call,omitempty"`
	Reason string `json:"reason,omitempty"` // reject: declined or busy
	// rooms (rooms.go; docs/rooms.md): join (nick, presence, metadata,
	// history), leave, room_message (body), subject, kick (nick), ban and
	// affiliation (nick or address), room_config (mode), invite (to)
	RoomFields
}

// ResumeInfo asks to resume a session after seq.
type ResumeInfo struct {
	Session string `json:"session"`
	Seq     uint64 `json:"seq"`
}

// PresenceFields is a session's presence on the wire.
type PresenceFields struct {
	Availability string         `json:"availability,omitempty"`
	Status       string         `json:"status,omitempty"`
	Activity     *core.Activity `json:"activity,omitempty"`
	Priority     int            `json:"priority,omitempty"`
}

func (p PresenceFields) core() core.Presence {
	return core.Presence{Availability: core.Availability(p.Availability), Status: p.Status, Activity: p.Activity, Priority: p.Priority}
}

// Decode parses one client frame. Errors are *core.Error with CodeInvalid
// and say what is wrong.
func Decode(raw []byte) (ClientFrame, error) {
	var f ClientFrame
	if len(raw) > MaxFrame {
		return f, core.Errorf(core.CodeInvalid, "frame is larger than %d bytes", MaxFrame)
	}
	if !utf8.Valid(raw) {
		return f, core.Errorf(core.CodeInvalid, "frame is not valid UTF-8")
	}
	if d := depth(raw); d > maxDepth {
		return f, core.Errorf(core.CodeInvalid, "frame nests deeper than %d", maxDepth)
	}
	// Unmarshal (unlike a Decoder) also refuses anything after the object.
	if err := json.Unmarshal(raw, &f); err != nil {
		return f, core.Errorf(core.CodeInvalid, "frame must be one JSON object of the protocol: %s", jsonerr.Describe(err))
	}
	if f.Type == "" {
		return f, core.Errorf(core.CodeInvalid, "frame has no type")
	}
	if len(f.ID) > 64 {
		return f, core.Errorf(core.CodeInvalid, "id is longer than 64 bytes")
	}
	return f, nil
}

// depth returns the maximum nesting of arrays and objects in raw, ignoring
// brackets inside strings.
func depth(raw []byte) int {
	d, max, inStr, esc := 0, 0, false, false
	for _, c := range raw {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{' || c == '[':
			if d++; d > max {
				max = d
			}
		case c == '}' || c == ']':
			d--
		}
	}
	return max
}

// Server frames.

type replyFrame struct {
	Type      string `json:"type"` // "ok"
	ID        string `json:"id,omitempty"`
	Delivered int    `json:"delivered,omitempty"`
	Stored    bool   `json:"stored,omitempty"` // a message kept for its recipient's next session
	Call      string `json:"call,omitempty"`   // a call frame's: the call it placed
}

type errorFrame struct {
	Type    string `json:"type"` // "error"
	ID      string `json:"id,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

type welcomeFrame struct {
	Type      string `json:"type"` // "welcome"
	ID        string `json:"id,omitempty"`
	Session   string `json:"session"`
	Address   string `json:"address"`
	Resumed   bool   `json:"resumed"`
	Seq       uint64 `json:"seq"`
	Grace     int    `json:"grace"`     // seconds a dropped session stays resumable: the server's, or what hello asked for
	Heartbeat int    `json:"heartbeat"` // seconds between client pings the server expects at least
}

type goawayFrame struct {
	Type      string `json:"type"` // "goaway"
	Reason    string `json:"reason"`
	Reconnect bool   `json:"reconnect"`
}

// Error encodes an error frame answering request id.
func Error(id string, err error) []byte {
	e := errorFrame{Type: "error", ID: id, Code: string(core.CodeOf(err)), Message: "internal error"}
	if ce := (*core.Error)(nil); errors.As(err, &ce) {
		e.Message = ce.Message
	} else if e.Code == string(core.CodeBusy) {
		e.Message = "the store is unavailable; try again"
	}
	return mustJSON(e)
}

// GoawayFrame encodes a goaway.
func GoawayFrame(g core.Goaway) []byte {
	return mustJSON(goawayFrame{Type: "goaway", Reason: g.Reason, Reconnect: g.Reconnect})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("wire: cannot encode %T: %v", v, err))
	}
	return b
}

// timeOrNil renders zero times as absent.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
