package wire

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/core"
)

func TestDecode(t *testing.T) {
	f, err := Decode([]byte(`{"type":"presence","id":"1","availability":"away","activity":{"kind":"call"}}`))
	if err != nil || f.Type != "presence" || f.Availability != "away" || f.Activity.Kind != "call" {
		t.Fatalf("%+v %v", f, err)
	}
	for name, raw := range map[string]string{
		"not json":     `{"type":`,
		"two objects":  `{"type":"ping"}{"type":"ping"}`,
		"no type":      `{"id":"1"}`,
		"array":        `[1,2]`,
		"bad utf8":     "{\"type\":\"ping\",\"id\":\"\xff\"}",
		"too deep":     `{"type":"signal","data":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`,
		"too large":    `{"type":"ping","body":"` + strings.Repeat("x", MaxFrame) + `"}`,
		"long id":      `{"type":"ping","id":"` + strings.Repeat("x", 65) + `"}`,
		"wrong typing": `{"type":"ack","seq":"one"}`,
	} {
		if _, err := Decode([]byte(raw)); core.CodeOf(err) != core.CodeInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestDepthIgnoresStrings(t *testing.T) {
	if d := depth([]byte(`{"a":"[[[[{{{\"","b":[1]}`)); d != 2 {
		t.Fatalf("depth %d", d)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"hello","token":"pd_x","resume":{"session":"s","seq":3}}`))
	f.Add([]byte(`{"type":"signal","to":"a@b/c","data":{"sdp":[1,{"x":"y"}]}}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		fr, err := Decode(raw)
		if err != nil {
			if core.CodeOf(err) != core.CodeInvalid {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if fr.Type == "" || len(fr.ID) > 64 {
			t.Fatalf("accepted %+v", fr)
		}
		if _, err := json.Marshal(fr); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSharedPresenceEncodesOnceAndAlike(t *testing.T) {
	ev := core.PresenceEvent{View: core.PresenceView{Address: "bob@x", Availability: core.Away, Status: "s"}}
	memo := &core.Memo{}
	a, b := Event(core.Delivery{Seq: 7, Event: ev, Memo: memo}), Event(core.Delivery{Seq: 12, Event: ev, Memo: memo})
	var fa, fb map[string]any
	if err := json.Unmarshal(a, &fa); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	json.Unmarshal(b, &fb)
	if fa["type"] != "presence" || fa["seq"] != 7.0 || fb["seq"] != 12.0 || fa["address"] != "bob@x" || fb["status"] != "s" {
		t.Fatalf("%s / %s", a, b)
	}
	plain := Event(core.Delivery{Seq: 7, Event: core.PresenceEvent{View: ev.View}})
	if string(plain) != string(a) {
		t.Fatalf("memoized %s differs from plain %s", a, plain)
	}
}

// AppendEvent writes what Event returns, after what dst already holds.
func TestAppendEventIsEvent(t *testing.T) {
	memo := &core.Memo{}
	for _, d := range []core.Delivery{
		{Seq: 7, Event: core.PresenceEvent{View: core.PresenceView{Address: "bob@x", Availability: core.Away, Status: "s"}}, Memo: memo},
		{Seq: 1 << 40, Event: core.PresenceEvent{View: core.PresenceView{Address: "carol@x", Availability: core.Available}}},
		{Seq: 9, Event: core.PrivacyEvent{}},
	} {
		got := AppendEvent([]byte("before"), d)
		if want := "before" + string(Event(d)); string(got) != want {
			t.Fatalf("AppendEvent: %s, want %s", got, want)
		}
	}
}

// TestDecodeErrorsSpeakOfFields: a frame with a wrongly typed field is
// refused naming the field, never a Go type (wire.ClientFrame).
func TestDecodeErrorsSpeakOfFields(t *testing.T) {
	for raw, want := range map[string]string{
		`{"type":7}`:                               "type must be a string, not a number",
		`{"type":"presence","priority":"high"}`:    "priority must be a whole number, not a string",
		`{"type":"hello","presence":{"status":1}}`: "presence.status must be a string",
		`[{"type":"ping"}]`:                        "expected an object, not a list",
	} {
		_, err := Decode([]byte(raw))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "wire.") || strings.Contains(err.Error(), "Go ") {
			t.Errorf("%s: %v, want %q", raw, err, want)
		}
	}
}

// TestCallEvents: a call's events are call frames, a signal within a call
// a signal frame naming its call.
func TestCallEvents(t *testing.T) {
	for _, c := range []struct {
		ev   core.CallEvent
		want string
	}{
		{core.CallEvent{Call: "c1", Event: core.CallIncoming, From: "alice@x/web-1"}, `{"type":"call","seq":3,"call":"c1","event":"incoming","from":"alice@x/web-1","sent":"0001-01-01T00:00:00Z"}`},
		{core.CallEvent{Call: "c1", Event: core.CallEnded, Reason: core.EndBusy}, `{"type":"call","seq":3,"call":"c1","event":"ended","reason":"busy","sent":"0001-01-01T00:00:00Z"}`},
		{core.CallEvent{Call: "c1", Event: core.CallSignal, From: "bob@x/p-2", Data: json.RawMessage(`{"sdp":"o"}`)},
			`{"type":"signal","seq":3,"call":"c1","from":"bob@x/p-2","data":{"sdp":"o"},"sent":"0001-01-01T00:00:00Z"}`},
	} {
		if got := string(Event(core.Delivery{Seq: 3, Event: c.ev})); got != c.want {
			t.Errorf("%+v: %s, want %s", c.ev, got, c.want)
		}
	}
	f, err := Decode([]byte(`{"type":"reject","id":"4","call":"c1","reason":"busy"}`))
	if err != nil || f.Call != "c1" || f.Reason != "busy" {
		t.Fatalf("%+v %v", f, err)
	}
}
