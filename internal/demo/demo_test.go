package demo

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
)

// TestRegisterIsIdempotent: registering the demos twice leaves the same two
// public apps; a server reached at another address moves their redirect
// URIs (their users' grants stay); an app of an account under a demo's ID
// is not taken over.
func TestRegisterIsIdempotent(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	for range 2 {
		if err := Register(ctx, db, "http://127.0.0.1:8080", now); err != nil {
			t.Fatal(err)
		}
	}
	apps, err := db.ListApps(ctx, "")
	if err != nil || len(apps) != 2 {
		t.Fatalf("apps after two registrations: %+v, %v", apps, err)
	}
	for _, a := range apps {
		if !a.Public || a.Owner != "" || a.SecretHash != nil || !slices.Contains(a.Scopes, "contacts:pick") {
			t.Errorf("demo app %+v", a)
		}
	}
	if err := db.CreateAccount(ctx, store.Account{Address: "alice@localhost", PasswordHash: "x", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	grant := store.Grant{Account: "alice@localhost", App: ChatApp, Scopes: []string{"message"}, Contacts: store.ContactsNone, CreatedAt: now}
	if err := db.PutGrant(ctx, grant); err != nil {
		t.Fatal(err)
	}

	if err := Register(ctx, db, "https://presence.example.org", now); err != nil {
		t.Fatal(err)
	}
	chat, err := db.GetApp(ctx, ChatApp)
	if err != nil || !slices.Equal(chat.RedirectURIs, []string{"https://presence.example.org/demo/chat/"}) {
		t.Fatalf("after a move: %+v, %v", chat, err)
	}
	if gs, err := db.ListGrants(ctx, "alice@localhost"); err != nil || len(gs) != 1 {
		t.Fatalf("the grant after a move: %+v, %v", gs, err)
	}

	// not the demo's: left alone, and said so
	if err := db.DeleteApp(ctx, CallApp); err != nil {
		t.Fatal(err)
	}
	other := Apps("https://elsewhere.example", now)[0]
	other.Owner, other.Name = "alice@localhost", "Alice's own"
	if err := db.CreateApp(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := Register(ctx, db, "https://presence.example.org", now); err == nil {
		t.Fatal("a demo took over an account's app")
	}
	if a, _ := db.GetApp(ctx, CallApp); a.Name != "Alice's own" {
		t.Fatalf("the account's app became %+v", a)
	}
}
