package cluster

import (
	"testing"

	"github.com/presenced/presenced/internal/core"
)

// nicks are the nicknames of occupants.
func nicks(occs []core.RoomOccupant) map[string]bool {
	out := map[string]bool{}
	for _, o := range occs {
		out[o.Nick] = true
	}
	return out
}

// roomMessage matches the message id of room.
func roomMessage(room, id string) func(core.Event) bool {
	return func(ev core.Event) bool {
		m, ok := ev.(core.RoomMessageEvent)
		return ok && m.Room == room && m.Message.ID == id
	}
}

// TestRoomAcrossNodes: alice on node A opens a room (A is its home); bob,
// on node B, joins it through A: he is shown alice in his snapshot, she
// sees him join, and his presence change; a session of B that ends leaves
// the room; messages reach both from either side; only the owner sets the
// subject; carol leaves from B and alice sees it; alice kicks bob. When A dies, bob, back in the
// room, is told he left it; his next join makes B the room's home.
func TestRoomAcrossNodes(t *testing.T) {
	a, b, alice, bob, carol := aliceOnABobAndCarolOnB(t)

	must(t, alice.s.Join(ctx, core.JoinOptions{Room: "lobby", Nick: "al"}))
	alice.await("alice's snapshot", func(ev core.Event) bool { _, ok := ev.(core.RoomSnapshot); return ok })

	must(t, bob.s.Join(ctx, core.JoinOptions{Room: "lobby", Nick: "bo"}))
	snap := bob.await("bob's snapshot, from node a", func(ev core.Event) bool { _, ok := ev.(core.RoomSnapshot); return ok }).(core.RoomSnapshot)
	if !nicks(snap.Occupants)["al"] || snap.Self.Nick != "bo" || snap.Count != 2 {
		t.Fatalf("bob's snapshot: %+v", snap)
	}
	alice.await("bob joining, on a", func(ev core.Event) bool {
		d, ok := ev.(core.RoomDiff)
		return ok && nicks(d.Joined)["bo"]
	})
	if nick, in := bob.s.InRoom("lobby"); !in || nick != "bo" {
		t.Fatalf("bob in the room: %q %v", nick, in)
	}
	// his presence in the room follows his session's, from b
	must(t, bob.s.SetPresence(core.Presence{Availability: core.Away, Status: "brb"}))
	alice.await("bob away in the room, on a", func(ev core.Event) bool {
		d, ok := ev.(core.RoomDiff)
		for _, o := range d.Changed {
			if ok && o.Nick == "bo" && o.Presence.Availability == core.Away && o.Presence.Status == "brb" {
				return true
			}
		}
		return false
	})
	// a session of b that ends leaves the room kept by a
	carol2 := b.connect(t, "carol@x", avail)
	must(t, carol2.s.Join(ctx, core.JoinOptions{Room: "lobby", Nick: "dv"}))
	alice.await("carol2 joining, on a", func(ev core.Event) bool { d, ok := ev.(core.RoomDiff); return ok && nicks(d.Joined)["dv"] })
	carol2.s.Close()
	alice.await("carol2 gone with her session, on a", func(ev core.Event) bool { d, ok := ev.(core.RoomDiff); return ok && nicks(d.Left)["dv"] })
	must(t, carol.s.Join(ctx, core.JoinOptions{Room: "lobby", Nick: "ca"}))
	carol.await("carol's snapshot", func(ev core.Event) bool { _, ok := ev.(core.RoomSnapshot); return ok })
	alice.await("carol joining, on a", func(ev core.Event) bool { // before she leaves: a window with both tells nothing
		d, ok := ev.(core.RoomDiff)
		return ok && nicks(d.Joined)["ca"]
	})
	if err := carol.s.Join(ctx, core.JoinOptions{Room: "lobby", Nick: "al"}); err == nil {
		t.Fatal("a nick in use at the home was taken again from another node")
	}

	n, err := bob.s.RoomSend(ctx, "lobby", "b1", "hello from b")
	if err != nil || n != 3 {
		t.Fatalf("bob's message: %d, %v", n, err)
	}
	for _, c := range []*client{alice, bob, carol} {
		m := c.await("bob's message", roomMessage("lobby", "b1")).(core.RoomMessageEvent)
		if m.Message.Body != "hello from b" || m.Message.Nick != "bo" {
			t.Fatalf("%s got %+v", c.s.Address(), m.Message)
		}
	}
	_, err = alice.s.RoomSend(ctx, "lobby", "a1", "hello from a")
	must(t, err)
	bob.await("alice's message on b", roomMessage("lobby", "a1"))
	carol.await("alice's message on b", roomMessage("lobby", "a1"))

	if err := bob.s.SetSubject(ctx, "lobby", "topic"); core.CodeOf(err) != core.CodeForbidden {
		t.Fatalf("bob, no admin, sets the subject from b: %v", err)
	}
	must(t, alice.s.SetSubject(ctx, "lobby", "topic"))
	bob.await("the subject on b", func(ev core.Event) bool {
		s, ok := ev.(core.RoomSubjectEvent)
		return ok && s.Subject == "topic" && s.Nick == "al"
	})

	if err := carol.s.Kick(ctx, "lobby", "al", "no"); core.CodeOf(err) != core.CodeForbidden {
		t.Fatalf("carol, no admin, kicks from b: %v", err)
	}
	if _, err := carol.s.Invite(ctx, "lobby", "alice@x", ""); core.CodeOf(err) != core.CodeUnavailable {
		t.Fatalf("an invitation from b to alice, on a, with whom carol shares no presence: %v", err)
	}
	must(t, carol.s.Leave(ctx, "lobby"))
	carol.await("carol told she left", func(ev core.Event) bool { l, ok := ev.(core.RoomLeft); return ok && l.Nick == "ca" })
	alice.await("carol leaving, on a", func(ev core.Event) bool {
		d, ok := ev.(core.RoomDiff)
		return ok && nicks(d.Left)["ca"]
	})
	if _, err := carol.s.RoomSend(ctx, "lobby", "c1", "?"); core.CodeOf(err) != core.CodeNotFound {
		t.Fatalf("carol writes to a room she left: %v", err)
	}

	must(t, alice.s.Kick(ctx, "lobby", "bo", "enough")) // the owner, at the home, kicks an occupant of b
	got := bob.await("bob kicked, on b", func(ev core.Event) bool { l, ok := ev.(core.RoomLeft); return ok && l.Room == "lobby" }).(core.RoomLeft)
	if got.Reason != core.LeftKicked || got.Why != "enough" {
		t.Fatalf("bob told %+v", got)
	}
	if _, in := bob.s.InRoom("lobby"); in {
		t.Fatal("bob is still in the room he was kicked from")
	}
	must(t, bob.s.Join(ctx, core.JoinOptions{Room: "lobby", Nick: "bo"}))
	bob.await("bob back in the room", func(ev core.Event) bool { _, ok := ev.(core.RoomSnapshot); return ok })

	a.Kill()
	bob.await("bob told he left, once the room's node died", func(ev core.Event) bool {
		l, ok := ev.(core.RoomLeft)
		return ok && l.Room == "lobby"
	})
	if _, in := bob.s.InRoom("lobby"); in {
		t.Fatal("bob is still in a room whose node died")
	}
	eventually(t, "node a declared dead on b", func() bool { return b.Metrics().NodesDead.Load() == 1 })
	must(t, bob.s.Join(ctx, core.JoinOptions{Room: "lobby", Nick: "bo", History: -1}))
	snap = bob.await("bob's snapshot, the room kept by b now", func(ev core.Event) bool { _, ok := ev.(core.RoomSnapshot); return ok }).(core.RoomSnapshot)
	if snap.Count != 1 || snap.Subject != "topic" || len(snap.History) < 2 {
		t.Fatalf("the room taken over by b: %+v", snap)
	}
}

// TestRoomPrivateAcrossNodes: private messages through a room kept by
// node a, between an occupant there and occupants of node b, both ways and
// between two sessions of b (decided at the home, carried by the bus).
func TestRoomPrivateAcrossNodes(t *testing.T) {
	_, _, alice, bob, carol := aliceOnABobAndCarolOnB(t)
	must(t, alice.s.Join(ctx, core.JoinOptions{Room: "lobby", Nick: "al"}))
	alice.await("alice's snapshot", func(ev core.Event) bool { _, ok := ev.(core.RoomSnapshot); return ok })
	for _, c := range []struct {
		s    *client
		nick string
	}{{bob, "bo"}, {carol, "ca"}} {
		must(t, c.s.s.Join(ctx, core.JoinOptions{Room: "lobby", Nick: c.nick}))
		c.s.await("its snapshot", func(ev core.Event) bool { _, ok := ev.(core.RoomSnapshot); return ok })
	}
	private := func(from, body string) func(core.Event) bool {
		return func(ev core.Event) bool {
			p, ok := ev.(core.RoomPrivateEvent)
			return ok && p.Room == "lobby" && p.Nick == from && p.Body == body
		}
	}
	if n, err := bob.s.RoomPrivate(ctx, "lobby", "al", "p1", "from b to a"); err != nil || n != 1 {
		t.Fatalf("bob's private message: %d, %v", n, err)
	}
	alice.await("bob's private message, on a", private("bo", "from b to a"))
	if n, err := alice.s.RoomPrivate(ctx, "lobby", "ca", "p2", "from a to b"); err != nil || n != 1 {
		t.Fatalf("alice's private message: %d, %v", n, err)
	}
	carol.await("alice's private message, on b", private("al", "from a to b"))
	if n, err := carol.s.RoomPrivate(ctx, "lobby", "bo", "p3", "within b"); err != nil || n != 1 {
		t.Fatalf("carol's private message: %d, %v", n, err)
	}
	bob.await("carol's private message, through a", private("ca", "within b"))
	if _, err := bob.s.RoomPrivate(ctx, "lobby", "nobody", "p4", "x"); core.CodeOf(err) != core.CodeNotFound {
		t.Fatalf("to nobody, from b: %v", err)
	}
}

// aliceOnABobAndCarolOnB starts nodes a and b of one domain on a NATS
// server, with alice connected to a and bob and carol to b.
func aliceOnABobAndCarolOnB(t *testing.T) (a, b *node, alice, bob, carol *client) {
	t.Helper()
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "bob@x", "carol@x")
	a, b = d.start(url, "a", nil), d.start(url, "b", nil)
	return a, b, a.connect(t, "alice@x", avail), b.connect(t, "bob@x", avail), b.connect(t, "carol@x", avail)
}
