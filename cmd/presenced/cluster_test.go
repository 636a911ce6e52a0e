package main

import (
	"bytes"
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/store/postgres/pgtest"
)

// TestClusterKill9: two `presenced serve` processes started with the same
// --store and --nats form one domain; when one is killed with SIGKILL,
// its user is shown offline to a viewer on the other (the design bound is
// about 4 s; the test waits generously and logs how long it took).
// Skipped unless PRESENCED_TEST_POSTGRES is set.
func TestClusterKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dsn := pgtest.DSN(t)
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(time.Minute) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(ns.Shutdown)
	var out bytes.Buffer
	for _, u := range []string{"alice", "bob"} {
		if err := run([]string{"user", "add", u + "@localhost", "--password-stdin", "--store", dsn, "--data-dir", "/nonexistent"},
			strings.NewReader("password-"+u+"\n"), &out, &out); err != nil {
			t.Fatal(err, out.String())
		}
	}
	bin := buildBinary(t)
	one, url1 := startProcess(t, bin, t.TempDir(), "--store", dsn, "--nats", ns.ClientURL(), "--node-id", "one")
	_, url2 := startProcess(t, bin, t.TempDir(), "--store", dsn, "--nats", ns.ClientURL(), "--node-id", "two")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice, err := client.Login(ctx, url1, "alice@localhost", "password-alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := client.Login(ctx, url2, "bob@localhost", "password-bob")
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		c             *client.Client
		other, action string
	}{{alice, "bob@localhost", "subscribe"}, {bob, "alice@localhost", "approve"}, {bob, "alice@localhost", "subscribe"}, {alice, "bob@localhost", "approve"}} {
		if _, err := step.c.SubscriptionAction(ctx, step.other, step.action); err != nil {
			t.Fatal(err)
		}
	}
	is := func(addr, availability string) func(client.Frame) bool {
		return func(f client.Frame) bool {
			return f.Type == "presence" && f.Address == addr && f.Availability == availability
		}
	}
	bs, err := bob.Connect(ctx, client.ConnectOptions{Device: "laptop", Presence: &client.Presence{Availability: "available"}})
	if err != nil {
		t.Fatal(err)
	}
	as, err := alice.Connect(ctx, client.ConnectOptions{Device: "phone", Presence: &client.Presence{Availability: "available"}})
	if err != nil {
		t.Fatal(err)
	}
	// alice's node learns from the registry that bob is on the other one;
	// until then her presence may not reach him, so she repeats it
	for {
		if err := as.SetPresence(ctx, client.Presence{Availability: "dnd", Status: "on one"}); err != nil {
			t.Fatal(err)
		}
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := bs.WaitFor(wctx, is("alice@localhost", "dnd"))
		wcancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("bob, on node two, never saw alice's presence from node one")
		}
	}

	killed := time.Now()
	if err := one.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := bs.WaitFor(ctx, is("alice@localhost", "unavailable")); err != nil {
		t.Fatalf("bob never saw alice go offline after her node was killed: %v", err)
	}
	t.Logf("alice shown offline on node two %v after node one was killed", time.Since(killed).Round(time.Millisecond))
}
