package server

import (
	"context"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store/postgres"
	"github.com/presenced/presenced/internal/store/postgres/pgtest"
)

// TestOnPostgres: a server on the PostgreSQL store (--store). Accounts made
// through another connection to the database, as `presenced user add
// --store` makes them, sign in with their passwords; two users see each
// other's presence and exchange a message; and a password changed through
// that other connection ends the live session (the lifecycle log, followed
// across processes). Skipped unless PRESENCED_TEST_POSTGRES is set.
func TestOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	ts := startServer(t, func(c *config.Config) { c.Store = dsn })
	// generous: argon2id sign-ins under the race detector on a busy machine
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cli, admin := pgAccounts(t, ctx, dsn, "alice", "bob")
	alice, bob := signInFriends(t, ctx, ts)

	as, err := alice.Connect(ctx, client.ConnectOptions{Device: "phone", Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	bs, err := bob.ConnectPoll(ctx, client.ConnectOptions{Device: "laptop", Presence: &client.Presence{Availability: "away", Status: "lunch"}})
	must(t, err)
	f, err := as.WaitFor(ctx, presenceIs("bob@localhost", "away"))
	must(t, err)
	if f.Status != "lunch" {
		t.Fatalf("alice sees bob as %s", f.Raw)
	}
	_, err = bs.WaitFor(ctx, presenceIs("alice@localhost", "available"))
	must(t, err)
	must(t, as.SetPresence(ctx, client.Presence{Availability: "dnd", Status: "on a call"}))
	f, err = bs.WaitFor(ctx, presenceIs("alice@localhost", "dnd"))
	must(t, err)
	if f.Status != "on a call" {
		t.Fatalf("bob sees alice as %s", f.Raw)
	}
	if n, err := as.Message(ctx, "bob@localhost", "hello from postgres"); err != nil || n != 1 {
		t.Fatalf("message: %d %v", n, err)
	}
	f, err = bs.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "message" })
	must(t, err)
	if f.Body != "hello from postgres" {
		t.Fatalf("bob got %s", f.Raw)
	}
	// the relations are in PostgreSQL, where the other connection reads them
	if r, err := cli.GetRelation(ctx, "alice@localhost", "bob@localhost"); err != nil || r.State.String() != "approved" {
		t.Fatalf("relation read through the other connection: %+v %v", r, err)
	}

	must(t, admin.SetPassword(ctx, "bob@localhost", "a-new-password"))
	if r := goawayOf(t, ctx, bs); r != core.GoawayPassword {
		t.Fatalf("goaway %q", r)
	}
	_, err = as.WaitFor(ctx, presenceIs("bob@localhost", "unavailable"))
	must(t, err)
	if _, err := client.Login(ctx, ts.URL, "bob@localhost", "a-new-password"); err != nil {
		t.Fatalf("sign-in with the new password: %v", err)
	}
}

// pgAccounts opens another connection to the database at dsn, as
// `presenced user add --store` does, and makes USER@localhost with the
// password password-USER for each of users through it.
func pgAccounts(t *testing.T, ctx context.Context, dsn string, users ...string) (*postgres.DB, *auth.Auth) {
	t.Helper()
	cli, err := postgres.Open(ctx, dsn)
	must(t, err)
	t.Cleanup(func() { cli.Close() })
	admin := &auth.Auth{Store: cli, Clock: clock.Real{}, Hasher: auth.NewHasher(auth.DefaultParams, 1, 4)}
	for _, u := range users {
		_, err := admin.CreateAccount(ctx, u+"@localhost", "password-"+u)
		must(t, err)
	}
	return cli, admin
}
