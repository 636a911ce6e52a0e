package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// The apps, grants and refresh tokens of issue 10 (store/apps.go).

func addApp(t *testing.T, s store.Store, id, owner string) store.App {
	t.Helper()
	a := store.App{ID: id, Name: "App " + id, Owner: owner, RedirectURIs: []string{"https://" + id + ".example/cb"},
		Scopes: []string{"openid", "presence:read"}, Public: true, CreatedAt: t0}
	must(t, s.CreateApp(ctx, a))
	return a
}

func addGrant(t *testing.T, s store.Store, account, app string) store.Grant {
	t.Helper()
	g := store.Grant{Account: account, App: app, Scopes: []string{"presence:read"}, Contacts: store.ContactsAll, CreatedAt: t0, UpdatedAt: t0}
	must(t, s.PutGrant(ctx, g))
	return g
}

// appToken creates an access token of app for account, from family.
func appToken(t *testing.T, s store.Store, id, account, app, family string) store.Token {
	t.Helper()
	tok := store.Token{ID: id, Hash: []byte("hash-" + id), Account: account, Label: app, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour),
		App: app, Scopes: []string{"presence:read"}, Family: family}
	must(t, s.CreateToken(ctx, tok))
	return tok
}

func refresh(id, account, app, family string) store.RefreshToken {
	return store.RefreshToken{ID: id, Hash: []byte("rhash-" + id), Family: family, Account: account, App: app,
		Scopes: []string{"openid", "presence:read"}, AuthTime: t0, CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
}

// revokedSince lists the tokens logged as revoked after the event last, as
// "account/token", sorted; and fails on any other kind of event but a
// grant's (grantsLogged).
func revokedSince(t *testing.T, s store.Store, last int64) []string {
	t.Helper()
	evs, err := s.LifecycleSince(ctx, last, 1000)
	must(t, err)
	out := []string{}
	for _, ev := range evs {
		if ev.Kind == store.LifecycleGrant {
			continue
		}
		if ev.Kind != store.LifecycleTokenRevoked {
			t.Fatalf("unexpected event %+v", ev)
		}
		out = append(out, ev.Account+"/"+ev.TokenID)
	}
	sort.Strings(out)
	return out
}

// grantsLogged checks that the grant events after last are of accounts,
// in order: every change of a grant is logged, for the processes sharing
// the store (store.LifecycleGrant).
func grantsLogged(t *testing.T, s store.Store, last int64, accounts ...string) {
	t.Helper()
	evs, err := s.LifecycleSince(ctx, last, 1000)
	must(t, err)
	got := []string{}
	for _, ev := range evs {
		if ev.Kind == store.LifecycleGrant {
			got = append(got, ev.Account)
		}
	}
	if want := append([]string{}, accounts...); !reflect.DeepEqual(got, want) {
		t.Fatalf("grant events %q, want %q", got, want)
	}
}

func lastEvent(t *testing.T, s store.Store) int64 {
	t.Helper()
	id, err := s.LastLifecycleID(ctx)
	must(t, err)
	return id
}

func wantTokens(t *testing.T, s store.Store, account string, ids ...string) {
	t.Helper()
	l, err := s.ListTokens(ctx, account)
	must(t, err)
	got := []string{}
	for _, tok := range l {
		got = append(got, tok.ID)
	}
	sort.Strings(got)
	if ids == nil {
		ids = []string{}
	}
	if !reflect.DeepEqual(got, ids) {
		t.Fatalf("tokens of %s: %v, want %v", account, got, ids)
	}
}

func wantRefresh(t *testing.T, s store.Store, id string, exists bool) {
	t.Helper()
	_, err := s.RefreshTokenByHash(ctx, []byte("rhash-"+id))
	if exists && err != nil {
		t.Fatalf("refresh token %s: %v", id, err)
	}
	if !exists && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refresh token %s survived: %v", id, err)
	}
}

func testApps(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	conf := store.App{ID: "calls", Name: "Calls", RedirectURIs: []string{"https://calls.example/cb", "http://127.0.0.1:8000/cb"},
		Scopes: []string{"openid", "presence:read", "signal"}, Logo: "https://calls.example/logo.png", Description: "ring your friends",
		SecretHash: []byte("sha256-of-secret"), RoomKey: []byte(`{"kty":"OKP"}`), CreatedAt: t0}
	must(t, s.CreateApp(ctx, conf))
	wantErr(t, s.CreateApp(ctx, store.App{ID: "calls", Name: "other"}), store.ErrExists)
	got, err := s.GetApp(ctx, "calls")
	must(t, err)
	if !reflect.DeepEqual(got, conf) {
		t.Fatalf("got %+v\nwant %+v", got, conf)
	}
	pub := addApp(t, s, "game", "alice@x")
	if got, _ := s.GetApp(ctx, "game"); !reflect.DeepEqual(got, pub) || got.SecretHash != nil {
		t.Fatalf("public app %+v, want %+v", got, pub)
	}
	_, err = s.GetApp(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.CreateApp(ctx, store.App{ID: "orphan", Name: "o", Owner: "nobody@x"}), store.ErrNotFound)
	wantErr(t, s.CreateApp(ctx, store.App{ID: "long", Name: "l", RedirectURIs: make([]string, store.MaxListLen+1)}), store.ErrLimit)

	all, err := s.ListApps(ctx, "")
	must(t, err)
	if len(all) != 2 || all[0].ID != "game" || all[1].ID != "calls" { // by name: "App game", "Calls"
		t.Fatalf("all apps: %+v", all)
	}
	mine, err := s.ListApps(ctx, "alice@x")
	must(t, err)
	if len(mine) != 1 || mine[0].ID != "game" {
		t.Fatalf("alice's apps: %+v", mine)
	}
	if l, _ := s.ListApps(ctx, "bob@x"); len(l) != 0 {
		t.Fatalf("bob's apps: %+v", l)
	}

	// an account registers at most MaxAppsPerOwner; the operator, any number
	for i := 1; i < store.MaxAppsPerOwner; i++ {
		addApp(t, s, fmt.Sprintf("a%03d", i), "alice@x")
	}
	wantErr(t, s.CreateApp(ctx, store.App{ID: "one-more", Name: "x", Owner: "alice@x"}), store.ErrLimit)
	must(t, s.CreateApp(ctx, store.App{ID: "operators", Name: "x"}))

	must(t, s.DeleteApp(ctx, "calls"))
	_, err = s.GetApp(ctx, "calls")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteApp(ctx, "calls"), store.ErrNotFound)
	must(t, s.DeleteApp(ctx, "game")) // below the limit again
	must(t, s.CreateApp(ctx, store.App{ID: "one-more", Name: "x", Owner: "alice@x"}))
}

func testGrants(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	addApp(t, s, "calls", "")
	addApp(t, s, "game", "")
	g := store.Grant{Account: "alice@x", App: "calls", Scopes: []string{"presence:read", "signal"}, Contacts: store.ContactsPicked,
		Picked: []string{"bob@x", "carol@x"}, Addresses: true, Hidden: true, Private: true,
		CreatedAt: t0, UpdatedAt: t0, ExpiresAt: t0.Add(90 * 24 * time.Hour)}
	wantErr(t, s.PutGrant(ctx, store.Grant{Account: "alice@x", App: "nope", Contacts: store.ContactsNone}), store.ErrNotFound)
	wantErr(t, s.PutGrant(ctx, store.Grant{Account: "nobody@x", App: "calls", Contacts: store.ContactsNone}), store.ErrNotFound)
	if err := s.PutGrant(ctx, store.Grant{Account: "alice@x", App: "calls", Contacts: "some"}); err == nil {
		t.Fatal("a grant with an unknown contacts mode was stored")
	}
	_, err := s.GetGrant(ctx, "alice@x", "calls")
	wantErr(t, err, store.ErrNotFound)
	last := lastEvent(t, s)
	must(t, s.PutGrant(ctx, g))
	grantsLogged(t, s, last, "alice@x")
	got, err := s.GetGrant(ctx, "alice@x", "calls")
	must(t, err)
	if !reflect.DeepEqual(got, g) {
		t.Fatalf("got %+v\nwant %+v", got, g)
	}
	// replacing keeps CreatedAt and changes everything else
	narrowed := store.Grant{Account: "alice@x", App: "calls", Scopes: []string{"presence:read"}, Contacts: store.ContactsGroup, Group: "family",
		CreatedAt: t0.Add(time.Hour), UpdatedAt: t0.Add(time.Hour)}
	must(t, s.PutGrant(ctx, narrowed))
	got, _ = s.GetGrant(ctx, "alice@x", "calls")
	narrowed.CreatedAt = t0
	if !reflect.DeepEqual(got, narrowed) {
		t.Fatalf("replaced: %+v\nwant %+v", got, narrowed)
	}
	game := addGrant(t, s, "alice@x", "game")
	bobs := addGrant(t, s, "bob@x", "calls")
	list, err := s.ListGrants(ctx, "alice@x")
	must(t, err)
	if !reflect.DeepEqual(list, []store.Grant{narrowed, game}) {
		t.Fatalf("alice's grants %+v", list)
	}
	if list, _ := s.ListGrants(ctx, "bob@x"); !reflect.DeepEqual(list, []store.Grant{bobs}) {
		t.Fatalf("bob's grants %+v", list)
	}
	last = lastEvent(t, s)
	must(t, s.DeleteGrant(ctx, "alice@x", "calls"))
	grantsLogged(t, s, last, "alice@x")
	_, err = s.GetGrant(ctx, "alice@x", "calls")
	wantErr(t, err, store.ErrNotFound)
	last = lastEvent(t, s)
	wantErr(t, s.DeleteGrant(ctx, "alice@x", "calls"), store.ErrNotFound)
	grantsLogged(t, s, last) // nothing changed: nothing logged
	wantErr(t, s.DeleteGrant(ctx, "alice@x", ""), store.ErrNotFound)
	if list, _ := s.ListGrants(ctx, "bob@x"); len(list) != 1 {
		t.Fatalf("bob's grant went with alice's: %+v", list)
	}
}

// testGrantExpiry: grants past their expiry go with their tokens, each
// logged; those without one, or not yet due, stay.
func testGrantExpiry(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	addApp(t, s, "calls", "")
	addApp(t, s, "game", "")
	due := addGrant(t, s, "alice@x", "calls")
	due.ExpiresAt = t0.Add(time.Hour)
	must(t, s.PutGrant(ctx, due))
	later := addGrant(t, s, "bob@x", "calls")
	later.ExpiresAt = t0.Add(2 * time.Hour)
	must(t, s.PutGrant(ctx, later))
	addGrant(t, s, "alice@x", "game") // no expiry
	appToken(t, s, "a-calls", "alice@x", "calls", "")
	appToken(t, s, "b-calls", "bob@x", "calls", "")
	last := lastEvent(t, s)
	n, err := s.DeleteExpiredGrants(ctx, t0.Add(time.Hour-time.Second))
	must(t, err)
	if n != 0 {
		t.Fatalf("%d grants swept before any was due", n)
	}
	n, err = s.DeleteExpiredGrants(ctx, t0.Add(time.Hour))
	must(t, err)
	if n != 1 {
		t.Fatalf("swept %d grants, want alice's to calls", n)
	}
	if got := revokedSince(t, s, last); !reflect.DeepEqual(got, []string{"alice@x/a-calls"}) {
		t.Fatalf("revoked %q", got)
	}
	grantsLogged(t, s, last, "alice@x")
	if l, _ := s.ListGrants(ctx, "alice@x"); len(l) != 1 || l[0].App != "game" {
		t.Fatalf("alice's grants after the sweep: %+v", l)
	}
	if l, _ := s.ListGrants(ctx, "bob@x"); len(l) != 1 {
		t.Fatalf("bob's grant, not yet due, went: %+v", l)
	}
	wantTokens(t, s, "bob@x", "b-calls")
}

func testGrantLimits(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	for i := 0; i <= store.MaxGrantsPerAccount; i++ {
		addApp(t, s, fmt.Sprintf("a%03d", i), "")
	}
	for i := 0; i < store.MaxGrantsPerAccount; i++ {
		addGrant(t, s, "alice@x", fmt.Sprintf("a%03d", i))
	}
	last := fmt.Sprintf("a%03d", store.MaxGrantsPerAccount)
	wantErr(t, s.PutGrant(ctx, store.Grant{Account: "alice@x", App: last, Contacts: store.ContactsAll}), store.ErrLimit)
	addGrant(t, s, "alice@x", "a000") // replacing one at the limit is no new grant
	must(t, s.DeleteGrant(ctx, "alice@x", "a001"))
	addGrant(t, s, "alice@x", last)

	// picked addresses are bounded over all the account's grants
	picked := make([]string, store.MaxPicked)
	for i := range picked {
		picked[i] = fmt.Sprintf("c%05d@x", i)
	}
	g := store.Grant{Account: "alice@x", App: "a002", Contacts: store.ContactsPicked, Picked: picked}
	must(t, s.PutGrant(ctx, g))
	must(t, s.PutGrant(ctx, g)) // replacing its own list
	wantErr(t, s.PutGrant(ctx, store.Grant{Account: "alice@x", App: "a003", Contacts: store.ContactsPicked, Picked: []string{"one@x"}}), store.ErrLimit)
	wantErr(t, s.PutGrant(ctx, store.Grant{Account: "alice@x", App: "a002", Contacts: store.ContactsPicked, Picked: append(picked, "one@x")}), store.ErrLimit)
	g.Picked = picked[1:]
	must(t, s.PutGrant(ctx, g))
	must(t, s.PutGrant(ctx, store.Grant{Account: "alice@x", App: "a003", Contacts: store.ContactsPicked, Picked: []string{"one@x"}}))
	wantErr(t, s.PutGrant(ctx, store.Grant{Account: "alice@x", App: "a004", Contacts: store.ContactsAll, Scopes: make([]string, store.MaxListLen+1)}), store.ErrLimit)
}

// testAppTokens: an app's access tokens keep their app, scopes and family,
// are found by ID, exist only with the grant, and go with it (each logged
// as revoked) — the account's other tokens and other accounts' stay.
func testAppTokens(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	addApp(t, s, "calls", "")
	addApp(t, s, "game", "")
	wantErr(t, s.CreateToken(ctx, store.Token{ID: "x", Hash: []byte("x"), Account: "alice@x", App: "calls"}), store.ErrNotFound)
	addGrant(t, s, "alice@x", "calls")
	addGrant(t, s, "alice@x", "game")
	addGrant(t, s, "bob@x", "calls")
	a1 := appToken(t, s, "a1", "alice@x", "calls", "r1")
	appToken(t, s, "a2", "alice@x", "calls", "")
	appToken(t, s, "g1", "alice@x", "game", "")
	appToken(t, s, "b1", "bob@x", "calls", "")
	must(t, s.CreateToken(ctx, store.Token{ID: "f1", Hash: []byte("f1"), Account: "alice@x", Label: "web", CreatedAt: t0}))
	must(t, s.CreateRefreshToken(ctx, refresh("r1", "alice@x", "calls", "")))
	must(t, s.CreateRefreshToken(ctx, refresh("rb", "bob@x", "calls", "")))
	wantErr(t, s.CreateToken(ctx, store.Token{ID: "a1", Hash: []byte("other"), Account: "alice@x", App: "calls"}), store.ErrExists)

	got, err := s.TokenByID(ctx, "a1")
	must(t, err)
	if !reflect.DeepEqual(got, a1) {
		t.Fatalf("by id: %+v\nwant %+v", got, a1)
	}
	if got, _ := s.TokenByHash(ctx, a1.Hash); !reflect.DeepEqual(got, a1) {
		t.Fatalf("by hash: %+v\nwant %+v", got, a1)
	}
	if got, _ := s.TokenByID(ctx, "f1"); got.App != "" || got.Scopes != nil || got.Family != "" {
		t.Fatalf("first-party token %+v", got)
	}
	_, err = s.TokenByID(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)

	last := lastEvent(t, s)
	must(t, s.DeleteGrant(ctx, "alice@x", "calls"))
	if got := revokedSince(t, s, last); !reflect.DeepEqual(got, []string{"alice@x/a1", "alice@x/a2"}) {
		t.Fatalf("revocations logged: %v", got)
	}
	wantTokens(t, s, "alice@x", "f1", "g1")
	wantTokens(t, s, "bob@x", "b1")
	wantRefresh(t, s, "r1", false)
	wantRefresh(t, s, "rb", true)
	// no token of the app for the account without the grant again
	wantErr(t, s.CreateToken(ctx, store.Token{ID: "a3", Hash: []byte("a3"), Account: "alice@x", App: "calls"}), store.ErrNotFound)
	wantErr(t, s.CreateRefreshToken(ctx, refresh("r2", "alice@x", "calls", "")), store.ErrNotFound)

	// TokenByID, like TokenByHash, returns an expired token until the
	// sweep deletes it; the sweep logs it as revoked
	if got, err := s.TokenByID(ctx, "g1"); err != nil || !got.ExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("expired token before the sweep: %+v %v", got, err)
	}
	last = lastEvent(t, s)
	n, err := s.DeleteExpiredTokens(ctx, t0.Add(2*time.Hour))
	must(t, err)
	if n != 2 { // g1 and b1; f1 never expires
		t.Fatalf("swept %d", n)
	}
	if got := revokedSince(t, s, last); !reflect.DeepEqual(got, []string{"alice@x/g1", "bob@x/b1"}) {
		t.Fatalf("sweep logged %v", got)
	}
	_, err = s.TokenByID(ctx, "g1")
	wantErr(t, err, store.ErrNotFound)
	wantTokens(t, s, "alice@x", "f1")
}

// testRefreshRotation: a refresh token is used once and replaced by the
// next of its family; a used one coming back revokes the family with its
// access tokens.
func testRefreshRotation(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addApp(t, s, "calls", "")
	addApp(t, s, "game", "")
	addGrant(t, s, "alice@x", "calls")
	addGrant(t, s, "alice@x", "game")
	r1 := refresh("r1", "alice@x", "calls", "")
	must(t, s.CreateRefreshToken(ctx, r1))
	wantErr(t, s.CreateRefreshToken(ctx, refresh("r1", "alice@x", "calls", "")), store.ErrExists)
	got, err := s.RefreshTokenByHash(ctx, r1.Hash)
	must(t, err)
	r1.Family = "r1" // the first of its family names it
	if !reflect.DeepEqual(got, r1) {
		t.Fatalf("got %+v\nwant %+v", got, r1)
	}
	_, err = s.RefreshTokenByHash(ctx, []byte("nope"))
	wantErr(t, err, store.ErrNotFound)
	appToken(t, s, "t1", "alice@x", "calls", "r1")
	// another family of the same grant, and first-party tokens, which have none
	must(t, s.CreateRefreshToken(ctx, refresh("o1", "alice@x", "calls", "")))
	appToken(t, s, "o-access", "alice@x", "calls", "o1")
	must(t, s.CreateToken(ctx, store.Token{ID: "web", Hash: []byte("web"), Account: "alice@x", CreatedAt: t0}))

	// rotation: r1 used, r2 of its family; the store fills in what next leaves empty
	r2 := store.RefreshToken{ID: "r2", Hash: []byte("rhash-r2"), Scopes: []string{"presence:read"}, AuthTime: t0, CreatedAt: t0.Add(time.Minute), ExpiresAt: t0.Add(25 * time.Hour)}
	must(t, s.UseRefreshToken(ctx, r1.Hash, r2))
	got, _ = s.RefreshTokenByHash(ctx, r1.Hash)
	if !got.Used {
		t.Fatal("r1 not marked used")
	}
	got, err = s.RefreshTokenByHash(ctx, r2.Hash)
	must(t, err)
	r2.Family, r2.Account, r2.App = "r1", "alice@x", "calls"
	if !reflect.DeepEqual(got, r2) {
		t.Fatalf("next: %+v\nwant %+v", got, r2)
	}
	appToken(t, s, "t2", "alice@x", "calls", "r1")
	r3 := refresh("r3", "alice@x", "calls", "r1")
	r3.CreatedAt = t0.Add(2 * time.Minute)
	must(t, s.UseRefreshToken(ctx, r2.Hash, r3))

	// unknown, of another app, of another family, expired: nothing changes
	wantErr(t, s.UseRefreshToken(ctx, []byte("nope"), refresh("x1", "alice@x", "calls", "")), store.ErrNotFound)
	wantErr(t, s.UseRefreshToken(ctx, r3.Hash, refresh("x2", "alice@x", "game", "")), store.ErrNotFound)
	if err := s.UseRefreshToken(ctx, r3.Hash, refresh("x3", "alice@x", "calls", "o1")); err == nil {
		t.Fatal("rotation into another family")
	}
	late := refresh("x4", "alice@x", "calls", "")
	late.CreatedAt = r3.ExpiresAt
	wantErr(t, s.UseRefreshToken(ctx, r3.Hash, late), store.ErrNotFound)
	for _, id := range []string{"x1", "x2", "x3", "x4"} {
		wantRefresh(t, s, id, false)
	}
	if got, _ := s.RefreshTokenByHash(ctx, r3.Hash); got.Used {
		t.Fatal("a refused rotation used r3")
	}

	// reuse: r1 comes back; the family r1, r2, r3 and its access tokens go
	last := lastEvent(t, s)
	r4 := refresh("r4", "alice@x", "calls", "")
	r4.CreatedAt = t0.Add(3 * time.Minute)
	wantErr(t, s.UseRefreshToken(ctx, r1.Hash, r4), store.ErrStale)
	for _, id := range []string{"r1", "r2", "r3", "r4"} {
		wantRefresh(t, s, id, false)
	}
	if got := revokedSince(t, s, last); !reflect.DeepEqual(got, []string{"alice@x/t1", "alice@x/t2"}) {
		t.Fatalf("reuse logged %v", got)
	}
	wantTokens(t, s, "alice@x", "o-access", "web")
	wantRefresh(t, s, "o1", true)
	// once gone, the family's tokens are simply unknown
	wantErr(t, s.UseRefreshToken(ctx, r1.Hash, r4), store.ErrNotFound)

	// revocation of a family
	last = lastEvent(t, s)
	must(t, s.DeleteRefreshFamily(ctx, "o1"))
	wantRefresh(t, s, "o1", false)
	if got := revokedSince(t, s, last); !reflect.DeepEqual(got, []string{"alice@x/o-access"}) {
		t.Fatalf("family revocation logged %v", got)
	}
	must(t, s.DeleteRefreshFamily(ctx, "o1"))
	must(t, s.DeleteRefreshFamily(ctx, "")) // first-party tokens have no family: they stay
	wantTokens(t, s, "alice@x", "web")

	// the sweep deletes expired refresh tokens, used or not, and logs none
	must(t, s.CreateRefreshToken(ctx, refresh("e1", "alice@x", "game", "")))
	e2 := refresh("e2", "alice@x", "game", "")
	e2.ExpiresAt = time.Time{} // never
	must(t, s.CreateRefreshToken(ctx, e2))
	last = lastEvent(t, s)
	n, err := s.DeleteExpiredTokens(ctx, t0.Add(48*time.Hour))
	must(t, err)
	if n != 0 {
		t.Fatalf("the sweep counted %d refresh tokens as access tokens", n)
	}
	if got := revokedSince(t, s, last); len(got) != 0 {
		t.Fatalf("the sweep logged %v", got)
	}
	wantRefresh(t, s, "e1", false)
	wantRefresh(t, s, "e2", true)
}

// testDeleteApp: an app goes with every account's grant and tokens.
// testUpdateApp: an app's texts, redirect URIs and scopes change, its
// owner, client type, secret and creation time do not; a scope it loses
// leaves the grants that held it, with the tokens of those grants (which
// carry it), while the grants without it keep theirs.
func testUpdateApp(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	a := addApp(t, s, "calls", "alice@x")
	a.Scopes = []string{"openid", "offline_access", "presence:read", "addresses"}
	must(t, s.UpdateApp(ctx, a))
	// alice granted the scope the app will lose, bob did not
	must(t, s.PutGrant(ctx, store.Grant{Account: "alice@x", App: "calls", Scopes: []string{"openid", "offline_access", "presence:read", "addresses"},
		Contacts: store.ContactsAll, Addresses: true, CreatedAt: t0, UpdatedAt: t0}))
	must(t, s.PutGrant(ctx, store.Grant{Account: "bob@x", App: "calls", Scopes: []string{"openid", "addresses"},
		Contacts: store.ContactsNone, Addresses: true, CreatedAt: t0, UpdatedAt: t0}))
	for _, who := range []string{"alice@x", "bob@x"} {
		appToken(t, s, who[:1]+"-calls", who, "calls", "")
		must(t, s.CreateRefreshToken(ctx, refresh(who[:1]+"-calls", who, "calls", "")))
	}

	last := lastEvent(t, s)
	edited := store.App{ID: "calls", Name: "Calls 2", Owner: "someone-else@x", RedirectURIs: []string{"https://calls.example/new"},
		Scopes: []string{"addresses"}, Logo: "https://calls.example/l.png", Description: "new words", Public: false,
		SecretHash: []byte("ignored"), RoomKey: []byte(`{"kty":"EC"}`), CreatedAt: t0.Add(time.Hour)}
	must(t, s.UpdateApp(ctx, edited))
	got, err := s.GetApp(ctx, "calls")
	must(t, err)
	want := edited
	want.Owner, want.Public, want.SecretHash, want.CreatedAt = a.Owner, a.Public, a.SecretHash, a.CreatedAt
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	// presence:read is lost; openid and offline_access are every app's
	if got := revokedSince(t, s, last); !reflect.DeepEqual(got, []string{"alice@x/a-calls"}) {
		t.Fatalf("logged %v", got)
	}
	g, err := s.GetGrant(ctx, "alice@x", "calls")
	must(t, err)
	if !reflect.DeepEqual(g.Scopes, []string{"openid", "offline_access", "addresses"}) || !g.Addresses || g.Contacts != store.ContactsAll {
		t.Fatalf("alice's grant %+v", g)
	}
	wantRefresh(t, s, "a-calls", false)
	wantRefresh(t, s, "b-calls", true)
	if _, err := s.TokenByID(ctx, "b-calls"); err != nil {
		t.Fatalf("bob's token went: %v", err)
	}

	// losing addresses clears the grant's flag; no room key clears it
	edited.Scopes, edited.RoomKey = nil, nil
	must(t, s.UpdateApp(ctx, edited))
	if got, _ := s.GetApp(ctx, "calls"); got.RoomKey != nil {
		t.Fatalf("room key %q kept", got.RoomKey)
	}
	if g, _ := s.GetGrant(ctx, "bob@x", "calls"); g.Addresses || !reflect.DeepEqual(g.Scopes, []string{"openid"}) {
		t.Fatalf("bob's grant %+v", g)
	}
	wantRefresh(t, s, "b-calls", false)

	wantErr(t, s.UpdateApp(ctx, store.App{ID: "nope", Name: "x"}), store.ErrNotFound)
	edited.RedirectURIs = make([]string, store.MaxListLen+1)
	wantErr(t, s.UpdateApp(ctx, edited), store.ErrLimit)
}

// testAppSecret: a confidential app's secret hash is replaced; a public
// app has none to replace.
func testAppSecret(t *testing.T, s store.Store) {
	must(t, s.CreateApp(ctx, store.App{ID: "conf", Name: "c", RedirectURIs: []string{"https://c.example/cb"}, SecretHash: []byte("old"), CreatedAt: t0}))
	addApp(t, s, "pub", "")
	must(t, s.SetAppSecret(ctx, "conf", []byte("new")))
	if a, _ := s.GetApp(ctx, "conf"); string(a.SecretHash) != "new" {
		t.Fatalf("secret hash %q", a.SecretHash)
	}
	wantErr(t, s.SetAppSecret(ctx, "pub", []byte("new")), store.ErrNotFound)
	if a, _ := s.GetApp(ctx, "pub"); a.SecretHash != nil {
		t.Fatalf("the public app got a secret: %q", a.SecretHash)
	}
	wantErr(t, s.SetAppSecret(ctx, "nope", []byte("new")), store.ErrNotFound)
}

func testDeleteApp(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	addApp(t, s, "calls", "")
	addApp(t, s, "game", "")
	for _, a := range []string{"alice@x", "bob@x"} {
		for _, app := range []string{"calls", "game"} {
			addGrant(t, s, a, app)
			appToken(t, s, a[:1]+"-"+app, a, app, "")
			must(t, s.CreateRefreshToken(ctx, refresh(a[:1]+"-"+app, a, app, "")))
		}
	}
	last := lastEvent(t, s)
	must(t, s.DeleteApp(ctx, "calls"))
	if got := revokedSince(t, s, last); !reflect.DeepEqual(got, []string{"alice@x/a-calls", "bob@x/b-calls"}) {
		t.Fatalf("logged %v", got)
	}
	wantTokens(t, s, "alice@x", "a-game")
	wantTokens(t, s, "bob@x", "b-game")
	wantRefresh(t, s, "a-calls", false)
	wantRefresh(t, s, "b-calls", false)
	wantRefresh(t, s, "a-game", true)
	for _, a := range []string{"alice@x", "bob@x"} {
		if l, _ := s.ListGrants(ctx, a); len(l) != 1 || l[0].App != "game" {
			t.Fatalf("grants of %s: %+v", a, l)
		}
	}
	// an app registered again under the ID starts with no grant
	addApp(t, s, "calls", "")
	_, err := s.GetGrant(ctx, "alice@x", "calls")
	wantErr(t, err, store.ErrNotFound)
}

// testDeleteAccountApps: an account goes with its grants and refresh
// tokens, and with the apps it registered, their grants and tokens; the
// other accounts' tokens of those apps are logged as revoked.
func testDeleteAccountApps(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	addApp(t, s, "alices", "alice@x")
	addApp(t, s, "ops", "")
	addGrant(t, s, "alice@x", "ops")
	addGrant(t, s, "alice@x", "alices")
	addGrant(t, s, "bob@x", "alices")
	addGrant(t, s, "bob@x", "ops")
	appToken(t, s, "a-ops", "alice@x", "ops", "")
	appToken(t, s, "b-alices", "bob@x", "alices", "")
	appToken(t, s, "b-ops", "bob@x", "ops", "")
	for _, r := range []store.RefreshToken{refresh("a-ops", "alice@x", "ops", ""), refresh("b-alices", "bob@x", "alices", ""), refresh("b-ops", "bob@x", "ops", "")} {
		must(t, s.CreateRefreshToken(ctx, r))
	}
	last := lastEvent(t, s)
	must(t, s.DeleteAccount(ctx, "alice@x"))
	evs, err := s.LifecycleSince(ctx, last, 10)
	must(t, err)
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind+" "+ev.Account+" "+ev.TokenID)
	}
	sort.Strings(kinds)
	if want := []string{"deleted alice@x ", "token_revoked bob@x b-alices"}; !reflect.DeepEqual(kinds, want) {
		t.Fatalf("logged %q, want %q", kinds, want)
	}
	_, err = s.GetApp(ctx, "alices")
	wantErr(t, err, store.ErrNotFound)
	if _, err := s.GetApp(ctx, "ops"); err != nil {
		t.Fatalf("the operator's app went: %v", err)
	}
	if l, _ := s.ListGrants(ctx, "bob@x"); len(l) != 1 || l[0].App != "ops" {
		t.Fatalf("bob's grants %+v", l)
	}
	wantTokens(t, s, "bob@x", "b-ops")
	wantRefresh(t, s, "a-ops", false)
	wantRefresh(t, s, "b-alices", false)
	wantRefresh(t, s, "b-ops", true)

	// an account created again at the address inherits none of it
	addAccount(t, s, "alice@x")
	if l, err := s.ListGrants(ctx, "alice@x"); err != nil || len(l) != 0 {
		t.Fatalf("grants %+v %v", l, err)
	}
	if l, err := s.ListApps(ctx, "alice@x"); err != nil || len(l) != 0 {
		t.Fatalf("apps %+v %v", l, err)
	}
	wantTokens(t, s, "alice@x")
}
