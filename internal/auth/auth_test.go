package auth

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
)

// cheap parameters keep the tests fast; the production defaults are tested once.
var cheap = Params{MemoryKiB: 64, Time: 1, Threads: 1}

func newAuth(t *testing.T) (*Auth, *clock.Fake) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "a.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c := clock.NewFake(time.Unix(1e9, 0))
	return &Auth{Store: db, Clock: c, Hasher: NewHasher(cheap, 2, 4), TokenTTL: time.Hour}, c
}

func TestHashVerifyDefaults(t *testing.T) {
	h := NewHasher(DefaultParams, 1, 1)
	hash, err := h.Hash(context.Background(), "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := h.Verify(context.Background(), hash, "correct horse"); !ok {
		t.Fatal("right password refused")
	}
	if ok, _ := h.Verify(context.Background(), hash, "wrong horse"); ok {
		t.Fatal("wrong password accepted")
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=99999999,t=1,p=1$AA$AA", "plain"} {
		if ok, err := h.Verify(context.Background(), bad, "x"); ok || err != nil {
			t.Fatalf("hash %q: %v %v", bad, ok, err)
		}
	}
}

func TestLoginAndTokens(t *testing.T) {
	a, clk := newAuth(t)
	ctx := context.Background()
	bare, err := a.CreateAccount(ctx, "Alice@Localhost", "sesame-open")
	if err != nil || bare != "alice@localhost" {
		t.Fatal(bare, err)
	}
	acct, _ := a.Store.GetAccount(ctx, bare)
	if len(acct.Scram) != 2 {
		t.Fatalf("SCRAM credentials not stored: %+v", acct.Scram)
	}
	for _, c := range acct.Scram {
		if stored, _ := DeriveScram(c.Mechanism, "sesame-open", c.Salt, c.Iterations); string(stored) != string(c.StoredKey) {
			t.Fatalf("%s: stored key does not match the password", c.Mechanism)
		}
	}
	if _, err := a.CreateAccount(ctx, "bob@localhost", "short"); !errors.Is(err, ErrWeakPassword) {
		t.Fatal(err)
	}
	for _, tc := range [][2]string{{"alice@localhost", "wrong-pass"}, {"nobody@localhost", "sesame-open"}, {"not an address", "x"}} {
		if _, _, err := a.Login(ctx, Client{IP: "test"}, tc[0], tc[1], "t"); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("%v: %v", tc, err)
		}
	}
	secret, tok, err := a.Login(ctx, Client{IP: "test"}, "alice@localhost", "sesame-open", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Verify(ctx, secret)
	if err != nil || got.ID != tok.ID || got.Account != "alice@localhost" {
		t.Fatal(got, err)
	}
	if _, err := a.Verify(ctx, secret+"x"); !errors.Is(err, ErrInvalidToken) {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if _, err := a.Verify(ctx, secret); !errors.Is(err, ErrInvalidToken) {
		t.Fatal("expired token accepted")
	}
	secret, _, _ = a.IssueToken(ctx, "alice@localhost", "cli")
	if err := a.SetPassword(ctx, "alice@localhost", "new-password"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(ctx, secret); !errors.Is(err, ErrInvalidToken) {
		t.Fatal("password change must revoke tokens")
	}
}

func TestHasherIsBounded(t *testing.T) {
	h := NewHasher(cheap, 1, 1)
	ctx := context.Background()
	release, err := h.acquire(ctx) // the one worker is busy
	if err != nil {
		t.Fatal(err)
	}
	queued := make(chan error)
	go func() { _, err := h.Hash(ctx, "password"); queued <- err }()
	for len(h.waiting) < 2 { // wait until the second caller is queued
		time.Sleep(time.Millisecond)
	}
	if _, err := h.Hash(ctx, "password"); !errors.Is(err, ErrBusy) {
		t.Fatalf("third caller: %v, want ErrBusy", err)
	}
	release()
	if err := <-queued; err != nil {
		t.Fatalf("queued caller: %v", err)
	}
}

// TestTokensPerAccountAreBounded: every login adds a token; beyond
// MaxTokensPerAccount the account's oldest are deleted, not kept forever.
func TestTokensPerAccountAreBounded(t *testing.T) {
	a, clk := newAuth(t)
	a.TokenTTL = 0 // no expiry: only the bound removes them
	ctx := context.Background()
	if _, err := a.CreateAccount(ctx, "alice@localhost", "sesame-open"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.CreateAccount(ctx, "bob@localhost", "sesame-open"); err != nil {
		t.Fatal(err)
	}
	bobSecret, _, err := a.IssueToken(ctx, "bob@localhost", "bob")
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for i := 0; i < MaxTokensPerAccount+5; i++ {
		clk.Advance(time.Second) // distinct creation times: "oldest" is well defined
		secret, _, err := a.IssueToken(ctx, "alice@localhost", "t")
		if err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, secret)
	}
	toks, err := a.Tokens(ctx, "alice@localhost")
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != MaxTokensPerAccount {
		t.Fatalf("%d tokens kept, want %d", len(toks), MaxTokensPerAccount)
	}
	for i, secret := range secrets {
		_, err := a.Verify(ctx, secret)
		if old := i < 5; old != errors.Is(err, ErrInvalidToken) {
			t.Fatalf("token %d of %d: %v (the 5 oldest must be gone, the rest kept)", i, len(secrets), err)
		}
	}
	if _, err := a.Verify(ctx, bobSecret); err != nil {
		t.Fatalf("another account's token was pruned: %v", err)
	}
}

// TestDeleteExpiredTokens removes expired tokens from the store, and only
// those.
func TestDeleteExpiredTokens(t *testing.T) {
	a, clk := newAuth(t) // TokenTTL: an hour
	ctx := context.Background()
	if _, err := a.CreateAccount(ctx, "alice@localhost", "sesame-open"); err != nil {
		t.Fatal(err)
	}
	a.IssueToken(ctx, "alice@localhost", "old")
	clk.Advance(30 * time.Minute)
	_, young, _ := a.IssueToken(ctx, "alice@localhost", "young")
	clk.Advance(45 * time.Minute)
	if n, err := a.DeleteExpiredTokens(ctx); err != nil || n != 1 {
		t.Fatalf("deleted %d, %v; want 1", n, err)
	}
	toks, _ := a.Tokens(ctx, "alice@localhost")
	if len(toks) != 1 || toks[0].ID != young.ID {
		t.Fatalf("left %+v, want only the young token", toks)
	}
}

// TestThrottleSaysNothingAboutAccounts: failing on an account that exists
// and on one that does not gives the same answers with the same waits,
// and a token of another account buys no trust.
func TestThrottleSaysNothingAboutAccounts(t *testing.T) {
	a, clk := newAuth(t)
	a.Throttle = NewThrottle(clk)
	ctx := context.Background()
	if _, err := a.CreateAccount(ctx, "alice@localhost", "sesame-open"); err != nil {
		t.Fatal(err)
	}
	run := func(address, ip string, from *Client) []string {
		var got []string
		for i := 0; i < 9; i++ {
			c := Client{IP: ip}
			if from != nil {
				c = *from
			}
			_, err := a.CheckPassword(ctx, c, address, "wrong-guess")
			got = append(got, fmt.Sprint(err, wait(err)))
			clk.Advance(1500 * time.Millisecond)
		}
		return got
	}
	known, unknown := run("alice@localhost", "1", nil), run("nobody@localhost", "2", nil)
	if fmt.Sprint(known) != fmt.Sprint(unknown) {
		t.Fatalf("an account that exists is told apart:\n%v\n%v", known, unknown)
	}
	// bob's token does not make attempts on alice trusted
	mallory := &Client{IP: "1", Token: &store.Token{ID: "bobs", Account: "bob@localhost"}}
	if got := run("alice@localhost", "1", mallory); !strings.Contains(fmt.Sprint(got), "too many") {
		t.Fatalf("another account's token bypassed the throttle: %v", got)
	}
	// alice's own token does, from the same address
	alice := &Client{IP: "1", Token: &store.Token{ID: "hers", Account: "alice@localhost"}}
	if _, err := a.CheckPassword(ctx, *alice, "alice@localhost", "sesame-open"); err != nil {
		t.Fatalf("owner with her token: %v", err)
	}
}
