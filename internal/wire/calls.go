package wire

import (
	"encoding/json"
	"time"

	"github.com/presenced/presenced/internal/core"
)

// Calls over the JSON protocol (docs/calls.md): the frames a party sends
// and the events it is told. The call itself lives in the core
// (core/calls.go); here are only its frames.

// callFrame answers the frames of calls; ok is false for other frames.
func (c *Conn) callFrame(f ClientFrame) (n int, ok bool, err error) {
	s := c.Session
	switch f.Type {
	case "call":
		if f.Call != "" {
			return 0, true, core.Errorf(core.CodeInvalid, "call takes to, not call: the server names the call")
		}
		id, n, err := s.Call(f.To, f.Data)
		c.called = id
		return n, true, err
	case "signal":
		if f.Call == "" {
			return 0, false, nil // a signal outside a call: Send
		}
		if f.To != "" {
			return 0, true, core.Errorf(core.CodeInvalid, "a signal within a call goes to the other party: no to")
		}
		if err := s.CallSignal(f.Call, f.Data); err != nil {
			return 0, true, err
		}
		return 1, true, nil
	case "ringing", "answer", "reject", "cancel", "hangup":
	default:
		return 0, false, nil
	}
	if f.Call == "" {
		return 0, true, core.Errorf(core.CodeInvalid, "%s needs a call", f.Type)
	}
	switch f.Type {
	case "ringing":
		return 0, true, s.CallRinging(f.Call)
	case "answer":
		return 0, true, s.Answer(f.Call, f.Data)
	case "cancel":
		return 0, true, s.Cancel(f.Call)
	case "hangup":
		return 0, true, s.Hangup(f.Call)
	}
	switch f.Reason { // reject
	case "", core.EndDeclined:
		return 0, true, s.Reject(f.Call, false)
	case core.EndBusy:
		return 0, true, s.Reject(f.Call, true)
	}
	return 0, true, core.Errorf(core.CodeInvalid, "reason must be declined or busy")
}

// callEventFrame is a call event: {"type":"call","event":…}, or, for a
// signal within a call, {"type":"signal","call":…}.
type callEventFrame struct {
	Type   string          `json:"type"` // "call" or "signal"
	Seq    uint64          `json:"seq"`
	Call   string          `json:"call"`
	Event  string          `json:"event,omitempty"`
	From   string          `json:"from,omitempty"`
	Reason string          `json:"reason,omitempty"`
	Data   json.RawMessage `json:"data,omitempty"`
	Sent   time.Time       `json:"sent"`
}

func callEvent(seq uint64, ev core.CallEvent) []byte {
	f := callEventFrame{Type: "call", Seq: seq, Call: ev.Call, Event: ev.Event, From: ev.From, Reason: ev.Reason, Data: ev.Data, Sent: ev.Sent}
	if ev.Event == core.CallSignal {
		f.Type, f.Event = "signal", ""
	}
	return mustJSON(f)
}
