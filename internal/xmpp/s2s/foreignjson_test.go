package s2s_test

import (
	"testing"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
)

// connectJSON connects a session that takes no XML: a JSON-protocol one.
func (d *domain) connectJSON(t *testing.T, account string, p *core.Presence) *client {
	t.Helper()
	c := &client{t: t, wake: make(chan struct{}, 1)}
	s, err := d.hub.Connect(ctx, account, core.SessionOptions{Device: "j", Presence: p}, c)
	if err != nil {
		t.Fatal(err)
	}
	c.s = s
	return c
}

// isLeft is a predicate of the RoomLeft of room with reason.
func isLeft(room, reason string) func(core.Event) bool {
	return func(ev core.Event) bool {
		l, ok := ev.(core.RoomLeft)
		return ok && l.Room == room && l.Reason == reason
	}
}

// TestJSONUserInRemoteRoom: alice of a.test, on the JSON protocol, joins
// a room b.test keeps by its address, over two presenced servers'
// federation: her join frame's call leaves as XEP-0045 presence, and
// b.test's answer comes back as the room events of a room here — one
// snapshot (bob with his presence, herself, the history, the subject),
// then messages both ways, bob's change as a diff, a new subject, her
// departure; a kick, and a members-only room's refusal, as RoomLeft.
func TestJSONUserInRemoteRoom(t *testing.T) {
	a, _, bob := loungeOnB(t)
	const room = "lounge@conference.b.test"
	if err := bob.s.SetSubject(ctx, "lounge", "tea"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.s.RoomSend(ctx, "lounge", "h1", "before you came"); err != nil {
		t.Fatal(err)
	}
	alice := a.connectJSON(t, "alice@a.test", &core.Presence{Availability: core.Available})

	visiting := core.Presence{Availability: core.Away, Status: "visiting"}
	if err := alice.s.Join(ctx, core.JoinOptions{Room: room, Nick: "alice", Presence: &visiting, History: 5}); err != nil {
		t.Fatal(err)
	}
	snap := alice.await("her snapshot", func(ev core.Event) bool { _, ok := ev.(core.RoomSnapshot); return ok }).(core.RoomSnapshot)
	if snap.Room != room || snap.Self.Nick != "alice" || snap.Self.Presence != visiting || snap.Self.Role != core.RoleParticipant || snap.Count != 2 ||
		len(snap.Occupants) != 1 || snap.Occupants[0].Nick != "bob" || snap.Occupants[0].Affiliation != store.AffOwner || snap.Occupants[0].Address != "" ||
		len(snap.History) != 1 || snap.History[0].Body != "before you came" || snap.History[0].Nick != "bob" || snap.History[0].Sent.IsZero() ||
		snap.Subject != "tea" || snap.SubjectBy != "bob" {
		t.Fatalf("snapshot %+v", snap)
	}
	bob.await("alice joining", func(ev core.Event) bool {
		d, ok := ev.(core.RoomDiff)
		return ok && hasNick(d.Joined, "alice") && d.Joined[0].Presence.Status == "visiting"
	})

	if _, err := alice.s.RoomSend(ctx, room, "g1", "hi from a"); err != nil {
		t.Fatal(err)
	}
	bob.await("alice's message", func(ev core.Event) bool {
		m, ok := ev.(core.RoomMessageEvent)
		return ok && m.Message.Nick == "alice" && m.Message.Body == "hi from a"
	})
	alice.await("her message, reflected", func(ev core.Event) bool {
		m, ok := ev.(core.RoomMessageEvent)
		return ok && m.Room == room && m.Message.Nick == "alice" && m.Message.Body == "hi from a" && m.Message.ID == "g1"
	})
	if _, err := bob.s.RoomSend(ctx, "lounge", "b1", "hi from b"); err != nil {
		t.Fatal(err)
	}
	alice.await("bob's message", func(ev core.Event) bool {
		m, ok := ev.(core.RoomMessageEvent)
		return ok && m.Room == room && m.Message.Nick == "bob" && m.Message.Body == "hi from b"
	})
	dnd := core.Presence{Availability: core.DND, Status: "busy"}
	if err := bob.s.Join(ctx, core.JoinOptions{Room: "lounge", Nick: "bob", Presence: &dnd, History: -1}); err != nil {
		t.Fatal(err)
	}
	alice.await("bob's change", func(ev core.Event) bool {
		d, ok := ev.(core.RoomDiff)
		return ok && d.Room == room && len(d.Changed) == 1 && d.Changed[0].Nick == "bob" && d.Changed[0].Presence == dnd && d.Count == 2
	})
	if err := bob.s.SetSubject(ctx, "lounge", "coffee"); err != nil {
		t.Fatal(err)
	}
	alice.await("the new subject", func(ev core.Event) bool {
		s, ok := ev.(core.RoomSubjectEvent)
		return ok && s.Room == room && s.Subject == "coffee" && s.Nick == "bob"
	})

	// private messages through the room, both ways
	if _, err := alice.s.RoomPrivate(ctx, room, "bob", "p1", "psst"); err != nil {
		t.Fatal(err)
	}
	bob.await("alice's private message", func(ev core.Event) bool {
		p, ok := ev.(core.RoomPrivateEvent)
		return ok && p.Room == "lounge" && p.Nick == "alice" && p.Body == "psst"
	})
	if _, err := bob.s.RoomPrivate(ctx, "lounge", "alice", "p2", "psst back"); err != nil {
		t.Fatal(err)
	}
	alice.await("bob's private message", func(ev core.Event) bool {
		p, ok := ev.(core.RoomPrivateEvent)
		return ok && p.Room == room && p.Nick == "bob" && p.Body == "psst back"
	})

	if err := alice.s.Leave(ctx, room); err != nil {
		t.Fatal(err)
	}
	bob.await("alice leaving", func(ev core.Event) bool {
		d, ok := ev.(core.RoomDiff)
		return ok && hasNick(d.Left, "alice")
	})
	alice.await("told she left", isLeft(room, core.LeftLeft))
	if alice.s.InForeignRoom(room) {
		t.Fatal("still in the room after leaving")
	}

	// kicked by bob
	if err := alice.s.Join(ctx, core.JoinOptions{Room: room, Nick: "alice", History: 0}); err != nil {
		t.Fatal(err)
	}
	alice.await("her second snapshot", func(ev core.Event) bool { s, ok := ev.(core.RoomSnapshot); return ok && len(s.History) == 0 })
	bob.await("alice back", func(ev core.Event) bool { d, ok := ev.(core.RoomDiff); return ok && hasNick(d.Joined, "alice") })
	if err := bob.s.Kick(ctx, "lounge", "alice", "tidy up"); err != nil {
		t.Fatal(err)
	}
	kicked := alice.await("kicked", isLeft(room, core.LeftKicked)).(core.RoomLeft)
	if kicked.By != "bob" || kicked.Why != "tidy up" || alice.s.InForeignRoom(room) {
		t.Fatalf("kicked %+v", kicked)
	}

	// a members-only room refuses her join
	if err := bob.s.SetRoomMode(ctx, "lounge", store.RoomMembers); err != nil {
		t.Fatal(err)
	}
	if err := alice.s.Join(ctx, core.JoinOptions{Room: room, Nick: "alice", History: -1}); err != nil {
		t.Fatal(err)
	}
	refused := alice.await("refused", isLeft(room, core.LeftRefused)).(core.RoomLeft)
	if refused.Why != "registration-required" || alice.s.InForeignRoom(room) {
		t.Fatalf("refused %+v", refused)
	}
}
