package c2s

import (
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"testing"
)

// TestShownSetIsAMap: the compact record of announced resources behaves as
// the map of slices it replaced, through random changes.
func TestShownSetIsAMap(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var s shownSet
	model := map[string][]string{}
	for i := 0; i < 5000; i++ {
		contact := fmt.Sprintf("c%d@x", rng.Intn(2*shownExactBelow)) // both ways of growing
		var rs []string
		for j := rng.Intn(4); j > 0; j-- {
			rs = append(rs, fmt.Sprintf("r%d", rng.Intn(5)))
		}
		if got, want := s.of(contact), model[contact]; !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d: %s shown %q, want %q", i, contact, got, want)
		}
		s.set(contact, rs)
		if len(rs) == 0 {
			delete(model, contact)
		} else {
			model[contact] = rs
		}
		if len(s) != len(model) || !slices.IsSortedFunc(s, func(a, b shownEntry) int {
			if a.contact < b.contact {
				return -1
			}
			return 1
		}) {
			t.Fatalf("step %d: %d entries for %d contacts, or unsorted", i, len(s), len(model))
		}
	}
}
