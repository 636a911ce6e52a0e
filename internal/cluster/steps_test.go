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
	"github.com/presenced/presenced/internal/store"
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
	h := fuzzHub(f, nil)
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

// FuzzRoomBus: no room step, room event or invitation read from the bus
// crashes a node: steps are checked by the hub (Hub.RoomStepFrom) and
// refused with typed errors, those of the room's administration (mode,
// affiliation, affiliated, invite) run by a stand-in that is in a room;
// events reach only sessions in the room at that node; an invitation
// another node sends (core.PeerMessage.Invite) is checked by Hub.Receive.
func FuzzRoomBus(f *testing.F) {
	join := core.RoomStep{Op: "join", Room: "lobby", From: "a@x/r", Nick: "al", Presence: &core.Presence{Availability: core.Available}}
	for _, st := range []core.RoomStep{
		join,
		{Op: "send", Room: "lobby", From: "a@x/r", ID: "1", Text: "hi"},
		{Op: "gone", From: "a@x/r"},
		{Op: "mode", Room: "lobby", From: "a@x/r", Text: "members"},
		{Op: "affiliation", Room: "lobby", From: "a@x/r", Who: "b@x", Aff: "member", Text: "why"},
		{Op: "affiliation", Room: "lobby", From: "a@x/r", App: "chat", Who: "h-x", Aff: "outcast"},
		{Op: "affiliation", Room: "lobby", From: "a@x/r", Nick: "al", Aff: "admin", Resolved: true},
		{Op: "affiliated", Room: "lobby", From: "a@x/r", Aff: "member"},
		{Op: "invite", Room: "lobby", From: "a@x/r", Who: "b@x"},
		{Op: "invite", Room: "lobby", From: "a@x/r", Who: "b@x/r"},
	} {
		b, _ := json.Marshal(roomStep{Origin: "n1", Step: st})
		f.Add(b)
	}
	b, _ := encodeRoomEvents("n1", core.RoomMessageEvent{Room: "lobby", Message: core.RoomHistoryItem{ID: "1", Body: "x"}}, []core.RoomTarget{{Address: "a@x/r"}})
	f.Add(b)
	b, _ = json.Marshal(core.PeerMessage{Sender: "b@x", Message: core.Message{Kind: core.KindMessage, From: "b@x/p", To: "a@x"},
		Invite: &core.RoomInvite{Room: "lobby", From: "b@x/p", Reason: "come"}})
	f.Add(b)
	// a node's hub has its Peers (a stand-in's events go through them):
	// one never started, which sends nothing
	n, err := New(Config{NodeID: "fuzz"})
	if err != nil {
		f.Fatal(err)
	}
	h := fuzzHub(f, n, "a@x", "b@x")
	f.Fuzz(func(t *testing.T, b []byte) {
		if origin, ev, to, err := decodeRoomEvents(b); err == nil {
			h.RoomEventsFrom(origin, ev, to)
		}
		if m, err := decodeSend(b); err == nil {
			if _, err := h.Receive(m); err != nil && core.CodeOf(err) == core.CodeInternal {
				t.Fatalf("receive %+v: untyped error %v", m, err)
			}
		}
		var rs roomStep
		if decodeBounded(b, &rs) == nil && checkNodeID(rs.Origin) == nil && rs.Step.Op != "join" {
			if _, err := h.RoomStepFrom(ctx, "n1", join); err != nil && core.CodeOf(err) == core.CodeInternal { // a stand-in in the room, for the step to act
				t.Fatalf("the stand-in's join: %v", err)
			}
			if _, err := h.RoomStepFrom(ctx, rs.Origin, rs.Step); err != nil && core.CodeOf(err) == core.CodeInternal {
				t.Fatalf("room step %+v: untyped error %v", rs.Step, err)
			}
		}
	})
}

// fuzzHub is a hub with no sessions on a store of its own, holding
// accounts, with peers (nil: none).
func fuzzHub(f *testing.F, peers core.Peers, accounts ...string) *core.Hub {
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	for _, a := range accounts {
		if err := st.CreateAccount(ctx, store.Account{Address: a, PasswordHash: "x"}); err != nil {
			f.Fatal(err)
		}
	}
	return core.New(core.Config{Grace: time.Second, Peers: peers}, st, clock.Real{}, nil, slog.Default())
}
