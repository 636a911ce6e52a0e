package core

import (
	"strconv"
	"strings"
	"testing"
)

// TestAllowForeignRoomEveryCase checks the rule of rooms of other domains
// on every combination of channel × block × joined × flow against an
// independent statement of it.
func TestAllowForeignRoomEveryCase(t *testing.T) {
	n := 0
	for _, ch := range []Channel{{}, {App: "app1", Scopes: ScopesOf([]string{ScopeRooms, ScopeMessage, ScopePresencePublish})}} {
		for _, blocked := range []bool{false, true} {
			for _, joined := range []bool{false, true} {
				for _, fl := range []ForeignFlow{ForeignJoin, ForeignSend, ForeignReceive} {
					n++
					f := ForeignRoomFacts{Channel: ch, Blocked: blocked, Joined: joined}
					// the user's own client, a room it does not block, and
					// for anything but a join, a room it is in
					want := ch.App == "" && !blocked && (fl == ForeignJoin || joined)
					if got := AllowForeignRoom(f, fl); got != want {
						t.Errorf("AllowForeignRoom(%+v, %d) = %v, want %v", f, fl, got, want)
					}
				}
			}
		}
	}
	if n != 2*2*2*3 {
		t.Fatalf("covered %d cases", n)
	}
}

// sentForeign is an event sent to another domain, with its target.
type sentForeign struct {
	ev Event
	to Target
}

// takeForeign is what rec sent to other domains since the last take.
func takeForeign(rec *remoteRecorder) []sentForeign {
	evs, to := rec.takeTo()
	out := make([]sentForeign, len(evs))
	for i := range evs {
		out[i] = sentForeign{evs[i], to[i]}
	}
	return out
}

func foreignStanzas(evs []Event) []ForeignStanza { return eventsOf[ForeignStanza](evs) }

const lounge = "lounge@conference.b.test"

// TestForeignRoomSession: a session joins a room of another domain by its
// own presence there, gets the room's stanzas (and no other session
// does), sends it messages, private messages and iqs; stanzas from rooms
// it did not join, left, was refused by or blocks are not taken; its
// presence broadcast never reaches the room; it leaves its rooms when it
// goes unavailable or ends, and is told it left when the room's server is
// gone.
func TestForeignRoomSession(t *testing.T) {
	e, rec := fedEnv(t)
	h := e.hub
	xmpp := SessionOptions{Device: "t", Presence: avail, Payloads: true, Resource: "desk"}
	alice := e.open("alice@a.test", xmpp)
	xmpp.Resource = "phone"
	phone := e.open("alice@a.test", xmpp)
	carol := e.connect("carol@a.test", avail) // a JSON session: no payloads
	me := alice.s.Address()
	from := func(nick, kind, typ, payload string) ForeignStanza {
		f := lounge
		if nick != "" {
			f += "/" + nick
		}
		return ForeignStanza{Kind: kind, Type: typ, From: f, To: me, Payload: payload}
	}

	// before joining: the room's traffic is a stranger's, and the
	// session's messages to it are no room's business
	if err := h.FromForeignRoom(ctx, from("bob", StanzaMessage, "groupchat", "<body>spam</body>")); !IsNotForeign(err) {
		t.Fatalf("unsolicited groupchat: %v", err)
	}
	if err := alice.s.ToForeignRoom(ForeignStanza{Kind: StanzaMessage, Type: "groupchat", To: lounge, Payload: "<body>x</body>"}); !IsNotForeign(err) {
		t.Fatalf("a groupchat to a room not joined: %v", err)
	}
	if err := alice.s.ToForeignRoom(ForeignStanza{Kind: StanzaPresence, To: lounge + "/alice"}); !IsNotForeign(err) {
		t.Fatalf("presence without the muc x to a room not joined: %v", err) // ordinary directed presence
	}
	if err := carol.s.ToForeignRoom(ForeignStanza{Kind: StanzaPresence, To: lounge + "/carol", Join: true}); CodeOf(err) != CodeInvalid {
		t.Fatalf("a JSON session's join: %v", err)
	}
	if err := alice.s.ToForeignRoom(ForeignStanza{Kind: StanzaPresence, To: "bob@a.test/x", Join: true}); !IsNotForeign(err) {
		t.Fatalf("a join to a local address: %v", err)
	}
	if got := foreignStanzas(alice.take()); len(got) != 0 {
		t.Fatalf("alice got %+v", got)
	}
	takeForeign(rec)

	// the join leaves as it came, from the session
	e.must(alice.s.ToForeignRoom(ForeignStanza{Kind: StanzaPresence, To: lounge + "/alice", Join: true, Payload: "<x xmlns='http://jabber.org/protocol/muc'/>"}))
	sent := takeForeign(rec)
	if len(sent) != 1 || sent[0].to != (Target{Account: lounge, Resource: "alice"}) {
		t.Fatalf("join sent as %+v", sent)
	}
	if j := sent[0].ev.(ForeignStanza); j.From != me || !j.Join || j.Payload == "" {
		t.Fatalf("join %+v", j)
	}
	if !alice.s.InForeignRoom(lounge) || phone.s.InForeignRoom(lounge) || !h.RemoteOnline("conference.b.test") {
		t.Fatal("the join is not remembered for the session alone")
	}

	// the room's stanzas reach that session only
	for _, st := range []ForeignStanza{
		from("bob", StanzaPresence, "", "<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/></x>"),
		from("alice", StanzaPresence, "", "<x xmlns='http://jabber.org/protocol/muc#user'><status code='110'/></x>"),
		from("bob", StanzaMessage, "groupchat", "<body>hello alice</body>"),
		from("", StanzaMessage, "groupchat", "<subject>tea</subject>"),
		from("bob", StanzaMessage, "chat", "<body>psst</body>"),
	} {
		e.must(h.FromForeignRoom(ctx, st))
	}
	if got := foreignStanzas(alice.take()); len(got) != 5 || got[2].Payload != "<body>hello alice</body>" || got[2].To != me {
		t.Fatalf("alice got %+v", got)
	}
	if got := foreignStanzas(append(phone.take(), carol.take()...)); len(got) != 0 {
		t.Fatalf("another session got %+v", got)
	}
	// another room of the same service, and the same room to another
	// session of the user, are strangers
	den := from("x", StanzaMessage, "groupchat", "<body>spam</body>")
	den.From = "den@conference.b.test/x"
	toPhone := from("bob", StanzaMessage, "groupchat", "<body>spam</body>")
	toPhone.To = phone.s.Address()
	for _, st := range []ForeignStanza{den, toPhone} {
		if err := h.FromForeignRoom(ctx, st); !IsNotForeign(err) {
			t.Fatalf("%+v was taken: %v", st, err)
		}
	}
	if got := foreignStanzas(append(alice.take(), phone.take()...)); len(got) != 0 {
		t.Fatalf("a stranger's stanza was delivered: %+v", got)
	}

	// messages, a private message, an invitation and an iq go out; the
	// iq's answer, from an occupant, reaches the session
	for _, st := range []ForeignStanza{
		{Kind: StanzaMessage, Type: "groupchat", ID: "g1", To: lounge, Payload: "<body>hi all</body>"},
		{Kind: StanzaMessage, Type: "chat", To: lounge + "/bob", Payload: "<body>psst back</body>"},
		{Kind: StanzaMessage, To: lounge, Payload: "<x xmlns='http://jabber.org/protocol/muc#user'><invite to='dave@b.test'/></x>"},
		{Kind: StanzaIQ, Type: "get", ID: "v1", To: lounge + "/bob", Payload: "<query xmlns='jabber:iq:version'/>"},
	} {
		e.must(alice.s.ToForeignRoom(st))
	}
	if sent := takeForeign(rec); len(sent) != 4 || sent[1].to.Resource != "bob" || sent[0].ev.(ForeignStanza).ID != "g1" {
		t.Fatalf("sent %+v", sent)
	}
	if err := alice.s.ToForeignRoom(ForeignStanza{Kind: StanzaMessage, Type: "groupchat", To: lounge, Payload: strings.Repeat("x", MaxPayload+1)}); CodeOf(err) != CodeInvalid {
		t.Fatalf("an oversized message: %v", err)
	}
	if _, err := h.RemoteMessage(ctx, Message{ID: "v1", Kind: KindIQ, Type: "result", From: lounge + "/bob", To: me, Payload: "<query xmlns='jabber:iq:version'/>"}); err != nil {
		t.Fatalf("the iq's answer: %v", err)
	}
	if got := messagesIn(alice.take()); len(got) != 1 || got[0].ID != "v1" {
		t.Fatalf("answer %+v", got)
	}

	// the session's own presence broadcast and messages to contacts never
	// go to the room
	e.must(alice.s.SetPresence(Presence{Availability: Away, Status: "lunch"}))
	for _, s := range takeForeign(rec) {
		if strings.HasPrefix(s.to.Account, "lounge@") {
			t.Fatalf("a presence broadcast reached the room: %+v", s)
		}
	}

	// a nickname change keeps the session in; its own 110 departure takes
	// it out, and the room is a stranger again
	e.must(alice.s.ToForeignRoom(ForeignStanza{Kind: StanzaPresence, To: lounge + "/alice2"}))
	rename := from("alice", StanzaPresence, "unavailable", "<x xmlns='http://jabber.org/protocol/muc#user'><status code='303'/><status code='110'/></x>")
	e.must(h.FromForeignRoom(ctx, rename))
	e.must(h.FromForeignRoom(ctx, from("alice2", StanzaPresence, "", "")))
	kicked := from("alice2", StanzaPresence, "unavailable", "<x xmlns='http://jabber.org/protocol/muc#user'><status code='307'/><status code='110'/></x>")
	kicked.Left = true
	e.must(h.FromForeignRoom(ctx, kicked))
	if err := h.FromForeignRoom(ctx, from("bob", StanzaMessage, "groupchat", "<body>after</body>")); !IsNotForeign(err) || alice.s.InForeignRoom(lounge) {
		t.Fatalf("after the kick: %v", err)
	}
	if got := foreignStanzas(alice.take()); len(got) != 3 || !got[2].Left {
		t.Fatalf("alice got %+v", got)
	}

	// a refused join leaves the session out
	e.must(alice.s.ToForeignRoom(ForeignStanza{Kind: StanzaPresence, To: lounge + "/bob", Join: true}))
	e.must(h.FromForeignRoom(ctx, from("bob", StanzaPresence, "error", "<error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>")))
	if alice.s.InForeignRoom(lounge) {
		t.Fatal("still in the room after its refusal")
	}

	// a room the user blocks: no join, nothing taken from it
	e.must(h.Block(ctx, "alice@a.test", "spam@conference.b.test"))
	if err := alice.s.ToForeignRoom(ForeignStanza{Kind: StanzaPresence, To: "spam@conference.b.test/alice", Join: true}); CodeOf(err) != CodeUnavailable {
		t.Fatalf("a join to a blocked room: %v", err)
	}

	// going unavailable leaves the rooms, and their confirmations still
	// come; ending the session leaves the others
	e.must(alice.s.ToForeignRoom(ForeignStanza{Kind: StanzaPresence, To: lounge + "/alice", Join: true}))
	e.must(alice.s.ToForeignRoom(ForeignStanza{Kind: StanzaPresence, To: "den@conference.b.test/al", Join: true}))
	takeForeign(rec)
	alice.s.Unavailable()
	if sent := takeForeign(rec); len(sent) != 2 || sent[0].ev.(ForeignStanza).Type != "unavailable" || sent[1].ev.(ForeignStanza).Type != "unavailable" {
		t.Fatalf("going unavailable sent %+v", sent)
	}
	bye := from("alice", StanzaPresence, "unavailable", "<x xmlns='http://jabber.org/protocol/muc#user'><status code='110'/></x>")
	bye.Left = true
	e.must(h.FromForeignRoom(ctx, bye))
	e.must(alice.s.ToForeignRoom(ForeignStanza{Kind: StanzaPresence, To: "den@conference.b.test/al"})) // back in den
	takeForeign(rec)
	alice.s.Close()
	sent = takeForeign(rec)
	if len(sent) != 1 || sent[0].to != (Target{Account: "den@conference.b.test", Resource: "al"}) || sent[0].ev.(ForeignStanza).Type != "unavailable" {
		t.Fatalf("ending sent %+v", sent)
	}
	if h.RemoteOnline("conference.b.test") {
		t.Fatal("the domain is still watched for a session that ended")
	}

	// the room's server is lost: the session is told it left
	e.must(phone.s.ToForeignRoom(ForeignStanza{Kind: StanzaPresence, To: lounge + "/al", Join: true}))
	h.RemoteDomainGone("conference.b.test")
	got := foreignStanzas(phone.take())
	if len(got) != 1 || !got[0].Lost || got[0].From != lounge+"/al" || phone.s.InForeignRoom(lounge) || h.RemoteOnline("conference.b.test") {
		t.Fatalf("after the domain is gone: %+v", got)
	}
}

// TestForeignRoomLimit: a session is in at most RoomsPerSession rooms of
// other domains; one it left without confirmation makes way for a new one.
func TestForeignRoomLimit(t *testing.T) {
	e, _ := fedEnv(t)
	alice := e.open("alice@a.test", SessionOptions{Device: "t", Presence: avail, Payloads: true})
	join := func(i int) error {
		return alice.s.ToForeignRoom(ForeignStanza{Kind: StanzaPresence, To: "r" + strconv.Itoa(i) + "@conference.b.test/a", Join: true})
	}
	lim := e.hub.roomLimits().RoomsPerSession
	for i := 0; i < lim; i++ {
		e.must(join(i))
	}
	if err := join(lim); CodeOf(err) != CodeLimit {
		t.Fatalf("one room too many: %v", err)
	}
	e.must(alice.s.ToForeignRoom(ForeignStanza{Kind: StanzaPresence, Type: "unavailable", To: "r0@conference.b.test/a"}))
	e.must(join(lim))
}
