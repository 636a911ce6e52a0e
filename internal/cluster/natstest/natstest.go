// Package natstest starts embedded NATS servers with JetStream for tests:
// one, or three routed into one JetStream cluster.
package natstest

import (
	"fmt"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/presenced/presenced/internal/freeport"
)

// wait bounds how long a server may take to come up on a busy machine.
const wait = 60 * time.Second

// Run starts an embedded NATS server with opts, shut down when t ends.
func Run(t testing.TB, opts *natsserver.Options) *natsserver.Server {
	t.Helper()
	s, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(wait) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// Cluster starts three embedded NATS servers routed into one JetStream
// cluster (so buckets may have three replicas) and waits for its meta
// leader to count all three as peers it may place on, every server
// routed to both others. A leader alone is not enough: two servers elect
// one, and until the third's statistics reach it, a bucket of three
// replicas is refused with "no suitable peers for placement"; and a
// server not yet routed to another neither hears a request from a client
// there nor answers it (routes do not relay), so the request times out.
func Cluster(t testing.TB) []*natsserver.Server {
	t.Helper()
	ports := make([]int, 3)
	for i := range ports {
		ports[i] = FreePort(t)
	}
	var servers []*natsserver.Server
	for i := range 3 {
		o := &natsserver.Options{ServerName: fmt.Sprintf("n%d", i), Host: "127.0.0.1", Port: -1, JetStream: true,
			StoreDir: t.TempDir(), NoSigs: true, NoLog: true}
		o.Cluster.Name = "presenced-test"
		o.Cluster.Host = "127.0.0.1"
		o.Cluster.Port = ports[i]
		for j := range 3 {
			if j != i {
				o.Routes = append(o.Routes, natsserver.RoutesFromStr(fmt.Sprintf("nats://127.0.0.1:%d", ports[j]))...)
			}
		}
		s, err := natsserver.NewServer(o)
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		t.Cleanup(s.Shutdown)
		servers = append(servers, s)
	}
	for _, s := range servers {
		if !s.ReadyForConnections(wait) {
			t.Fatal("nats server not ready")
		}
	}
	deadline := time.Now().Add(wait)
	for {
		if meshed(servers) {
			for _, s := range servers {
				if s.JetStreamIsLeader() && len(s.JetStreamClusterPeers()) == len(servers) {
					return servers
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no JetStream meta leader counting every server as a peer")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// meshed reports whether every server is routed to every other one.
func meshed(servers []*natsserver.Server) bool {
	for _, s := range servers {
		if s.NumRemotes() != len(servers)-1 {
			return false
		}
	}
	return true
}

// FreePort is a loopback port free now, for a server that must come back
// on the same one or be known before it starts.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return port
}
