package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/store/postgres/pgtest"
)

// TestPostgresRestart: the server's PostgreSQL crashes (immediate stop)
// and starts again, with presenced left running. During the outage
// /readyz says not ready, a REST write fails with 503 busy and a JSON
// session's message that must be stored fails with "busy" (the typed
// store.ErrUnavailable underneath), and live presence goes on; after it,
// writes succeed again, and what was acknowledged before is all there.
// A private server (the shared one must not be restarted); skipped
// unless PRESENCED_TEST_POSTGRES is set and Debian's binaries are there.
func TestPostgresRestart(t *testing.T) {
	pg := pgtest.Private(t)
	ts := startServer(t, func(c *config.Config) { c.Store = pg.DSN() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pgAccounts(t, ctx, pg.DSN(), "alice", "bob", "carol", "dave")
	alice, bob := signInFriends(t, ctx, ts)
	as, err := alice.Connect(ctx, client.ConnectOptions{Device: "phone", Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	bs, err := bob.Connect(ctx, client.ConnectOptions{Device: "laptop", Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	_, err = bs.WaitFor(ctx, presenceIs("alice@localhost", "available"))
	must(t, err)
	_, err = as.WaitFor(ctx, presenceIs("bob@localhost", "available")) // past the snapshot, which showed him offline
	must(t, err)
	_, err = alice.SubscriptionAction(ctx, "carol@localhost", "subscribe") // acknowledged before the crash
	must(t, err)
	readyz := func() int { return readyzStatus(t, ts) }
	if code := readyz(); code != http.StatusOK {
		t.Fatalf("readyz before the crash: %d", code)
	}

	pg.Crash()
	eventually(t, "readyz to say not ready", func() bool { return readyz() == http.StatusServiceUnavailable })
	_, err = alice.SubscriptionAction(ctx, "dave@localhost", "subscribe")
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusServiceUnavailable || ce.Code != "busy" {
		t.Fatalf("a REST write during the outage: %v, want 503 busy", err)
	}
	// bob goes away: a message to him must be stored, which cannot be
	// done now, and alice is told so
	must(t, bs.Close(ctx))
	_, err = as.WaitFor(ctx, presenceIs("bob@localhost", "unavailable"))
	must(t, err)
	n, err := as.Message(ctx, "bob@localhost", "kept?")
	if !errors.As(err, &ce) || ce.Code != "busy" {
		t.Fatalf("a message to be stored during the outage: %d, %v, want busy", n, err)
	}
	must(t, as.SetPresence(ctx, client.Presence{Availability: "away", Status: "in memory"})) // no store needed

	pg.Start()
	eventually(t, "readyz to say ready", func() bool { return readyz() == http.StatusOK })
	var retried error
	eventually(t, "a REST write to succeed after the restart", func() bool {
		_, retried = alice.SubscriptionAction(ctx, "dave@localhost", "subscribe")
		return retried == nil
	})
	if n, err := as.Message(ctx, "bob@localhost", "kept"); err != nil || n != 0 {
		t.Fatalf("a message stored after the restart: %d %v", n, err)
	}
	subs, err := alice.Subscriptions(ctx)
	must(t, err)
	var have []string
	for _, s := range subs {
		have = append(have, s.Address)
	}
	for _, want := range []string{"bob@localhost", "carol@localhost", "dave@localhost"} {
		if !slices.Contains(have, want) {
			t.Fatalf("alice's subscriptions after the restart: %v, lack %s", have, want)
		}
	}
	bs, err = bob.Connect(ctx, client.ConnectOptions{Device: "laptop", Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	f, err := bs.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "offline" })
	must(t, err)
	if f.Body != "kept" {
		t.Fatalf("bob's stored message: %s (the one refused in the outage must not be there)", f.Raw)
	}
}

// eventually polls ok until it holds, for at most a minute.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// signInFriends signs alice and bob in on ts and makes them see each other.
func signInFriends(t *testing.T, ctx context.Context, ts *testServer) (alice, bob *client.Client) {
	t.Helper()
	alice, err := client.Login(ctx, ts.URL, "alice@localhost", "password-alice")
	must(t, err)
	bob, err = client.Login(ctx, ts.URL, "bob@localhost", "password-bob")
	must(t, err)
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	return alice, bob
}
