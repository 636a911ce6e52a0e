package core

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// A viewerSet answers as a map would while it grows past the size at
// which it keeps an index and shrinks back, and lists its viewers sorted.
func TestViewerSetMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s viewerSet
	want := map[string]bool{}
	for step := 0; step < 3000; step++ {
		v := fmt.Sprintf("u%d@x", rng.IntN(150))
		if step < 1500 == (rng.IntN(4) != 0) { // mostly adds, then mostly removes
			s.add(v)
			want[v] = true
		} else {
			s.remove(v)
			delete(want, v)
		}
		if s.len() != len(want) || s.has(v) != want[v] {
			t.Fatalf("step %d (%s): len %d has %v, want %d %v", step, v, s.len(), s.has(v), len(want), want[v])
		}
		if s.len() > viewerIndexFrom && s.index == nil {
			t.Fatalf("step %d: %d viewers without an index", step, s.len())
		}
	}
	if !slices.IsSorted(s.all()) {
		t.Fatal("viewers not sorted")
	}
	for v := range want {
		if !s.has(v) {
			t.Fatalf("%s lost", v)
		}
	}
}

// A user read while a viewer was offline names that viewer by the copy
// read from the store; once the viewer signs in, by its own address (the
// same string), and the set answers as before.
func TestViewerNamedByItsLiveAddress(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	e.connect("bob@x", &Presence{Availability: Available})
	bob := e.hub.live("bob@x")
	alice := string([]byte("alice@x")) // a string of its own, as a client's sign-in gives
	e.connect(alice, &Presence{Availability: Available})
	unlock := e.hub.lock("alice@x", "bob@x")
	defer unlock()
	if !bob.viewers.has("alice@x") || bob.viewers.len() != 1 {
		t.Fatalf("bob's viewers: %v", bob.viewers.all())
	}
	if got, want := unsafe.StringData(bob.viewers.all()[0]), unsafe.StringData(e.hub.live("alice@x").address); got != want {
		t.Fatal("bob's viewer alice is not named by alice's live address")
	}
}
