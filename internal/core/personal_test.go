package core

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/store"
)

// TestPersonalItemValues: a tune's rating is 1 to 10 (XEP-0118), a mood
// one of XEP-0107's values; errors speak of fields, not Go types.
func TestPersonalItemValues(t *testing.T) {
	for _, tc := range []struct {
		topic, data string
		ok          bool
	}{
		{TopicTune, `{"title":"x","rating":10}`, true},
		{TopicTune, `{"title":"x","rating":1}`, true},
		{TopicTune, `{"title":"x"}`, true},
		{TopicTune, `{"title":"x","rating":11}`, false},
		{TopicTune, `{"title":"x","rating":-1}`, false},
		{TopicTune, `{"title":"x","length":-5}`, false},
		{TopicMood, `{"mood":"happy"}`, true},
		{TopicMood, `{"mood":"in_love"}`, true},
		{TopicMood, `{"mood":"undefined"}`, true},
		{TopicMood, `{"text":"no mood, just words"}`, true},
		{TopicMood, `{}`, true},
		{TopicMood, `{"mood":"busy"}`, false},
		{TopicMood, `{"mood":"hapy"}`, false},
	} {
		_, err := CanonicalItem(tc.topic, json.RawMessage(tc.data))
		if (err == nil) != tc.ok {
			t.Errorf("%s %s: %v", tc.topic, tc.data, err)
		}
	}
	_, err := CanonicalItem(TopicTune, json.RawMessage(`{"rating":"great"}`))
	if err == nil || !strings.Contains(err.Error(), "rating must be a whole number") || strings.Contains(err.Error(), "TuneItem") {
		t.Errorf("type error: %v", err)
	}
}

// publishAfterRead is the store with one publish made right after the
// next read of personal items: a publish that lands while SetInterests
// is between its read and taking the topics.
type publishAfterRead struct {
	store.Store
	publish func()
}

func (p *publishAfterRead) PersonalItemsOf(ctx context.Context, accounts []string) ([]store.PersonalItem, error) {
	items, err := p.Store.PersonalItemsOf(ctx, accounts)
	if f := p.publish; f != nil {
		p.publish = nil
		f()
	}
	return items, err
}

// An item published while SetInterests reads the last items reaches the
// session: by that read or by its own fan-out. Before, SetInterests read
// the store first and took the topics after, so the item was in neither
// (TestXMPPAndJSONSharePersonalEvents timed out on it once).
func TestInterestMissesNoItemPublishedMeanwhile(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	b := e.connect("bob@x", avail)
	a := e.open("alice@x", SessionOptions{Device: "xmpp", Presence: avail, Topics: []string{}})
	st := &publishAfterRead{Store: e.st}
	e.hub.store = st
	var published store.PersonalItem
	st.publish = func() {
		var err error
		published, err = b.s.Publish(ctx, TopicMood, "m1", json.RawMessage(`{"mood":"happy"}`))
		e.must(err)
	}
	a.take()
	e.must(a.s.SetInterests(ctx, []string{TopicMood}))
	if st.publish != nil {
		t.Fatal("the publish did not happen during SetInterests")
	}
	got := personalIn(a.take())
	if len(got) == 0 || got[len(got)-1].Item.ItemID != published.ItemID || got[len(got)-1].Item.Account != "bob@x" {
		t.Fatalf("alice's session got %+v, want bob's %s", got, published.ItemID)
	}
}

// failingItemsRead fails its next PersonalItemsOf.
type failingItemsRead struct {
	store.Store
	fail bool
}

func (f *failingItemsRead) PersonalItemsOf(ctx context.Context, accounts []string) ([]store.PersonalItem, error) {
	if f.fail {
		f.fail = false
		return nil, errors.New("the store is away")
	}
	return f.Store.PersonalItemsOf(ctx, accounts)
}

// A SetInterests whose read of the last items failed leaves the topics
// not taken, so that asking again reads them: the topics are taken
// before the read (above), and were kept after a failure, when asking
// again found nothing added and read nothing.
func TestInterestAskedAgainAfterAFailedRead(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	b := e.connect("bob@x", avail)
	published, err := b.s.Publish(ctx, TopicMood, "m1", json.RawMessage(`{"mood":"happy"}`))
	e.must(err)
	a := e.open("alice@x", SessionOptions{Device: "xmpp", Presence: avail, Topics: []string{}})
	st := &failingItemsRead{Store: e.st, fail: true}
	e.hub.store = st
	a.take()
	if err := a.s.SetInterests(ctx, []string{TopicMood}); err == nil {
		t.Fatal("SetInterests succeeded over a failed read")
	}
	e.must(a.s.SetInterests(ctx, []string{TopicMood}))
	got := personalIn(a.take())
	if len(got) != 1 || got[0].Item.ItemID != published.ItemID {
		t.Fatalf("alice's session got %+v, want bob's %s", got, published.ItemID)
	}
}
