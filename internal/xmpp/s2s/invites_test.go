package s2s_test

import (
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/s2s"
)

// invited is a predicate of an invitation to room from from.
func invited(room, from, reason string) func(core.Event) bool {
	return func(ev core.Event) bool {
		i, ok := ev.(core.RoomInvite)
		return ok && i.Room == room && i.From == from && i.Reason == reason
	}
}

// TestInvitationsAcrossDomains: XEP-0249 direct invitations between two
// presenced servers. bob (b.test) invites alice (a.test, a JSON session),
// who shares presence with him, to the room he is in: she gets a
// RoomInvite naming it by its address, and joins it by that address.
// alice invites bob to a room of a.test's: he gets it named
// den@conference.a.test. A stream authenticated for b.test then carries
// an invitation of dave@b.test, a stranger to alice, and one of bob's:
// only bob's reaches her (dave's is refused as a stranger's message).
func TestInvitationsAcrossDomains(t *testing.T) {
	a, b, bob := loungeOnB(t)
	alice := a.connectJSON(t, "alice@a.test", &core.Presence{Availability: core.Available})
	befriend(t, a, b, alice, bob)

	if n, err := bob.s.Invite(ctx, "lounge", "alice@a.test", "come and see"); err != nil || n == 0 {
		t.Fatalf("bob's invitation: %d, %v", n, err)
	}
	alice.await("bob's invitation", invited("lounge@conference.b.test", bob.s.Address(), "come and see"))
	if err := alice.s.Join(ctx, core.JoinOptions{Room: "lounge@conference.b.test", Nick: "alice", History: -1}); err != nil {
		t.Fatal(err)
	}
	alice.await("her snapshot", func(ev core.Event) bool {
		s, ok := ev.(core.RoomSnapshot)
		return ok && s.Room == "lounge@conference.b.test"
	})

	if err := alice.s.Join(ctx, core.JoinOptions{Room: "den", Nick: "alice", History: -1}); err != nil {
		t.Fatal(err)
	}
	if n, err := alice.s.Invite(ctx, "den", "bob@b.test", "ours"); err != nil || n == 0 {
		t.Fatalf("alice's invitation: %d, %v", n, err)
	}
	bob.await("alice's invitation", invited("den@conference.a.test", alice.s.Address(), "ours"))

	// a stranger's invitation is refused; a friend's, after it on the
	// same stream, arrives
	g := dialRogue(t, a)
	g.secure("b.test", "a.test")
	if typ := g.dialbackResult("b.test", "a.test", s2s.Key([]byte("secret-b"), "a.test", "b.test", g.id)); typ != "valid" {
		t.Fatalf("b.test's own key was answered %q", typ)
	}
	g.send(`<message from='dave@b.test/x' to='alice@a.test' id='i1'><x xmlns='jabber:x:conference' jid='spam@conference.b.test' reason='buy'/></message>`)
	g.send(`<message from='bob@b.test/x' to='alice@a.test' id='i2'><x xmlns='jabber:x:conference' jid='lounge@conference.a.test' reason='here too'/></message>`)
	alice.await("bob's second invitation, to a room of a.test by its name", func(ev core.Event) bool {
		if i, ok := ev.(core.RoomInvite); ok && i.From == "dave@b.test/x" {
			t.Fatalf("a stranger's invitation reached alice: %+v", i)
		}
		return invited("lounge", "bob@b.test/x", "here too")(ev)
	})
}

// TestRoomDiscoAcrossDomains: alice of a.test asks disco#info of a room
// b.test keeps, over two presenced servers' federation: b.test answers
// as to a local stranger (an open room, its subject and occupants); of a
// members-only room that does not name her, item-not-found.
func TestRoomDiscoAcrossDomains(t *testing.T) {
	a, _, bob := loungeOnB(t)
	if err := bob.s.SetSubject(ctx, "lounge", "tea"); err != nil {
		t.Fatal(err)
	}
	if err := bob.s.Join(ctx, core.JoinOptions{Room: "club", Nick: "bob", History: -1}); err != nil {
		t.Fatal(err)
	}
	if err := bob.s.SetRoomMode(ctx, "club", "members"); err != nil {
		t.Fatal(err)
	}
	alice := a.connect(t, "alice@a.test", &core.Presence{Availability: core.Available})
	answer := func(id, room string) core.Message {
		t.Helper()
		if _, err := alice.s.SendMessage(core.Message{Kind: core.KindIQ, Type: "get", ID: id, To: room,
			Payload: `<query xmlns='http://jabber.org/protocol/disco#info'/>`}); err != nil {
			t.Fatal(err)
		}
		return alice.await("the answer "+id, func(ev core.Event) bool {
			m, ok := ev.(core.MessageEvent)
			return ok && m.Message.Kind == core.KindIQ && m.Message.ID == id
		}).(core.MessageEvent).Message
	}
	if m := answer("d1", "lounge@conference.b.test"); m.Type != "result" || !strings.Contains(m.Payload, "muc_open") ||
		!strings.Contains(m.Payload, "<value>tea</value>") || !strings.Contains(m.Payload, "<value>1</value>") {
		t.Fatalf("the lounge's info: %+v", m)
	}
	if m := answer("d2", "club@conference.b.test"); m.Type != "error" || !strings.Contains(m.Payload, "item-not-found") {
		t.Fatalf("the club's info: %+v", m)
	}
}
