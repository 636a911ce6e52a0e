package core

import (
	"math/rand/v2"
	"reflect"
	"sort"
	"testing"

	"github.com/presenced/presenced/internal/store"
)

// pairViewsByMap is pairViews as it was before it sorted the edges: a map
// of the pair of edges per account. TestPairViewsLikeMap compares with it.
func pairViewsByMap(actor string, rels []store.Relation, blocks func(other string) bool) []SubscriptionView {
	type pair struct{ to, from store.Relation }
	pairs := make(map[string]*pair, len(rels))
	for _, r := range rels {
		other, p := r.Subject, (*pair)(nil)
		if other == actor {
			other = r.Viewer
		}
		if p = pairs[other]; p == nil {
			p = &pair{}
			pairs[other] = p
		}
		if r.Viewer == actor {
			p.to = r
		} else {
			p.from = r
		}
	}
	out := make([]SubscriptionView, 0, len(pairs))
	for other, p := range pairs {
		if v := pairView(actor, other, p.to, p.from, blocks(other)); !v.empty() {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// TestPairViewsLikeMap: the views pairViews makes from a relation list in
// any order (both sides of each pair, one side, none; the actor's edge to
// itself; every state; blocked accounts) are the map's.
func TestPairViewsLikeMap(t *testing.T) {
	rnd := rand.New(rand.NewPCG(9, 7))
	const actor = "alice@x"
	others := []string{"bob@x", "carol@x", "dave@x", "erin@x", "frank@y", "alice@x"}
	states := []store.State{store.None, store.Pending, store.Approved, store.Declined}
	for round := 0; round < 2000; round++ {
		var rels []store.Relation
		for _, o := range others {
			for _, toMe := range []bool{true, false} {
				if rnd.IntN(3) == 0 {
					continue
				}
				r := store.Relation{Subject: actor, Viewer: o, State: states[rnd.IntN(len(states))], PreApproved: rnd.IntN(2) == 0}
				if toMe {
					r.Subject, r.Viewer = o, actor
				}
				rels = append(rels, r)
			}
		}
		rnd.Shuffle(len(rels), func(i, j int) { rels[i], rels[j] = rels[j], rels[i] })
		blocked := map[string]bool{others[rnd.IntN(len(others))]: true}
		blocks := func(o string) bool { return blocked[o] }
		want := pairViewsByMap(actor, rels, blocks)
		if got := pairViews(actor, rels, blocks); !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d, relations %+v:\n got %+v\nwant %+v", round, rels, got, want)
		}
	}
}
