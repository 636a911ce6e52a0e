package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/cluster/natstest"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/store/postgres/pgtest"
)

// TestClusterNode: with the nats setting the server joins a cluster, its
// /readyz says whether NATS is reachable, and a NATS it cannot reach at
// start is a setting error. (Several nodes of one domain need a shared
// store, which SQLite's locked data directory is not: internal/cluster
// tests them on one SQLite file, without the HTTP layer.)
func TestClusterNode(t *testing.T) {
	natsOpts := &natsserver.Options{Host: "127.0.0.1", Port: natstest.FreePort(t), JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true}
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
	return natstest.Run(t, opts)
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

// TestThreeNodesOnThreeNATS: three presenced nodes on one PostgreSQL and
// a three-server NATS cluster (the registry in three replicas), with a
// JSON client on the first and last and an XMPP client on the middle one:
// they see each other's presence, exchange messages and personal events
// (PEP on the XMPP side). Then the NATS server holding the most node
// connections stops: the nodes on it reconnect to the others by
// themselves, and presence, messages and personal events cross again.
// Skipped unless PRESENCED_TEST_POSTGRES is set.
func TestThreeNodesOnThreeNATS(t *testing.T) {
	dsn := pgtest.DSN(t)
	servers := natstest.Cluster(t)
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	var nodes []*testServer
	for i := range 3 {
		nodes = append(nodes, startServer(t, func(c *config.Config) {
			c.Store, c.NATS, c.NodeID = dsn, urls, fmt.Sprintf("node-%d", i)
			if i == 1 {
				c.XMPPAddr = "127.0.0.1:0"
			}
		}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	alice, bob, carol := nodes[0].user(t, "alice"), nodes[1].user(t, "bob"), nodes[2].user(t, "carol")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	befriend(t, ctx, alice, carol, "alice@localhost", "carol@localhost")
	befriend(t, ctx, bob, carol, "bob@localhost", "carol@localhost")
	holds := func(n *testServer, accounts ...string) {
		t.Helper()
		eventually(t, n.Cluster.ID()+" to learn who holds "+strings.Join(accounts, ", "), func() bool {
			for _, a := range accounts {
				if !n.Cluster.Holds(a) {
					return false
				}
			}
			return true
		})
	}

	as, err := alice.Connect(ctx, client.ConnectOptions{Device: "phone", Presence: &client.Presence{Availability: "available", Status: "on node 0"}})
	must(t, err)
	holds(nodes[2], "alice@localhost")
	cs, err := carol.Connect(ctx, client.ConnectOptions{Device: "tablet", Presence: &client.Presence{Availability: "away", Status: "on node 2"}})
	must(t, err)
	holds(nodes[1], "alice@localhost", "carol@localhost")
	bx, in := xmppClient(t, nodes[1], "bob", "http://jabber.org/protocol/mood+notify")
	must(t, bx.Send(ctx, stanza2IQ(`<presence><status>on node 1</status><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://example.org/test' ver='unverified='/></presence>`)))
	seen := map[string]stanza{}
	awaitStanza(t, in, "bob to see alice and carol", func(s stanza) bool {
		if s.XMLName.Local == "presence" {
			seen[strings.SplitN(s.From, "/", 2)[0]] = s
		}
		return seen["alice@localhost"].Status == "on node 0" && seen["carol@localhost"].Status == "on node 2"
	})
	for _, s := range []*client.Session{as, cs} {
		want := map[string]string{"bob@localhost": "on node 1", "alice@localhost": "on node 0"} // status by contact
		if s == as {
			delete(want, "alice@localhost")
		}
		_, err := s.WaitFor(ctx, func(f client.Frame) bool {
			for contact, status := range want {
				if presenceIs(contact, "available")(f) && (f.Type == "snapshot" || f.Status == status) {
					delete(want, contact)
				}
			}
			return len(want) == 0
		})
		must(t, err)
	}

	exchange := func(round string) {
		t.Helper()
		// JSON on node 0 to XMPP on node 1, XMPP to JSON on node 2
		if n, err := as.Message(ctx, "bob@localhost", "from alice "+round); err != nil || n != 1 {
			t.Fatalf("alice to bob (%s): %d %v", round, n, err)
		}
		awaitStanza(t, in, "alice's message "+round, func(s stanza) bool {
			return s.XMLName.Local == "message" && s.Body == "from alice "+round
		})
		must(t, bx.Send(ctx, stanza2IQ(`<message to='carol@localhost' type='chat'><body>from bob `+round+`</body></message>`)))
		_, err := cs.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "message" && f.Body == "from bob "+round })
		must(t, err)
		// a personal event published over JSON reaches XMPP as PEP, and one
		// published over XMPP reaches JSON on the third node
		_, err = as.Request(ctx, "publish", map[string]any{"topic": "mood", "data": map[string]any{"mood": "happy", "text": round}})
		must(t, err)
		awaitStanza(t, in, "alice's mood "+round, func(s stanza) bool {
			return s.XMLName.Local == "message" && s.From == "alice@localhost" && strings.Contains(s.Inner, "pubsub#event") && strings.Contains(s.Inner, round)
		})
		res := sendIQ(t, ctx, bx, `<iq type='set' id='t-`+round+`'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/tune'>`+
			`<item><tune xmlns='http://jabber.org/protocol/tune'><title>`+round+`</title></tune></item></publish></pubsub></iq>`)
		if res.Type != "result" {
			t.Fatalf("bob's tune: %+v", res)
		}
		_, err = cs.WaitFor(ctx, func(f client.Frame) bool {
			return f.Type == "personal" && f.From == "bob@localhost" && strings.Contains(string(f.Raw), round)
		})
		must(t, err)
	}
	exchange("before")

	// the NATS server most nodes are connected to goes
	victim := servers[0]
	for _, s := range servers {
		if s.NumClients() > victim.NumClients() {
			victim = s
		}
	}
	if victim.NumClients() == 0 {
		t.Fatal("no node is connected to any NATS server")
	}
	victim.Shutdown()
	for _, n := range nodes {
		eventually(t, n.Cluster.ID()+" to be connected to NATS again", n.Cluster.Healthy)
	}
	must(t, as.SetPresence(ctx, client.Presence{Availability: "dnd", Status: "after the loss"}))
	awaitStanza(t, in, "alice dnd, on bob's side", func(s stanza) bool {
		return s.XMLName.Local == "presence" && strings.HasPrefix(s.From, "alice@localhost/") && s.Show == "dnd" && s.Status == "after the loss"
	})
	_, err = cs.WaitFor(ctx, func(f client.Frame) bool {
		return f.Type == "presence" && f.Address == "alice@localhost" && f.Availability == "dnd" && f.Status == "after the loss"
	})
	must(t, err)
	exchange("after")
	for _, n := range nodes {
		if n.Cluster.Metrics().NodesDead.Load() != 0 {
			t.Fatalf("%s took the loss of a NATS server for the loss of a node", n.Cluster.ID())
		}
	}
}

// awaitStanza waits, at most a minute, for a stanza match takes.
func awaitStanza(t *testing.T, in chan stanza, what string, match func(stanza) bool) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		select {
		case st := <-in:
			if match(st) {
				return
			}
		case <-timeout:
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}
