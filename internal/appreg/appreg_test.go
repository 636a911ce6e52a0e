package appreg

import (
	"context"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
)

func wantCode(t *testing.T, what string, err error, code core.Code) {
	t.Helper()
	if core.CodeOf(err) != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
}

// TestNew: an app gets a hex client ID and, if confidential, a secret of
// which only the SHA-256 is in the app; lists lose their repeats; every
// problem is named in one invalid error.
func TestNew(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 678_901_234, time.FixedZone("x", 3600))
	a, secret, err := New(Registration{Name: "Calls", RedirectURIs: []string{"https://c.example/cb", "https://c.example/cb"},
		Scopes: []string{"signal", "signal", "message"}}, "dev@x", now)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(secret))
	if len(a.ID) != 32 || strings.Trim(a.ID, "0123456789abcdef") != "" || !strings.HasPrefix(secret, SecretPrefix) ||
		!slices.Equal(a.SecretHash, h[:]) || a.Owner != "dev@x" || a.Public ||
		!slices.Equal(a.RedirectURIs, []string{"https://c.example/cb"}) || !slices.Equal(a.Scopes, []string{"signal", "message"}) ||
		!a.CreatedAt.Equal(now.Truncate(time.Millisecond)) || a.CreatedAt.Location() != time.UTC {
		t.Fatalf("app %+v, secret %q", a, secret)
	}
	if v := View(a); v.Secret != "" || v.ID != a.ID {
		t.Fatalf("view %+v", v)
	}
	p, secret, err := New(Registration{Name: "Web", RedirectURIs: []string{"http://localhost/cb"}, Public: true}, "", now)
	if err != nil || secret != "" || p.SecretHash != nil || p.Scopes != nil {
		t.Fatalf("public app %+v, %q, %v", p, secret, err)
	}
	if v := View(p); v.Scopes == nil || v.RedirectURIs == nil {
		t.Fatalf("a view's lists are never null: %+v", v)
	}
	_, _, err = New(Registration{RedirectURIs: []string{"http://c.example/cb"}, Scopes: []string{"admin"}}, "", now)
	wantCode(t, "a bad registration", err, core.CodeInvalid)
	for _, w := range []string{"needs a name", "must be https", `unknown scope "admin"`} {
		if !strings.Contains(err.Error(), w) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: does not say %q on one line", err, w)
		}
	}
}

// TestRegistry: each owner sees and changes only their apps; the
// operator's apps are nobody's; the limit is a typed error.
func TestRegistry(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, a := range []string{"dev@x", "other@x"} {
		if err := st.CreateAccount(ctx, store.Account{Address: a, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	g := &Registry{Store: st, Now: time.Now}
	reg := Registration{Name: "Calls", RedirectURIs: []string{"https://c.example/cb"}, Scopes: []string{"signal"}}
	a, err := g.Register(ctx, "dev@x", reg)
	if err != nil || a.Secret == "" {
		t.Fatalf("%+v %v", a, err)
	}
	ops, _, _ := New(reg, "", time.Now())
	if err := st.CreateApp(ctx, ops); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ owner, id string }{{"other@x", a.ID}, {"dev@x", ops.ID}, {"", ops.ID}, {"dev@x", "nope"}} {
		_, err := g.Get(ctx, c.owner, c.id)
		wantCode(t, "get", err, core.CodeNotFound)
		name := "x"
		_, err = g.Edit(ctx, c.owner, c.id, Change{Name: &name})
		wantCode(t, "edit", err, core.CodeNotFound)
		_, err = g.NewSecret(ctx, c.owner, c.id)
		wantCode(t, "new secret", err, core.CodeNotFound)
		wantCode(t, "delete", g.Delete(ctx, c.owner, c.id), core.CodeNotFound)
	}
	if l, err := g.List(ctx, "other@x"); err != nil || len(l) != 0 {
		t.Fatalf("other's list %+v %v", l, err)
	}
	pub := true
	_, err = g.Edit(ctx, "dev@x", a.ID, Change{Public: &pub})
	wantCode(t, "a confidential app made public", err, core.CodeInvalid)
	old, _ := st.GetApp(ctx, a.ID)
	r, err := g.NewSecret(ctx, "dev@x", a.ID)
	if err != nil || r.Secret == a.Secret {
		t.Fatal(r, err)
	}
	if now, _ := st.GetApp(ctx, a.ID); slices.Equal(now.SecretHash, old.SecretHash) {
		t.Fatal("the secret hash did not change")
	}
	for i := 1; i < store.MaxAppsPerOwner; i++ {
		if _, err := g.Register(ctx, "dev@x", reg); err != nil {
			t.Fatal(i, err)
		}
	}
	_, err = g.Register(ctx, "dev@x", reg)
	wantCode(t, "past the limit", err, core.CodeLimit)
	if err := g.Delete(ctx, "dev@x", a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetApp(ctx, a.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleted app: %v", err)
	}
}
