package s2s_test

import (
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/s2s"
)

// foreignFrom is a predicate of a room's stanza to a local session.
func foreignFrom(from, kind, typ, contains string) func(core.Event) bool {
	return func(ev core.Event) bool {
		st, ok := ev.(core.ForeignStanza)
		return ok && st.From == from && st.Kind == kind && st.Type == typ && strings.Contains(st.Payload, contains)
	}
}

// loungeOnB starts a.test (with alice) and b.test (with bob, in the room
// lounge he made), routing to b.test's rooms service too.
func loungeOnB(t *testing.T) (a, b *domain, bob *client) {
	t.Helper()
	a, b = &domain{name: "a.test", ln: listen(t)}, &domain{name: "b.test", ln: listen(t)}
	routes := map[string]string{"a.test": a.ln.Addr().String(), "b.test": b.ln.Addr().String(), "conference.b.test": b.ln.Addr().String()}
	a.start(t, "secret-a", true, routes, "alice@a.test")
	b.start(t, "secret-b", true, routes, "bob@b.test")
	bob = b.connect(t, "bob@b.test", &core.Presence{Availability: core.Available})
	if err := bob.s.Join(ctx, core.JoinOptions{Room: "lounge", Nick: "bob", History: -1}); err != nil {
		t.Fatal(err)
	}
	return a, b, bob
}

// TestLocalUserInRemoteRoom: alice of a.test (an XMPP session) joins a
// room that b.test keeps, over two presenced servers' federation: b.test
// decides her join as any remote user's, she gets the room's stanzas
// (occupants, her own presence, history, subject, messages), bob there
// gets hers, and she leaves. Then a stream authenticated for b.test's
// rooms service sends her groupchat from a room she is not in, and to a
// session of hers that joined nothing: neither is delivered; what the
// room she joined says after them is.
func TestLocalUserInRemoteRoom(t *testing.T) {
	a, _, bob := loungeOnB(t)
	if err := bob.s.SetSubject(ctx, "lounge", "tea"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.s.RoomSend(ctx, "lounge", "h1", "before you came"); err != nil {
		t.Fatal(err)
	}
	alice := a.connect(t, "alice@a.test", &core.Presence{Availability: core.Available})
	phone := a.connect(t, "alice@a.test", &core.Presence{Availability: core.Available})
	me := alice.s.Address()

	if err := alice.s.ToForeignRoom(core.ForeignStanza{Kind: "presence", To: "lounge@conference.b.test/alice", Join: true,
		Payload: `<status>visiting</status><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='5'/></x>`}); err != nil {
		t.Fatal(err)
	}
	alice.await("bob in the room", foreignFrom("lounge@conference.b.test/bob", "presence", "", `affiliation='owner'`))
	alice.await("her own presence", foreignFrom("lounge@conference.b.test/alice", "presence", "", `<status code='110'/>`))
	alice.await("the history", foreignFrom("lounge@conference.b.test/bob", "message", "groupchat", `<body>before you came</body>`))
	alice.await("the subject", foreignFrom("lounge@conference.b.test/bob", "message", "groupchat", `<subject>tea</subject>`))
	bob.await("alice joining", func(ev core.Event) bool {
		d, ok := ev.(core.RoomDiff)
		return ok && hasNick(d.Joined, "alice") && d.Joined[0].Address == "alice@a.test" && d.Joined[0].Presence.Status == "visiting"
	})

	if err := alice.s.ToForeignRoom(core.ForeignStanza{Kind: "message", Type: "groupchat", ID: "g1", To: "lounge@conference.b.test", Payload: `<body>hi from a</body>`}); err != nil {
		t.Fatal(err)
	}
	bob.await("alice's message", func(ev core.Event) bool {
		m, ok := ev.(core.RoomMessageEvent)
		return ok && m.Message.Nick == "alice" && m.Message.Body == "hi from a"
	})
	alice.await("her message, reflected", foreignFrom("lounge@conference.b.test/alice", "message", "groupchat", `<body>hi from a</body>`))
	if _, err := bob.s.RoomSend(ctx, "lounge", "b1", "hi from b"); err != nil {
		t.Fatal(err)
	}
	alice.await("bob's message", foreignFrom("lounge@conference.b.test/bob", "message", "groupchat", `<body>hi from b</body>`))

	// strangers: another room of b.test's service, and to a session of
	// hers that joined nothing; then the lounge, on the same stream
	g := dialRogue(t, a)
	g.secure("conference.b.test", "a.test")
	if typ := g.dialbackResult("conference.b.test", "a.test", s2s.Key([]byte("secret-b"), "a.test", "conference.b.test", g.id)); typ != "valid" {
		t.Fatalf("the rooms service's own key was answered %q", typ)
	}
	g.send(`<message from='den@conference.b.test/x' to='` + me + `' type='groupchat' id='s1'><body>spam</body></message>`)
	g.send(`<presence from='den@conference.b.test/x' to='` + me + `'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/></x></presence>`)
	g.send(`<message from='lounge@conference.b.test/bob' to='` + phone.s.Address() + `' type='groupchat' id='s2'><body>spam</body></message>`)
	g.send(`<message from='lounge@conference.b.test/bob' to='` + me + `' type='groupchat' id='s3'><body>after the spam</body></message>`)
	after := foreignFrom("lounge@conference.b.test/bob", "message", "groupchat", "after the spam")
	alice.await("the lounge after the spam", func(ev core.Event) bool {
		if st, ok := ev.(core.ForeignStanza); ok && strings.HasPrefix(st.From, "den@") {
			t.Fatalf("a room she is not in reached alice: %+v", st)
		}
		return after(ev)
	})
	for _, ev := range phone.drain() {
		if _, ok := ev.(core.ForeignStanza); ok {
			t.Fatalf("a session that joined nothing got %+v", ev)
		}
	}

	if err := alice.s.ToForeignRoom(core.ForeignStanza{Kind: "presence", Type: "unavailable", To: "lounge@conference.b.test/alice"}); err != nil {
		t.Fatal(err)
	}
	bob.await("alice leaving", func(ev core.Event) bool {
		d, ok := ev.(core.RoomDiff)
		return ok && hasNick(d.Left, "alice")
	})
	gone := alice.await("told she left", foreignFrom("lounge@conference.b.test/alice", "presence", "unavailable", `<status code='110'/>`)).(core.ForeignStanza)
	if !gone.Left || alice.s.InForeignRoom("lounge@conference.b.test") {
		t.Fatalf("after leaving: %+v", gone)
	}
}

// TestRemoteRoomServerGone: while alice is in a room of b.test's, a.test
// watches its rooms service; when b.test's server goes away without a
// word, she is told she left the room (a room's shutdown), and the domain
// is no longer watched.
func TestRemoteRoomServerGone(t *testing.T) {
	a, b, _ := loungeOnB(t)
	alice := a.connect(t, "alice@a.test", &core.Presence{Availability: core.Available})
	if err := alice.s.ToForeignRoom(core.ForeignStanza{Kind: "presence", To: "lounge@conference.b.test/alice", Join: true}); err != nil {
		t.Fatal(err)
	}
	alice.await("her own presence", foreignFrom("lounge@conference.b.test/alice", "presence", "", `<status code='110'/>`))
	if !a.hub.RemoteOnline("conference.b.test") {
		t.Fatal("the rooms service of a room alice is in is not watched")
	}
	b.fed.Close()
	lost := alice.await("told the room is gone", func(ev core.Event) bool {
		st, ok := ev.(core.ForeignStanza)
		return ok && st.Lost
	}).(core.ForeignStanza)
	if lost.From != "lounge@conference.b.test/alice" || lost.Type != "unavailable" || alice.s.InForeignRoom("lounge@conference.b.test") || a.hub.RemoteOnline("conference.b.test") {
		t.Fatalf("after the rooms service went away: %+v", lost)
	}
}
