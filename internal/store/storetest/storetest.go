// Package storetest is the conformance suite every store backend must pass.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// Run runs the suite; open must return a fresh, empty store each call.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T, store.Store)
	}{
		{"Accounts", testAccounts},
		{"Tokens", testTokens},
		{"Contacts", testContacts},
		{"ContactLimit", testContactLimit},
		{"Relations", testRelations},
		{"BlocksAndHidden", testBlocksAndHidden},
		{"ApprovedBy", testApprovedBy},
		{"DeleteAccountCascades", testDeleteCascades},
		{"PersonalItems", testPersonalItems},
		{"Lifecycle", testLifecycle},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open(t)) })
	}
}

var ctx = context.Background()
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

func addAccount(t *testing.T, s store.Store, addr string) {
	t.Helper()
	must(t, s.CreateAccount(ctx, store.Account{Address: addr, PasswordHash: "h-" + addr, CreatedAt: t0}))
}

func testAccounts(t *testing.T, s store.Store) {
	addAccount(t, s, "bob@x")
	addAccount(t, s, "alice@x")
	wantErr(t, s.CreateAccount(ctx, store.Account{Address: "bob@x", PasswordHash: "z"}), store.ErrExists)
	a, err := s.GetAccount(ctx, "alice@x")
	must(t, err)
	if a.PasswordHash != "h-alice@x" || !a.CreatedAt.Equal(t0) || a.Invisible || !a.LastSeen.IsZero() {
		t.Fatalf("got %+v", a)
	}
	_, err = s.GetAccount(ctx, "nobody@x")
	wantErr(t, err, store.ErrNotFound)
	scram := []store.ScramCredential{{Mechanism: "SCRAM-SHA-256", Salt: []byte("salt"), Iterations: 4096, StoredKey: []byte{1, 2}, ServerKey: []byte{3}}}
	must(t, s.SetCredentials(ctx, "alice@x", "new", scram))
	must(t, s.SetInvisible(ctx, "alice@x", true))
	must(t, s.SetLastSeen(ctx, "alice@x", t0.Add(time.Hour)))
	a, _ = s.GetAccount(ctx, "alice@x")
	if a.PasswordHash != "new" || !a.Invisible || !a.LastSeen.Equal(t0.Add(time.Hour)) || !reflect.DeepEqual(a.Scram, scram) {
		t.Fatalf("updates lost: %+v", a)
	}
	wantErr(t, s.SetCredentials(ctx, "nobody@x", "x", nil), store.ErrNotFound)
	list, err := s.ListAccounts(ctx)
	must(t, err)
	if len(list) != 2 || list[0].Address != "alice@x" || list[1].Address != "bob@x" {
		t.Fatalf("list %+v", list)
	}
	must(t, s.DeleteAccount(ctx, "bob@x"))
	wantErr(t, s.DeleteAccount(ctx, "bob@x"), store.ErrNotFound)
}

func testTokens(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	tok := store.Token{ID: "t1", Hash: []byte("hash1"), Account: "alice@x", Label: "cli", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	must(t, s.CreateToken(ctx, tok))
	must(t, s.CreateToken(ctx, store.Token{ID: "t2", Hash: []byte("hash2"), Account: "alice@x", Label: "web", CreatedAt: t0.Add(time.Second)}))
	wantErr(t, s.CreateToken(ctx, store.Token{ID: "t3", Hash: []byte("h"), Account: "nobody@x"}), store.ErrNotFound)
	got, err := s.TokenByHash(ctx, []byte("hash1"))
	must(t, err)
	if !reflect.DeepEqual(got, tok) {
		t.Fatalf("got %+v want %+v", got, tok)
	}
	_, err = s.TokenByHash(ctx, []byte("nope"))
	wantErr(t, err, store.ErrNotFound)
	list, _ := s.ListTokens(ctx, "alice@x")
	if len(list) != 2 || list[0].ID != "t1" {
		t.Fatalf("list %+v", list)
	}
	n, err := s.DeleteExpiredTokens(ctx, t0.Add(2*time.Hour))
	must(t, err)
	if n != 1 { // t2 never expires
		t.Fatalf("expired %d", n)
	}
	wantErr(t, s.DeleteToken(ctx, "bob@x", "t2"), store.ErrNotFound) // not bob's
	must(t, s.DeleteToken(ctx, "alice@x", "t2"))
	list, _ = s.ListTokens(ctx, "alice@x")
	if len(list) != 0 {
		t.Fatalf("left %+v", list)
	}
}

func testContacts(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	c := store.Contact{ID: "c1", Owner: "alice@x", Name: "Bob Builder", Emails: []string{"bob@mail"}, Phones: []string{"+1 555"},
		Groups: []string{"Work"}, Address: "bob@x", Notes: "met at conf", Version: 1, Updated: t0}
	must(t, s.CreateContacts(ctx, "alice@x", []store.Contact{c, {ID: "c2", Owner: "alice@x", Name: "Carol", Version: 1, Updated: t0}}, 0))
	wantErr(t, s.CreateContacts(ctx, "alice@x", []store.Contact{{ID: "c1", Name: "dup", Version: 1}}, 0), store.ErrExists)
	got, err := s.GetContact(ctx, "alice@x", "c1")
	must(t, err)
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("got %+v want %+v", got, c)
	}
	_, err = s.GetContact(ctx, "bob@x", "c1") // another owner's contact does not exist for bob
	wantErr(t, err, store.ErrNotFound)

	for q, want := range map[store.ContactQuery]int{{}: 2, {Text: "builder"}: 1, {Text: "555"}: 1, {Group: "work"}: 1, {Group: "Wor"}: 0, {Text: "zzz"}: 0} {
		l, err := s.ListContacts(ctx, "alice@x", q)
		must(t, err)
		if len(l) != want {
			t.Errorf("query %+v: %d results, want %d", q, len(l), want)
		}
	}
	if n, _ := s.CountContacts(ctx, "alice@x"); n != 2 {
		t.Fatalf("count %d", n)
	}

	c.Name = "Robert"
	v, err := s.UpdateContact(ctx, c, 1)
	must(t, err)
	if v != 2 {
		t.Fatalf("version %d", v)
	}
	_, err = s.UpdateContact(ctx, c, 1) // stale
	wantErr(t, err, store.ErrConflict)
	_, err = s.UpdateContact(ctx, store.Contact{ID: "zz", Owner: "alice@x"}, 0)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteContact(ctx, "alice@x", "c1", 1), store.ErrConflict)
	must(t, s.DeleteContact(ctx, "alice@x", "c1", 2))
	wantErr(t, s.DeleteContact(ctx, "alice@x", "c1", 0), store.ErrNotFound)
}

func testContactLimit(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	batch := func(prefix string, n int) []store.Contact {
		var cs []store.Contact
		for i := 0; i < n; i++ {
			cs = append(cs, store.Contact{ID: fmt.Sprint(prefix, i), Owner: "alice@x", Name: "n", Version: 1})
		}
		return cs
	}
	must(t, s.CreateContacts(ctx, "alice@x", batch("a", 3), 5))
	wantErr(t, s.CreateContacts(ctx, "alice@x", batch("b", 3), 5), store.ErrLimit)
	if n, _ := s.CountContacts(ctx, "alice@x"); n != 3 {
		t.Fatalf("a refused batch must write nothing: %d contacts", n)
	}
}

func testRelations(t *testing.T, s store.Store) {
	r, err := s.GetRelation(ctx, "alice@x", "bob@x")
	must(t, err)
	if r.State != store.None || r.PreApproved || r.Subject != "alice@x" || r.Viewer != "bob@x" {
		t.Fatalf("zero relation %+v", r)
	}
	must(t, s.PutRelation(ctx, store.Relation{Subject: "alice@x", Viewer: "bob@x", State: store.Pending}))
	must(t, s.PutRelation(ctx, store.Relation{Subject: "carol@x", Viewer: "alice@x", State: store.Approved}))
	must(t, s.PutRelation(ctx, store.Relation{Subject: "dave@x", Viewer: "erin@x", PreApproved: true}))
	must(t, s.PutRelation(ctx, store.Relation{Subject: "alice@x", Viewer: "bob@x", State: store.Approved}))
	r, _ = s.GetRelation(ctx, "alice@x", "bob@x")
	if r.State != store.Approved {
		t.Fatalf("upsert lost: %+v", r)
	}
	rs, err := s.RelationsOf(ctx, "alice@x")
	must(t, err)
	if len(rs) != 2 {
		t.Fatalf("relations %+v", rs)
	}
	must(t, s.PutRelation(ctx, store.Relation{Subject: "alice@x", Viewer: "bob@x"})) // none: deleted
	rs, _ = s.RelationsOf(ctx, "bob@x")
	if len(rs) != 0 {
		t.Fatalf("none must delete: %+v", rs)
	}
	r, _ = s.GetRelation(ctx, "dave@x", "erin@x")
	if !r.PreApproved || r.State != store.None {
		t.Fatalf("preapproval %+v", r)
	}
}

func testBlocksAndHidden(t *testing.T, s store.Store) {
	must(t, s.Block(ctx, "alice@x", "mallory@x"))
	must(t, s.Block(ctx, "alice@x", "mallory@x")) // idempotent
	must(t, s.Block(ctx, "alice@x", "eve@x"))
	l, _ := s.ListBlocks(ctx, "alice@x")
	if !reflect.DeepEqual(l, []string{"eve@x", "mallory@x"}) {
		t.Fatalf("blocks %v", l)
	}
	must(t, s.Unblock(ctx, "alice@x", "eve@x"))
	must(t, s.Unblock(ctx, "alice@x", "eve@x"))
	l, _ = s.ListBlocks(ctx, "alice@x")
	if !reflect.DeepEqual(l, []string{"mallory@x"}) {
		t.Fatalf("blocks %v", l)
	}
	must(t, s.Hide(ctx, "alice@x", "bob@x"))
	must(t, s.Hide(ctx, "alice@x", "bob@x"))
	l, _ = s.ListHidden(ctx, "alice@x")
	if !reflect.DeepEqual(l, []string{"bob@x"}) {
		t.Fatalf("hidden %v", l)
	}
	must(t, s.Unhide(ctx, "alice@x", "bob@x"))
	l, _ = s.ListHidden(ctx, "alice@x")
	if len(l) != 0 {
		t.Fatalf("hidden %v", l)
	}
}

func testDeleteCascades(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	must(t, s.CreateToken(ctx, store.Token{ID: "t", Hash: []byte("h"), Account: "alice@x"}))
	must(t, s.CreateContacts(ctx, "alice@x", []store.Contact{{ID: "c", Owner: "alice@x", Version: 1}}, 0))
	must(t, s.PutRelation(ctx, store.Relation{Subject: "bob@x", Viewer: "alice@x", State: store.Approved}))
	must(t, s.Block(ctx, "bob@x", "alice@x"))
	must(t, s.Hide(ctx, "alice@x", "bob@x"))
	must(t, s.DeleteAccount(ctx, "alice@x"))
	if _, err := s.TokenByHash(ctx, []byte("h")); !errors.Is(err, store.ErrNotFound) {
		t.Error("token survived")
	}
	if n, _ := s.CountContacts(ctx, "alice@x"); n != 0 {
		t.Error("contacts survived")
	}
	if rs, _ := s.RelationsOf(ctx, "bob@x"); len(rs) != 0 {
		t.Error("relations survived")
	}
	if l, _ := s.ListBlocks(ctx, "bob@x"); len(l) != 0 {
		t.Error("blocks survived")
	}
}

func testApprovedBy(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	must(t, s.SetInvisible(ctx, "alice@x", true))
	must(t, s.SetLastSeen(ctx, "alice@x", t0))
	for _, r := range []store.Relation{
		{Subject: "alice@x", Viewer: "v@x", State: store.Approved},
		{Subject: "bob@x", Viewer: "v@x", State: store.Approved}, // no account: still listed
		{Subject: "carol@x", Viewer: "v@x", State: store.Pending},
		{Subject: "dave@x", Viewer: "v@x", State: store.Declined},
		{Subject: "alice@x", Viewer: "w@x", State: store.Approved},
	} {
		must(t, s.PutRelation(ctx, r))
	}
	must(t, s.Block(ctx, "bob@x", "v@x"))
	must(t, s.Hide(ctx, "alice@x", "v@x"))
	got, err := s.ApprovedBy(ctx, "v@x")
	must(t, err)
	want := []store.SubjectFacts{
		{Subject: "alice@x", Hidden: true, Invisible: true, LastSeen: t0},
		{Subject: "bob@x", Blocked: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func testPersonalItems(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	mood := store.PersonalItem{Account: "alice@x", Topic: "mood", ItemID: "1", Data: `{"mood":"happy"}`, Published: t0}
	must(t, s.PutPersonalItem(ctx, mood, 2))
	mood.ItemID, mood.Data = "2", `{"mood":"sad"}`
	must(t, s.PutPersonalItem(ctx, mood, 2)) // replaces: still one topic
	tune := store.PersonalItem{Account: "alice@x", Topic: "tune", ItemID: "t", Data: `{}`, Published: t0}
	must(t, s.PutPersonalItem(ctx, tune, 2))
	wantErr(t, s.PutPersonalItem(ctx, store.PersonalItem{Account: "alice@x", Topic: "geoloc", ItemID: "g", Data: `{}`, Published: t0}, 2), store.ErrLimit)
	must(t, s.PutPersonalItem(ctx, store.PersonalItem{Account: "bob@x", Topic: "mood", ItemID: "b", Data: `{}`, Published: t0}, 2))
	got, err := s.PersonalItemsOf(ctx, []string{"alice@x", "bob@x", "nobody@x"})
	must(t, err)
	want := []store.PersonalItem{mood, tune, {Account: "bob@x", Topic: "mood", ItemID: "b", Data: `{}`, Published: t0}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("items:\n got %+v\nwant %+v", got, want)
	}
	must(t, s.DeletePersonalItem(ctx, "alice@x", "mood"))
	must(t, s.DeletePersonalItem(ctx, "alice@x", "mood")) // idempotent
	must(t, s.DeleteAccount(ctx, "bob@x"))
	got, err = s.PersonalItemsOf(ctx, []string{"alice@x", "bob@x"})
	must(t, err)
	if !reflect.DeepEqual(got, []store.PersonalItem{tune}) {
		t.Fatalf("after delete: %+v", got)
	}
}

// testLifecycle: deleting an account, changing credentials and revoking a
// token are logged, in order, once each, and only when they happened.
func testLifecycle(t *testing.T, s store.Store) {
	start, err := s.LastLifecycleID(ctx)
	must(t, err)
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	must(t, s.CreateToken(ctx, store.Token{ID: "t1", Hash: []byte("h1"), Account: "alice@x", CreatedAt: t0}))
	must(t, s.DeleteToken(ctx, "alice@x", "t1"))
	wantErr(t, s.DeleteToken(ctx, "alice@x", "t1"), store.ErrNotFound)
	must(t, s.SetCredentials(ctx, "alice@x", "new", nil))
	wantErr(t, s.SetCredentials(ctx, "nobody@x", "new", nil), store.ErrNotFound)
	must(t, s.DeleteAccount(ctx, "bob@x"))
	wantErr(t, s.DeleteAccount(ctx, "bob@x"), store.ErrNotFound)

	evs, err := s.LifecycleSince(ctx, start, 10)
	must(t, err)
	want := []store.LifecycleEvent{
		{Kind: store.LifecycleTokenRevoked, Account: "alice@x", TokenID: "t1"},
		{Kind: store.LifecyclePassword, Account: "alice@x"},
		{Kind: store.LifecycleDeleted, Account: "bob@x"},
	}
	if len(evs) != len(want) {
		t.Fatalf("log %+v, want %+v", evs, want)
	}
	for i, ev := range evs {
		if ev.Kind != want[i].Kind || ev.Account != want[i].Account || ev.TokenID != want[i].TokenID || ev.At.IsZero() {
			t.Fatalf("event %d: %+v, want %+v", i, ev, want[i])
		}
		if i > 0 && ev.ID <= evs[i-1].ID {
			t.Fatalf("ids not increasing: %+v", evs)
		}
	}
	if page, _ := s.LifecycleSince(ctx, evs[0].ID, 1); len(page) != 1 || page[0].ID != evs[1].ID {
		t.Fatalf("paging after %d: %+v", evs[0].ID, page)
	}
	last, err := s.LastLifecycleID(ctx)
	must(t, err)
	if last != evs[2].ID {
		t.Fatalf("last id %d, want %d", last, evs[2].ID)
	}
	// pruning everything keeps the newest, so a starting reader's position holds
	_, err = s.PruneLifecycle(ctx, time.Now().Add(time.Hour))
	must(t, err)
	if last2, _ := s.LastLifecycleID(ctx); last2 != last {
		t.Fatalf("after pruning the last id is %d, want %d", last2, last)
	}
	if evs, _ := s.LifecycleSince(ctx, start, 10); len(evs) != 1 {
		t.Fatalf("after pruning: %+v", evs)
	}
}
