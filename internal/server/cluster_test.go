package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/store/postgres/pgtest"
)

// TestClusterNode: with the nats setting the server joins a cluster, its
// /readyz says whether NATS is reachable, and a NATS it cannot reach at
// start is a setting error. (Several nodes of one domain need a shared
// store, which SQLite's locked data directory is not: internal/cluster
// tests them on one SQLite file, without the HTTP layer.)
func TestClusterNode(t *testing.T) {
	natsOpts := &natsserver.Options{Host: "127.0.0.1", Port: freeTCPPort(t), JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true}
	ns := startNATS(t, natsOpts)
	ts := startServer(t, func(c *config.Config) {
		c.NATS, c.NodeID, c.AdminAddr = []string{ns.ClientURL()}, "node-1", "127.0.0.1:0"
	})
	waitReady(t, ts)
	resp, err := http.Get("http://" + ts.adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"presenced_cluster_routed_out_total", "presenced_cluster_nodes_dead_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if ts.Cluster == nil || ts.Cluster.ID() != "node-1" {
		t.Fatal("the server did not join the cluster")
	}
	readyz := func() int { return readyzStatus(t, ts) }
	if code := readyz(); code != http.StatusOK {
		t.Fatalf("readyz with NATS up: %d", code)
	}
	ns.Shutdown()
	deadline := time.Now().Add(60 * time.Second)
	for readyz() != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("readyz still ready with NATS down")
		}
		time.Sleep(20 * time.Millisecond)
	}
	ns = startNATS(t, natsOpts) // the same port and JetStream directory: the node reconnects by itself
	eventually(t, "readyz to say ready after NATS came back", func() bool { return readyz() == http.StatusOK })
	ns.Shutdown()

	cfg := config.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", Domain: "localhost", Grace: 2 * time.Second,
		Heartbeat: 30 * time.Second, TokenTTL: time.Hour, HashWorkers: 2, NATS: []string{ns.ClientURL()}}
	_, err = Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var se *config.SettingError
	if !errors.As(err, &se) || se.Key != "nats" {
		t.Fatalf("NATS down at start: %v", err)
	}
}

func embeddedNATS(t *testing.T) *natsserver.Server {
	t.Helper()
	return startNATS(t, &natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
}

// startNATS starts an embedded NATS server with opts, shut down when t ends.
func startNATS(t *testing.T, opts *natsserver.Options) *natsserver.Server {
	t.Helper()
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(60 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

// TestClusterOnPostgres: two servers started with the same --store and
// --nats and nothing else in common form one domain: JSON clients on
// each see each other's presence, whichever connected first, and
// exchange a message and a signal. Skipped unless PRESENCED_TEST_POSTGRES
// is set.
func TestClusterOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	url := embeddedNATS(t).ClientURL()
	one := startServer(t, func(c *config.Config) { c.Store, c.NATS = dsn, []string{url} })
	two := startServer(t, func(c *config.Config) { c.Store, c.NATS = dsn, []string{url} })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	pgAccounts(t, ctx, dsn, "alice", "bob")
	alice, err := client.Login(ctx, one.URL, "alice@localhost", "password-alice")
	must(t, err)
	bob, err := client.Login(ctx, two.URL, "bob@localhost", "password-bob")
	must(t, err)
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")

	as, err := alice.Connect(ctx, client.ConnectOptions{Device: "phone", Presence: &client.Presence{Availability: "available", Status: "on one"}})
	must(t, err)
	deadline := time.Now().Add(time.Minute)
	for !two.Cluster.Holds("alice@localhost") {
		if time.Now().After(deadline) {
			t.Fatal("node two never learnt that one holds alice")
		}
		time.Sleep(20 * time.Millisecond)
	}
	bs, err := bob.Connect(ctx, client.ConnectOptions{Device: "laptop", Presence: &client.Presence{Availability: "away", Status: "on two"}})
	must(t, err)
	f, err := bs.WaitFor(ctx, presenceIs("alice@localhost", "available")) // shown by node one's answer to the probe
	must(t, err)
	if f.Status != "on one" {
		t.Fatalf("bob sees alice as %s", f.Raw)
	}
	f, err = as.WaitFor(ctx, presenceIs("bob@localhost", "away"))
	must(t, err)
	if f.Status != "on two" {
		t.Fatalf("alice sees bob as %s", f.Raw)
	}
	must(t, as.SetPresence(ctx, client.Presence{Availability: "dnd", Status: "busy"}))
	_, err = bs.WaitFor(ctx, presenceIs("alice@localhost", "dnd"))
	must(t, err)

	if n, err := as.Message(ctx, "bob@localhost", "across nodes"); err != nil || n != 1 {
		t.Fatalf("message: %d %v", n, err)
	}
	f, err = bs.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "message" })
	must(t, err)
	if f.Body != "across nodes" || !strings.HasPrefix(f.From, "alice@localhost/") {
		t.Fatalf("bob got %s", f.Raw)
	}
	if n, err := bs.Signal(ctx, f.From, map[string]string{"sdp": "offer"}); err != nil || n != 1 {
		t.Fatalf("signal: %d %v", n, err)
	}
	f, err = as.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "signal" })
	must(t, err)
	if string(f.Data) != `{"sdp":"offer"}` {
		t.Fatalf("alice got %s", f.Raw)
	}
}

// TestClusterDoesNotFederateYet: a node of a cluster with federation
// settings is refused at start, naming the setting, before it reaches NATS.
func TestClusterDoesNotFederateYet(t *testing.T) {
	cfg := config.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", Domain: "a.example", Grace: time.Second,
		Heartbeat: 30 * time.Second, TokenTTL: time.Hour, HashWorkers: 1, LogLevel: "warn",
		NATS: []string{"nats://127.0.0.1:1"}, S2SRoutes: map[string]string{"b.example": "127.0.0.1:5269"}}
	srv, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var se *config.SettingError
	if !errors.As(err, &se) || se.Key != "nats" || !strings.Contains(err.Error(), "does not federate") {
		if srv != nil {
			srv.Close()
		}
		t.Fatalf("a federating cluster node: %v", err)
	}
}

// freeTCPPort is a loopback port free now, for a server that must come
// back on the same one.
func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// readyzStatus is the status /readyz answers ts with.
func readyzStatus(t *testing.T, ts *testServer) int {
	t.Helper()
	resp, err := http.Get(ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
