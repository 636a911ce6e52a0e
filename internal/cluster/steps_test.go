package cluster

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store/sqlite"
)

// FuzzCallStep: no call step read from the bus crashes a node: what
// decodes is checked by the hub like a client's input (Hub.Ring,
// Hub.CallStepFrom) and refused, or finds no call, with a typed error.
func FuzzCallStep(f *testing.F) {
	for _, st := range []core.CallStep{
		{Call: "c1", Op: "ring", From: "a@x/r", To: "b@x", Data: json.RawMessage(`{"video":true}`), App: "chat"},
		{Call: "c1", Op: "answer", From: "b@x/p"},
		{Call: "c1", Op: "signal", From: "b@x/p", Data: json.RawMessage(`{"sdp":"x"}`)},
		{Call: "c1", Op: "event", To: "b@x/p", Event: &core.CallEvent{Call: "c1", Event: core.CallEnded, Reason: core.EndHangup}},
		{Call: "c1", Op: "gone", From: "b@x/p"},
	} {
		b, _ := json.Marshal(step{Origin: "n1", Step: st})
		f.Add(b)
	}
	f.Add([]byte(`{"o":"n1","s":{"Call":"","Op":"ring"}}`))
	f.Add([]byte(`{"o":"","s":{}}`))
	h := fuzzHub(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		origin, s, err := decodeStep(&nats.Msg{Data: b})
		if err != nil {
			return
		}
		if s.Op == "ring" {
			if _, err := h.Ring(origin, s); err != nil && core.CodeOf(err) == core.CodeInternal {
				t.Fatalf("ring %+v: untyped error %v", s, err)
			}
			return
		}
		if err := h.CallStepFrom(origin, s); err == nil || core.CodeOf(err) == core.CodeInternal {
			t.Fatalf("step %+v with no call: %v", s, err)
		}
	})
}

// FuzzRoomBus: no room step or room event read from the bus crashes a
// node: steps are checked by the hub (Hub.RoomStepFrom) and refused with
// typed errors; events reach only sessions in the room at that node.
func FuzzRoomBus(f *testing.F) {
	for _, st := range []core.RoomStep{
		{Op: "join", Room: "lobby", From: "a@x/r", Nick: "al", Presence: &core.Presence{Availability: core.Available}},
		{Op: "send", Room: "lobby", From: "a@x/r", ID: "1", Text: "hi"},
		{Op: "gone", From: "a@x/r"},
	} {
		b, _ := json.Marshal(roomStep{Origin: "n1", Step: st})
		f.Add(b)
	}
	b, _ := encodeRoomEvents("n1", core.RoomMessageEvent{Room: "lobby", Message: core.RoomHistoryItem{ID: "1", Body: "x"}}, []core.RoomTarget{{Address: "a@x/r"}})
	f.Add(b)
	h := fuzzHub(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		if origin, ev, to, err := decodeRoomEvents(b); err == nil {
			h.RoomEventsFrom(origin, ev, to)
		}
		var rs roomStep
		if decodeBounded(b, &rs) == nil && checkNodeID(rs.Origin) == nil && rs.Step.Op != "join" {
			if _, err := h.RoomStepFrom(ctx, rs.Origin, rs.Step); err != nil && core.CodeOf(err) == core.CodeInternal {
				t.Fatalf("room step %+v: untyped error %v", rs.Step, err)
			}
		}
	})
}

// fuzzHub is a hub with no sessions on a store of its own.
func fuzzHub(f *testing.F) *core.Hub {
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	return core.New(core.Config{Grace: time.Second}, st, clock.Real{}, nil, slog.Default())
}
