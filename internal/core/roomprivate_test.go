package core

import "testing"

// TestRoomPrivate: an occupant's private message reaches the occupant it
// names, by the sender's nick only, and nobody else; a session not in the
// room, a nick nobody has, an empty body and a room of another domain are
// refused.
func TestRoomPrivate(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x", "carol@x")
	alice, bob, carol := e.connect("alice@x", avail), e.connect("bob@x", avail), e.connect("carol@x", avail)
	e.must(alice.s.Join(ctx, JoinOptions{Room: "lounge", Nick: "al", History: -1}))
	e.must(bob.s.Join(ctx, JoinOptions{Room: "lounge", Nick: "bo", History: -1}))
	alice.take()
	bob.take()
	carol.take()

	if n, err := alice.s.RoomPrivate(ctx, "lounge", "bo", "p1", "psst"); err != nil || n != 1 {
		t.Fatalf("RoomPrivate: %d, %v", n, err)
	}
	got := eventsOf[RoomPrivateEvent](bob.take())
	if len(got) != 1 || got[0].Room != "lounge" || got[0].Nick != "al" || got[0].ID != "p1" || got[0].Body != "psst" || got[0].Sent.IsZero() {
		t.Fatalf("bob got %+v", got)
	}
	if evs := append(eventsOf[RoomPrivateEvent](alice.take()), eventsOf[RoomPrivateEvent](carol.take())...); len(evs) != 0 {
		t.Fatalf("others got %+v", evs)
	}
	for _, c := range []struct {
		s          *sink
		nick, body string
		room       string
		code       Code
	}{
		{carol, "bo", "x", "lounge", CodeNotFound},     // not in the room
		{alice, "nobody", "x", "lounge", CodeNotFound}, // no such occupant
		{alice, "bo", "", "lounge", CodeInvalid},
		{alice, "bo", "x", "lounge@conference.x", CodeInvalid}, // without federation no room has an address
	} {
		if _, err := c.s.s.RoomPrivate(ctx, c.room, c.nick, "", c.body); CodeOf(err) != c.code {
			t.Errorf("RoomPrivate(%s, %q, %q): %v, want %s", c.room, c.nick, c.body, err, c.code)
		}
	}
}
