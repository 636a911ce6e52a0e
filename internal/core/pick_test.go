package core

import (
	"slices"
	"testing"

	"github.com/presenced/presenced/internal/store"
)

var pickScopes = []string{ScopePresenceRead, ScopeContactsPick}

// pickEnv: dave has alice, bob and carol, approved both ways and online,
// on cards of his address book (alice in the group "family"), and a card
// without a presence address.
func pickEnv(t *testing.T) *env {
	e := newEnv(t, "dave@x", "alice@x", "bob@x", "carol@x", "erin@x")
	for _, o := range []string{"alice@x", "bob@x", "carol@x"} {
		e.befriend("dave@x", o)
		e.connect(o, avail)
	}
	_, err := e.hub.CreateContacts(ctx, "dave@x", []store.Contact{
		{Name: "Carol C", Address: "carol@x"},
		{Name: "Alice A", Address: "alice@x", Groups: []string{"family"}},
		{Name: "Bob B", Address: "bob@x"},
		{Name: "Alice again", Address: "alice@x"},
		{Name: "Plumber", Phones: []string{"+33 1 23 45 67 89"}},
	})
	e.must(err)
	return e
}

// snapshotOf is the last snapshot among evs, the addresses it shows sorted.
func snapshotOf(t *testing.T, evs []Event) []string {
	t.Helper()
	var out []string
	found := false
	for _, ev := range evs {
		if s, ok := ev.(Snapshot); ok {
			found, out = true, nil
			for _, p := range s.Presence {
				out = append(out, p.Address)
			}
		}
	}
	if !found {
		t.Fatalf("no snapshot in %+v", evs)
	}
	slices.Sort(out)
	return out
}

func sortedOf(s ...string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestPickContactsAddsToTheGrantLive: the picker lists the address book's
// presence addresses; what the user picks is added to the grant (none
// becomes picked, picked grows), the app's live session gets a new
// snapshot with exactly those contacts, and the app is told their handles,
// with names only when the user lets it.
func TestPickContactsAddsToTheGrantLive(t *testing.T) {
	e := pickEnv(t)
	e.grant("dave@x", "chat", pickScopes, GrantChange{})
	app := e.openApp("dave@x", "chat", pickScopes, nil)
	if got := snapshotOf(t, app.take()); len(got) != 0 {
		t.Fatalf("before picking, the app sees %v", got)
	}
	list, err := e.hub.Pickable(ctx, "dave@x", "chat", "")
	e.must(err)
	want := []Pickable{{Address: "alice@x", Name: "Alice A"}, {Address: "bob@x", Name: "Bob B"}, {Address: "carol@x", Name: "Carol C"}}
	if !slices.Equal(list, want) {
		t.Fatalf("pickable: %+v, want %+v", list, want)
	}
	if list, _ := e.hub.Pickable(ctx, "dave@x", "chat", "bo"); len(list) != 1 || list[0].Address != "bob@x" {
		t.Fatalf("search for bo: %+v", list)
	}

	got, err := e.hub.PickContacts(ctx, "dave@x", "chat", []string{"alice@x", "alice@x"}, false)
	e.must(err)
	hAlice, hBob := e.handle("chat", "dave@x", "alice@x"), e.handle("chat", "dave@x", "bob@x")
	if !slices.Equal(got, []Picked{{Handle: hAlice}}) {
		t.Fatalf("picked alice, the app is told %+v", got)
	}
	if snap := snapshotOf(t, app.take()); !slices.Equal(snap, []string{hAlice}) {
		t.Fatalf("after picking alice, the app sees %v", snap)
	}
	got, err = e.hub.PickContacts(ctx, "dave@x", "chat", []string{"bob@x"}, true)
	e.must(err)
	if !slices.Equal(got, []Picked{{Handle: hBob, Name: "Bob B"}}) {
		t.Fatalf("picked bob with names, the app is told %+v", got)
	}
	if snap := snapshotOf(t, app.take()); !slices.Equal(snap, sortedOf(hAlice, hBob)) {
		t.Fatalf("after picking bob too, the app sees %v", snap)
	}
	gs, err := e.hub.Grants(ctx, "dave@x")
	e.must(err)
	if len(gs) != 1 || gs[0].Contacts != store.ContactsPicked || !slices.Equal(gs[0].Picked, []string{"alice@x", "bob@x"}) {
		t.Fatalf("the grant: %+v", gs)
	}
	list, _ = e.hub.Pickable(ctx, "dave@x", "chat", "")
	if !list[0].Shared || !list[1].Shared || list[2].Shared {
		t.Fatalf("pickable, marked shared: %+v", list)
	}
	// picking again what is picked: the same answer, no new snapshot
	if _, err := e.hub.PickContacts(ctx, "dave@x", "chat", []string{"bob@x"}, false); err != nil {
		t.Fatal(err)
	}
	for _, ev := range app.take() {
		if _, ok := ev.(Snapshot); ok {
			t.Fatal("a pick that changed nothing sent a snapshot")
		}
	}
}

// TestPickContactsRefusals: no grant, a grant without contacts:pick, an
// address not on a card of the address book (a stranger, an approved
// contact without a card, a malformed one) are refused with typed errors
// and change nothing.
func TestPickContactsRefusals(t *testing.T) {
	e := pickEnv(t)
	e.befriend("dave@x", "erin@x") // approved, but on no card
	if _, err := e.hub.PickContacts(ctx, "dave@x", "chat", []string{"alice@x"}, false); CodeOf(err) != CodeForbidden {
		t.Fatalf("without a grant: %v, want forbidden", err)
	}
	e.grant("dave@x", "chat", []string{ScopePresenceRead}, GrantChange{})
	if _, err := e.hub.PickContacts(ctx, "dave@x", "chat", []string{"alice@x"}, false); CodeOf(err) != CodeForbidden {
		t.Fatalf("without contacts:pick: %v, want forbidden", err)
	}
	if _, err := e.hub.Pickable(ctx, "dave@x", "chat", ""); CodeOf(err) != CodeForbidden {
		t.Fatalf("listing without contacts:pick: %v, want forbidden", err)
	}
	e.grant("dave@x", "chat", pickScopes, GrantChange{})
	for _, bad := range [][]string{{"erin@x"}, {"alice@x", "nobody@x"}, {"not an address"}, {"@x"}} {
		if _, err := e.hub.PickContacts(ctx, "dave@x", "chat", bad, false); CodeOf(err) != CodeInvalid {
			t.Errorf("picking %v: %v, want invalid", bad, err)
		}
	}
	gs, _ := e.hub.Grants(ctx, "dave@x")
	if gs[0].Contacts != store.ContactsNone || len(gs[0].Picked) != 0 {
		t.Fatalf("a refused pick changed the grant: %+v", gs[0])
	}
	// an expired grant
	e.grant("dave@x", "game", pickScopes, GrantChange{})
	g, _ := e.st.GetGrant(ctx, "dave@x", "game")
	g.ExpiresAt = e.clk.Now()
	e.must(e.st.PutGrant(ctx, g))
	if _, err := e.hub.PickContacts(ctx, "dave@x", "game", []string{"alice@x"}, false); CodeOf(err) != CodeForbidden {
		t.Fatalf("an expired grant: %v, want forbidden", err)
	}
}

// TestPickContactsByGrantMode: a grant set to none forgets what was
// picked before; a group grant covers what is picked in addition to the
// group; an all grant is left as it is; with the addresses permission the
// app is told addresses.
func TestPickContactsByGrantMode(t *testing.T) {
	e := pickEnv(t)
	none, group, all := store.ContactsNone, store.ContactsGroup, store.ContactsAll
	family := "family"

	// none, after alice was picked and taken away: picking bob shares bob only
	e.grant("dave@x", "chat", pickScopes, picked("alice@x"))
	_, err := e.hub.EditGrant(ctx, "dave@x", "chat", GrantChange{Contacts: &none})
	e.must(err)
	app := e.openApp("dave@x", "chat", pickScopes, nil)
	app.take()
	_, err = e.hub.PickContacts(ctx, "dave@x", "chat", []string{"bob@x"}, false)
	e.must(err)
	if snap := snapshotOf(t, app.take()); !slices.Equal(snap, []string{e.handle("chat", "dave@x", "bob@x")}) {
		t.Fatalf("none, then bob picked: the app sees %v", snap)
	}

	// group: carol picked in addition to the family (alice)
	e.grant("dave@x", "game", pickScopes, GrantChange{Contacts: &group, Group: &family})
	game := e.openApp("dave@x", "game", pickScopes, nil)
	if snap := snapshotOf(t, game.take()); !slices.Equal(snap, []string{e.handle("game", "dave@x", "alice@x")}) {
		t.Fatalf("the family: %v", snap)
	}
	_, err = e.hub.PickContacts(ctx, "dave@x", "game", []string{"carol@x"}, false)
	e.must(err)
	if snap := snapshotOf(t, game.take()); !slices.Equal(snap, sortedOf(e.handle("game", "dave@x", "alice@x"), e.handle("game", "dave@x", "carol@x"))) {
		t.Fatalf("the family and carol: %v", snap)
	}
	gs, _ := e.hub.Grants(ctx, "dave@x")
	for _, g := range gs {
		if g.App.ID == "game" && (g.Contacts != store.ContactsGroup || g.Group != "family" || !slices.Equal(g.Picked, []string{"carol@x"})) {
			t.Fatalf("the group grant after a pick: %+v", g)
		}
	}
	list, _ := e.hub.Pickable(ctx, "dave@x", "game", "")
	if !list[0].Shared || list[1].Shared || !list[2].Shared {
		t.Fatalf("pickable in the group grant: %+v", list)
	}
	// switching a picked grant to a group starts from the group alone
	g, err := e.hub.EditGrant(ctx, "dave@x", "chat", GrantChange{Contacts: &group, Group: &family})
	e.must(err)
	if len(g.Picked) != 0 {
		t.Fatalf("switched to a group, the grant keeps picked %v", g.Picked)
	}
	if snap := snapshotOf(t, app.take()); !slices.Equal(snap, []string{e.handle("chat", "dave@x", "alice@x")}) {
		t.Fatalf("switched to the family: the app sees %v", snap)
	}

	// all: nothing to add; addresses: the app is told addresses
	e.grant("dave@x", "book", append(slices.Clone(pickScopes), ScopeAddresses), GrantChange{Contacts: &all})
	got, err := e.hub.PickContacts(ctx, "dave@x", "book", []string{"carol@x"}, true)
	e.must(err)
	if !slices.Equal(got, []Picked{{Handle: "carol@x", Name: "Carol C"}}) {
		t.Fatalf("picked in an all grant with addresses: %+v", got)
	}
	gs, _ = e.hub.Grants(ctx, "dave@x")
	for _, g := range gs {
		if g.App.ID == "book" && (g.Contacts != store.ContactsAll || len(g.Picked) != 0) {
			t.Fatalf("the all grant after a pick: %+v", g)
		}
	}
}
