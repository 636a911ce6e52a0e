package storetest

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// testFactsOf: FactsOf's parts are what RelationsOf, PrivacyLists,
// ListGrants and ApprovedBy return, and the personal items of the account
// and of those who approved it, no others.
func testFactsOf(t *testing.T, s store.Store) {
	for _, a := range []string{"v@x", "alice@x", "bob@x", "carol@x", "dave@x"} {
		addAccount(t, s, a)
	}
	must(t, s.SetInvisible(ctx, "alice@x", true))
	must(t, s.SetLastSeen(ctx, "alice@x", t0))
	for _, r := range []store.Relation{
		{Subject: "alice@x", Viewer: "v@x", State: store.Approved},
		{Subject: "v@x", Viewer: "alice@x", State: store.Approved},
		{Subject: "bob@x", Viewer: "v@x", State: store.Approved},
		{Subject: "carol@x", Viewer: "v@x", State: store.Pending},
		{Subject: "v@x", Viewer: "dave@x", State: store.Declined, PreApproved: true},
		{Subject: "alice@x", Viewer: "carol@x", State: store.Approved}, // not v's
	} {
		must(t, s.PutRelation(ctx, r))
	}
	must(t, s.Block(ctx, "bob@x", "v@x", time.Time{}, 0))
	must(t, s.Block(ctx, "v@x", "dave@x", t0, 0))
	must(t, s.Hide(ctx, "v@x", "carol@x", t0.Add(-time.Hour), 0))
	must(t, s.Hide(ctx, "alice@x", "v@x", t0.Add(-time.Hour), 0))
	addApp(t, s, "calls", "carol@x")
	addGrant(t, s, "v@x", "calls")
	item := func(account, topic string) store.PersonalItem {
		it := store.PersonalItem{Account: account, Topic: topic, ItemID: account + topic, Data: `{}`, Published: t0}
		must(t, s.PutPersonalItem(ctx, it, 0))
		return it
	}
	wantItems := []store.PersonalItem{item("alice@x", "mood"), item("alice@x", "tune"), item("bob@x", "mood"), item("v@x", "mood")}
	item("carol@x", "mood") // v asked carol, who has not approved it
	item("dave@x", "mood")  // v approves dave, not the other way

	got, err := s.FactsOf(ctx, "v@x")
	must(t, err)
	var want store.AccountFacts
	want.Relations, err = s.RelationsOf(ctx, "v@x")
	must(t, err)
	want.Blocks, want.Hidden, err = s.PrivacyLists(ctx, "v@x")
	must(t, err)
	want.Grants, err = s.ListGrants(ctx, "v@x")
	must(t, err)
	want.Approvers, err = s.ApprovedBy(ctx, "v@x")
	must(t, err)
	want.Items = wantItems
	if len(want.Relations) != 5 || len(want.Blocks) != 1 || len(want.Hidden) != 1 || len(want.Grants) != 1 || len(want.Approvers) != 2 {
		t.Fatalf("the setup is not what the test means: %+v", want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("FactsOf:\n got %+v\nwant %+v", got, want)
	}

	none, err := s.FactsOf(ctx, "nobody@x")
	must(t, err)
	if !reflect.DeepEqual(none, store.AccountFacts{}) {
		t.Fatalf("an address with nothing: %+v", none)
	}
}

// testFactsOfIsOneState: FactsOf sees one state of the store. Writers
// keep a relation and a personal item of the pair in step (an approval with
// its subject's item, a removal with its item's), so every read must find
// both or neither, whichever step it lands between.
func testFactsOfIsOneState(t *testing.T, s store.Store) {
	addAccount(t, s, "v@x")
	addAccount(t, s, "alice@x")
	it := store.PersonalItem{Account: "alice@x", Topic: "mood", ItemID: "1", Data: `{}`, Published: t0}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		for i := 0; i < 30; i++ {
			for _, err := range []error{
				s.PutRelation(ctx, store.Relation{Subject: "alice@x", Viewer: "v@x", State: store.Approved}),
				s.PutPersonalItem(ctx, it, 0),
				s.DeletePersonalItem(ctx, "alice@x", "mood"),
				s.PutRelation(ctx, store.Relation{Subject: "alice@x", Viewer: "v@x", State: store.None}),
			} {
				if err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	reads, bad := 0, ""
	for bad == "" {
		select {
		case <-done:
			if reads == 0 {
				bad = "no read ran"
			}
			wg.Wait()
			if bad != "" {
				t.Fatal(bad)
			}
			return
		default:
		}
		f, err := s.FactsOf(ctx, "v@x")
		reads++
		switch {
		case err != nil:
			bad = err.Error()
		case len(f.Items) > 0 && len(f.Approvers) == 0:
			bad = fmt.Sprintf("read %d: an item of a subject that had not approved: %+v", reads, f)
		case len(f.Approvers) != len(f.Relations):
			bad = fmt.Sprintf("read %d: approvers %+v but relations %+v", reads, f.Approvers, f.Relations)
		}
	}
	wg.Wait() // the writer ends before the test does
	t.Fatal(bad)
}
