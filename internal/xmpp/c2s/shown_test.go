package c2s

import (
	"fmt"
	"math/rand"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"
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
		if err := s.set(contact, rs); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			s.fit()
			if cap(s) != len(s) {
				t.Fatalf("step %d: fitted to capacity %d for %d entries", i, cap(s), len(s))
			}
		}
		if len(rs) == 0 {
			delete(model, contact)
		} else {
			model[contact] = rs
		}
		if len(s) != len(model) || !slices.IsSortedFunc(s, func(a, b shownEntry) int {
			if a.contactAddress() < b.contactAddress() {
				return -1
			}
			return 1
		}) {
			t.Fatalf("step %d: %d entries for %d contacts, or unsorted", i, len(s), len(model))
		}
	}
}

// TestShownEntrySize guards what every idle stream holds per contact
// online: a packed entry, not two strings (32 bytes).
func TestShownEntrySize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) == 8 && unsafe.Sizeof(shownEntry{}) != 24 {
		t.Errorf("shownEntry is %d bytes, not the 24 every contact online costs an idle stream", unsafe.Sizeof(shownEntry{}))
	}
}

// TestShownSetKeepsItsStrings: entries made of strings nothing else holds
// any more (built at run time, as a delivery's addresses are) still read
// back exactly after collections, and contacts that are prefixes of one
// another, or differ in one byte, stay apart.
func TestShownSetKeepsItsStrings(t *testing.T) {
	var s shownSet
	contacts := []string{"a@x", "a@xy", "a@x.y", "ab@x", "a@y", "b@x"}
	for i, c := range contacts {
		resources := []string{strings.Repeat("r", i+1), fmt.Sprint("phone-", i)}
		if err := s.set(strings.Clone(c), []string{strings.Clone(resources[0]), strings.Clone(resources[1])}); err != nil {
			t.Fatal(err)
		}
	}
	s.fit()
	runtime.GC()
	runtime.GC()
	for i, c := range contacts {
		if got, want := s.of(c), []string{strings.Repeat("r", i+1), fmt.Sprint("phone-", i)}; !reflect.DeepEqual(got, want) {
			t.Fatalf("%s shown %q, want %q", c, got, want)
		}
	}
	if got := s.of("a@"); got != nil {
		t.Fatalf("a prefix of contacts shown %q", got)
	}
}
