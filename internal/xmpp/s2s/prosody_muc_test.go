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
// they exchange groupchat messages, and she leaves. Prosody reaches
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
}
