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
func (c *Conn) callFrame(f ClientFrame) (n int, err error, ok bool) {
	s := c.Session
	needCall := func() error {
		if f.Call == "" {
			return core.Errorf(core.CodeInvalid, "%s needs a call", f.Type)
		}
		return nil
	}
	switch f.Type {
	case "call":
		if f.Call != "" {
			return 0, core.Errorf(core.CodeInvalid, "call takes to, not call: the server names the call"), true
		}
		id, n, err := s.Call(f.To, f.Data)
		c.called = id
		return n, err, true
	case "signal":
		if f.Call == "" {
			return 0, nil, false // a signal outside a call: Send
		}
		if f.To != "" {
			return 0, core.Errorf(core.CodeInvalid, "a signal within a call goes to the other party: no to"), true
		}
		if err := s.CallSignal(f.Call, f.Data); err != nil {
			return 0, err, true
		}
		return 1, nil, true
	case "ringing":
		if err := needCall(); err != nil {
			return 0, err, true
		}
		return 0, s.CallRinging(f.Call), true
	case "answer":
		if err := needCall(); err != nil {
			return 0, err, true
		}
		return 0, s.Answer(f.Call, f.Data), true
	case "reject":
		if err := needCall(); err != nil {
			return 0, err, true
		}
		switch f.Reason {
		case "", core.EndDeclined:
			return 0, s.Reject(f.Call, false), true
		case core.EndBusy:
			return 0, s.Reject(f.Call, true), true
		}
		return 0, core.Errorf(core.CodeInvalid, "reason must be declined or busy"), true
	case "cancel":
		if err := needCall(); err != nil {
			return 0, err, true
		}
		return 0, s.Cancel(f.Call), true
	case "hangup":
		if err := needCall(); err != nil {
			return 0, err, true
		}
		return 0, s.Hangup(f.Call), true
	}
	return 0, nil, false
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
