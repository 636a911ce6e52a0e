package postgres

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/postgres/pgtest"
	"github.com/presenced/presenced/internal/store/sqlite"
)

// TestTablesAreAll: Import copies every table SQLite has, so a table
// added to the schema without being added to Tables fails here.
func TestTablesAreAll(t *testing.T) {
	ctx := context.Background()
	src, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rows, err := src.SQL().QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type='table'
		AND name NOT IN ('schema_migrations','sqlite_sequence') ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var have []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		have = append(have, n)
	}
	want := slices.Sorted(slices.Values(Tables))
	if !reflect.DeepEqual(have, want) {
		t.Fatalf("SQLite's tables %v, Tables %v", have, want)
	}
}

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fill writes a row into every table of s through the store's API, and
// leaves some deleted: tombstones, a used refresh token, lifecycle events.
func fill(t *testing.T, s store.Store) {
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []string{"alice@x", "bob@x", "carol@x"} {
		must(s.CreateAccount(ctx, store.Account{Address: a, PasswordHash: "hash-" + a, CreatedAt: t0,
			Scram: []store.ScramCredential{{Mechanism: "SCRAM-SHA-256", Salt: []byte{1, 2, 3}, Iterations: 4096, StoredKey: []byte{0xff, 0}, ServerKey: []byte{7}}}}))
	}
	must(s.SetInvisible(ctx, "carol@x", true))
	must(s.SetLastSeen(ctx, "bob@x", t0.Add(time.Minute)))
	must(s.CreateToken(ctx, store.Token{ID: "t1", Hash: []byte{0, 1, 2, 0xfe}, Account: "alice@x", Label: "web", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	must(s.CreateToken(ctx, store.Token{ID: "t2", Hash: []byte("h2"), Account: "bob@x", Label: "cli", CreatedAt: t0}))
	must(s.DeleteToken(ctx, "bob@x", "t2")) // a lifecycle event
	cs := []store.Contact{
		{ID: "c1", Name: "Bob", Emails: []string{"b@example.org"}, Phones: []string{"+1"}, Groups: []string{"friends"}, Address: "bob@x", Updated: t0, Card: "FN:Bob"},
		{ID: "c2", Name: "Zed", Notes: "é ü", Updated: t0},
		{ID: "c3", Name: "Ann", Updated: t0},
		// listed ASCII-case-insensitively, as SQLite's NOCASE: not in byte order (Zed before bob)
		{ID: "c4", Name: "bob", Updated: t0},
		{ID: "c5", Name: "ämy", Updated: t0},
		{ID: "c6", Name: "BOB", Updated: t0},
	}
	must(s.CreateContacts(ctx, "alice@x", cs, 100))
	must(s.DeleteContact(ctx, "alice@x", "c3", 0, 10))
	must(s.PutRelation(ctx, store.Relation{Subject: "alice@x", Viewer: "bob@x", State: store.Approved}))
	must(s.PutRelation(ctx, store.Relation{Subject: "bob@x", Viewer: "alice@x", State: store.Pending, PreApproved: true}))
	must(s.Block(ctx, "alice@x", "carol@x", t0, 10))
	must(s.Hide(ctx, "bob@x", "carol@x", t0.Add(time.Second), 10))
	must(s.PutPersonalItem(ctx, store.PersonalItem{Account: "alice@x", Topic: "mood", ItemID: "i1", Data: `{"mood":"happy"}`, Published: t0}, 10))
	must(s.CreateApp(ctx, store.App{ID: "app1", Name: "App", Owner: "alice@x", RedirectURIs: []string{"https://a.example/cb"}, Scopes: []string{"presence", "addresses"},
		SecretHash: []byte{9, 9}, CreatedAt: t0}))
	must(s.CreateApp(ctx, store.App{ID: "app2", Name: "Public", RedirectURIs: []string{"https://b.example/cb"}, Public: true, CreatedAt: t0}))
	must(s.PutGrant(ctx, store.Grant{Account: "bob@x", App: "app1", Scopes: []string{"presence"}, Contacts: store.ContactsPicked, Picked: []string{"alice@x"},
		Hidden: true, CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}))
	must(s.CreateToken(ctx, store.Token{ID: "t3", Hash: []byte("h3"), Account: "bob@x", App: "app1", Scopes: []string{"presence"}, Family: "r1", CreatedAt: t0}))
	must(s.CreateRefreshToken(ctx, store.RefreshToken{ID: "r1", Hash: []byte("rh1"), Account: "bob@x", App: "app1", Scopes: []string{"presence"}, AuthTime: t0, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	must(s.UseRefreshToken(ctx, []byte("rh1"), store.RefreshToken{ID: "r2", Hash: []byte("rh2"), Scopes: []string{"presence"}, AuthTime: t0, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}))
	must(s.LinkIdentity(ctx, store.Identity{Issuer: "https://id.example", Subject: "s1", Account: "alice@x", Email: "a@example.org", CreatedAt: t0}))
	for i, body := range []string{"one", "two", "three"} {
		_, _, err := s.PutStored(ctx, store.StoredMessage{Account: "bob@x", Sender: "alice@x", From: "alice@x/web", ID: "m" + body, Body: body, Payload: "<x/>",
			Sent: t0.Add(time.Duration(i) * time.Second)}, store.StoredLimits{})
		must(err)
	}
	must(s.ArchiveMessages(ctx, []store.ArchivedMessage{
		{Owner: "alice@x", With: "bob@x", Outgoing: true, From: "alice@x/web", To: "bob@x", ID: "a1", Type: "chat", Body: "hi", Sent: t0},
		{Owner: "bob@x", With: "alice@x", From: "alice@x/web", To: "bob@x", ID: "a1", Type: "chat", Body: "hi", Sent: t0},
	}, 100))
	must(s.SetArchiving(ctx, "carol@x", false))
	must(s.CreateRoom(ctx, store.Room{App: "", Name: "lobby", Owner: "alice@x", Mode: store.RoomOpen, Subject: "hello", SubjectBy: "al", Created: t0}, 10))
	must(s.SetAffiliation(ctx, "", "lobby", store.RoomAffiliation{Account: "bob@x", Affiliation: "member"}, 10))
	must(s.SetAffiliation(ctx, "", "lobby", store.RoomAffiliation{Account: "spam@elsewhere", Affiliation: "outcast", Remote: true}, 10))
	must(s.AppendRoomMessage(ctx, "", "lobby", store.RoomMessage{ID: "rm1", Account: "alice@x", Nick: "al", Body: "welcome", Sent: t0}, 10, 1000))
	must(s.PutPushSubscription(ctx, store.PushSubscription{ID: "p1", Account: "bob@x", Endpoint: "https://push.example/1", P256dh: "key", Auth: "auth", Device: "phone", Created: t0}))
	must(s.SetCredentials(ctx, "carol@x", "hash2", nil)) // a lifecycle event
	_, err := s.CreateSecret(ctx, "server", []byte{0, 1, 2, 0xff})
	must(err)
	must(s.CreateAuthRequest(ctx, store.AuthRequest{ID: "q1", Data: []byte(`{"client_id":"app"}`), Expires: t0.Add(time.Hour)}, 10, t0))
	must(s.SetAuthCode(ctx, "q1", []byte{9, 9}, t0))
}

// snapshot reads back, through the store's API, everything fill wrote.
func snapshot(t *testing.T, s store.Store) map[string]any {
	ctx := context.Background()
	out := map[string]any{}
	get := func(name string, v any, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = v
	}
	v1, err := s.ListAccounts(ctx)
	get("accounts", v1, err)
	for _, a := range []string{"alice@x", "bob@x", "carol@x"} {
		v, err := s.ListTokens(ctx, a)
		get("tokens "+a, v, err)
		r, err := s.RelationsOf(ctx, a)
		get("relations "+a, r, err)
		b, h, err := s.PrivacyLists(ctx, a)
		get("privacy "+a, [][]store.ListEntry{b, h}, err)
		f, err := s.ApprovedBy(ctx, a)
		get("approved by "+a, f, err)
		g, err := s.ListGrants(ctx, a)
		get("grants "+a, g, err)
		id, err := s.ListIdentities(ctx, a)
		get("identities "+a, id, err)
		st, err := s.StoredFor(ctx, a, t0, 100)
		get("stored "+a, st, err)
		ar, complete, err := s.QueryArchive(ctx, a, store.ArchiveQuery{Max: 100})
		get("archive "+a, []any{ar, complete}, err)
		on, err := s.Archiving(ctx, a)
		get("archiving "+a, on, err)
		ps, err := s.PushSubscriptionsOf(ctx, a)
		get("push "+a, ps, err)
	}
	tok, err := s.TokenByHash(ctx, []byte{0, 1, 2, 0xfe})
	get("token by hash", tok, err)
	cs, err := s.ListContacts(ctx, "alice@x", store.ContactQuery{})
	get("contacts", cs, err)
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	if want := []string{"Bob", "bob", "BOB", "Zed", "ämy"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("contacts listed as %q, want %q", names, want)
	}
	all, pos, err := s.ContactChanges(ctx, "alice@x", 0)
	get("contacts listed", []any{all, pos}, err)
	ch, pos, err := s.ContactChanges(ctx, "alice@x", pos-1) // the last write: the deletion
	get("contact changes", []any{ch, pos}, err)
	if len(ch) != 1 || !ch[0].Deleted {
		t.Fatalf("the last change of alice's book: %+v", ch)
	}
	items, err := s.PersonalItemsOf(ctx, []string{"alice@x", "bob@x"})
	get("personal items", items, err)
	ev, err := s.LifecycleSince(ctx, 0, 100)
	get("lifecycle", ev, err)
	apps, err := s.ListApps(ctx, "")
	get("apps", apps, err)
	r1, err := s.RefreshTokenByHash(ctx, []byte("rh1"))
	get("refresh r1", r1, err)
	r2, err := s.RefreshTokenByHash(ctx, []byte("rh2"))
	get("refresh r2", r2, err)
	room, err := s.GetRoom(ctx, "", "lobby")
	get("room", room, err)
	aff, err := s.Affiliations(ctx, "", "lobby")
	get("affiliations", aff, err)
	hist, err := s.RoomHistory(ctx, "", "lobby")
	get("room history", hist, err)
	secret, err := s.Secret(ctx, "server")
	get("secret", secret, err)
	req, err := s.AuthRequestByCode(ctx, []byte{9, 9}, t0)
	get("authorization request", req, err)
	return out
}

// TestImport fills a SQLite store, imports it, and reads the same through
// the PostgreSQL store; then writes there continue the copied sequences.
func TestImport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	fill(t, src)
	want := snapshot(t, src)

	dsn := pgtest.DSN(t)
	dst := open(t, dsn)
	counts, err := Import(ctx, dst, src)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range counts {
		if c.Rows == 0 {
			t.Errorf("table %s: nothing copied (fill writes to every table)", c.Table)
		}
	}
	got := snapshot(t, dst)
	for k, w := range want {
		if !reflect.DeepEqual(got[k], w) {
			t.Errorf("%s:\n postgres %+v\n   sqlite %+v", k, got[k], w)
		}
	}

	// the counters go on above the copied values
	last := want["lifecycle"].([]store.LifecycleEvent)
	if err := dst.DeleteToken(ctx, "alice@x", "t1"); err != nil {
		t.Fatal(err)
	}
	evs, err := dst.LifecycleSince(ctx, last[len(last)-1].ID, 10)
	if err != nil || len(evs) != 1 || evs[0].TokenID != "t1" {
		t.Fatalf("a new event after the copied ones: %+v, %v", evs, err)
	}
	stored := want["stored bob@x"].([]store.StoredMessage)
	seq, ok, err := dst.PutStored(ctx, store.StoredMessage{Account: "bob@x", Sender: "carol@x", Body: "new"}, store.StoredLimits{})
	if err != nil || !ok || seq <= stored[len(stored)-1].Seq {
		t.Fatalf("a new stored message: seq %d after %d, %v %v", seq, stored[len(stored)-1].Seq, ok, err)
	}
	pos := want["contact changes"].([]any)[1].(int64)
	v, err := dst.UpdateContact(ctx, store.Contact{ID: "c1", Owner: "alice@x", Name: "Bobby"}, 0)
	if err != nil || v <= pos {
		t.Fatalf("a contact written after the copy: version %d, book at %d: %v", v, pos, err)
	}
	if err := dst.AppendRoomMessage(ctx, "", "lobby", store.RoomMessage{ID: "rm2", Account: "bob@x", Body: "thanks", Sent: t0}, 10, 1000); err != nil {
		t.Fatal(err)
	}
	if err := dst.ArchiveMessages(ctx, []store.ArchivedMessage{{Owner: "alice@x", With: "bob@x", Body: "new", Sent: t0}}, 100); err != nil {
		t.Fatal(err)
	}

	// a second import into the now non-empty store is refused, changing nothing
	if _, err := Import(ctx, dst, src); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("import into a non-empty store: %v, want ErrNotEmpty", err)
	}
	if a, err := dst.GetAccount(ctx, "carol@x"); err != nil || a.PasswordHash != "hash2" {
		t.Fatalf("after the refused import: %+v %v", a, err)
	}
}
