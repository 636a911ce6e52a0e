package cluster

import (
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
)

// roomLeft matches the departure from room, for reason, of the session told.
func roomLeft(room, reason string) func(core.Event) bool {
	return func(ev core.Event) bool {
		l, ok := ev.(core.RoomLeft)
		return ok && l.Room == room && l.Reason == reason
	}
}

// sameRefusal: err, answered by the room's home over the bus, is the
// error a session on the home is given for the same thing.
func sameRefusal(t *testing.T, what string, there, here error) {
	t.Helper()
	if there == nil || here == nil || there.Error() != here.Error() || core.CodeOf(there) != core.CodeOf(here) {
		t.Fatalf("%s: from another node %v, on the home %v", what, there, here)
	}
	if core.CodeOf(here) == core.CodeInternal {
		t.Fatalf("%s: untyped %v", what, here)
	}
}

// TestRoomAdminAcrossNodes: the room hall is kept by node a; its owner,
// alice, administers it from a session on node b: she names dave a member
// and lists the members, bans carol, who sits on node c (removed at once,
// and refused when she joins again), makes the room members-only (bob, on
// b, and erin, on the home, leave it; bob's join again is refused as
// members-only), and invites frank, on c, who becomes a member and joins.
// bob and erin, no admins, asking the same on b and on a get the same
// refusals. When a dies, alice's next steps on b (b is told to notice
// late) answer unavailable, without hanging (the first within the bus's
// send timeout, the next at once once NATS saw a's connection go); frank,
// on c, which notices soon, is told he left.
func TestRoomAdminAcrossNodes(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "bob@x", "carol@x", "dave@x", "erin@x", "frank@x")
	d.befriend("alice@x", "frank@x")
	d.befriend("dave@x", "bob@x")
	a := d.start(url, "a", nil)
	b := d.start(url, "b", func(c *Config) { c.DeadAfter = time.Minute }) // a's death is noticed only when the test says
	c := d.start(url, "c", nil)
	snapshot := func(ev core.Event) bool { _, ok := ev.(core.RoomSnapshot); return ok }

	aliceA := a.connect(t, "alice@x", avail)
	must(t, aliceA.s.Join(ctx, core.JoinOptions{Room: "hall", Nick: "al"})) // the room's home is a
	aliceA.await("alice's snapshot on a", snapshot)
	erin := a.connect(t, "erin@x", avail)
	alice := b.connect(t, "alice@x", avail)
	bob := b.connect(t, "bob@x", avail)
	carol := c.connect(t, "carol@x", avail)
	for _, j := range []struct {
		c    *client
		nick string
	}{{erin, "er"}, {alice, "ab"}, {bob, "bo"}, {carol, "ca"}} {
		must(t, j.c.s.Join(ctx, core.JoinOptions{Room: "hall", Nick: j.nick}))
		j.c.await(j.nick+"'s snapshot", snapshot)
	}

	// no admin: the same refusals on b as on the home
	sameRefusal(t, "mode", bob.s.SetRoomMode(ctx, "hall", store.RoomMembers), erin.s.SetRoomMode(ctx, "hall", store.RoomMembers))
	member := core.RoomWho{Address: "dave@x"}
	sameRefusal(t, "member", bob.s.SetAffiliation(ctx, "hall", member, store.AffMember, ""),
		erin.s.SetAffiliation(ctx, "hall", member, store.AffMember, ""))
	sameRefusal(t, "ban", bob.s.Ban(ctx, "hall", core.RoomWho{Nick: "ca"}, ""), erin.s.Ban(ctx, "hall", core.RoomWho{Nick: "ca"}, ""))
	_, there := bob.s.Affiliated(ctx, "hall", store.AffMember)
	_, here := erin.s.Affiliated(ctx, "hall", store.AffMember)
	sameRefusal(t, "list", there, here)
	if core.CodeOf(here) != core.CodeForbidden {
		t.Fatalf("a participant lists the members: %v", here)
	}
	sameRefusal(t, "bad affiliation", alice.s.SetAffiliation(ctx, "hall", member, "king", ""),
		aliceA.s.SetAffiliation(ctx, "hall", member, "king", ""))
	sameRefusal(t, "no such nick", alice.s.Ban(ctx, "hall", core.RoomWho{Nick: "zz"}, ""),
		aliceA.s.Ban(ctx, "hall", core.RoomWho{Nick: "zz"}, ""))

	// the owner, on b: members and their list
	must(t, alice.s.SetAffiliation(ctx, "hall", member, store.AffMember, ""))
	for _, who := range []*client{alice, aliceA} {
		got, err := who.s.Affiliated(ctx, "hall", store.AffMember)
		if err != nil || !slices.Equal(got, []string{"dave@x"}) {
			t.Fatalf("members, listed on %s: %v %v", who.s.Address(), got, err)
		}
	}
	if got, err := alice.s.Affiliated(ctx, "hall", store.AffOwner); err != nil || !slices.Equal(got, []string{"alice@x"}) {
		t.Fatalf("owner, listed on b: %v %v", got, err)
	}

	// a ban from b removes carol, on c, at once
	must(t, alice.s.Ban(ctx, "hall", core.RoomWho{Nick: "ca"}, "spam"))
	left := carol.await("carol banned, on c", roomLeft("hall", core.LeftBanned)).(core.RoomLeft)
	if left.Why != "spam" || left.By != "ab" {
		t.Fatalf("carol told %+v", left)
	}
	if _, in := carol.s.InRoom("hall"); in {
		t.Fatal("carol is still in the room she was banned from")
	}
	if err := carol.s.Join(ctx, core.JoinOptions{Room: "hall", Nick: "ca"}); !core.IsRoomBanned(err) {
		t.Fatalf("carol joins again from c: %v", err)
	}
	if got, err := alice.s.Affiliated(ctx, "hall", store.AffOutcast); err != nil || !slices.Equal(got, []string{"carol@x"}) {
		t.Fatalf("bans, listed on b: %v %v", got, err)
	}

	// members-only, from b: those the room does not name leave it
	must(t, alice.s.SetRoomMode(ctx, "hall", store.RoomMembers))
	bob.await("bob out of a members-only room, on b", roomLeft("hall", core.LeftMembership))
	erin.await("erin out of a members-only room, on a", roomLeft("hall", core.LeftMembership))
	if err := bob.s.Join(ctx, core.JoinOptions{Room: "hall", Nick: "bo"}); !core.IsRoomMembersOnly(err) {
		t.Fatalf("bob joins a members-only room from b: %v", err)
	}
	if info, err := alice.s.RoomInfo(ctx, "hall"); err != nil || info.Mode != store.RoomMembers {
		t.Fatalf("the room's mode, read on b: %+v %v", info, err)
	}

	// an invitation from b to frank, on c: he becomes a member, is told, and joins
	frank := c.connect(t, "frank@x", avail)
	eventually(t, "b to learn that c holds frank", func() bool { return b.Holds("frank@x") })
	if n, err := alice.s.Invite(ctx, "hall", "frank@x", "come"); err != nil || n != 1 {
		t.Fatalf("alice invites frank from b: %d %v", n, err)
	}
	inv := frank.await("frank's invitation, on c", func(ev core.Event) bool { _, ok := ev.(core.RoomInvite); return ok }).(core.RoomInvite)
	if inv.Room != "hall" || inv.From != alice.s.Address() || inv.Reason != "come" {
		t.Fatalf("frank got %+v", inv)
	}
	must(t, frank.s.Join(ctx, core.JoinOptions{Room: "hall", Nick: "fr"}))
	frank.await("frank's snapshot", snapshot)
	// a member, not a moderator, invites nobody into a members-only room: as on the home
	dave := c.connect(t, "dave@x", avail)
	must(t, dave.s.Join(ctx, core.JoinOptions{Room: "hall", Nick: "da"}))
	dave.await("dave's snapshot", snapshot)
	_, there = dave.s.Invite(ctx, "hall", "bob@x", "")
	if core.CodeOf(there) != core.CodeForbidden {
		t.Fatalf("a member invites into a members-only room from c: %v", there)
	}
	if got, err := aliceA.s.Affiliated(ctx, "hall", store.AffMember); err != nil || !slices.Equal(got, []string{"dave@x", "frank@x"}) {
		t.Fatalf("members after the invitation, on a: %v %v", got, err)
	}

	// the home dies: an answer at once, typed, and later the news
	a.Kill()
	killed := time.Now()
	for _, err := range []error{alice.s.SetRoomMode(ctx, "hall", store.RoomOpen),
		alice.s.SetAffiliation(ctx, "hall", core.RoomWho{Address: "bob@x"}, store.AffMember, "")} {
		if core.CodeOf(err) != core.CodeUnavailable {
			t.Fatalf("a change with the room's node dead: %v", err)
		}
	}
	if _, err := alice.s.Affiliated(ctx, "hall", store.AffMember); core.CodeOf(err) != core.CodeUnavailable {
		t.Fatalf("a list with the room's node dead: %v", err)
	}
	if _, err := alice.s.Invite(ctx, "hall", "frank@x", ""); core.CodeOf(err) != core.CodeUnavailable {
		t.Fatalf("an invitation with the room's node dead: %v", err)
	}
	t.Logf("four steps answered unavailable %v after the home was killed", time.Since(killed).Round(time.Millisecond)) // a figure, not a check
	frank.await("frank told he left, once c declared the room's node dead", roomLeft("hall", core.LeftLeft))
}

// TestRoomAdminByAppAcrossNodes: in the rooms of the app chat, bob's app
// session (a grant without addresses, picking alice) administers the room
// den, kept by node a, from node b, naming accounts by his handles:
// contacts his grant covers (alice, dave, who is not in the room) are
// resolved on b; carol, who is not one, is found at the home among the
// room's occupants, as on one node. alice and carol are removed where
// they sit (a, c), and the lists reach bob's app as his handles, never
// addresses.
func TestRoomAdminByAppAcrossNodes(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "bob@x", "carol@x", "dave@x")
	d.befriend("bob@x", "alice@x")
	d.befriend("bob@x", "dave@x")
	scopes := append([]string{core.ScopeRooms}, appScopes...)
	st := d.open()
	must(t, st.CreateApp(ctx, store.App{ID: "chat", Name: "chat", RedirectURIs: []string{"https://chat.example/cb"},
		Scopes: scopes, Public: true, CreatedAt: time.Now()}))
	picked, all := store.ContactsPicked, store.ContactsAll
	h := d.hub()
	for acc, change := range map[string]core.GrantChange{"bob@x": {Contacts: &picked, Picked: []string{"alice@x", "dave@x"}},
		"alice@x": {Contacts: &all}, "carol@x": {Contacts: &all}} {
		must(t, h.AllowApp(ctx, acc, "chat", scopes))
		_, err := h.EditGrant(ctx, acc, "chat", change)
		must(t, err)
	}
	a, b, c := d.start(url, "a", nil), d.start(url, "b", nil), d.start(url, "c", nil)
	open := func(n *node, account string) *client {
		return n.open(t, account, core.SessionOptions{Device: "chat", Channel: core.Channel{App: "chat"}, Scopes: scopes, Presence: avail})
	}
	snapshot := func(ev core.Event) bool { _, ok := ev.(core.RoomSnapshot); return ok }
	join := func(cl *client, nick string) {
		t.Helper()
		must(t, cl.s.Join(ctx, core.JoinOptions{Room: "den", Nick: nick}))
		cl.await(nick+"'s snapshot", snapshot)
	}

	first := open(a, "bob@x")
	join(first, "b1") // the room's home is a; bob owns it
	must(t, first.s.Leave(ctx, "den"))
	bob, alice, carol := open(b, "bob@x"), open(a, "alice@x"), open(c, "carol@x")
	join(bob, "bo")
	join(alice, "al")
	join(carol, "ca")
	hAlice, hCarol := d.handles.Of("chat", "bob@x", "alice@x"), d.handles.Of("chat", "bob@x", "carol@x")

	must(t, bob.s.Ban(ctx, "den", core.RoomWho{Address: hAlice}, "")) // a contact of his grant: resolved on b
	alice.await("alice banned, on a", roomLeft("den", core.LeftBanned))
	must(t, bob.s.Ban(ctx, "den", core.RoomWho{Address: hCarol}, "")) // an occupant's handle: found at the home
	carol.await("carol banned, on c", roomLeft("den", core.LeftBanned))
	if err := bob.s.Ban(ctx, "den", core.RoomWho{Address: "h-nobody"}, ""); core.CodeOf(err) != core.CodeNotFound {
		t.Fatalf("a handle nobody has: %v", err)
	}
	// dave, a contact of his grant who is not in the room nor named by
	// it: only b can tell whom the handle names
	must(t, bob.s.SetAffiliation(ctx, "den", core.RoomWho{Address: d.handles.Of("chat", "bob@x", "dave@x")}, store.AffMember, ""))
	if got, err := alice.s.Affiliated(ctx, "den", store.AffMember); core.CodeOf(err) != core.CodeNotFound || got != nil {
		t.Fatalf("alice, banned, lists the members: %v %v", got, err)
	}
	if got, err := bob.s.Affiliated(ctx, "den", store.AffMember); err != nil || !slices.Equal(got, []string{d.handles.Of("chat", "bob@x", "dave@x")}) {
		t.Fatalf("members, listed for bob's app on b: %v %v", got, err)
	}
	got, err := bob.s.Affiliated(ctx, "den", store.AffOutcast)
	want := []string{hAlice, hCarol}
	slices.Sort(want)
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("bans, listed for bob's app on b: %v %v (want %v)", got, err, want)
	}
}
