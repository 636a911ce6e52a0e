package server

import (
	"strings"
	"testing"

	"github.com/presenced/presenced/client"
)

// keepLounge connects bob (JSON, dnd "host") and has him make the room
// lounge, with the subject "tea" and one message of history.
func keepLounge(t *testing.T, bob *client.Client) *client.Session {
	t.Helper()
	ctx := tctx(t)
	bws, err := bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	_, err = bws.Request(ctx, "join", map[string]any{"room": "lounge", "nick": "bob", "presence": map[string]any{"availability": "dnd", "status": "host"}})
	must(t, err)
	_, err = bws.Request(ctx, "subject", map[string]any{"room": "lounge", "subject": "tea"})
	must(t, err)
	_, err = bws.Request(ctx, "room_message", map[string]any{"room": "lounge", "body": "before you came"})
	must(t, err)
	return bws
}

// TestJoinRoomOfAnotherDomain: alice's XMPP client on a.test joins a room
// kept by b.test, where bob (a JSON-protocol user of b.test) is: she gets
// its occupants, history and subject, they talk both ways, a refusal of
// the room's reaches her, her presence
// broadcast stays out of the room and her room presence out of her
// contacts' view, and she leaves — by her own presence, and by ending her session. Her
// JSON session on a.test carries on unharmed throughout.
func TestJoinRoomOfAnotherDomain(t *testing.T) {
	a, b := federatedWith(t, true)
	ctx := tctx(t)
	alice, carol := a.account(t, "alice@a.test"), a.account(t, "carol@a.test")
	bob := b.account(t, "bob@b.test")

	// alice's JSON session, and carol, a contact who sees alice
	aws, err := alice.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available", Status: "json"}})
	must(t, err)
	cws, err := carol.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	_, err = carol.SubscriptionAction(ctx, "alice@a.test", "subscribe")
	must(t, err)
	_, err = alice.SubscriptionAction(ctx, "carol@a.test", "approve")
	must(t, err)

	bws := keepLounge(t, bob) // bob keeps the room lounge on b.test

	// alice's XMPP client joins it as it would a room of her own server
	ax, in := xmppFederated(t, a, "alice@a.test/desk")
	must(t, ax.Send(ctx, stanza2IQ(`<presence><status>desk</status></presence>`)))
	must(t, ax.Send(ctx, stanza2IQ(`<presence to='lounge@conference.b.test/alice'><show>away</show><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='5'/></x></presence>`)))
	host := waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.From == "lounge@conference.b.test/bob"
	})
	if host.Show != "dnd" || host.Status != "host" || !strings.Contains(host.Inner, "http://jabber.org/protocol/muc#user") || !strings.Contains(host.Inner, `affiliation="owner"`) {
		t.Fatalf("bob in the room: %+v", host)
	}
	self := waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.From == "lounge@conference.b.test/alice"
	})
	if self.Type != "" || !strings.Contains(self.Inner, `code="110"`) {
		t.Fatalf("alice's own presence in the room: %+v", self)
	}
	hist := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.Body == "before you came" })
	if hist.Type != "groupchat" || hist.From != "lounge@conference.b.test/bob" || !strings.Contains(hist.Inner, "urn:xmpp:delay") {
		t.Fatalf("history: %+v", hist)
	}
	waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "message" && s.From == "lounge@conference.b.test/bob" && strings.Contains(s.Inner, "tea")
	})
	waitRoom(t, bws, "room_diff", func(r roomFrame) bool {
		return len(r.Joined) == 1 && r.Joined[0].Nick == "alice" && r.Joined[0].Availability == "away"
	})

	// groupchat both ways (reflected to its sender as to everyone)
	must(t, ax.Send(ctx, stanza2IQ(`<message to='lounge@conference.b.test' type='groupchat' id='g1'><body>hi from a</body></message>`)))
	waitRoom(t, bws, "room_message", func(r roomFrame) bool { return r.Nick == "alice" && r.Body == "hi from a" })
	echo := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.Body == "hi from a" })
	if echo.ID != "g1" || echo.From != "lounge@conference.b.test/alice" || echo.Type != "groupchat" {
		t.Fatalf("reflection %+v", echo)
	}
	_, err = bws.Request(ctx, "room_message", map[string]any{"room": "lounge", "body": "hi from b"})
	must(t, err)
	m := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.Body == "hi from b" })
	if m.Type != "groupchat" || m.From != "lounge@conference.b.test/bob" {
		t.Fatalf("bob's groupchat: %+v", m)
	}

	// a private message to an occupant leaves as it is and reaches bob
	// through the room (his room_private names her by her nick); his
	// answer reaches her from his occupant address; one to a nick nobody
	// has is refused by b.test's room, and the refusal reaches her
	must(t, ax.Send(ctx, stanza2IQ(`<message to='lounge@conference.b.test/bob' type='chat' id='p1'><body>psst</body></message>`)))
	waitRoom(t, bws, "room_private", func(r roomFrame) bool { return r.Room == "lounge" && r.Nick == "alice" && r.Body == "psst" })
	_, err = bws.Request(ctx, "room_private", map[string]any{"room": "lounge", "nick": "alice", "body": "psst back"})
	must(t, err)
	pm := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.Body == "psst back" })
	if pm.Type != "chat" || pm.From != "lounge@conference.b.test/bob" || !strings.Contains(pm.Inner, "muc#user") {
		t.Fatalf("bob's private answer %+v", pm)
	}
	must(t, ax.Send(ctx, stanza2IQ(`<message to='lounge@conference.b.test/nobody' type='chat' id='p2'><body>psst</body></message>`)))
	pm = waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.ID == "p2" })
	if pm.Type != "error" || pm.From != "lounge@conference.b.test/nobody" || !strings.Contains(pm.Inner, "item-not-found") {
		t.Fatalf("the private message to nobody was answered %+v", pm)
	}

	// her presence broadcast stays out of the room; her room presence
	// stays out of carol's view (each waits for what was sent after)
	must(t, ax.Send(ctx, stanza2IQ(`<presence><show>xa</show><status>broadcast only</status></presence>`)))
	must(t, ax.Send(ctx, stanza2IQ(`<presence to='lounge@conference.b.test/alice'><show>chat</show><status>room only</status></presence>`)))
	must(t, ax.Send(ctx, stanza2IQ(`<presence><status>broadcast again</status></presence>`)))
	waitRoom(t, bws, "room_diff", func(r roomFrame) bool {
		for _, o := range r.Changed {
			if o.Nick == "alice" && o.Status == "broadcast only" {
				t.Fatalf("the room saw alice's broadcast: %+v", r)
			}
		}
		return len(r.Changed) == 1 && r.Changed[0].Status == "room only"
	})
	_, err = cws.WaitFor(ctx, func(f client.Frame) bool {
		if f.Type == "presence" && f.Address == "alice@a.test" && strings.Contains(string(f.Raw), "room only") {
			t.Fatalf("carol saw alice's room presence: %s", f.Raw)
		}
		return f.Type == "presence" && f.Address == "alice@a.test" && strings.Contains(string(f.Raw), "broadcast again")
	})
	must(t, err)

	// she leaves: the room confirms, bob sees her go
	must(t, ax.Send(ctx, stanza2IQ(`<presence to='lounge@conference.b.test/alice' type='unavailable'/>`)))
	gone := waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.From == "lounge@conference.b.test/alice" && s.Type == "unavailable"
	})
	if !strings.Contains(gone.Inner, `code="110"`) {
		t.Fatalf("departure %+v", gone)
	}
	waitRoom(t, bws, "room_diff", func(r roomFrame) bool { return len(r.Left) == 1 && r.Left[0].Nick == "alice" })

	// she joins again and signs out: her server leaves the room for her
	must(t, ax.Send(ctx, stanza2IQ(`<presence to='lounge@conference.b.test/alice'><x xmlns='http://jabber.org/protocol/muc'><history maxchars='0'/></x></presence>`)))
	waitRoom(t, bws, "room_diff", func(r roomFrame) bool { return len(r.Joined) == 1 && r.Joined[0].Nick == "alice" })
	must(t, ax.Close())
	waitRoom(t, bws, "room_diff", func(r roomFrame) bool { return len(r.Left) == 1 && r.Left[0].Nick == "alice" })

	// alice's JSON session was never sent any of it, and carries on
	_, err = bws.Request(ctx, "room_message", map[string]any{"room": "lounge", "body": "nobody from a"})
	must(t, err)
	_, err = cws.Message(ctx, "alice@a.test", "still there?")
	must(t, err)
	_, err = aws.WaitFor(ctx, func(f client.Frame) bool {
		if strings.HasPrefix(f.Type, "room") {
			t.Fatalf("alice's JSON session got %s", f.Raw)
		}
		return f.Type == "message" && f.Body == "still there?"
	})
	must(t, err)
}

// TestJSONJoinsRoomOfAnotherDomain: alice, a JSON-protocol user of a.test
// over a WebSocket, joins the room lounge that b.test keeps by its
// address, as she would a room of her own server: the frames are the room
// frames of rooms here — a room_snapshot with bob, herself, the history and
// the subject, room_message both ways, bob's change as a room_diff, a
// room_subject, and room_left when she leaves. Frames rooms of other
// domains do not take are refused with invalid.
func TestJSONJoinsRoomOfAnotherDomain(t *testing.T) {
	a, b := federatedWith(t, true)
	ctx := tctx(t)
	alice, bob := a.account(t, "alice@a.test"), b.account(t, "bob@b.test")
	bws := keepLounge(t, bob)

	const room = "lounge@conference.b.test"
	aws, err := alice.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available", Status: "json"}})
	must(t, err)
	_, err = aws.Request(ctx, "join", map[string]any{"room": room, "nick": "alice", "history": 5,
		"presence": map[string]any{"availability": "away", "status": "visiting"}})
	must(t, err)
	snap := waitRoom(t, aws, "room_snapshot", nil)
	if snap.Room != room || snap.Self.Nick != "alice" || snap.Self.Availability != "away" || snap.Self.Status != "visiting" || snap.Count != 2 ||
		len(snap.Occupants) != 1 || snap.Occupants[0].Nick != "bob" || snap.Occupants[0].Availability != "dnd" || snap.Occupants[0].Status != "host" ||
		len(snap.History) != 1 || snap.History[0].Body != "before you came" || snap.Subject != "tea" {
		t.Fatalf("snapshot %+v", snap)
	}
	waitRoom(t, bws, "room_diff", func(r roomFrame) bool { return len(r.Joined) == 1 && r.Joined[0].Nick == "alice" })

	_, err = aws.Request(ctx, "room_message", map[string]any{"room": room, "body": "hi from a"})
	must(t, err)
	waitRoom(t, bws, "room_message", func(r roomFrame) bool { return r.Nick == "alice" && r.Body == "hi from a" })
	waitRoom(t, aws, "room_message", func(r roomFrame) bool { return r.Room == room && r.Nick == "alice" && r.Body == "hi from a" })
	_, err = bws.Request(ctx, "room_message", map[string]any{"room": "lounge", "body": "hi from b"})
	must(t, err)
	waitRoom(t, aws, "room_message", func(r roomFrame) bool { return r.Room == room && r.Nick == "bob" && r.Body == "hi from b" })
	_, err = bws.Request(ctx, "join", map[string]any{"room": "lounge", "nick": "bob", "presence": map[string]any{"availability": "away"}})
	must(t, err)
	waitRoom(t, aws, "room_diff", func(r roomFrame) bool {
		return r.Room == room && len(r.Changed) == 1 && r.Changed[0].Nick == "bob" && r.Changed[0].Availability == "away"
	})
	_, err = bws.Request(ctx, "subject", map[string]any{"room": "lounge", "subject": "coffee"})
	must(t, err)
	waitRoom(t, aws, "room_subject", func(r roomFrame) bool { return r.Room == room && r.Subject == "coffee" && r.Nick == "bob" })

	_, err = aws.Request(ctx, "kick", map[string]any{"room": room, "nick": "bob"})
	wantErrCode(t, err, "invalid")
	_, err = aws.Request(ctx, "leave", map[string]any{"room": room})
	must(t, err)
	waitRoom(t, bws, "room_diff", func(r roomFrame) bool { return len(r.Left) == 1 && r.Left[0].Nick == "alice" })
	waitRoom(t, aws, "room_left", func(r roomFrame) bool { return r.Room == room && r.Reason == "left" })
	_, err = aws.Request(ctx, "room_message", map[string]any{"room": room, "body": "after"})
	wantErrCode(t, err, "not_found")
}

// TestInvitationAcrossDomains: XEP-0249 invitations between two complete
// servers. alice (a.test: a JSON session and an XMPP client) and bob
// (b.test, JSON) share presence. bob's invite frame to his room reaches
// alice's JSON session as a room_invite naming the room by its address
// (which she joins by it) and her XMPP client as a XEP-0249 message with
// that jid; her XMPP client's invitation to a room of a.test reaches bob
// as a room_invite of den@conference.a.test.
func TestInvitationAcrossDomains(t *testing.T) {
	a, b := federatedWith(t, true)
	ctx := tctx(t)
	alice, bob := a.account(t, "alice@a.test"), b.account(t, "bob@b.test")
	aws, err := alice.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	bws, err := bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	for _, p := range []struct {
		asker, approver *client.Client
		aws, pws        *client.Session
		askerAddr, addr string
	}{{alice, bob, aws, bws, "alice@a.test", "bob@b.test"}, {bob, alice, bws, aws, "bob@b.test", "alice@a.test"}} {
		_, err = p.asker.SubscriptionAction(ctx, p.addr, "subscribe")
		must(t, err)
		_, err = p.pws.WaitFor(ctx, func(f client.Frame) bool {
			return f.Type == "subscription" && strings.Contains(string(f.Raw), p.askerAddr)
		})
		must(t, err)
		_, err = p.approver.SubscriptionAction(ctx, p.askerAddr, "approve")
		must(t, err)
		_, err = p.aws.WaitFor(ctx, presenceIs(p.addr, "available"))
		must(t, err)
	}
	ax, in := xmppFederated(t, a, "alice@a.test/desk")
	must(t, ax.Send(ctx, stanza2IQ(`<presence/>`)))

	_, err = bws.Request(ctx, "join", map[string]any{"room": "lounge", "nick": "bob"})
	must(t, err)
	_, err = bws.Request(ctx, "invite", map[string]any{"room": "lounge", "to": "alice@a.test", "reason": "come and see"})
	must(t, err)
	inv := waitRoom(t, aws, "room_invite", nil)
	if inv.Room != "lounge@conference.b.test" || !strings.HasPrefix(inv.From, "bob@b.test/") {
		t.Fatalf("alice's room_invite %+v", inv)
	}
	x := waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "message" && strings.Contains(s.Inner, "jabber:x:conference")
	})
	if !strings.HasPrefix(x.From, "bob@b.test/") || !strings.Contains(x.Inner, `jid="lounge@conference.b.test"`) || !strings.Contains(x.Inner, `reason="come and see"`) {
		t.Fatalf("alice's XMPP invitation %+v", x)
	}
	_, err = aws.Request(ctx, "join", map[string]any{"room": inv.Room, "nick": "alice"})
	must(t, err)
	waitRoom(t, aws, "room_snapshot", func(r roomFrame) bool { return r.Room == inv.Room && len(r.Occupants) == 1 })

	must(t, ax.Send(ctx, stanza2IQ(`<presence to='den@conference.a.test/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)))
	waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.From == "den@conference.a.test/alice" && strings.Contains(s.Inner, `code="110"`)
	})
	must(t, ax.Send(ctx, stanza2IQ(`<message to='bob@b.test'><x xmlns='jabber:x:conference' jid='den@conference.a.test' reason='ours'/></message>`)))
	inv = waitRoom(t, bws, "room_invite", nil)
	if inv.Room != "den@conference.a.test" || !strings.HasPrefix(inv.From, "alice@a.test/") || inv.Reason != "ours" {
		t.Fatalf("bob's room_invite %+v", inv)
	}
}
