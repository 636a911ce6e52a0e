package wire

import (
	"reflect"
	"testing"
)

func TestDecodeHeartbeat(t *testing.T) {
	for raw, want := range map[string]ClientFrame{
		`{"type":"ping"}`:                           {Type: "ping"},
		`{"type":"ack","seq":0}`:                    {Type: "ack"},
		`{"type":"ack","seq":42}`:                   {Type: "ack", Seq: 42},
		`{"type":"ack","seq":18446744073709551615}`: {Type: "ack", Seq: 18446744073709551615},
	} {
		f, ok := DecodeHeartbeat([]byte(raw))
		if !ok || !reflect.DeepEqual(f, want) {
			t.Errorf("%s: %+v, %v; want %+v", raw, f, ok, want)
		}
	}
	// Anything else goes to Decode, which answers it (or refuses it) in
	// full: other spellings, other fields, numbers JSON or a uint64 refuse.
	for _, raw := range []string{
		``, `{}`, `{"type":"ping","id":"p1"}`, `{ "type":"ping"}`, `{"type":"ping"} `, `{"TYPE":"ping"}`,
		`{"type":"ack","seq":}`, `{"type":"ack","seq":01}`, `{"type":"ack","seq":-1}`, `{"type":"ack","seq":1.5}`,
		`{"type":"ack","seq":18446744073709551616}`, `{"type":"ack","seq":99999999999999999999}`,
		`{"type":"ack","seq":1 }`, `{"type":"ack","seq":1,"id":"a"}`, `{"type":"ack","seq":"1"}`, `{"type":"ack","seq":1`,
	} {
		if f, ok := DecodeHeartbeat([]byte(raw)); ok {
			t.Errorf("%q taken as a heartbeat: %+v", raw, f)
		}
	}
}

// FuzzDecodeHeartbeat: whatever DecodeHeartbeat takes, Decode takes too and
// reads as the same frame, so the shortcut changes no answer.
func FuzzDecodeHeartbeat(f *testing.F) {
	for _, s := range []string{`{"type":"ping"}`, `{"type":"ack","seq":7}`, `{"type":"ack","seq":007}`, `{"type":"ack","seq":18446744073709551616}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fast, ok := DecodeHeartbeat(raw)
		if !ok {
			return
		}
		full, err := Decode(raw)
		if err != nil {
			t.Fatalf("%q: a heartbeat that Decode refuses: %v", raw, err)
		}
		if !reflect.DeepEqual(fast, full) {
			t.Fatalf("%q: %+v, Decode says %+v", raw, fast, full)
		}
	})
}

// TestPrompt: a plain ping is answered without waiting; a ping with an id
// (not DecodeHeartbeat's) and any other frame are not Prompt's to clear.
func TestPrompt(t *testing.T) {
	c := &Conn{}
	for _, tc := range []struct {
		f    ClientFrame
		want bool
	}{
		{ClientFrame{Type: "ping"}, true},
		{ClientFrame{Type: "ping", ID: "x"}, false},
		{ClientFrame{Type: "presence"}, false},
		{ClientFrame{Type: "offline_ack"}, false},
	} {
		if got := c.Prompt(tc.f); got != tc.want {
			t.Errorf("%s %q: Prompt %v, want %v", tc.f.Type, tc.f.ID, got, tc.want)
		}
	}
}
