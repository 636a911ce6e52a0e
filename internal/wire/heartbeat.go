package wire

import (
	"bytes"
	"math"
)

// The frames a client sends once per heartbeat period, byte for byte as
// the Go client, the browser SDK and the load generators write them.
var (
	pingFrame = []byte(`{"type":"ping"}`)
	ackPrefix = []byte(`{"type":"ack","seq":`)
	pongReply = []byte(`{"type":"pong"}`)
)

// DecodeHeartbeat recognises a heartbeat frame written exactly as the
// clients write it, `{"type":"ping"}` or `{"type":"ack","seq":N}`, and
// returns what Decode returns for it, without decoding JSON; ok is false
// for any other frame (other spellings of these included), which Decode
// then parses. Every idle session sends one such frame per heartbeat
// period, so a server answers them at a fraction of Decode's cost
// (issue 9: idle CPU).
func DecodeHeartbeat(raw []byte) (f ClientFrame, ok bool) {
	if bytes.Equal(raw, pingFrame) {
		f.Type = "ping"
		return f, true
	}
	digits, found := bytes.CutPrefix(raw, ackPrefix)
	if !found || len(digits) < 2 || digits[len(digits)-1] != '}' {
		return f, false
	}
	digits = digits[:len(digits)-1]
	// JSON's integers: no sign, no leading zero, nothing after the digits;
	// and what does not fit a uint64 is refused, as Unmarshal refuses it.
	if digits[0] == '0' && len(digits) > 1 {
		return f, false
	}
	var seq uint64
	for _, d := range digits {
		if d < '0' || d > '9' {
			return f, false
		}
		v := uint64(d - '0')
		if seq > (math.MaxUint64-v)/10 {
			return f, false
		}
		seq = seq*10 + v
	}
	f.Type, f.Seq = "ack", seq
	return f, true
}

// Prompt reports whether Handle answers f, a heartbeat (DecodeHeartbeat's),
// waiting on nothing but the session's own lock: a ping always, an ack
// unless it deletes stored messages (a store write). A transport that
// answers on a goroutine that must never wait (the poller's) asks first.
func (c *Conn) Prompt(f ClientFrame) bool {
	switch f.Type {
	case "ping":
		return f.ID == ""
	case "ack":
		return !c.Session.AckWritesStore(f.Seq)
	}
	return false
}
