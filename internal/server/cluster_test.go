package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/presenced/presenced/internal/config"
)

// TestClusterNode: with the nats setting the server joins a cluster, its
// /readyz says whether NATS is reachable, and a NATS it cannot reach at
// start is a setting error. (Several nodes of one domain need a shared
// store, which SQLite's locked data directory is not: internal/cluster
// tests them on one SQLite file, without the HTTP layer.)
func TestClusterNode(t *testing.T) {
	ns, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(60 * time.Second) {
		t.Fatal("nats not ready")
	}
	defer ns.Shutdown()
	ts := startServer(t, func(c *config.Config) { c.NATS, c.NodeID = []string{ns.ClientURL()}, "node-1" })
	waitReady(t, ts)
	if ts.Cluster == nil || ts.Cluster.ID() != "node-1" {
		t.Fatal("the server did not join the cluster")
	}
	readyz := func() int {
		resp, err := http.Get(ts.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
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

	cfg := config.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", Domain: "localhost", Grace: 2 * time.Second,
		Heartbeat: 30 * time.Second, TokenTTL: time.Hour, HashWorkers: 2, NATS: []string{ns.ClientURL()}}
	_, err = Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var se *config.SettingError
	if !errors.As(err, &se) || se.Key != "nats" {
		t.Fatalf("NATS down at start: %v", err)
	}
}
