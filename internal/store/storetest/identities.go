package storetest

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/presenced/presenced/internal/store"
)

// External identities linked to accounts (store/identities.go).

func testIdentities(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	addAccount(t, s, "bob@x")
	id := store.Identity{Issuer: "https://idp.example", Subject: "123", Account: "alice@x", Email: "alice@mail.example", CreatedAt: t0}
	wantErr(t, s.LinkIdentity(ctx, store.Identity{Issuer: "https://idp.example", Subject: "1", Account: "nobody@x", CreatedAt: t0}), store.ErrNotFound)
	must(t, s.LinkIdentity(ctx, id))
	got, err := s.IdentityByIssuerSubject(ctx, id.Issuer, id.Subject)
	must(t, err)
	if !reflect.DeepEqual(got, id) {
		t.Fatalf("identity %+v, want %+v", got, id)
	}
	// one account per identity: linking it again, to anyone, is refused
	wantErr(t, s.LinkIdentity(ctx, id), store.ErrExists)
	bobs := id
	bobs.Account = "bob@x"
	wantErr(t, s.LinkIdentity(ctx, bobs), store.ErrExists)
	// the same subject at another issuer is another identity
	other := store.Identity{Issuer: "https://other.example", Subject: "123", Account: "bob@x", CreatedAt: t0.Add(1)}
	must(t, s.LinkIdentity(ctx, other))
	_, err = s.IdentityByIssuerSubject(ctx, "https://idp.example", "124")
	wantErr(t, err, store.ErrNotFound)

	l, err := s.ListIdentities(ctx, "alice@x")
	must(t, err)
	if len(l) != 1 || l[0] != id {
		t.Fatalf("alice's identities %+v", l)
	}
	// unlinking is the owner's: bob cannot unlink alice's
	wantErr(t, s.UnlinkIdentity(ctx, "bob@x", id.Issuer, id.Subject), store.ErrNotFound)
	must(t, s.UnlinkIdentity(ctx, "alice@x", id.Issuer, id.Subject))
	wantErr(t, s.UnlinkIdentity(ctx, "alice@x", id.Issuer, id.Subject), store.ErrNotFound)
	_, err = s.IdentityByIssuerSubject(ctx, id.Issuer, id.Subject)
	wantErr(t, err, store.ErrNotFound)
	// now free for bob
	must(t, s.LinkIdentity(ctx, bobs))

	// deleting the account deletes its links; an account created again
	// at the address inherits none
	must(t, s.DeleteAccount(ctx, "bob@x"))
	_, err = s.IdentityByIssuerSubject(ctx, bobs.Issuer, bobs.Subject)
	wantErr(t, err, store.ErrNotFound)
	addAccount(t, s, "bob@x")
	l, err = s.ListIdentities(ctx, "bob@x")
	must(t, err)
	if len(l) != 0 {
		t.Fatalf("a recreated account inherited identities %+v", l)
	}
}

func testIdentityLimit(t *testing.T, s store.Store) {
	addAccount(t, s, "alice@x")
	for i := range store.MaxIdentitiesPerAccount {
		must(t, s.LinkIdentity(ctx, store.Identity{Issuer: "https://idp.example", Subject: fmt.Sprint(i), Account: "alice@x", CreatedAt: t0}))
	}
	wantErr(t, s.LinkIdentity(ctx, store.Identity{Issuer: "https://idp.example", Subject: "one more", Account: "alice@x", CreatedAt: t0}), store.ErrLimit)
}

func testGrantingAccounts(t *testing.T, s store.Store) {
	for _, a := range []string{"carol@x", "alice@x", "bob@x"} {
		addAccount(t, s, a)
	}
	addApp(t, s, "chat", "")
	addApp(t, s, "game", "")
	addGrant(t, s, "carol@x", "chat")
	addGrant(t, s, "alice@x", "chat")
	addGrant(t, s, "bob@x", "game")
	got, err := s.GrantingAccounts(ctx, "chat")
	must(t, err)
	if !reflect.DeepEqual(got, []string{"alice@x", "carol@x"}) {
		t.Fatalf("accounts granting chat: %v", got)
	}
	must(t, s.DeleteGrant(ctx, "alice@x", "chat"))
	if got, err = s.GrantingAccounts(ctx, "chat"); err != nil || !reflect.DeepEqual(got, []string{"carol@x"}) {
		t.Fatalf("after a revocation: %v %v", got, err)
	}
	if got, err = s.GrantingAccounts(ctx, "nope"); err != nil || len(got) != 0 {
		t.Fatalf("an unknown app: %v %v", got, err)
	}
}
