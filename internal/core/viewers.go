package core

import (
	"slices"

	"github.com/presenced/presenced/internal/store"
)

// viewerSet is the set of accounts a user approved to see it. An idle
// session's user holds one, so it is a sorted slice (a map of 20 viewers
// cost ~1.2 KiB per idle XMPP session, this 0.3 KiB), with a map index
// beside it only once the set is large, so that a fan-out to many viewers
// still decides each in constant time.
type viewerSet struct {
	sorted []string
	index  map[string]struct{} // set when len(sorted) > viewerIndexFrom
}

// viewerIndexFrom is the size above which a set keeps a map index.
const viewerIndexFrom = 64

func (s *viewerSet) has(v string) bool {
	if s.index != nil {
		_, ok := s.index[v]
		return ok
	}
	_, ok := slices.BinarySearch(s.sorted, v)
	return ok
}

// add puts v in the set.
func (s *viewerSet) add(v string) {
	i, ok := slices.BinarySearch(s.sorted, v)
	if ok {
		return
	}
	if len(s.sorted) == cap(s.sorted) { // grow by a quarter, not double: it is held while idle
		s.sorted = append(make([]string, 0, len(s.sorted)+len(s.sorted)/4+1), s.sorted...)
	}
	s.sorted = slices.Insert(s.sorted, i, v)
	if s.index != nil {
		s.index[v] = struct{}{}
	} else {
		s.indexIfLarge()
	}
}

// indexIfLarge makes the map index of a set grown past viewerIndexFrom.
func (s *viewerSet) indexIfLarge() {
	if len(s.sorted) <= viewerIndexFrom {
		return
	}
	s.index = make(map[string]struct{}, len(s.sorted))
	for _, v := range s.sorted {
		s.index[v] = struct{}{}
	}
}

// remove takes v out of the set.
func (s *viewerSet) remove(v string) {
	i, ok := slices.BinarySearch(s.sorted, v)
	if !ok {
		return
	}
	s.sorted = slices.Delete(s.sorted, i, i+1)
	if s.index != nil {
		delete(s.index, v)
	}
	if len(s.sorted) == 0 {
		s.sorted, s.index = nil, nil
	}
}

// canon names v, if the set holds it, by this very string: the viewer's
// own address once its account is live, so that the copy read from the
// store while it was not can go (a user's viewers are often read before
// they sign in: ~0.25 KiB per idle session with 20 contacts).
func (s *viewerSet) canon(v string) {
	i, ok := slices.BinarySearch(s.sorted, v)
	if !ok {
		return
	}
	s.sorted[i] = v
	if s.index != nil {
		s.index[v] = struct{}{} // a string key is replaced by the one stored
	}
}

// all returns the viewers in order; the caller must not change the slice.
func (s *viewerSet) all() []string { return s.sorted }

func (s *viewerSet) len() int { return len(s.sorted) }

// approvedViewers is the set of the viewers rels show account approved.
// A viewer whose account is live here is named by its user's own address
// string, so that the address is kept once, not once per contact holding
// it (20 contacts each: ~0.4 KiB per idle session).
func (h *Hub) approvedViewers(account string, rels []store.Relation) viewerSet {
	list := make([]string, 0, len(rels))
	for _, r := range rels {
		if r.Subject == account && r.State == store.Approved {
			v := r.Viewer
			if vu := h.live(v); vu != nil {
				v = vu.address
			}
			list = append(list, v)
		}
	}
	if len(list) == 0 {
		return viewerSet{}
	}
	slices.Sort(list)
	s := viewerSet{sorted: slices.Clone(slices.Compact(list))} // no spare capacity: it is held while idle
	s.indexIfLarge()
	return s
}
