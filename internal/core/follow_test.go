package core

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
)

// TestFollowSeesOtherProcesses: a hub following its store hears the
// changes another handle on the same database makes (as the CLI or
// another process would, with connections of its own), through the
// store's lifecycle watch, and ends the sessions that lost their right.
func TestFollowSeesOtherProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	other, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	for _, a := range []string{"alice@x", "bob@x"} {
		if err := st.CreateAccount(ctx, store.Account{Address: a, PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{t: t, st: st, clk: clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}
	e.hub = New(Config{Grace: 5 * time.Second}, st, e.clk, nil, slog.Default())
	alice := e.open("alice@x", SessionOptions{Device: "t", Credential: CredentialPassword})
	bob := e.connect("bob@x", avail)

	last, err := st.LastLifecycleID(ctx) // before the changes: Follow's own read may come after them
	e.must(err)
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); e.hub.FollowFrom(fctx, last, 10*time.Millisecond) }()
	defer func() { cancel(); <-done }()

	e.must(other.SetCredentials(ctx, "alice@x", "new", nil))
	waitClosed(t, alice, GoawayPassword)
	e.must(other.DeleteAccount(ctx, "bob@x"))
	waitClosed(t, bob, GoawayDeleted)
}

// waitClosed waits for k's session to be ended with reason.
func waitClosed(t *testing.T, k *sink, reason string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // a hang guard
	for {
		k.mu.Lock()
		g := k.closed
		k.mu.Unlock()
		if g != nil {
			if g.Reason != reason {
				t.Fatalf("ended with %q, want %q", g.Reason, reason)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ended (%s)", reason)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
