// Package storetest is the conformance suite every store backend must pass.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
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
		{"LastSeenOfMany", testLastSeenOfMany},
		{"Tokens", testTokens},
		{"Contacts", testContacts},
		{"ContactLimit", testContactLimit},
		{"ContactChanges", testContactChanges},
		{"ContactPositionIsPerBook", testContactPositionIsPerBook},
		{"ContactTombstonesBounded", testContactTombstonesBounded},
		{"RecreatedBookForgetsPositions", testRecreatedBookForgetsPositions},
		{"Relations", testRelations},
		{"EditPair", testEditPair},
		{"EditPairLimits", testEditPairLimits},
		{"EditPairSerialises", testEditPairSerialises},
		{"EditPairLimitsUnderConcurrency", testEditPairLimitsConcurrent},
		{"BlocksAndHidden", testBlocksAndHidden},
		{"PrivacyListLimits", testPrivacyListLimits},
		{"PrivacyListLimitsUnderConcurrency", testPrivacyListLimitsConcurrent},
		{"ApprovedBy", testApprovedBy},
		{"FactsOf", testFactsOf},
		{"FactsOfIsOneState", testFactsOfIsOneState},
		{"DeleteAccountCascades", testDeleteCascades},
		{"RecreatedAccountInheritsNothing", testRecreatedInheritsNothing},
		{"PersonalItems", testPersonalItems},
		{"Lifecycle", testLifecycle},
		{"LifecycleFollowedUnderConcurrency", testLifecycleFollowed},
		{"Apps", testApps},
		{"Grants", testGrants},
		{"GrantLimits", testGrantLimits},
		{"GrantExpiry", testGrantExpiry},
		{"PushSubscriptions", testPushSubscriptions},
		{"AppTokens", testAppTokens},
		{"RefreshRotation", testRefreshRotation},
		{"UpdateApp", testUpdateApp},
		{"AppSecret", testAppSecret},
		{"DeleteApp", testDeleteApp},
		{"DeleteAccountApps", testDeleteAccountApps},
		{"Identities", testIdentities},
		{"IdentityLimit", testIdentityLimit},
		{"GrantingAccounts", testGrantingAccounts},
		{"Stored", testStored},
		{"Archive", testArchive},
		{"Rooms", testRooms},
		{"RemoteAffiliations", testRemoteAffiliations},
		{"Secrets", testSecrets},
		{"SecretsRace", testSecretsRace},
		{"AuthRequests", testAuthRequests},
		{"AuthCodeSpentOnce", testAuthCodeSpentOnce},
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
	last, err := s.LastLifecycleID(ctx)
	must(t, err)
	n, err := s.DeleteExpiredTokens(ctx, t0.Add(2*time.Hour))
	must(t, err)
	if n != 1 { // t2 never expires
		t.Fatalf("expired %d", n)
	}
	evs, err := s.LifecycleSince(ctx, last, 10)
	must(t, err)
	if len(evs) != 1 || evs[0].Kind != store.LifecycleTokenRevoked || evs[0].Account != "alice@x" || evs[0].TokenID != "t1" {
		t.Fatalf("an expiry is logged as a revocation: %+v", evs)
	}
	wantErr(t, s.DeleteToken(ctx, "bob@x", "t2"), store.ErrNotFound) // not bob's
	must(t, s.DeleteToken(ctx, "alice@x", "t2"))
	list, _ = s.ListTokens(ctx, "alice@x")
	if len(list) != 0 {
		t.Fatalf("left %+v", list)
	}

	// a token issued by a sign-in exists only while the password it checked does
	must(t, s.CreateToken(ctx, store.Token{ID: "p1", Hash: []byte("p1"), Account: "alice@x", Proof: "h-alice@x"}))
	wantErr(t, s.CreateToken(ctx, store.Token{ID: "p2", Hash: []byte("p2"), Account: "alice@x", Proof: "an old hash"}), store.ErrStale)
	// a password change and "sign out everywhere" revoke every token in one
	// transaction, each logged
	must(t, s.CreateToken(ctx, store.Token{ID: "p3", Hash: []byte("p3"), Account: "alice@x"}))
	last, err = s.LastLifecycleID(ctx)
	must(t, err)
	must(t, s.SetCredentials(ctx, "alice@x", "new", nil))
	if list, _ = s.ListTokens(ctx, "alice@x"); len(list) != 0 {
		t.Fatalf("tokens outlived the password: %+v", list)
	}
	evs, err = s.LifecycleSince(ctx, last, 10)
	must(t, err)
	if len(evs) != 3 || evs[0].Kind != store.LifecyclePassword || evs[1].Kind != store.LifecycleTokenRevoked || evs[2].Kind != store.LifecycleTokenRevoked {
		t.Fatalf("a password change logs itself, then each token revoked: %+v", evs)
	}
	wantErr(t, s.CreateToken(ctx, store.Token{ID: "p4", Hash: []byte("p4"), Account: "alice@x", Proof: "h-alice@x"}), store.ErrStale)
	must(t, s.CreateToken(ctx, store.Token{ID: "p5", Hash: []byte("p5"), Account: "alice@x", Proof: "new"}))
	must(t, s.CreateToken(ctx, store.Token{ID: "p6", Hash: []byte("p6"), Account: "alice@x"}))
	n, err = s.DeleteTokens(ctx, "alice@x")
	must(t, err)
	if list, _ = s.ListTokens(ctx, "alice@x"); n != 2 || len(list) != 0 {
		t.Fatalf("sign out everywhere: %d deleted, %+v left", n, list)
	}
}

func testContacts(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	c := store.Contact{ID: "c1", Owner: "alice@x", Name: "Bob Builder", Emails: []string{"bob@mail"}, Phones: []string{"+1 555"},
		Groups: []string{"Work"}, Address: "bob@x", Notes: "met at conf", Version: 1, Updated: t0}
	created := []store.Contact{c, {ID: "c2", Owner: "alice@x", Name: "Carol", Updated: t0}}
	must(t, s.CreateContacts(ctx, "alice@x", created, 0))
	if created[0].Version <= 0 || created[1].Version <= created[0].Version {
		t.Fatalf("versions set %d, %d", created[0].Version, created[1].Version)
	}
	c.Version = created[0].Version
	wantErr(t, s.CreateContacts(ctx, "alice@x", []store.Contact{{ID: "c1", Name: "dup", Version: 1}}, 0), store.ErrExists)
	got, err := s.GetContact(ctx, "alice@x", "c1")
	must(t, err)
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("got %+v want %+v", got, c)
	}
	_, err = s.GetContact(ctx, "bob@x", "c1") // another owner's contact does not exist for bob
	wantErr(t, err, store.ErrNotFound)

	for q, want := range map[store.ContactQuery]int{{}: 2, {Text: "builder"}: 1, {Text: "555"}: 1, {Group: "work"}: 1, {Group: "Wor"}: 0, {Text: "zzz"}: 0,
		{Address: "bob@x"}: 1, {Address: "bob"}: 0, {Address: "bob@x", Group: "work"}: 1, {Address: "bob@x", Text: "carol"}: 0} {
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
	v1 := c.Version
	v, err := s.UpdateContact(ctx, c, v1)
	must(t, err)
	if v <= v1 {
		t.Fatalf("version %d after %d", v, v1)
	}
	if got, _ := s.GetContact(ctx, "alice@x", "c1"); got.Version != v {
		t.Fatalf("stored version %d, returned %d", got.Version, v)
	}
	_, err = s.UpdateContact(ctx, c, v1) // stale
	wantErr(t, err, store.ErrConflict)
	_, err = s.UpdateContact(ctx, store.Contact{ID: "zz", Owner: "alice@x"}, 0)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteContact(ctx, "alice@x", "c1", v1, 0), store.ErrConflict)
	must(t, s.DeleteContact(ctx, "alice@x", "c1", v, 0))
	wantErr(t, s.DeleteContact(ctx, "alice@x", "c1", 0, 0), store.ErrNotFound)

	// created again under the same ID (a CardDAV client chose the name): no
	// version of the deleted card names the new one, so a write still
	// holding one is refused instead of overwriting it
	again := []store.Contact{{ID: "c1", Owner: "alice@x", Name: "Someone else"}}
	must(t, s.CreateContacts(ctx, "alice@x", again, 0))
	if again[0].Version == v1 || again[0].Version == v {
		t.Fatalf("the new c1 has version %d, a version of the deleted one (%d, %d)", again[0].Version, v1, v)
	}
	_, err = s.UpdateContact(ctx, c, v1)
	wantErr(t, err, store.ErrConflict)
	_, err = s.UpdateContact(ctx, c, v)
	wantErr(t, err, store.ErrConflict)
	wantErr(t, s.DeleteContact(ctx, "alice@x", "c1", v, 0), store.ErrConflict)
	if got, _ := s.GetContact(ctx, "alice@x", "c1"); got.Name != "Someone else" {
		t.Fatalf("a stale write replaced the new card: %+v", got)
	}
}

// version returns the stored version of owner's contact id.
func version(t *testing.T, s store.Store, owner, id string) int64 {
	t.Helper()
	c, err := s.GetContact(ctx, owner, id)
	must(t, err)
	return c.Version
}

// changes runs ContactChanges and returns its entries as "id@version" and
// "-id", sorted, and the new position.
func changes(t *testing.T, s store.Store, owner string, since int64) ([]string, int64) {
	t.Helper()
	cs, pos, err := s.ContactChanges(ctx, owner, since)
	must(t, err)
	out := []string{}
	for _, c := range cs {
		if c.Deleted {
			out = append(out, "-"+c.ID)
		} else {
			out = append(out, fmt.Sprintf("%s@%d", c.ID, c.Version))
		}
	}
	sort.Strings(out)
	return out, pos
}

func wantChanges(t *testing.T, got []string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("changes %v, want %v", got, want)
	}
}

func testContactChanges(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	got, p0 := changes(t, s, "alice@x", 0)
	wantChanges(t, got)
	card := "VERSION:3.0\r\nFN:Bob\r\nX-FOO;TYPE=bar:baz\r\nitem1.EMAIL:b@x\r\nitem1.X-ABLabel:home"
	must(t, s.CreateContacts(ctx, "alice@x", []store.Contact{{ID: "a", Owner: "alice@x", Name: "Bob", Version: 1, Card: card}, {ID: "b", Owner: "alice@x", Name: "B", Version: 1}}, 0))
	must(t, s.CreateContacts(ctx, "bob@x", []store.Contact{{ID: "z", Owner: "bob@x", Name: "Z", Version: 1}}, 0))
	if c, err := s.GetContact(ctx, "alice@x", "a"); err != nil || c.Card != card {
		t.Fatalf("card %q %v, want %q", c.Card, err, card)
	}
	at := func(id string) string { return fmt.Sprintf("%s@%d", id, version(t, s, "alice@x", id)) }
	got, p1 := changes(t, s, "alice@x", p0)
	wantChanges(t, got, at("a"), at("b")) // bob's book is not alice's
	if p1 <= p0 {
		t.Fatalf("position %d after %d", p1, p0)
	}
	got, p2 := changes(t, s, "alice@x", p1)
	wantChanges(t, got)
	if p2 != p1 {
		t.Fatalf("no write moved the position: %d, %d", p1, p2)
	}

	// an update replaces the card; a conflicting one changes nothing
	c, _ := s.GetContact(ctx, "alice@x", "a")
	c.Card = "VERSION:4.0\r\nFN:Bobby"
	_, err := s.UpdateContact(ctx, c, c.Version)
	must(t, err)
	_, err = s.UpdateContact(ctx, c, c.Version)
	wantErr(t, err, store.ErrConflict)
	if c, _ := s.GetContact(ctx, "alice@x", "a"); c.Card != "VERSION:4.0\r\nFN:Bobby" {
		t.Fatalf("card after update %q", c.Card)
	}
	wantErr(t, s.DeleteContact(ctx, "alice@x", "b", version(t, s, "alice@x", "b")+1000, 0), store.ErrConflict) // changes nothing either
	got, p3 := changes(t, s, "alice@x", p2)
	a2 := at("a")
	wantChanges(t, got, a2)

	must(t, s.DeleteContact(ctx, "alice@x", "b", version(t, s, "alice@x", "b"), 0))
	got, p4 := changes(t, s, "alice@x", p3)
	wantChanges(t, got, "-b")
	got, _ = changes(t, s, "alice@x", p0)
	wantChanges(t, got, "-b", a2)
	got, _ = changes(t, s, "alice@x", 0) // everything there is, no deletion
	wantChanges(t, got, a2)

	// created again under the deleted name: a change, not a deletion
	must(t, s.CreateContacts(ctx, "alice@x", []store.Contact{{ID: "b", Owner: "alice@x", Name: "B2", Version: 1}}, 0))
	got, _ = changes(t, s, "alice@x", p4)
	wantChanges(t, got, at("b"))
	got, _ = changes(t, s, "alice@x", p3)
	wantChanges(t, got, at("b"))

	// a position from the future or from another book's past is refused
	_, _, err = s.ContactChanges(ctx, "alice@x", p4+1000)
	wantErr(t, err, store.ErrSyncExpired)
}

// testContactPositionIsPerBook: a book's position (a CardDAV sync token
// and getctag) moves with its own writes only, so polling it tells nothing
// of the other books on the server; another book's position is refused.
func testContactPositionIsPerBook(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	must(t, s.CreateContacts(ctx, "alice@x", []store.Contact{{ID: "a", Owner: "alice@x", Name: "A", Version: 1}}, 0))
	_, p0 := changes(t, s, "alice@x", 0)
	must(t, s.CreateContacts(ctx, "bob@x", []store.Contact{{ID: "z", Owner: "bob@x", Name: "Z", Version: 1}, {ID: "y", Owner: "bob@x", Name: "Y", Version: 1}}, 0))
	z, _ := s.GetContact(ctx, "bob@x", "z")
	z.Name = "Zed"
	_, err := s.UpdateContact(ctx, z, 0)
	must(t, err)
	must(t, s.DeleteContact(ctx, "bob@x", "y", 0, 0))
	_, q := changes(t, s, "bob@x", 0)
	got, p1 := changes(t, s, "alice@x", p0)
	wantChanges(t, got)
	if p1 != p0 {
		t.Fatalf("bob's writes moved alice's position: %d, then %d", p0, p1)
	}
	if _, p := changes(t, s, "alice@x", 0); p != p0 {
		t.Fatalf("bob's writes moved alice's position: %d, then %d", p0, p)
	}
	_, _, err = s.ContactChanges(ctx, "alice@x", q) // bob's position, above alice's
	wantErr(t, err, store.ErrSyncExpired)
	must(t, s.DeleteContact(ctx, "alice@x", "a", 0, 0))
	got, p2 := changes(t, s, "alice@x", p0)
	wantChanges(t, got, "-a")
	if p2 <= p0 {
		t.Fatalf("alice's write did not move her position: %d, then %d", p0, p2)
	}
}

func testContactTombstonesBounded(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	var cs []store.Contact
	for i := 0; i < 6; i++ {
		cs = append(cs, store.Contact{ID: fmt.Sprint("c", i), Owner: "alice@x", Name: "n", Version: 1})
	}
	must(t, s.CreateContacts(ctx, "alice@x", cs, 0))
	_, p0 := changes(t, s, "alice@x", 0)
	must(t, s.DeleteContact(ctx, "alice@x", "c0", 0, 3))
	_, p1 := changes(t, s, "alice@x", p0)
	for i := 1; i < 4; i++ { // tombstones c0..c3: one more than 3
		must(t, s.DeleteContact(ctx, "alice@x", fmt.Sprint("c", i), 0, 3))
	}
	// c0's deletion is forgotten: p0, before it, cannot be answered; p1, after it, can
	_, _, err := s.ContactChanges(ctx, "alice@x", p0)
	wantErr(t, err, store.ErrSyncExpired)
	got, _ := changes(t, s, "alice@x", p1)
	wantChanges(t, got, "-c1", "-c2", "-c3")
}

func testRecreatedBookForgetsPositions(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	must(t, s.CreateContacts(ctx, "alice@x", []store.Contact{{ID: "a", Owner: "alice@x", Name: "A", Version: 1}}, 0))
	_, p := changes(t, s, "alice@x", 0)
	must(t, s.DeleteAccount(ctx, "alice@x"))
	addAccount(t, s, "alice@x")
	// the new book's positions start after every old one: the old token
	// expires instead of meaning "nothing changed"
	_, _, err := s.ContactChanges(ctx, "alice@x", p)
	wantErr(t, err, store.ErrSyncExpired)
	must(t, s.CreateContacts(ctx, "alice@x", []store.Contact{{ID: "b", Owner: "alice@x", Name: "B", Version: 1}}, 0))
	_, _, err = s.ContactChanges(ctx, "alice@x", p)
	wantErr(t, err, store.ErrSyncExpired)
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
	must(t, s.Block(ctx, "alice@x", "mallory@x", time.Time{}, 0))
	must(t, s.Block(ctx, "alice@x", "mallory@x", time.Time{}, 0)) // idempotent
	must(t, s.Block(ctx, "alice@x", "eve@x", time.Time{}, 0))
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
	must(t, s.Hide(ctx, "alice@x", "bob@x", time.Time{}, 0))
	must(t, s.Hide(ctx, "alice@x", "bob@x", time.Time{}, 0))
	l, _ = s.ListHidden(ctx, "alice@x")
	if !reflect.DeepEqual(l, []string{"bob@x"}) {
		t.Fatalf("hidden %v", l)
	}
	must(t, s.Unhide(ctx, "alice@x", "bob@x"))
	l, _ = s.ListHidden(ctx, "alice@x")
	if len(l) != 0 {
		t.Fatalf("hidden %v", l)
	}

	// what each entry's viewer is shown: kept from the first add
	must(t, s.Hide(ctx, "alice@x", "bob@x", t0, 0))
	must(t, s.Hide(ctx, "alice@x", "bob@x", t0.Add(time.Hour), 0))
	must(t, s.Block(ctx, "alice@x", "eve@x", t0.Add(time.Minute), 0))
	blocks, hidden, err := s.PrivacyLists(ctx, "alice@x")
	must(t, err)
	wantBlocks := []store.ListEntry{{Address: "eve@x", Shown: t0.Add(time.Minute)}, {Address: "mallory@x"}}
	if !reflect.DeepEqual(blocks, wantBlocks) || !reflect.DeepEqual(hidden, []store.ListEntry{{Address: "bob@x", Shown: t0}}) {
		t.Fatalf("privacy lists %+v %+v", blocks, hidden)
	}
	if blocks, hidden, err := s.PrivacyLists(ctx, "nobody@x"); err != nil || blocks != nil || hidden != nil {
		t.Fatalf("lists of nobody %+v %+v %v", blocks, hidden, err)
	}
}

func testPrivacyListLimits(t *testing.T, s store.Store) {
	for _, l := range []struct {
		name string
		add  func(owner, entry string, max int) error
		list func(owner string) ([]string, error)
	}{
		{"blocks",
			func(o, e string, max int) error { return s.Block(ctx, o, e, time.Time{}, max) },
			func(o string) ([]string, error) { return s.ListBlocks(ctx, o) }},
		{"hidden",
			func(o, e string, max int) error { return s.Hide(ctx, o, e, time.Time{}, max) },
			func(o string) ([]string, error) { return s.ListHidden(ctx, o) }},
	} {
		t.Run(l.name, func(t *testing.T) {
			must(t, l.add("alice@x", "b1@x", 2))
			must(t, l.add("alice@x", "b2@x", 2))
			wantErr(t, l.add("alice@x", "b3@x", 2), store.ErrLimit)
			must(t, l.add("alice@x", "b1@x", 2)) // re-adding an entry is no new entry
			must(t, l.add("alice@x", "b2@x", 1)) // nor when the list is over max already
			must(t, l.add("carol@x", "b3@x", 2)) // the limit is per list
			must(t, l.add("alice@x", "b3@x", 0)) // 0: no limit
			wantErr(t, l.add("alice@x", "b4@x", 3), store.ErrLimit)
			must(t, l.add("alice@x", "b4@x", 4))
			got, err := l.list("alice@x")
			must(t, err)
			if !reflect.DeepEqual(got, []string{"b1@x", "b2@x", "b3@x", "b4@x"}) {
				t.Fatalf("list %v", got)
			}
		})
	}
}

// testPrivacyListLimitsConcurrent adds entries concurrently: the count and
// the insert must be one step, so that they cannot together pass max.
func testPrivacyListLimitsConcurrent(t *testing.T, s store.Store) {
	const n, max = 20, 5
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := s.Block(ctx, "alice@x", fmt.Sprintf("b%d@x", i), time.Time{}, max); err != nil && !errors.Is(err, store.ErrLimit) {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if err := s.Hide(ctx, "alice@x", fmt.Sprintf("b%d@x", i), time.Time{}, max); err != nil && !errors.Is(err, store.ErrLimit) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	blocks, err := s.ListBlocks(ctx, "alice@x")
	must(t, err)
	hidden, err := s.ListHidden(ctx, "alice@x")
	must(t, err)
	if len(blocks) != max || len(hidden) != max {
		t.Fatalf("%d blocks and %d hidden, want %d each", len(blocks), len(hidden), max)
	}
}

func testDeleteCascades(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	must(t, s.CreateToken(ctx, store.Token{ID: "t", Hash: []byte("h"), Account: "alice@x"}))
	must(t, s.CreateContacts(ctx, "alice@x", []store.Contact{{ID: "c", Owner: "alice@x", Version: 1}}, 0))
	must(t, s.PutRelation(ctx, store.Relation{Subject: "bob@x", Viewer: "alice@x", State: store.Approved}))
	must(t, s.Block(ctx, "bob@x", "alice@x", time.Time{}, 0))
	must(t, s.Hide(ctx, "alice@x", "bob@x", time.Time{}, 0))
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

// testRecreatedInheritsNothing deletes an account that has every kind of
// data, re-creates its address, and checks that the new account starts
// empty while the data of others that did not involve it stays.
func testRecreatedInheritsNothing(t *testing.T, s store.Store) {
	for _, a := range []string{"alice@x", "bob@x", "carol@x"} {
		addAccount(t, s, a)
	}
	must(t, s.CreateToken(ctx, store.Token{ID: "ta", Hash: []byte("ha"), Account: "alice@x", CreatedAt: t0}))
	must(t, s.CreateToken(ctx, store.Token{ID: "tb", Hash: []byte("hb"), Account: "bob@x", CreatedAt: t0}))
	must(t, s.CreateContacts(ctx, "alice@x", []store.Contact{{ID: "c", Owner: "alice@x", Name: "Bob", Address: "bob@x", Version: 1}}, 0))
	must(t, s.CreateContacts(ctx, "bob@x", []store.Contact{{ID: "c", Owner: "bob@x", Name: "Alice", Address: "alice@x", Version: 1}}, 0))
	must(t, s.PutPersonalItem(ctx, store.PersonalItem{Account: "alice@x", Topic: "mood", ItemID: "1", Data: `{}`, Published: t0}, 0))
	for _, r := range []store.Relation{
		rel("alice@x", "bob@x", store.Approved, false),
		rel("bob@x", "alice@x", store.Pending, false),
		rel("alice@x", "carol@x", store.None, true),
		rel("carol@x", "alice@x", store.Declined, false),
		rel("bob@x", "carol@x", store.Approved, false), // not alice's
	} {
		must(t, s.PutRelation(ctx, r))
	}
	for _, p := range [][2]string{{"alice@x", "bob@x"}, {"bob@x", "alice@x"}, {"bob@x", "carol@x"}} {
		must(t, s.Block(ctx, p[0], p[1], time.Time{}, 0))
		must(t, s.Hide(ctx, p[0], p[1], time.Time{}, 0))
	}
	must(t, s.SetInvisible(ctx, "alice@x", true))
	must(t, s.SetLastSeen(ctx, "alice@x", t0))

	must(t, s.DeleteAccount(ctx, "alice@x"))
	must(t, s.CreateAccount(ctx, store.Account{Address: "alice@x", PasswordHash: "new", CreatedAt: t0.Add(time.Hour)}))

	a, err := s.GetAccount(ctx, "alice@x")
	must(t, err)
	if want := (store.Account{Address: "alice@x", PasswordHash: "new", CreatedAt: t0.Add(time.Hour)}); !reflect.DeepEqual(a, want) {
		t.Errorf("account %+v, want %+v", a, want)
	}
	if l, err := s.ListTokens(ctx, "alice@x"); err != nil || len(l) != 0 {
		t.Errorf("tokens %+v %v", l, err)
	}
	if _, err := s.TokenByHash(ctx, []byte("ha")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token by hash: %v", err)
	}
	if l, err := s.ListContacts(ctx, "alice@x", store.ContactQuery{}); err != nil || len(l) != 0 {
		t.Errorf("contacts %+v %v", l, err)
	}
	if _, err := s.GetContact(ctx, "alice@x", "c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("contact: %v", err)
	}
	if l, err := s.PersonalItemsOf(ctx, []string{"alice@x"}); err != nil || len(l) != 0 {
		t.Errorf("personal items %+v %v", l, err)
	}
	if l, err := s.RelationsOf(ctx, "alice@x"); err != nil || len(l) != 0 {
		t.Errorf("relations %+v %v", l, err)
	}
	if l, err := s.ApprovedBy(ctx, "alice@x"); err != nil || len(l) != 0 {
		t.Errorf("approved by %+v %v", l, err)
	}
	for _, l := range []func(context.Context, string) ([]string, error){s.ListBlocks, s.ListHidden} {
		if got, err := l(ctx, "alice@x"); err != nil || len(got) != 0 {
			t.Errorf("alice's list %v %v", got, err)
		}
		if got, err := l(ctx, "bob@x"); err != nil || !reflect.DeepEqual(got, []string{"carol@x"}) {
			t.Errorf("bob's list %v %v, want only carol", got, err)
		}
	}

	// what did not involve alice stays
	if l, _ := s.ListTokens(ctx, "bob@x"); len(l) != 1 {
		t.Errorf("bob's tokens %+v", l)
	}
	if n, _ := s.CountContacts(ctx, "bob@x"); n != 1 {
		t.Errorf("bob's contacts: %d", n)
	}
	if rs, _ := s.RelationsOf(ctx, "bob@x"); !reflect.DeepEqual(rs, []store.Relation{rel("bob@x", "carol@x", store.Approved, false)}) {
		t.Errorf("bob's relations %+v", rs)
	}

	// with no account at an address, nothing is deleted
	must(t, s.PutRelation(ctx, rel("ghost@x", "bob@x", store.Pending, false)))
	wantErr(t, s.DeleteAccount(ctx, "ghost@x"), store.ErrNotFound)
	wantRelation(t, s, rel("ghost@x", "bob@x", store.Pending, false))
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
	must(t, s.Block(ctx, "bob@x", "v@x", time.Time{}, 0))
	must(t, s.Hide(ctx, "alice@x", "v@x", t0.Add(-time.Hour), 0))
	got, err := s.ApprovedBy(ctx, "v@x")
	must(t, err)
	want := []store.SubjectFacts{
		{Subject: "alice@x", Hidden: true, Invisible: true, LastSeen: t0, Shown: t0.Add(-time.Hour)},
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
	bobs := []store.Relation{ // as RelationsOf orders them
		rel("alice@x", "bob@x", store.Approved, false),
		rel("bob@x", "alice@x", store.Pending, false),
		rel("bob@x", "ghost@x", store.None, true),
	}
	for _, r := range append(bobs, rel("alice@x", "carol@x", store.Approved, false)) {
		must(t, s.PutRelation(ctx, r))
	}
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
	// the deletion logs the relations it deleted, and only those
	if !reflect.DeepEqual(evs[2].Relations, bobs) || evs[0].Relations != nil || evs[1].Relations != nil {
		t.Fatalf("relations logged: %+v", evs)
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

func rel(subject, viewer string, st store.State, pre bool) store.Relation {
	return store.Relation{Subject: subject, Viewer: viewer, State: st, PreApproved: pre}
}

func wantRelation(t *testing.T, s store.Store, want store.Relation) {
	t.Helper()
	got, err := s.GetRelation(ctx, want.Subject, want.Viewer)
	must(t, err)
	if got != want {
		t.Fatalf("stored %+v, want %+v", got, want)
	}
}

func testEditPair(t *testing.T, s store.Store) {
	must(t, s.PutRelation(ctx, rel("alice@x", "bob@x", store.Pending, false))) // bob asked alice
	var gotMine, gotTheirs store.Relation
	mine, theirs, err := s.EditPair(ctx, "alice@x", "bob@x", store.RelationLimits{}, func(m, th *store.Relation) {
		gotMine, gotTheirs = *m, *th
		th.State = store.Approved                      // alice approves bob
		m.State = store.Pending                        // and asks back
		m.Subject, m.Viewer = "mallory@x", "mallory@x" // ignored
	})
	must(t, err)
	// change gets, and EditPair returns, the edges as stored before
	if want := rel("bob@x", "alice@x", store.None, false); gotMine != want || mine != want {
		t.Fatalf("mine: change got %+v, returned %+v, want %+v", gotMine, mine, want)
	}
	if want := rel("alice@x", "bob@x", store.Pending, false); gotTheirs != want || theirs != want {
		t.Fatalf("theirs: change got %+v, returned %+v, want %+v", gotTheirs, theirs, want)
	}
	wantRelation(t, s, rel("alice@x", "bob@x", store.Approved, false))
	wantRelation(t, s, rel("bob@x", "alice@x", store.Pending, false))
	if rs, _ := s.RelationsOf(ctx, "mallory@x"); len(rs) != 0 {
		t.Fatalf("change moved an edge: %+v", rs)
	}

	// from the other side, mine and theirs swap
	mine, theirs, err = s.EditPair(ctx, "bob@x", "alice@x", store.RelationLimits{}, func(m, th *store.Relation) {
		th.State = store.Approved // bob approves alice
		m.State = store.None      // and stops seeing alice
	})
	must(t, err)
	if mine != rel("alice@x", "bob@x", store.Approved, false) || theirs != rel("bob@x", "alice@x", store.Pending, false) {
		t.Fatalf("returned %+v, %+v", mine, theirs)
	}
	wantRelation(t, s, rel("bob@x", "alice@x", store.Approved, false))
	rs, _ := s.RelationsOf(ctx, "alice@x")
	if !reflect.DeepEqual(rs, []store.Relation{rel("bob@x", "alice@x", store.Approved, false)}) {
		t.Fatalf("an edge of State None and no pre-approval must be deleted: %+v", rs)
	}

	// a pre-approval alone is kept
	_, _, err = s.EditPair(ctx, "carol@x", "dave@x", store.RelationLimits{}, func(m, th *store.Relation) { th.PreApproved = true })
	must(t, err)
	wantRelation(t, s, rel("carol@x", "dave@x", store.None, true))

	// no change writes nothing and fails nothing
	_, _, err = s.EditPair(ctx, "carol@x", "dave@x", store.RelationLimits{Requests: 1, Relations: 1}, func(m, th *store.Relation) {})
	must(t, err)
	wantRelation(t, s, rel("carol@x", "dave@x", store.None, true))

	if _, _, err := s.EditPair(ctx, "carol@x", "carol@x", store.RelationLimits{}, func(m, th *store.Relation) { m.State = store.Approved }); err == nil {
		t.Fatal("a pair of one account must fail")
	}
	if rs, _ := s.RelationsOf(ctx, "carol@x"); len(rs) != 1 {
		t.Fatalf("relations of carol %+v", rs)
	}
}

// request is a change in which actor asks to see other.
func request(mine, theirs *store.Relation) { mine.State = store.Pending }

func countRelations(t *testing.T, s store.Store, addr string) int {
	t.Helper()
	rs, err := s.RelationsOf(ctx, addr)
	must(t, err)
	return len(rs)
}

func testEditPairLimits(t *testing.T, s store.Store) {
	lim := store.RelationLimits{Requests: 2}
	edit := func(actor, other string, change func(m, th *store.Relation)) error {
		_, _, err := s.EditPair(ctx, actor, other, lim, change)
		return err
	}

	// requests made, per viewer
	must(t, edit("alice@x", "b1@x", request))
	must(t, edit("alice@x", "b2@x", request))
	wantErr(t, edit("alice@x", "b3@x", request), store.ErrLimit)
	if n := countRelations(t, s, "b3@x"); n != 0 {
		t.Fatalf("a refused request was stored: %d rows", n)
	}
	// a refused change writes nothing, not even its edge within the limit
	wantErr(t, edit("alice@x", "b3@x", func(m, th *store.Relation) { th.State = store.Approved; m.State = store.Pending }), store.ErrLimit)
	wantRelation(t, s, rel("alice@x", "b3@x", store.None, false))
	// only an edge entering Pending or Declined is checked: b1 declining
	// alice keeps it a request, and is allowed at the limit
	must(t, edit("b1@x", "alice@x", func(m, th *store.Relation) { th.State = store.Declined }))
	wantRelation(t, s, rel("b1@x", "alice@x", store.Declined, false))
	// a request answered makes room
	must(t, edit("b2@x", "alice@x", func(m, th *store.Relation) { th.State = store.Approved }))
	must(t, edit("alice@x", "b3@x", request))

	// requests received, per subject, counted apart from those made
	must(t, edit("x1@x", "carol@x", request))
	must(t, edit("x2@x", "carol@x", request))
	wantErr(t, edit("x3@x", "carol@x", request), store.ErrLimit)
	must(t, edit("carol@x", "x3@x", request)) // carol may still ask: 1 made
	// declined requests count as received too
	must(t, edit("carol@x", "x1@x", func(m, th *store.Relation) { th.State = store.Declined }))
	wantErr(t, edit("x4@x", "carol@x", request), store.ErrLimit)
	must(t, edit("carol@x", "x1@x", func(m, th *store.Relation) { th.State = store.None }))
	must(t, edit("x4@x", "carol@x", request))

	// pre-approvals, per subject, counted apart from requests received
	preapprove := func(m, th *store.Relation) { th.PreApproved = true }
	must(t, edit("dave@x", "p1@x", preapprove))
	must(t, edit("dave@x", "p2@x", preapprove))
	wantErr(t, edit("dave@x", "p3@x", preapprove), store.ErrLimit)
	must(t, edit("q1@x", "dave@x", request))
	must(t, edit("q2@x", "dave@x", request))
	// an edge keeping its pre-approval is not checked
	must(t, edit("dave@x", "p1@x", func(m, th *store.Relation) { th.State = store.Approved }))
	wantRelation(t, s, rel("dave@x", "p1@x", store.Approved, true))
	// a pre-approval counts whatever the edge's State
	must(t, edit("dave@x", "p2@x", func(m, th *store.Relation) { th.PreApproved = false }))
	must(t, edit("dave@x", "p3@x", preapprove))
	wantErr(t, edit("dave@x", "p4@x", preapprove), store.ErrLimit)

	// rows an account is in, for both accounts of a created row
	lim = store.RelationLimits{Relations: 2}
	approve := func(m, th *store.Relation) { th.State = store.Approved }
	must(t, edit("erin@x", "f1@x", request))
	must(t, edit("erin@x", "f2@x", approve))
	wantErr(t, edit("erin@x", "f3@x", request), store.ErrLimit) // erin would be in 3
	wantErr(t, edit("f3@x", "erin@x", request), store.ErrLimit) // so would she, asked by f3
	wantErr(t, edit("f1@x", "erin@x", request), store.ErrLimit) // a second row of the pair is a row too
	// changing rows is not checked
	must(t, edit("f1@x", "erin@x", approve))
	must(t, edit("erin@x", "f2@x", func(m, th *store.Relation) { th.State = store.None; th.PreApproved = true }))
	// counts are those after the change: a row created as one is deleted fits
	must(t, edit("erin@x", "f2@x", func(m, th *store.Relation) { th.PreApproved = false; m.State = store.Pending }))
	wantRelation(t, s, rel("f2@x", "erin@x", store.Pending, false))
	wantRelation(t, s, rel("erin@x", "f2@x", store.None, false))
	if n := countRelations(t, s, "erin@x"); n != 2 {
		t.Fatalf("erin is in %d rows", n)
	}
	// a row deleted makes room
	must(t, edit("erin@x", "f1@x", func(m, th *store.Relation) { m.State = store.None }))
	must(t, edit("erin@x", "f3@x", request))
}

// testEditPairSerialises runs conflicting edits of one pair concurrently,
// from both sides: each adds one to a counter held in the pair's two edges,
// so a lost update would show in the final count and in the edges two edits
// saw.
func testEditPairSerialises(t *testing.T, s store.Store) {
	const n = 40 // under the 64 values the counter holds
	// the counter: State and PreApproved of the edge "a may see b" (Subject
	// b), then of "b may see a"
	enc := func(ab, ba store.Relation) int {
		v := int(ab.State) + 8*int(ba.State)
		if ab.PreApproved {
			v += 4
		}
		if ba.PreApproved {
			v += 32
		}
		return v
	}
	dec := func(v int, ab, ba *store.Relation) {
		ab.State, ab.PreApproved = store.State(v&3), v&4 != 0
		ba.State, ba.PreApproved = store.State(v>>3&3), v&32 != 0
	}
	var wg sync.WaitGroup
	seen := make([]int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			actor, other := "a@x", "b@x"
			if i%2 == 1 {
				actor, other = other, actor
			}
			mine, theirs, err := s.EditPair(ctx, actor, other, store.RelationLimits{}, func(m, th *store.Relation) {
				if actor == "a@x" {
					dec(enc(*m, *th)+1, m, th)
				} else {
					dec(enc(*th, *m)+1, th, m)
				}
			})
			if err != nil {
				t.Error(err)
				return
			}
			if actor == "a@x" {
				seen[i] = enc(mine, theirs)
			} else {
				seen[i] = enc(theirs, mine)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	ab, err := s.GetRelation(ctx, "b@x", "a@x")
	must(t, err)
	ba, err := s.GetRelation(ctx, "a@x", "b@x")
	must(t, err)
	if v := enc(ab, ba); v != n {
		t.Fatalf("%d edits left the counter at %d: updates were lost", n, v)
	}
	sort.Ints(seen)
	for i, v := range seen {
		if v != i {
			t.Fatalf("the edits saw %v, not each value from 0 to %d once", seen, n-1)
		}
	}
}

// testEditPairLimitsConcurrent makes concurrent requests of one account to
// many: edits of different pairs must not together exceed its limit.
func testEditPairLimitsConcurrent(t *testing.T, s store.Store) {
	const n, max = 20, 5
	lim := store.RelationLimits{Requests: max}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := s.EditPair(ctx, "alice@x", fmt.Sprintf("b%d@x", i), lim, request)
			if err != nil && !errors.Is(err, store.ErrLimit) {
				t.Error(err)
				return
			}
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if rows := countRelations(t, s, "alice@x"); ok != max || rows != max {
		t.Fatalf("%d requests succeeded, %d stored; want %d", ok, rows, max)
	}
}

// testLifecycleFollowed: a reader following the log as the hub does
// (LifecycleSince after the last id it saw) while several writers log
// concurrently sees every event, once. A backend whose ids can become
// visible out of order (PostgreSQL's sequences) would let the reader move
// past an id still uncommitted and never see it.
func testLifecycleFollowed(t *testing.T, s store.Store) {
	const writers, each = 8, 25
	start, err := s.LastLifecycleID(ctx)
	must(t, err)
	for w := range writers {
		a := fmt.Sprintf("w%d@x", w)
		addAccount(t, s, a)
		for i := range each {
			id := fmt.Sprintf("%s-%d", a, i)
			must(t, s.CreateToken(ctx, store.Token{ID: id, Hash: []byte(id), Account: a, CreatedAt: t0}))
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := fmt.Sprintf("w%d@x", w)
			for i := range each {
				if err := s.DeleteToken(ctx, a, fmt.Sprintf("%s-%d", a, i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	seen := map[string]int{}
	after := start
	follow := func() {
		for {
			evs, err := s.LifecycleSince(ctx, after, 7)
			must(t, err)
			if len(evs) == 0 {
				return
			}
			for _, ev := range evs {
				if ev.ID <= after {
					t.Fatalf("event %d after %d", ev.ID, after)
				}
				after = ev.ID
				seen[ev.TokenID]++
			}
		}
	}
	for following := true; following; {
		select {
		case <-done:
			following = false
		default:
		}
		follow() // once more after the writers are done: the last ones
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != writers*each {
		t.Fatalf("the follower saw %d of %d events", len(seen), writers*each)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event for %s seen %d times", id, n)
		}
	}
}

// testLastSeenOfMany: more accounts than one statement names, and an
// address with no account among them, set in one call.
func testLastSeenOfMany(t *testing.T, s store.Store) {
	ctx := context.Background()
	var addresses []string
	for i := range 1203 {
		a := fmt.Sprintf("u%d@x", i)
		if i != 700 { // no account: passed over
			must(t, s.CreateAccount(ctx, store.Account{Address: a, PasswordHash: "h", CreatedAt: t0}))
		}
		addresses = append(addresses, a)
	}
	must(t, s.CreateAccount(ctx, store.Account{Address: "other@x", PasswordHash: "h", CreatedAt: t0}))
	must(t, s.SetLastSeenOf(ctx, addresses, t0.Add(time.Hour)))
	must(t, s.SetLastSeenOf(ctx, nil, t0))
	for i, a := range addresses {
		if i == 700 {
			continue
		}
		got, err := s.GetAccount(ctx, a)
		must(t, err)
		if !got.LastSeen.Equal(t0.Add(time.Hour)) {
			t.Fatalf("%s last seen %v", a, got.LastSeen)
		}
	}
	if got, _ := s.GetAccount(ctx, "other@x"); !got.LastSeen.IsZero() {
		t.Fatalf("an account not named was touched: %v", got.LastSeen)
	}
}
