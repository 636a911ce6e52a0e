package cluster

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
)

func TestCodecRoundTrip(t *testing.T) {
	evs := []core.Event{
		core.PresenceEvent{View: core.PresenceView{Address: "a@x", Availability: core.Away, Status: "s", LastActive: time.Unix(5, 0).UTC()}},
		core.MessageEvent{Message: core.Message{ID: "1", Kind: core.KindMessage, From: "a@x/r", To: "b@x", Body: "hi"}},
		core.MessageEvent{Message: core.Message{ID: "2", Kind: core.KindSignal, From: "a@x/r", To: "b@x", Data: json.RawMessage(`{"x":1}`)}},
		core.Goaway{Reason: "r", Reconnect: true},
	}
	to := []core.Target{{Account: "b@x", Resource: "r", Channel: core.Channel{App: "app", Scopes: 3}, Want: core.Want{Kind: core.KindMessage, Available: true}}}
	for _, ev := range evs {
		b, err := encodeRouted("n1", ev, to)
		if err != nil {
			t.Fatal(err)
		}
		origin, back, bto, err := decodeRouted(b)
		if err != nil {
			t.Fatal(err)
		}
		if origin != "n1" || len(bto) != 1 || bto[0] != to[0] {
			t.Fatalf("%s: %v %v", origin, bto, to)
		}
		want, _ := json.Marshal(ev)
		got, _ := json.Marshal(back)
		if string(want) != string(got) {
			t.Fatalf("%T:\n%s\n%s", ev, want, got)
		}
	}
	if m := evs[1].(core.MessageEvent); m.Message.Data != nil {
		t.Fatal("test data")
	}
	b, _ := encodeRouted("n1", evs[1], to)
	if _, back, _, _ := decodeRouted(b); back.(core.MessageEvent).Message.Data != nil {
		t.Fatal("a message without data gained data on the way")
	}
	if _, err := encodeRouted("n1", nil, to); err == nil {
		t.Fatal("a nil event encoded")
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"not json":      `{`,
		"unknown kind":  `{"o":"n","k":"Nope","e":{},"t":[{"Account":"a@x"}]}`,
		"no targets":    `{"o":"n","k":"Goaway","e":{},"t":[]}`,
		"empty account": `{"o":"n","k":"Goaway","e":{},"t":[{"Account":""}]}`,
		"bad origin":    `{"o":"a.b","k":"Goaway","e":{},"t":[{"Account":"a@x"}]}`,
		"bad event":     `{"o":"n","k":"Goaway","e":[1],"t":[{"Account":"a@x"}]}`,
	} {
		if _, _, _, err := decodeRouted([]byte(in)); !errors.Is(err, ErrBadMessage) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := decodeProbe([]byte(`{"o":"","v":"a@x"}`)); !errors.Is(err, ErrBadMessage) {
		t.Errorf("probe without origin: %v", err)
	}
	for _, k := range []string{"", "x", "!!.n", "YUB4.", "YUB4.a.b", "YUB4.n!"} {
		if _, _, ok := parseKey(k); ok {
			t.Errorf("key %q parsed", k)
		}
	}
	if a, n, ok := parseKey(key("a@x", "n-1")); !ok || a != "a@x" || n != "n-1" {
		t.Errorf("key round trip: %q %q %v", a, n, ok)
	}
}

// FuzzDecode: nothing read from the bus crashes a node; what decodes
// encodes again.
func FuzzDecode(f *testing.F) {
	b, _ := encodeRouted("n1", core.PresenceEvent{View: core.PresenceView{Address: "a@x", Availability: core.Available}}, []core.Target{{Account: "b@x"}})
	f.Add(b)
	b, _ = encodeRouted("n1", core.MessageEvent{Message: core.Message{Kind: core.KindSignal, Data: json.RawMessage(`{}`)}}, []core.Target{{Account: "b@x", Resource: "r"}})
	f.Add(b)
	f.Add([]byte(`{"o":"n","k":"RoomDiff","e":{},"t":[{"Account":"a"}]}`))
	f.Add([]byte(`{"o":"n","v":"a@x","r":"r","s":["b@x"]}`))
	f.Add([]byte(`{"o":"n","s":["a@x","b@x"]}`))
	f.Add([]byte(`{"r":"1f","p":{"Availability":"away","Status":"x"},"g":5000,"k":3,"t":31}`))
	f.Add([]byte(`{"a":"a@x","r":"phone-1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if origin, ev, to, err := decodeRouted(b); err == nil {
			if _, err := encodeRouted(origin, ev, to); err != nil {
				t.Fatalf("decoded %T does not encode: %v", ev, err)
			}
		}
		decodeProbe(b)
		decodeSend(b)
		if l, err := decodeSubjectList(b); err == nil && (checkNodeID(l.Origin) != nil || len(l.Subjects) > maxRecheck) {
			t.Fatalf("an unchecked subject list was accepted: %+v", l)
		}
		parseKey(string(b))
		if r, err := decodeRecord(b); err == nil && r.Presence != nil && r.Presence.Validate() != nil {
			t.Fatalf("an invalid presence was accepted in a record: %+v", r.Presence)
		}
		decodeHold(b)
	})
}
