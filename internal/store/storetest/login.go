package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// testAccountView: AccountView's one read gives what the methods it stands
// in for give, each in their order, on an account with every kind of row
// (and rows of others it must leave out); an unknown account is
// ErrNotFound; an account with nothing gets its account alone.
func testAccountView(t *testing.T, s store.Store) {
	for _, a := range []string{"alice@x", "bob@x", "carol@x", "dave@x", "erin@x"} {
		addAccount(t, s, a)
	}
	must(t, s.SetInvisible(ctx, "alice@x", true))
	must(t, s.SetLastSeen(ctx, "alice@x", t0.Add(time.Minute)))
	must(t, s.SetLastSeen(ctx, "bob@x", t0.Add(2*time.Minute)))
	for _, r := range []store.Relation{
		{Subject: "alice@x", Viewer: "bob@x", State: store.Approved},
		{Subject: "bob@x", Viewer: "alice@x", State: store.Approved},
		{Subject: "carol@x", Viewer: "alice@x", State: store.Approved, PreApproved: true},
		{Subject: "dave@x", Viewer: "alice@x", State: store.Pending},
		{Subject: "alice@x", Viewer: "erin@x", State: store.Declined},
		{Subject: "alice@x", Viewer: "frank@y", PreApproved: true},
		{Subject: "remote@y", Viewer: "alice@x", State: store.Approved}, // no account here
		{Subject: "bob@x", Viewer: "carol@x", State: store.Approved},    // not alice's
	} {
		must(t, s.PutRelation(ctx, r))
	}
	must(t, s.Block(ctx, "alice@x", "dave@x", t0, 0))
	must(t, s.Block(ctx, "alice@x", "mallory@y", time.Time{}, 0))
	must(t, s.Hide(ctx, "alice@x", "erin@x", t0.Add(time.Hour), 0))
	must(t, s.Block(ctx, "carol@x", "alice@x", t0.Add(3*time.Minute), 0)) // a subject blocking her
	must(t, s.Hide(ctx, "bob@x", "alice@x", t0.Add(4*time.Minute), 0))    // one hiding from her
	must(t, s.Block(ctx, "bob@x", "carol@x", t0, 0))                      // not about alice
	addApp(t, s, "calls", "")
	addApp(t, s, "game", "")
	must(t, s.PutGrant(ctx, store.Grant{Account: "alice@x", App: "game", Contacts: store.ContactsGroup, Group: "family",
		CreatedAt: t0, UpdatedAt: t0}))
	must(t, s.PutGrant(ctx, store.Grant{Account: "alice@x", App: "calls", Scopes: []string{"presence:read", "signal"}, Contacts: store.ContactsPicked,
		Picked: []string{"bob@x", "carol@x"}, Addresses: true, Hidden: true, Private: true,
		CreatedAt: t0, UpdatedAt: t0.Add(time.Hour), ExpiresAt: t0.Add(24 * time.Hour)}))
	must(t, s.PutGrant(ctx, store.Grant{Account: "bob@x", App: "calls", Contacts: store.ContactsAll, CreatedAt: t0, UpdatedAt: t0}))
	for _, it := range []store.PersonalItem{
		{Account: "alice@x", Topic: "tune", ItemID: "t", Data: `{"title":"x"}`, Published: t0},
		{Account: "alice@x", Topic: "mood", ItemID: "m", Data: `{"mood":"happy"}`},
		{Account: "bob@x", Topic: "mood", ItemID: "b", Data: `{}`, Published: t0.Add(time.Second)},
		{Account: "carol@x", Topic: "geoloc", ItemID: "c", Data: `{}`, Published: t0},
		{Account: "dave@x", Topic: "mood", ItemID: "d", Data: `{}`, Published: t0}, // pending: not alice's to see
		{Account: "erin@x", Topic: "mood", ItemID: "e", Data: `{}`, Published: t0},
	} {
		must(t, s.PutPersonalItem(ctx, it, 0))
	}

	got, err := s.AccountView(ctx, "alice@x")
	must(t, err)
	acct, err := s.GetAccount(ctx, "alice@x")
	must(t, err)
	acct.PasswordHash, acct.Scram = "", nil
	rels, err := s.RelationsOf(ctx, "alice@x")
	must(t, err)
	blocks, hidden, err := s.PrivacyLists(ctx, "alice@x")
	must(t, err)
	grants, err := s.ListGrants(ctx, "alice@x")
	must(t, err)
	facts, err := s.ApprovedBy(ctx, "alice@x")
	must(t, err)
	subjects := []string{"alice@x"}
	for _, f := range facts {
		subjects = append(subjects, f.Subject)
	}
	items, err := s.PersonalItemsOf(ctx, subjects)
	must(t, err)
	want := store.AccountView{Account: acct, Relations: rels, Blocks: blocks, Hidden: hidden, Grants: grants, Approved: facts, Items: items}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("AccountView:\n got %+v\nwant %+v", got, want)
	}
	// the fixture has every kind, so that the comparison above compares something
	if len(rels) != 7 || len(blocks) != 2 || len(hidden) != 1 || len(grants) != 2 || len(facts) != 3 || len(items) != 4 {
		t.Fatalf("fixture: %d relations, %d blocks, %d hidden, %d grants, %d approved, %d items", len(rels), len(blocks), len(hidden), len(grants), len(facts), len(items))
	}
	if !acct.Invisible || acct.LastSeen.IsZero() || !acct.CreatedAt.Equal(t0) {
		t.Fatalf("account %+v", acct)
	}

	_, err = s.AccountView(ctx, "nobody@x")
	wantErr(t, err, store.ErrNotFound)
	_, err = s.AccountView(ctx, "remote@y") // named by relations, but no account
	wantErr(t, err, store.ErrNotFound)
	addAccount(t, s, "new@x")
	got, err = s.AccountView(ctx, "new@x")
	must(t, err)
	if want := (store.AccountView{Account: store.Account{Address: "new@x", CreatedAt: t0}}); !reflect.DeepEqual(got, want) {
		t.Fatalf("an account with nothing:\n got %+v\nwant %+v", got, want)
	}
	// personal items of a subject that approved it, none of its own
	must(t, s.PutRelation(ctx, store.Relation{Subject: "carol@x", Viewer: "new@x", State: store.Approved}))
	got, err = s.AccountView(ctx, "new@x")
	must(t, err)
	if len(got.Items) != 1 || got.Items[0].Account != "carol@x" || len(got.Approved) != 1 || len(got.Relations) != 1 {
		t.Fatalf("approved by carol, who has an item: %+v", got)
	}
}
