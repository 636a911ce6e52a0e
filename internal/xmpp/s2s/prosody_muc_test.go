package s2s_test

import (
	"context"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/core"
)

// TestProsodyMUC: alice@localhost, a presenced XMPP session, joins a room
// of Prosody's MUC component (conference.p.test, mod_muc) where carol, a
// client of Prosody's, is: she gets carol's presence and her own (110),
// they exchange groupchat messages, and she leaves. Then a JSON-protocol
// session of hers joins the same room (core/foreignview.go): one snapshot
// with carol, itself, the history and the subject; carol's message, change
// and new subject as a message, a diff and a subject event; its message
// reaches carol; private messages cross both ways; it leaves. Prosody reaches
// presenced as in TestProsodyInterop (its hosts file, port 5269, dialback
// over self-signed certificates: the component inherits mod_dialback and
// mod_tls); presenced reaches the component by a static route.
func TestProsodyMUC(t *testing.T) {
	// rooms are not locked until configured: alice may join carol's new one
	d, dir, pC2S := withProsody(t, prosodyOptions{extra: "Component \"conference.p.test\" \"muc\"\n    muc_room_locking = false\n"}, "conference.p.test")
	alice := d.connect(t, "alice@localhost", &core.Presence{Availability: core.Available})

	ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
	defer cancel()
	send, expect := prosodyClient(t, ctx, dir, pC2S)
	send(`<presence/>`)
	send(`<presence to='lounge@conference.p.test/carol'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	expect("carol in her room", func(s string) bool {
		return strings.HasPrefix(s, "<presence") && strings.Contains(s, "lounge@conference.p.test/carol") && strings.Contains(s, `code="110"`)
	})

	if err := alice.s.ToForeignRoom(core.ForeignStanza{Kind: "presence", To: "lounge@conference.p.test/alice", Join: true,
		Payload: `<x xmlns='http://jabber.org/protocol/muc'/>`}); err != nil {
		t.Fatal(err)
	}
	alice.await("carol's presence in the room", foreignFrom("lounge@conference.p.test/carol", "presence", "", "http://jabber.org/protocol/muc#user"))
	alice.await("her own presence", foreignFrom("lounge@conference.p.test/alice", "presence", "", "110"))
	expect("alice joining", func(s string) bool {
		return strings.HasPrefix(s, "<presence") && strings.Contains(s, "lounge@conference.p.test/alice")
	})

	send(`<message to='lounge@conference.p.test' type='groupchat'><body>hello presenced</body></message>`)
	alice.await("carol's groupchat", foreignFrom("lounge@conference.p.test/carol", "message", "groupchat", "hello presenced"))
	if err := alice.s.ToForeignRoom(core.ForeignStanza{Kind: "message", Type: "groupchat", To: "lounge@conference.p.test", Payload: `<body>hello prosody</body>`}); err != nil {
		t.Fatal(err)
	}
	expect("alice's groupchat", func(s string) bool {
		return strings.Contains(s, "hello prosody") && strings.Contains(s, "lounge@conference.p.test/alice")
	})

	if err := alice.s.ToForeignRoom(core.ForeignStanza{Kind: "presence", Type: "unavailable", To: "lounge@conference.p.test/alice"}); err != nil {
		t.Fatal(err)
	}
	expect("alice leaving", func(s string) bool {
		return strings.Contains(s, "lounge@conference.p.test/alice") && strings.Contains(s, `type="unavailable"`)
	})
	alice.await("told she left", foreignFrom("lounge@conference.p.test/alice", "presence", "unavailable", "110"))
	if alice.s.InForeignRoom("lounge@conference.p.test") {
		t.Fatal("still in the room after Prosody said she left")
	}

	// the same room from a JSON-protocol session: Prosody's answer to its
	// join is one snapshot (carol, herself, the history, the subject)
	const room = "lounge@conference.p.test"
	j := d.connectJSON(t, "alice@localhost", &core.Presence{Availability: core.Available})
	send(`<message to='lounge@conference.p.test' type='groupchat'><subject>interop</subject></message>`)
	expect("the subject set", func(s string) bool { return strings.Contains(s, ">interop</subject>") })
	away := core.Presence{Availability: core.Away, Status: "on json"}
	if err := j.s.Join(ctx, core.JoinOptions{Room: room, Nick: "jay", Presence: &away, History: 10}); err != nil {
		t.Fatal(err)
	}
	snap := j.await("the snapshot", func(ev core.Event) bool { _, ok := ev.(core.RoomSnapshot); return ok }).(core.RoomSnapshot)
	if snap.Room != room || snap.Self.Nick != "jay" || snap.Self.Presence != away || snap.Count != 2 || len(snap.Occupants) != 1 ||
		snap.Occupants[0].Nick != "carol" || snap.Occupants[0].Affiliation != "owner" || snap.Subject != "interop" || snap.SubjectBy != "carol" ||
		!hasBody(snap.History, "hello presenced") || !hasBody(snap.History, "hello prosody") {
		t.Fatalf("snapshot %+v", snap)
	}
	expect("jay joining, away", func(s string) bool {
		return strings.HasPrefix(s, "<presence") && strings.Contains(s, "lounge@conference.p.test/jay") && strings.Contains(s, ">away</show>")
	})
	send(`<message to='lounge@conference.p.test' type='groupchat'><body>hello json</body></message>`)
	j.await("carol's groupchat", func(ev core.Event) bool {
		m, ok := ev.(core.RoomMessageEvent)
		return ok && m.Room == room && m.Message.Nick == "carol" && m.Message.Body == "hello json"
	})
	if _, err := j.s.RoomSend(ctx, room, "j1", "hello from json"); err != nil {
		t.Fatal(err)
	}
	expect("jay's groupchat", func(s string) bool {
		return strings.Contains(s, "hello from json") && strings.Contains(s, "lounge@conference.p.test/jay")
	})
	send(`<presence><show>dnd</show></presence>`)
	send(`<presence to='lounge@conference.p.test/carol'><show>dnd</show></presence>`)
	j.await("carol's change", func(ev core.Event) bool {
		d, ok := ev.(core.RoomDiff)
		return ok && len(d.Changed) == 1 && d.Changed[0].Nick == "carol" && d.Changed[0].Presence.Availability == core.DND
	})
	send(`<message to='lounge@conference.p.test' type='groupchat'><subject>later</subject></message>`)
	j.await("the new subject", func(ev core.Event) bool {
		s, ok := ev.(core.RoomSubjectEvent)
		return ok && s.Subject == "later" && s.Nick == "carol"
	})
	// private messages through Prosody's room, both ways
	if _, err := j.s.RoomPrivate(ctx, room, "carol", "pm1", "psst carol"); err != nil {
		t.Fatal(err)
	}
	expect("jay's private message", func(s string) bool {
		return strings.Contains(s, "psst carol") && strings.Contains(s, "lounge@conference.p.test/jay") && strings.Contains(s, `type="chat"`)
	})
	send(`<message to='lounge@conference.p.test/jay' type='chat'><body>psst jay</body></message>`)
	j.await("carol's private message", func(ev core.Event) bool {
		p, ok := ev.(core.RoomPrivateEvent)
		return ok && p.Room == room && p.Nick == "carol" && p.Body == "psst jay"
	})
	if err := j.s.Leave(ctx, room); err != nil {
		t.Fatal(err)
	}
	expect("jay leaving", func(s string) bool {
		return strings.Contains(s, "lounge@conference.p.test/jay") && strings.Contains(s, `type="unavailable"`)
	})
	j.await("told it left", isLeft(room, core.LeftLeft))
	if j.s.InForeignRoom(room) {
		t.Fatal("the JSON session is still in the room after Prosody said it left")
	}
}

func hasBody(h []core.RoomHistoryItem, body string) bool {
	for _, m := range h {
		if m.Body == body {
			return true
		}
	}
	return false
}
