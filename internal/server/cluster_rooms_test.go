package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/store/postgres/pgtest"
)

// TestClusterRoomAdminOnPostgres: three servers on one PostgreSQL and
// one NATS; the room hall is kept by node one. Its owner, alice,
// administers it from a JSON session on node two and an XMPP client on
// node three: she names dave a member and bans carol, an occupant on
// node three (removed at once), from JSON; lists the members and bans,
// makes the room members-only (bob, on two, leaves it) and names bob a
// member with muc#admin and muc#owner iqs over XMPP; invites erin, on
// node one, from JSON. bob, no admin, on two, is refused room_config
// exactly as dave is on the home. Skipped unless PRESENCED_TEST_POSTGRES
// is set.
func TestClusterRoomAdminOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	url := embeddedNATS(t).ClientURL()
	node := func(c *config.Config) { c.Store, c.NATS, c.XMPPAddr = dsn, []string{url}, "127.0.0.1:0" }
	one, two, three := startServer(t, node), startServer(t, node), startServer(t, node)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	pgAccounts(t, ctx, dsn, "alice", "bob", "carol", "dave", "erin")
	login := func(local string) *client.Client {
		c, err := client.Login(ctx, one.URL, local+"@localhost", "password-"+local)
		must(t, err)
		return c
	}
	alice, erin := login("alice"), login("erin")
	befriend(t, ctx, alice, erin, "alice@localhost", "erin@localhost")
	connect := func(ts *testServer, local string) *client.Session {
		c, err := client.Login(ctx, ts.URL, local+"@localhost", "password-"+local)
		must(t, err)
		s, err := c.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
		must(t, err)
		return s
	}
	join := func(s *client.Session, nick string) {
		t.Helper()
		_, err := s.Request(ctx, "join", map[string]any{"room": "hall", "nick": nick})
		must(t, err)
		waitRoom(t, s, "room_snapshot", func(r roomFrame) bool { return r.Room == "hall" })
	}

	first := connect(one, "alice") // the room's home is one
	join(first, "al1")
	_, err := first.Request(ctx, "leave", map[string]any{"room": "hall"})
	must(t, err)
	aliceJS := connect(two, "alice")
	join(aliceJS, "al")
	ax, in := xmppClient(t, three, "alice")
	must(t, ax.Send(ctx, stanza2IQ(`<presence to='hall@conference.localhost/alx'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)))
	if self := waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.From == "hall@conference.localhost/alx"
	}); !strings.Contains(self.Inner, `code="110"`) || !strings.Contains(self.Inner, `affiliation="owner"`) {
		t.Fatalf("alice's XMPP join on three %+v", self)
	}
	bob, carol, dave := connect(two, "bob"), connect(three, "carol"), connect(one, "dave")
	join(bob, "bob")
	join(carol, "carol")
	join(dave, "dave")

	// no admin: the same refusal on two as on the home
	_, there := bob.Request(ctx, "room_config", map[string]any{"room": "hall", "mode": "members"})
	_, here := dave.Request(ctx, "room_config", map[string]any{"room": "hall", "mode": "members"})
	var ce1, ce2 *client.Error
	if !errors.As(there, &ce1) || !errors.As(here, &ce2) || ce1.Code != "forbidden" || *ce1 != *ce2 {
		t.Fatalf("room_config by a participant: on two %v, on the home %v", there, here)
	}

	// JSON, on two: a member, and a ban of carol, on three
	_, err = aliceJS.Request(ctx, "affiliation", map[string]any{"room": "hall", "address": "dave@localhost", "affiliation": "member"})
	must(t, err)
	_, err = aliceJS.Request(ctx, "ban", map[string]any{"room": "hall", "nick": "carol", "reason": "spam"})
	must(t, err)
	if l := waitRoom(t, carol, "room_left", nil); l.Room != "hall" || l.Reason != "banned" || l.By != "al" {
		t.Fatalf("carol told %+v", l)
	}
	_, err = carol.Request(ctx, "join", map[string]any{"room": "hall", "nick": "carol"})
	wantErrCode(t, err, "forbidden")

	// XMPP, on three: the lists, the owner's form, a member
	if l := sendIQ(t, ctx, ax, `<iq type='get' id='l1' to='hall@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query></iq>`); l.Type != "result" || !strings.Contains(l.Inner, `jid="dave@localhost"`) {
		t.Fatalf("members, listed on three %+v", l)
	}
	if l := sendIQ(t, ctx, ax, `<iq type='get' id='l2' to='hall@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast'/></query></iq>`); l.Type != "result" || !strings.Contains(l.Inner, `jid="carol@localhost"`) {
		t.Fatalf("bans, listed on three %+v", l)
	}
	if r := sendIQ(t, ctx, ax, `<iq type='set' id='o1' to='hall@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_membersonly'><value>1</value></field></x></query></iq>`); r.Type != "result" {
		t.Fatalf("members-only from three %+v", r)
	}
	if l := waitRoom(t, bob, "room_left", nil); l.Room != "hall" || l.Reason != "membership" {
		t.Fatalf("bob told %+v", l)
	}
	_, err = bob.Request(ctx, "join", map[string]any{"room": "hall", "nick": "bob"})
	wantErrCode(t, err, "forbidden")
	if r := sendIQ(t, ctx, ax, `<iq type='set' id='a1' to='hall@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='bob@localhost'/></query></iq>`); r.Type != "result" {
		t.Fatalf("a member named from three %+v", r)
	}
	join(bob, "bob")

	// an invitation from two to erin, on one
	es := connect(one, "erin")
	deadline := time.Now().Add(time.Minute)
	for !two.Cluster.Holds("erin@localhost") {
		if time.Now().After(deadline) {
			t.Fatal("node two never learnt that one holds erin")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, err = aliceJS.Request(ctx, "invite", map[string]any{"room": "hall", "to": "erin@localhost", "reason": "come"})
	must(t, err)
	if inv := waitRoom(t, es, "room_invite", nil); inv.Room != "hall" || !strings.HasPrefix(inv.From, "alice@localhost/") || inv.Reason != "come" {
		t.Fatalf("erin's invitation %+v", inv)
	}
	join(es, "erin") // the invitation made her a member of the members-only room
}
