package core

import (
	"testing"

	"github.com/presenced/presenced/internal/store"
)

// TestSubscriptionOfOnePair: the view of one counterpart, read from the
// pair alone, is the entry Subscriptions lists for it (or the empty view),
// whether the user has sessions (blocks from memory) or not (from the store).
func TestSubscriptionOfOnePair(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x", "carol@x", "dave@x", "erin@x", "frank@x")
	e.befriend("alice@x", "bob@x")
	e.must(e.hub.Subscribe(ctx, "alice@x", "carol@x"))   // pending out
	e.must(e.hub.Subscribe(ctx, "dave@x", "alice@x"))    // pending in
	e.must(e.hub.Subscribe(ctx, "erin@x", "alice@x"))    // pending in, from someone alice blocks
	e.must(e.hub.Approve(ctx, "alice@x", "frank@x"))     // pre-approved
	e.must(e.hub.Subscribe(ctx, "alice@x", "dave@x"))    // …
	e.must(e.hub.Deny(ctx, "dave@x", "alice@x"))         // declined: still pending to alice
	e.must(e.hub.Block(ctx, "alice@x", "erin@x"))        //
	e.must(e.hub.Subscribe(ctx, "alice@x", "ghost@x"))   // no such account
	e.must(e.hub.Unsubscribe(ctx, "alice@x", "ghost@x")) // … and withdrawn: nothing left
	check := func() {
		t.Helper()
		subs, err := e.hub.Subscriptions(ctx, "alice@x")
		e.must(err)
		listed := map[string]SubscriptionView{}
		for _, v := range subs {
			listed[v.Address] = v
		}
		for _, other := range []string{"bob@x", "carol@x", "dave@x", "erin@x", "frank@x", "ghost@x"} {
			want, ok := listed[other]
			if !ok {
				want = SubscriptionView{Address: other}
			}
			if got, err := e.hub.Subscription(ctx, "alice@x", other); err != nil || got != want {
				t.Errorf("alice's view of %s: %+v (%v), want %+v", other, got, err, want)
			}
		}
	}
	check() // offline: blocks from the store
	a := e.connect("alice@x", avail)
	check() // online: blocks from memory
	a.s.Close()
	if _, err := e.hub.Subscription(ctx, "alice@x", "alice@x"); CodeOf(err) != CodeInvalid {
		t.Fatalf("one's own address: %v", err)
	}
}

// TestContactEventsNameTheAddressLeft: a contact event says which presence
// address a card left (an XMPP roster item changes with it); writes without
// a version still go through, with one the stale ones fail.
func TestContactEventsNameTheAddressLeft(t *testing.T) {
	e := newEnv(t, "alice@x")
	a := e.connect("alice@x", avail)
	cs, err := e.hub.CreateContacts(ctx, "alice@x", []store.Contact{{Name: "Bob", Address: "bob@x"}})
	e.must(err)
	c := cs[0]
	last := func() ContactEvent {
		t.Helper()
		var got []ContactEvent
		for _, ev := range a.take() {
			if ce, ok := ev.(ContactEvent); ok {
				got = append(got, ce)
			}
		}
		if len(got) != 1 {
			t.Fatalf("contact events %+v, want one", got)
		}
		return got[0]
	}
	if ev := last(); ev.Op != "put" || ev.Contact.Address != "bob@x" || ev.PrevAddress != "" {
		t.Fatalf("create: %+v", ev)
	}
	c.Name = "Robert"
	v1 := c.Version
	c, err = e.hub.UpdateContact(ctx, c, 0)
	e.must(err)
	if ev := last(); ev.Contact.Name != "Robert" || ev.PrevAddress != "" || c.Version <= v1 || ev.Contact.Version != c.Version {
		t.Fatalf("rename: %+v (version %d)", ev, c.Version)
	}
	c.Address = "Rob@X"
	v2 := c.Version
	c, err = e.hub.UpdateContact(ctx, c, c.Version)
	e.must(err)
	if ev := last(); ev.Contact.Address != "rob@x" || ev.PrevAddress != "bob@x" {
		t.Fatalf("move: %+v", ev)
	}
	c.Address = ""
	_, err = e.hub.UpdateContact(ctx, c, v2) // stale
	if CodeOf(err) != CodeConflict {
		t.Fatalf("stale update: %v", err)
	}
	if evs := a.take(); len(evs) != 0 {
		t.Fatalf("a failed update told %+v", evs)
	}
	c, err = e.hub.UpdateContact(ctx, c, 0)
	e.must(err)
	if ev := last(); ev.Contact.Address != "" || ev.PrevAddress != "rob@x" {
		t.Fatalf("address dropped: %+v", ev)
	}
	c.Address = "bob@x"
	c, err = e.hub.UpdateContact(ctx, c, 0)
	e.must(err)
	last()
	if CodeOf(e.hub.DeleteContact(ctx, "alice@x", c.ID, c.Version-1)) != CodeConflict {
		t.Fatal("stale delete went through")
	}
	e.must(e.hub.DeleteContact(ctx, "alice@x", c.ID, 0))
	if ev := last(); ev.Op != "delete" || ev.Contact.Address != "bob@x" {
		t.Fatalf("delete: %+v", ev)
	}
	if CodeOf(e.hub.DeleteContact(ctx, "alice@x", c.ID, 0)) != CodeNotFound {
		t.Fatal("deleted twice")
	}
}

// TestEditContactKeepsAWriteLandingInBetween: an edit of some fields (the
// XMPP roster's name and groups) is made on the card as stored at the
// write: a PUT from elsewhere that lands between the edit's read and its
// write keeps its changes, and the edit is applied on top of them.
func TestEditContactKeepsAWriteLandingInBetween(t *testing.T) {
	e := newEnv(t, "alice@x")
	cs, err := e.hub.CreateContacts(ctx, "alice@x", []store.Contact{{Name: "Bob", Address: "bob@x", Emails: []string{"bob@mail"}}})
	e.must(err)
	id := cs[0].ID
	edits := 0
	out, err := e.hub.EditContact(ctx, "alice@x", id, func(c *store.Contact) {
		edits++
		if edits == 1 { // a CardDAV/REST PUT lands after the roster's read
			other := *c
			other.Phones, other.Notes = []string{"+1 555"}, "from CardDAV"
			_, err := e.hub.UpdateContact(ctx, other, c.Version)
			e.must(err)
		}
		c.Name, c.Groups = "Robert", []string{"Friends"}
	})
	e.must(err)
	got, err := e.hub.Contact(ctx, "alice@x", id)
	e.must(err)
	if got.Name != "Robert" || len(got.Groups) != 1 || got.Notes != "from CardDAV" || len(got.Phones) != 1 || len(got.Emails) != 1 || got.Version != out.Version {
		t.Fatalf("after the edit: %+v (returned version %d)", got, out.Version)
	}
	if edits != 2 {
		t.Fatalf("edit ran %d times, want 2 (once more after losing the race)", edits)
	}

	// a write in between every time: the edit gives up, bounded
	edits = 0
	_, err = e.hub.EditContact(ctx, "alice@x", id, func(c *store.Contact) {
		edits++
		_, err := e.hub.UpdateContact(ctx, *c, c.Version)
		e.must(err)
		c.Name = "Never"
	})
	if CodeOf(err) != CodeConflict || edits != maxEditAttempts {
		t.Fatalf("always losing: %v after %d edits", err, edits)
	}
	if got, _ := e.hub.Contact(ctx, "alice@x", id); got.Name != "Robert" {
		t.Fatalf("a lost edit was written: %+v", got)
	}
}

// TestContactTextHoldsNoControlCharacters: a carriage return (or another
// control character) in a field would break the vCard line it becomes, and
// the card could no longer be written back by CardDAV clients; a line feed
// in notes and a tab are fine.
func TestContactTextHoldsNoControlCharacters(t *testing.T) {
	for _, c := range []store.Contact{{Name: "Bob\rEMAIL:evil@x"}, {Name: "Bob", Emails: []string{"a\x00@x"}}, {Name: "x\x7f"}} {
		if err := ValidateContact(&c); CodeOf(err) != CodeInvalid {
			t.Fatalf("%+v: %v", c, err)
		}
	}
	ok := store.Contact{Name: "Bob\tBuilder", Notes: "line one\nline two"}
	if err := ValidateContact(&ok); err != nil {
		t.Fatal(err)
	}
}
