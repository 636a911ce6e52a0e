package client

import (
	"encoding/json"
	"testing"
)

// receive reads a presence event's header without decoding the frame, and
// gets what encoding/json would; other frames go through encoding/json.
func TestReceiveReadsHeadersAlike(t *testing.T) {
	for _, raw := range []string{
		`{"type":"presence","seq":7,"address":"bob@x","availability":"away"}`,
		`{"type":"presence","seq":18446744073709551615}`,
		`{"type":"presence","seq":12,"address":"a","sessions":[{"id":"nested"}]}`,
		`{"type":"presence","id":"p1"}`,
		`{"type":"ok","id":"r1","seq":3}`,
		`{"type":"message","seq":4,"id":"m","body":"{\"type\":\"presence\",\"seq\":9}"}`,
	} {
		s := newSession(nil)
		s.receive([]byte(raw))
		var want struct {
			Type, ID string
			Seq      uint64
		}
		if err := json.Unmarshal([]byte(raw), &want); err != nil {
			t.Fatal(err)
		}
		if len(s.queue) != 1 {
			t.Fatalf("%s: %d frames queued", raw, len(s.queue))
		}
		if f := s.queue[0]; f.Type != want.Type || f.ID != want.ID || f.Seq != want.Seq || string(f.Raw) != raw {
			t.Fatalf("%s: got %q %q %d, want %+v", raw, f.Type, f.ID, f.Seq, want)
		}
	}
	for _, raw := range []string{`{"type":"presence","seq":}`, `{"type":"presence","seq":99999999999999999999999,"a":1}`} {
		if _, ok := presenceHeader([]byte(raw)); ok {
			t.Fatalf("%s: taken as a presence header", raw)
		}
	}
}
