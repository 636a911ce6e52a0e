package core

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
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
