package storetest

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// testRooms: created once per name and namespace, bounded per owner,
// updated, listed, affiliations bounded and removed, history bounded by
// count and bytes, everything gone with the owner's account.
func testRooms(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	local := func(account, aff string) store.RoomAffiliation {
		return store.RoomAffiliation{Account: account, Affiliation: aff}
	}
	room := func(app, name, owner string) store.Room {
		return store.Room{App: app, Name: name, Owner: owner, Mode: store.RoomOpen, Created: t0}
	}
	wantErr(t, s.CreateRoom(ctx, room("", "r", "nobody@x"), 5), store.ErrNotFound)
	must(t, s.CreateRoom(ctx, room("", "r", "alice@x"), 5))
	wantErr(t, s.CreateRoom(ctx, room("", "r", "bob@x"), 5), store.ErrExists)
	must(t, s.CreateRoom(ctx, room("app1", "r", "bob@x"), 5)) // another namespace
	must(t, s.CreateRoom(ctx, room("", "s", "alice@x"), 2))
	wantErr(t, s.CreateRoom(ctx, room("", "t", "alice@x"), 2), store.ErrLimit)
	got, err := s.GetRoom(ctx, "", "r")
	must(t, err)
	if !reflect.DeepEqual(got, room("", "r", "alice@x")) {
		t.Fatalf("room %+v", got)
	}
	_, err = s.GetRoom(ctx, "app2", "r")
	wantErr(t, err, store.ErrNotFound)
	got.Mode, got.Subject, got.SubjectBy = store.RoomMembers, "today", "al"
	must(t, s.UpdateRoom(ctx, got))
	if again, _ := s.GetRoom(ctx, "", "r"); !reflect.DeepEqual(again, got) {
		t.Fatalf("updated %+v", again)
	}
	wantErr(t, s.UpdateRoom(ctx, room("", "none", "alice@x")), store.ErrNotFound)
	if l, _ := s.ListRooms(ctx, "", 10); len(l) != 2 || l[0].Name != "r" || l[1].Name != "s" {
		t.Fatalf("list %+v", l)
	}
	if l, _ := s.ListRooms(ctx, "", 1); len(l) != 1 {
		t.Fatalf("list bounded %+v", l)
	}

	must(t, s.SetAffiliation(ctx, "", "r", local("bob@x", store.AffMember), 1))
	must(t, s.SetAffiliation(ctx, "", "r", local("bob@x", store.AffOutcast), 1)) // replacing is not adding
	wantErr(t, s.SetAffiliation(ctx, "", "r", local("alice@x", store.AffAdmin), 1), store.ErrLimit)
	wantErr(t, s.SetAffiliation(ctx, "", "nope", local("bob@x", store.AffMember), 5), store.ErrNotFound)
	wantErr(t, s.SetAffiliation(ctx, "", "r", local("ghost@x", store.AffMember), 5), store.ErrNotFound)
	if l, _ := s.Affiliations(ctx, "", "r"); !reflect.DeepEqual(l, []store.RoomAffiliation{local("bob@x", store.AffOutcast)}) {
		t.Fatalf("affiliations %+v", l)
	}
	must(t, s.SetAffiliation(ctx, "", "r", local("bob@x", store.AffNone), 1))
	if l, _ := s.Affiliations(ctx, "", "r"); len(l) != 0 {
		t.Fatalf("affiliation not removed %+v", l)
	}

	msg := func(i int, body string) store.RoomMessage {
		return store.RoomMessage{ID: fmt.Sprint("m", i), Account: "alice@x", Nick: "al", Body: body, Sent: t0.Add(time.Duration(i) * time.Second)}
	}
	for i := 0; i < 5; i++ {
		must(t, s.AppendRoomMessage(ctx, "", "r", msg(i, "hello"), 3, 1000))
	}
	h, err := s.RoomHistory(ctx, "", "r")
	must(t, err)
	if !reflect.DeepEqual(h, []store.RoomMessage{msg(2, "hello"), msg(3, "hello"), msg(4, "hello")}) {
		t.Fatalf("history by count %+v", h)
	}
	must(t, s.AppendRoomMessage(ctx, "", "r", msg(5, strings.Repeat("x", 8)), 3, 14))
	if h, _ := s.RoomHistory(ctx, "", "r"); len(h) != 2 || h[0].ID != "m4" || h[1].ID != "m5" {
		t.Fatalf("history by bytes %+v", h)
	}
	wantErr(t, s.AppendRoomMessage(ctx, "", "nope", msg(6, "x"), 3, 100), store.ErrNotFound)

	must(t, s.SetAffiliation(ctx, "app1", "r", local("alice@x", store.AffMember), 5))
	must(t, s.DeleteAccount(ctx, "alice@x"))
	for _, name := range []string{"r", "s"} {
		_, err := s.GetRoom(ctx, "", name)
		wantErr(t, err, store.ErrNotFound)
	}
	if h, _ := s.RoomHistory(ctx, "", "r"); len(h) != 0 {
		t.Fatalf("history outlived its room: %+v", h)
	}
	if l, _ := s.Affiliations(ctx, "app1", "r"); len(l) != 0 {
		t.Fatalf("affiliation outlived its account: %+v", l)
	}
	must(t, s.DeleteRoom(ctx, "app1", "r"))
	wantErr(t, s.DeleteRoom(ctx, "app1", "r"), store.ErrNotFound)
}

// testRemoteAffiliations: a room names accounts of other domains (no local
// account) beside local ones, in the same bound; a local name still needs
// its account and goes with it, a remote one stays until it is changed or
// its room goes; one address is one entry, whichever kind it was named as.
func testRemoteAffiliations(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	must(t, s.CreateRoom(ctx, store.Room{Name: "r", Owner: "alice@x", Mode: store.RoomMembers, Created: t0}, 5))
	must(t, s.CreateRoom(ctx, store.Room{Name: "s", Owner: "bob@x", Mode: store.RoomOpen, Created: t0}, 5))
	aff := func(account, a string, remote bool) store.RoomAffiliation {
		return store.RoomAffiliation{Account: account, Affiliation: a, Remote: remote}
	}
	list := func(name string, want ...store.RoomAffiliation) {
		t.Helper()
		l, err := s.Affiliations(ctx, "", name)
		must(t, err)
		if len(want) == 0 && len(l) == 0 {
			return
		}
		if !reflect.DeepEqual(l, want) {
			t.Fatalf("affiliations of %s: %+v, want %+v", name, l, want)
		}
	}
	must(t, s.SetAffiliation(ctx, "", "r", aff("spam@y", store.AffOutcast, true), 3))
	must(t, s.SetAffiliation(ctx, "", "r", aff("carol@y", store.AffMember, true), 3))
	must(t, s.SetAffiliation(ctx, "", "r", aff("bob@x", store.AffMember, false), 3))
	// the bound counts both kinds; replacing is not adding
	wantErr(t, s.SetAffiliation(ctx, "", "r", aff("dave@y", store.AffMember, true), 3), store.ErrLimit)
	must(t, s.SetAffiliation(ctx, "", "r", aff("carol@y", store.AffAdmin, true), 3))
	// a local name without its account is still refused; a remote one of
	// a room that does not exist too
	wantErr(t, s.SetAffiliation(ctx, "", "s", aff("ghost@x", store.AffMember, false), 5), store.ErrNotFound)
	wantErr(t, s.SetAffiliation(ctx, "", "nope", aff("spam@y", store.AffOutcast, true), 5), store.ErrNotFound)
	list("r", aff("bob@x", store.AffMember, false), aff("carol@y", store.AffAdmin, true), aff("spam@y", store.AffOutcast, true))

	// one entry per address: naming it again as the other kind replaces it
	must(t, s.SetAffiliation(ctx, "", "s", aff("bob@x", store.AffOutcast, true), 5))
	must(t, s.SetAffiliation(ctx, "", "s", aff("bob@x", store.AffMember, false), 5))
	list("s", aff("bob@x", store.AffMember, false))
	must(t, s.SetAffiliation(ctx, "", "s", aff("spam@y", store.AffOutcast, true), 5))

	// removing a remote name
	must(t, s.SetAffiliation(ctx, "", "r", aff("spam@y", store.AffNone, true), 3))
	list("r", aff("bob@x", store.AffMember, false), aff("carol@y", store.AffAdmin, true))

	// deleting a local account removes its names (and its rooms, with
	// theirs), and no remote name
	must(t, s.DeleteAccount(ctx, "bob@x"))
	list("r", aff("carol@y", store.AffAdmin, true))
	list("s")
	_, err := s.GetRoom(ctx, "", "s")
	wantErr(t, err, store.ErrNotFound)

	// an account made later with an address a room named as remote does
	// not make that entry its own: deleting it leaves the entry
	must(t, s.SetAffiliation(ctx, "", "r", aff("erin@z", store.AffOutcast, true), 3))
	addAccount(t, s, "erin@z")
	must(t, s.DeleteAccount(ctx, "erin@z"))
	list("r", aff("carol@y", store.AffAdmin, true), aff("erin@z", store.AffOutcast, true))

	// a room that goes takes its remote names with it
	must(t, s.DeleteRoom(ctx, "", "r"))
	list("r")
	must(t, s.CreateRoom(ctx, store.Room{Name: "r", Owner: "alice@x", Mode: store.RoomOpen, Created: t0}, 5))
	list("r")
}
