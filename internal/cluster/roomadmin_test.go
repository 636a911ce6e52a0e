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
