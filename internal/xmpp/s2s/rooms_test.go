package s2s_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/xmpp/s2s"
)

// routed records what a hub's delivery path hands its router for
// targets of another domain, and passes everything on.
type routed struct {
	next core.Router
	mu   sync.Mutex
	got  []routedEvent
	wake chan struct{}
}

type routedEvent struct {
	ev core.Event
	to core.Target
}

func (r *routed) Route(ev core.Event, to []core.Target) core.Routed {
	r.mu.Lock()
	for _, t := range to {
		if strings.HasSuffix(t.Account, "@b.test") {
			r.got = append(r.got, routedEvent{ev, t})
		}
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return r.next.Route(ev, to)
}

// await returns the first recorded event (since the last await) for which
// ok holds.
func (r *routed) await(t *testing.T, what string, ok func(routedEvent) bool) routedEvent {
	t.Helper()
	deadline := time.After(wait)
	for {
		r.mu.Lock()
		for i, e := range r.got {
			if ok(e) {
				r.got = r.got[i+1:]
				r.mu.Unlock()
				return e
			}
		}
		r.mu.Unlock()
		select {
		case <-r.wake:
		case <-time.After(100 * time.Millisecond): // a poll: wakes can be missed between the check and the wait
		case <-deadline:
			t.Fatalf("waiting for %s", what)
		}
	}
}

// roomDomains are a.test, keeping the rooms, with its room events for
// b.test recorded, and b.test (authoritative for its dialback keys); a
// stream to a.test authenticated as b.test stands for b.test's server
// sending its users' MUC stanzas.
func roomDomains(t *testing.T) (a *domain, rec *routed, g *rogue) {
	a, b := &domain{name: "a.test", ln: listen(t)}, &domain{name: "b.test", ln: listen(t)}
	rec = &routed{wake: make(chan struct{}, 1)}
	a.wrap = func(next core.Router) core.Router { rec.next = next; return rec }
	routes := map[string]string{"a.test": a.ln.Addr().String(), "conference.a.test": a.ln.Addr().String(), "b.test": b.ln.Addr().String()}
	a.start(t, "secret-a", true, routes, "alice@a.test", "carol@a.test")
	b.start(t, "secret-b", true, routes, "bob@b.test", "dave@b.test", "erin@b.test")
	g = dialRogue(t, a)
	g.secure("b.test", "a.test")
	if typ := g.dialbackResult("b.test", "a.test", s2s.Key([]byte("secret-b"), "a.test", "b.test", g.id)); typ != "valid" {
		t.Fatalf("b.test's own key was answered %q", typ)
	}
	return a, rec, g
}

func forOccupant(occupant string, ok func(core.Event) bool) func(routedEvent) bool {
	return func(e routedEvent) bool {
		return e.to.Account+"/"+e.to.Resource == occupant && ok(e.ev)
	}
}

func joined(nick string) func(core.Event) bool {
	return func(ev core.Event) bool {
		d, ok := ev.(core.RoomDiff)
		return ok && d.Room == "lounge" && hasNick(d.Joined, nick)
	}
}

func leftRoom(nick string) func(core.Event) bool {
	return func(ev core.Event) bool {
		d, ok := ev.(core.RoomDiff)
		return ok && d.Room == "lounge" && hasNick(d.Left, nick)
	}
}

func hasNick(os []core.RoomOccupant, nick string) bool {
	for _, o := range os {
		if o.Nick == nick {
			return true
		}
	}
	return false
}

// wire is what a.test's federation sends for a recorded event.
func wire(a *domain, e routedEvent) string {
	var b strings.Builder
	for _, el := range a.fed.StanzasFor(e.ev, e.to) {
		b.WriteString(el.String("jabber:server"))
	}
	return b.String()
}

func mustContain(t *testing.T, what, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Fatalf("%s: %s lacks %s", what, got, w)
		}
	}
}

// TestRemoteUserInRoom: bob of b.test joins a room of a.test over
// federation, sees its occupants and subject, talks with alice there, and
// leaves; alice sees him come, speak and go.
func TestRemoteUserInRoom(t *testing.T) {
	a, rec, g := roomDomains(t)
	alice := a.connect(t, "alice@a.test", &core.Presence{Availability: core.Available})
	if err := alice.s.Join(ctx, core.JoinOptions{Room: "lounge", Nick: "alice", History: -1}); err != nil {
		t.Fatal(err)
	}
	if err := alice.s.SetSubject(ctx, "lounge", "tea"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.s.RoomSend(ctx, "lounge", "h1", "before you came"); err != nil {
		t.Fatal(err)
	}

	g.send(`<presence from='bob@b.test/desk' to='lounge@conference.a.test/bob'><x xmlns='http://jabber.org/protocol/muc'/><status>here</status></presence>`)
	snap := rec.await(t, "bob's snapshot", forOccupant("bob@b.test/desk", func(ev core.Event) bool {
		s, ok := ev.(core.RoomSnapshot)
		return ok && s.Room == "lounge"
	}))
	mustContain(t, "bob's snapshot", wire(a, snap),
		`<presence from='lounge@conference.a.test/alice' to='bob@b.test/desk'`,
		`<presence from='lounge@conference.a.test/bob' to='bob@b.test/desk'`, `<status code='110'/>`,
		`<body>before you came</body>`, `<delay xmlns='urn:xmpp:delay'`,
		`<subject>tea</subject>`)
	alice.await("bob joining", func(ev core.Event) bool {
		d, ok := ev.(core.RoomDiff)
		return ok && hasNick(d.Joined, "bob") && d.Joined[0].Address == "bob@b.test" && d.Joined[0].Presence.Status == "here"
	})

	if _, err := alice.s.RoomSend(ctx, "lounge", "m1", "hello bob"); err != nil {
		t.Fatal(err)
	}
	m := rec.await(t, "alice's message to bob", forOccupant("bob@b.test/desk", func(ev core.Event) bool {
		m, ok := ev.(core.RoomMessageEvent)
		return ok && m.Message.Body == "hello bob"
	}))
	mustContain(t, "alice's message", wire(a, m), `<message from='lounge@conference.a.test/alice' to='bob@b.test/desk' type='groupchat' id='m1'><body>hello bob</body></message>`)

	g.send(`<message from='bob@b.test/desk' to='lounge@conference.a.test' type='groupchat' id='b1'><body>hi alice</body></message>`)
	alice.await("bob's message", func(ev core.Event) bool {
		m, ok := ev.(core.RoomMessageEvent)
		return ok && m.Message.Nick == "bob" && m.Message.Body == "hi alice"
	})
	echo := rec.await(t, "bob's own message, echoed", forOccupant("bob@b.test/desk", func(ev core.Event) bool {
		m, ok := ev.(core.RoomMessageEvent)
		return ok && m.Message.Body == "hi alice"
	}))
	mustContain(t, "bob's echo", wire(a, echo), `from='lounge@conference.a.test/bob'`)

	g.send(`<presence from='bob@b.test/desk' to='lounge@conference.a.test/bob' type='unavailable'/>`)
	alice.await("bob leaving", leftRoom("bob"))
	left := rec.await(t, "bob told he left", forOccupant("bob@b.test/desk", func(ev core.Event) bool {
		_, ok := ev.(core.RoomLeft)
		return ok
	}))
	mustContain(t, "bob's departure", wire(a, left), `<presence from='lounge@conference.a.test/bob' to='bob@b.test/desk' type='unavailable'`, `<status code='110'/>`)

	// gone from the room: what he sends to it is refused, not fanned out;
	// his join afterwards is (stanzas of a stream are taken in order)
	g.send(`<message from='bob@b.test/desk' to='lounge@conference.a.test' type='groupchat' id='b2'><body>ghost</body></message>`)
	g.send(`<presence from='bob@b.test/desk' to='lounge@conference.a.test/bob'/>`)
	alice.await("bob back", joined("bob"))
	for _, ev := range alice.seen {
		if m, ok := ev.(core.RoomMessageEvent); ok && m.Message.Body == "ghost" {
			t.Fatal("a message of someone out of the room reached it")
		}
	}
}

// TestRemoteUserRoomRules: a members-only room refuses a user of another
// domain it does not name (TestRemoteAffiliations names one), rooms are
// not created by them, a moderator kicks them, and a user whose domain is lost leaves
// the rooms.
func TestRemoteUserRoomRules(t *testing.T) {
	a, _, g := roomDomains(t)
	alice := a.connect(t, "alice@a.test", &core.Presence{Availability: core.Available})
	for _, room := range []string{"lounge", "hall"} {
		if err := alice.s.Join(ctx, core.JoinOptions{Room: room, Nick: "alice"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := alice.s.SetRoomMode(ctx, "lounge", store.RoomMembers); err != nil {
		t.Fatal(err)
	}
	// bob is refused the members-only lounge, and the attic, which does
	// not exist, is not created; erin joins the open hall after them on
	// the same stream: when she is seen there, they were decided
	g.send(`<presence from='bob@b.test/x' to='lounge@conference.a.test/bob'/>`)
	g.send(`<presence from='bob@b.test/x' to='attic@conference.a.test/bob'/>`)
	g.send(`<presence from='erin@b.test/x' to='hall@conference.a.test/erin'/>`)
	alice.await("erin joining the hall", func(ev core.Event) bool {
		d, ok := ev.(core.RoomDiff)
		return ok && d.Room == "hall" && hasNick(d.Joined, "erin")
	})
	for _, ev := range alice.seen {
		if d, ok := ev.(core.RoomDiff); ok && hasNick(d.Joined, "bob") {
			t.Fatalf("bob joined a members-only room: %+v", d)
		}
	}
	carol := a.connect(t, "carol@a.test", &core.Presence{Availability: core.Available})
	if err := carol.s.Join(ctx, core.JoinOptions{Room: "attic", Nick: "carol"}); err != nil {
		t.Fatal(err)
	}
	if s := carol.await("carol's snapshot of the attic", func(ev core.Event) bool { _, ok := ev.(core.RoomSnapshot); return ok }).(core.RoomSnapshot); !s.Created || len(s.Occupants) != 0 {
		t.Fatalf("the attic existed or had occupants: %+v", s)
	}

	if err := alice.s.Kick(ctx, "hall", "erin", "out"); err != nil {
		t.Fatal(err)
	}
	alice.await("erin kicked", func(ev core.Event) bool {
		d, ok := ev.(core.RoomDiff)
		return ok && d.Room == "hall" && hasNick(d.Left, "erin")
	})
	g.send(`<presence from='erin@b.test/x' to='hall@conference.a.test/erin'/>`)
	alice.await("erin back", func(ev core.Event) bool {
		d, ok := ev.(core.RoomDiff)
		return ok && d.Room == "hall" && hasNick(d.Joined, "erin")
	})
	a.hub.RemoteDomainGone("b.test")
	alice.await("erin gone with her domain", func(ev core.Event) bool {
		d, ok := ev.(core.RoomDiff)
		return ok && d.Room == "hall" && hasNick(d.Left, "erin")
	})
}

// TestRemoteAffiliations: a.test's rooms name users of b.test as they
// name local ones. alice bans bob, a remote occupant, by address: he is
// removed at once (301) and cannot join again from any resource; the
// lounge made members-only refuses dave until alice makes him a member,
// then admits him; erin, of b.test, named admin, bans dave with a
// muc#admin iq over federation, which is run as her occupant; a user of
// b.test in no room, and an admin over the owner, are refused.
func TestRemoteAffiliations(t *testing.T) {
	a, rec, g := roomDomains(t)
	alice := a.connect(t, "alice@a.test", &core.Presence{Availability: core.Available})
	if err := alice.s.Join(ctx, core.JoinOptions{Room: "lounge", Nick: "alice"}); err != nil {
		t.Fatal(err)
	}
	g.send(`<presence from='bob@b.test/desk' to='lounge@conference.a.test/bob'/>`)
	alice.await("bob joining", joined("bob"))
	if err := alice.s.Ban(ctx, "lounge", core.RoomWho{Address: "bob@b.test"}, "spam"); err != nil {
		t.Fatal(err)
	}
	banned := rec.await(t, "bob told he is banned", forOccupant("bob@b.test/desk", func(ev core.Event) bool {
		l, ok := ev.(core.RoomLeft)
		return ok && l.Reason == core.LeftBanned
	}))
	mustContain(t, "bob's ban", wire(a, banned), `<presence from='lounge@conference.a.test/bob' to='bob@b.test/desk' type='unavailable'`,
		`<status code='301'/>`, `<reason>spam</reason>`)
	alice.await("bob removed", leftRoom("bob"))

	// his joins are refused; erin's after them on the same stream says
	// when they were decided
	g.send(`<presence from='bob@b.test/desk' to='lounge@conference.a.test/bob'/>`)
	g.send(`<presence from='bob@b.test/phone' to='lounge@conference.a.test/bobby'/>`)
	g.send(`<presence from='erin@b.test/x' to='lounge@conference.a.test/erin'/>`)
	alice.await("erin joining", joined("erin"))
	noJoin := func(nick string) {
		t.Helper()
		for _, ev := range alice.seen {
			if d, ok := ev.(core.RoomDiff); ok && hasNick(d.Joined, nick) {
				t.Fatalf("%s joined: %+v", nick, d)
			}
		}
	}
	noJoin("bob")
	noJoin("bobby")

	// erin is made an admin, the lounge members-only: dave is refused
	// (erin's change of presence after his join marks it decided), then
	// named a member and admitted
	if err := alice.s.SetAffiliation(ctx, "lounge", core.RoomWho{Nick: "erin"}, store.AffAdmin, ""); err != nil {
		t.Fatal(err)
	}
	if err := alice.s.SetRoomMode(ctx, "lounge", store.RoomMembers); err != nil {
		t.Fatal(err)
	}
	mark := func(status string) {
		t.Helper()
		g.send(`<presence from='erin@b.test/x' to='lounge@conference.a.test/erin'><status>` + status + `</status></presence>`)
		alice.await("erin's "+status, func(ev core.Event) bool {
			d, ok := ev.(core.RoomDiff)
			return ok && len(d.Changed) > 0 && d.Changed[len(d.Changed)-1].Nick == "erin" && d.Changed[len(d.Changed)-1].Presence.Status == status
		})
	}
	g.send(`<presence from='dave@b.test/y' to='lounge@conference.a.test/dave'/>`)
	mark("one")
	noJoin("dave")
	if err := alice.s.SetAffiliation(ctx, "lounge", core.RoomWho{Address: "dave@b.test"}, store.AffMember, ""); err != nil {
		t.Fatal(err)
	}
	g.send(`<presence from='dave@b.test/y' to='lounge@conference.a.test/dave'/>`)
	alice.await("dave, a member, joining", joined("dave"))
	rec.await(t, "dave's snapshot", forOccupant("dave@b.test/y", func(ev core.Event) bool { _, ok := ev.(core.RoomSnapshot); return ok }))

	// refused: dave@b.test/z is in no room, erin may not ban the owner
	g.send(`<iq type='set' id='x1' from='dave@b.test/z' to='lounge@conference.a.test'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='none' jid='bob@b.test'/></query></iq>`)
	g.send(`<iq type='set' id='x2' from='erin@b.test/x' to='lounge@conference.a.test'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast' jid='alice@a.test'/></query></iq>`)
	// erin bans dave: removed at once, by her
	g.send(`<iq type='set' id='x3' from='erin@b.test/x' to='lounge@conference.a.test'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast' jid='dave@b.test/y'><reason>enough</reason></item></query></iq>`)
	out := rec.await(t, "dave told he is banned", forOccupant("dave@b.test/y", func(ev core.Event) bool {
		l, ok := ev.(core.RoomLeft)
		return ok && l.Reason == core.LeftBanned && l.By == "erin"
	}))
	mustContain(t, "dave's ban", wire(a, out), `<status code='301'/>`, `<reason>enough</reason>`)
	alice.await("dave removed", leftRoom("dave"))
	if l, err := alice.s.Affiliated(ctx, "lounge", store.AffOutcast); err != nil || strings.Join(l, ",") != "bob@b.test,dave@b.test" {
		t.Fatalf("outcasts %v %v", l, err)
	}
	if l, err := alice.s.Affiliated(ctx, "lounge", store.AffAdmin); err != nil || strings.Join(l, ",") != "erin@b.test" {
		t.Fatalf("admins %v %v", l, err)
	}
}

// TestRemotePrivateMessages: private messages through a room here
// (XEP-0045 § 7.5) between bob, an occupant of b.test, and alice, a local
// one: bob's chat to lounge@conference.a.test/alice reaches her named by
// his nick; hers to his nick leaves as a chat from her occupant address;
// one from dave, of b.test but in no room here, and one to a nick nobody
// has reach nobody.
func TestRemotePrivateMessages(t *testing.T) {
	a, rec, g := roomDomains(t)
	alice := a.connect(t, "alice@a.test", &core.Presence{Availability: core.Available})
	if err := alice.s.Join(ctx, core.JoinOptions{Room: "lounge", Nick: "alice", History: -1}); err != nil {
		t.Fatal(err)
	}
	g.send(`<presence from='bob@b.test/desk' to='lounge@conference.a.test/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)
	alice.await("bob joining", func(ev core.Event) bool { d, ok := ev.(core.RoomDiff); return ok && hasNick(d.Joined, "bob") })

	g.send(`<message from='dave@b.test/x' to='lounge@conference.a.test/alice' type='chat' id='d1'><body>not in the room</body></message>`)
	g.send(`<message from='bob@b.test/desk' to='lounge@conference.a.test/nobody' type='chat' id='p0'><body>to nobody</body></message>`)
	g.send(`<message from='bob@b.test/desk' to='lounge@conference.a.test/alice' type='chat' id='p1'><body>psst</body></message>`)
	alice.await("bob's private message", func(ev core.Event) bool {
		p, ok := ev.(core.RoomPrivateEvent)
		if ok && p.Body != "psst" {
			t.Fatalf("alice got %+v", p)
		}
		return ok && p.Room == "lounge" && p.Nick == "bob" && p.ID == "p1"
	})

	if n, err := alice.s.RoomPrivate(ctx, "lounge", "bob", "p2", "psst back"); err != nil || n != 1 {
		t.Fatalf("alice's private message: %d, %v", n, err)
	}
	p := rec.await(t, "alice's private message to bob", forOccupant("bob@b.test/desk", func(ev core.Event) bool {
		p, ok := ev.(core.RoomPrivateEvent)
		return ok && p.Body == "psst back"
	}))
	mustContain(t, "alice's private message", wire(a, p),
		`<message from='lounge@conference.a.test/alice' to='bob@b.test/desk' type='chat' id='p2'><body>psst back</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>`)
	if _, err := alice.s.RoomPrivate(ctx, "lounge", "nobody", "p3", "x"); core.CodeOf(err) != core.CodeNotFound {
		t.Fatalf("to a nick nobody has: %v", err)
	}
}
