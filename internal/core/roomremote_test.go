package core

import (
	"log/slog"
	"slices"
	"testing"

	"github.com/presenced/presenced/internal/store"
)

// leftFor reports whether evs hold the RoomLeft of nick for reason.
func leftFor(evs []Event, nick, reason string) bool {
	for _, ev := range evs {
		if l, ok := ev.(RoomLeft); ok && l.Nick == nick && l.Reason == reason {
			return true
		}
	}
	return false
}

func remoteJoin(h *Hub, from, room, nick string) error {
	return h.RemoteRoomJoin(ctx, from, JoinOptions{Room: room, Nick: nick, Presence: &Presence{Availability: Available}})
}

// TestRemoteAffiliations: a room names accounts of another domain as it
// names local ones. A banned remote occupant is removed at once and cannot
// join again, also after the room is read again from the store; a remote
// member joins a members-only room that refused it before, and leaves it
// when no longer a member; addresses are checked and the accounts a room
// names are bounded whatever their domain; a remote admin moderates
// through its stand-in, under the same rule as a local one.
func TestRemoteAffiliations(t *testing.T) {
	e, rec := fedEnvWith(t, Config{Rooms: RoomLimits{NamedPerRoom: 4}})
	h := e.hub
	alice := e.connect("alice@a.test", avail)
	e.join(alice, "club", "alice")

	// a ban of a remote occupant, by address: removed at once, kept out
	e.must(remoteJoin(h, "bob@b.test/x", "club", "bob"))
	rec.take()
	e.must(alice.s.Ban(ctx, "club", RoomWho{Address: "Bob@B.test"}, "spam"))
	if !leftFor(rec.take(), "bob", LeftBanned) {
		t.Fatal("banned bob was not told he left, at once")
	}
	if err := remoteJoin(h, "bob@b.test/other", "club", "bob2"); !IsRoomBanned(err) {
		t.Fatalf("banned bob joined again: %v", err)
	}
	if l, err := alice.s.Affiliated(ctx, "club", store.AffOutcast); err != nil || !slices.Equal(l, []string{"bob@b.test"}) {
		t.Fatalf("outcasts %v %v", l, err)
	}
	if _, err := h.RemoteRoomAdmin("bob@b.test/x"); CodeOf(err) != CodeNotFound {
		t.Fatalf("a removed occupant's stand-in was kept: %v", err)
	}

	// members-only: dave is refused, then named a member and admitted
	e.must(alice.s.SetRoomMode(ctx, "club", store.RoomMembers))
	if err := remoteJoin(h, "dave@b.test/y", "club", "dave"); !IsRoomMembersOnly(err) {
		t.Fatalf("dave, not a member, joined a members-only room: %v", err)
	}
	e.must(alice.s.SetAffiliation(ctx, "club", RoomWho{Address: "dave@b.test"}, store.AffMember, ""))
	e.must(remoteJoin(h, "dave@b.test/y", "club", "dave"))

	// addresses are checked; a local name still needs its account; the
	// bound counts remote names too (bob, dave, erin, frank: 4)
	wantCode(t, alice.s.SetAffiliation(ctx, "club", RoomWho{Address: "not an address"}, store.AffMember, ""), CodeInvalid)
	wantCode(t, alice.s.SetAffiliation(ctx, "club", RoomWho{Address: "ghost@a.test"}, store.AffMember, ""), CodeNotFound)
	e.must(alice.s.SetAffiliation(ctx, "club", RoomWho{Address: "erin@b.test"}, store.AffAdmin, ""))
	e.must(alice.s.SetAffiliation(ctx, "club", RoomWho{Address: "frank@c.test"}, store.AffMember, ""))
	wantCode(t, alice.s.SetAffiliation(ctx, "club", RoomWho{Address: "gina@c.test"}, store.AffMember, ""), CodeLimit)

	// erin, a remote admin in the room, moderates through her stand-in:
	// she makes dave no longer a member (he leaves), and may not touch
	// the owner; not in the room, she could not
	if _, err := h.RemoteRoomAdmin("erin@b.test/z"); CodeOf(err) != CodeNotFound {
		t.Fatalf("erin moderated from outside the room: %v", err)
	}
	e.must(remoteJoin(h, "erin@b.test/z", "club", "erin"))
	rec.take()
	erin, err := h.RemoteRoomAdmin("erin@b.test/z")
	e.must(err)
	e.must(erin.SetAffiliation(ctx, "club", RoomWho{Nick: "dave"}, store.AffNone, "bye"))
	if !leftFor(rec.take(), "dave", LeftMembership) {
		t.Fatal("dave, no longer a member, was not removed")
	}
	wantCode(t, erin.SetAffiliation(ctx, "club", RoomWho{Nick: "alice"}, store.AffOutcast, ""), CodeForbidden)
	wantCode(t, erin.SetAffiliation(ctx, "club", RoomWho{Address: "frank@c.test"}, store.AffAdmin, ""), CodeForbidden) // only the owner names admins
	if l, err := erin.Affiliated(ctx, "club", store.AffAdmin); err != nil || !slices.Equal(l, []string{"erin@b.test"}) {
		t.Fatalf("admins as erin lists them: %v %v", l, err)
	}

	// the names are durable: a hub reading the room again keeps bob out
	// and lets frank in
	rec2 := &remoteRecorder{}
	h2 := New(Config{Domain: "a.test", Rooms: RoomLimits{NamedPerRoom: 4}}, e.st, e.clk, rec2, slog.Default())
	rec2.local = h2.LocalRouter()
	alice2, err := h2.Connect(ctx, "alice@a.test", SessionOptions{Device: "t"}, &sink{})
	e.must(err)
	e.must(alice2.Join(ctx, JoinOptions{Room: "club", Nick: "alice"}))
	if err := remoteJoin(h2, "bob@b.test/x", "club", "bob"); !IsRoomBanned(err) {
		t.Fatalf("bob's ban was not kept: %v", err)
	}
	e.must(remoteJoin(h2, "frank@c.test/w", "club", "frank"))
}

// TestRemoteRoomInfo: what disco tells a user (or server) of another
// domain about the rooms here is what it tells a local account that the
// rooms name as they name it: open rooms to anyone, a members-only room
// only to an account it names (not a banned one), nothing about a room
// that does not exist; the listing holds open rooms only.
func TestRemoteRoomInfo(t *testing.T) {
	e, _ := fedEnv(t)
	h := e.hub
	alice := e.connect("alice@a.test", avail)
	e.must(alice.s.Join(ctx, JoinOptions{Room: "lounge", Nick: "alice", History: -1}))
	e.must(alice.s.Join(ctx, JoinOptions{Room: "club", Nick: "alice", History: -1}))
	e.must(alice.s.SetRoomMode(ctx, "club", store.RoomMembers))
	e.must(alice.s.SetAffiliation(ctx, "club", RoomWho{Address: "bob@b.test"}, store.AffMember, ""))
	e.must(alice.s.SetAffiliation(ctx, "club", RoomWho{Address: "eve@b.test"}, store.AffOutcast, ""))

	for _, c := range []struct {
		from, room string
		code       Code // "" : shown
	}{
		{"dave@b.test/x", "lounge", ""},
		{"b.test", "lounge", ""},
		{"dave@b.test/x", "club", CodeNotFound},
		{"b.test", "club", CodeNotFound},
		{"eve@b.test/x", "club", CodeNotFound},
		{"bob@b.test/x", "club", ""},
		{"bob@b.test", "nowhere", CodeNotFound},
		{"carol@a.test/x", "lounge", CodeInvalid},
		{"a.test", "lounge", CodeInvalid},
	} {
		info, err := h.RemoteRoomInfo(ctx, c.from, c.room)
		if (err == nil) != (c.code == "") || err != nil && CodeOf(err) != c.code || err == nil && (info.Name != c.room || info.Count != 1) {
			t.Errorf("RemoteRoomInfo(%s, %s) = %+v, %v; want code %q", c.from, c.room, info, err, c.code)
		}
	}
	rooms, err := h.RemoteRooms(ctx)
	if err != nil || len(rooms) != 1 || rooms[0].Name != "lounge" {
		t.Fatalf("RemoteRooms = %+v, %v", rooms, err)
	}
}
