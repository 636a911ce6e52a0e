package cluster

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/cluster/natstest"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
)

var ctx = context.Background()

// wait is how long a test waits for a condition: generous, since a busy
// machine may be slow; a test never asserts a duration.
const wait = 60 * time.Second

// natsServer starts an embedded NATS server with JetStream on a free
// loopback port.
func natsServer(t *testing.T) *natsserver.Server {
	t.Helper()
	return runNATS(t, &natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
}

// runNATS starts an embedded NATS server with opts.
func runNATS(t *testing.T, opts *natsserver.Options) *natsserver.Server {
	return natstest.Run(t, opts)
}

// natsCluster starts three embedded NATS servers routed into one
// JetStream cluster, and returns their client URLs, comma-separated.
func natsCluster(t *testing.T) string {
	var urls []string
	for _, s := range natstest.Cluster(t) {
		urls = append(urls, s.ClientURL())
	}
	return strings.Join(urls, ",")
}

// domain is the shared durable store of a test's nodes: one SQLite file,
// each node opening its own handle as separate processes would (WAL mode
// and a busy timeout let them share it).
type domain struct {
	t       *testing.T
	path    string
	clk     clock.Clock
	handles *core.Handles // one key for every node, as operations.md asks
	name    string        // the domain served, if the nodes federate ("": none)
}

func newDomain(t *testing.T, accounts ...string) *domain {
	d := &domain{t: t, path: filepath.Join(t.TempDir(), "shared.db"), clk: clock.Real{}, handles: core.NewHandles([]byte("the domain's handle key, 32 bytes"))}
	st := d.open()
	for _, a := range accounts {
		if err := st.CreateAccount(ctx, store.Account{Address: a, PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func (d *domain) open() *sqlite.DB {
	st, err := sqlite.Open(ctx, d.path)
	if err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() { st.Close() })
	return st
}

// befriend makes a and b see each other, in the store, before their
// sessions connect.
func (d *domain) befriend(a, b string) {
	h := d.hub()
	for _, p := range [][2]string{{a, b}, {b, a}} {
		must(d.t, h.Subscribe(ctx, p[0], p[1]))
		must(d.t, h.Approve(ctx, p[1], p[0]))
	}
}

// hub is a hub on the store alone, to change it as the REST API would.
func (d *domain) hub() *core.Hub {
	return core.New(core.Config{Domain: d.name, Grace: time.Second, Handles: d.handles}, d.open(), d.clk, nil, slog.Default())
}

type node struct {
	*Node
	hub *core.Hub
}

// start runs a presenced node (hub and cluster node) on the domain's store.
func (d *domain) start(urls, id string, tweak func(*Config)) *node {
	cfg := Config{URLs: urls, NodeID: id, Log: slog.Default()}
	if tweak != nil {
		tweak(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		d.t.Fatal(err)
	}
	h := core.New(core.Config{Domain: d.name, Grace: time.Second, Peers: n, Handles: d.handles}, d.open(), d.clk, n, slog.Default())
	n.Attach(h)
	if err := n.Start(ctx); err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(n.Close)
	return &node{Node: n, hub: h}
}

// client is a session with a sink that keeps what it is sent.
type client struct {
	t   *testing.T
	s   *core.Session
	mu  sync.Mutex
	got []core.Event
}

func (c *client) Wake()             {}
func (c *client) Close(core.Goaway) {}

func (n *node) connect(t *testing.T, account string, p *core.Presence) *client {
	c := &client{t: t}
	s, err := n.hub.Connect(ctx, account, core.SessionOptions{Transport: "test", Device: "d", Presence: p}, c)
	if err != nil {
		t.Fatal(err)
	}
	c.s = s
	return c
}

// events pulls what the session was sent since the last call.
func (c *client) events() []core.Event {
	var out []core.Event
	for _, d := range c.s.Pull(c, 1<<20) {
		out = append(out, d.Event)
		c.s.Ack(d.Seq)
	}
	return out
}

// await pulls events until one satisfies ok, and returns it.
func (c *client) await(what string, ok func(core.Event) bool) core.Event {
	c.t.Helper()
	var found core.Event
	eventually(c.t, what, func() bool {
		for _, ev := range c.events() {
			if ok(ev) {
				found = ev
				return true
			}
		}
		return false
	})
	return found
}

func presenceIs(subject string, a core.Availability) func(core.Event) bool {
	return func(ev core.Event) bool {
		p, ok := ev.(core.PresenceEvent)
		return ok && p.View.Address == subject && p.View.Availability == a
	}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var avail = &core.Presence{Availability: core.Available, Status: "here"}

// TestMessagesAndSignalsBetweenNodes: a session on node A messages and
// signals one on node B and back; the decision is B's (a stranger is
// refused as on one node, and B's session gets nothing from it).
func TestMessagesAndSignalsBetweenNodes(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "bob@x", "carol@x")
	d.befriend("alice@x", "bob@x")
	a, b := d.start(url, "a", nil), d.start(url, "b", nil)

	alice := a.connect(t, "alice@x", avail)
	carol := a.connect(t, "carol@x", avail)
	bob := b.connect(t, "bob@x", avail)
	eventually(t, "node a to learn that b holds bob", func() bool { return a.Holds("bob@x") })
	eventually(t, "node b to learn that a holds alice", func() bool { return b.Holds("alice@x") })
	if a.Holds("alice@x") || a.Holds("nobody@x") {
		t.Fatal("a node holds its own or unknown accounts by the registry")
	}

	n, err := alice.s.Send(core.Message{Kind: core.KindMessage, ID: "m1", To: "bob@x", Body: "hello from a"})
	if err != nil || n != 1 {
		t.Fatalf("send to bob on b: %d, %v", n, err)
	}
	got := bob.await("bob's message", func(ev core.Event) bool {
		m, ok := ev.(core.MessageEvent)
		return ok && m.Message.ID == "m1"
	}).(core.MessageEvent)
	if got.Message.Body != "hello from a" || got.Message.From != alice.s.Address() {
		t.Fatalf("bob got %+v", got.Message)
	}

	sig := json.RawMessage(`{"sdp":"offer"}`)
	n, err = bob.s.Send(core.Message{Kind: core.KindSignal, ID: "s1", To: alice.s.Address(), Data: sig})
	if err != nil || n != 1 {
		t.Fatalf("signal to alice's session on a: %d, %v", n, err)
	}
	gotSig := alice.await("alice's signal", func(ev core.Event) bool {
		m, ok := ev.(core.MessageEvent)
		return ok && m.Message.ID == "s1"
	}).(core.MessageEvent)
	if string(gotSig.Message.Data) != string(sig) || gotSig.Message.From != bob.s.Address() {
		t.Fatalf("alice got %+v", gotSig.Message)
	}

	// carol is no contact of bob: refused, exactly as on one node
	_, err = carol.s.Send(core.Message{Kind: core.KindSignal, ID: "s2", To: "bob@x", Data: sig})
	if core.CodeOf(err) != core.CodeUnavailable {
		t.Fatalf("a stranger's signal: %v, want unavailable", err)
	}
	// a last message from alice, sent after carol's: once bob has it,
	// anything of carol's would have come before it
	_, err = alice.s.Send(core.Message{Kind: core.KindMessage, ID: "m2", To: "bob@x", Body: "again"})
	must(t, err)
	bob.await("alice's second message", func(ev core.Event) bool {
		if m, ok := ev.(core.MessageEvent); ok && m.Message.ID == "s2" {
			t.Fatal("bob was given a stranger's signal")
		}
		m, ok := ev.(core.MessageEvent)
		return ok && m.Message.ID == "m2"
	})
	if a.Metrics().SentOut.Load() < 2 || b.Metrics().ReceivedIn.Load() < 2 {
		t.Fatalf("messages did not cross the bus: sent %d, received %d", a.Metrics().SentOut.Load(), b.Metrics().ReceivedIn.Load())
	}
}

// TestPresenceAndNodeLoss: a subject on node A is seen by a viewer on
// node B; when A dies without a word, the viewer sees the subject offline
// and B no longer routes to A.
func TestPresenceAndNodeLoss(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "bob@x")
	d.befriend("alice@x", "bob@x")
	a, b := d.start(url, "a", nil), d.start(url, "b", nil)

	alice := a.connect(t, "alice@x", nil)
	bob := b.connect(t, "bob@x", avail)
	eventually(t, "node a to learn that b holds bob", func() bool { return a.Holds("bob@x") })

	must(t, alice.s.SetPresence(core.Presence{Availability: core.Away, Status: "lunch"}))
	got := bob.await("alice away", presenceIs("alice@x", core.Away)).(core.PresenceEvent)
	if got.View.Status != "lunch" {
		t.Fatalf("bob sees %+v", got.View)
	}
	eventually(t, "node b to learn that a holds alice", func() bool { return b.Holds("alice@x") })

	killed := time.Now()
	a.Kill()
	bob.await("alice offline after her node died", presenceIs("alice@x", core.Unavailable))
	t.Logf("alice shown offline on b %v after node a was killed (heartbeat %v, dead after %v)",
		time.Since(killed).Round(time.Millisecond), b.cfg.Heartbeat, b.cfg.DeadAfter)
	if b.Holds("alice@x") {
		t.Fatal("b still routes to the dead node")
	}
	if b.Metrics().NodesDead.Load() != 1 {
		t.Fatalf("nodes declared dead: %d", b.Metrics().NodesDead.Load())
	}
	// a message to alice now is kept for her (the single-node fallback)
	sent, err := bob.s.SendMessage(core.Message{Kind: core.KindMessage, ID: "m", To: "alice@x", Body: "where are you?"})
	if err != nil || !sent.Stored {
		t.Fatalf("message to alice after her node died: %+v, %v", sent, err)
	}
}

func freePort(t *testing.T) int { return natstest.FreePort(t) }

// TestViewerJoiningLaterSeesSubject: a viewer whose session starts on
// node B after the subject went online on node A is shown the subject
// (its snapshot, made on B, could not); one the subject hides from is
// asked about too, and A's policy shows it nothing.
func TestViewerJoiningLaterSeesSubject(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "bob@x", "carol@x")
	d.befriend("alice@x", "bob@x")
	d.befriend("alice@x", "carol@x")
	must(t, d.hub().Hide(ctx, "alice@x", "carol@x")) // carol is approved, but alice hides from her
	a, b := d.start(url, "a", nil), d.start(url, "b", nil)

	a.connect(t, "alice@x", &core.Presence{Availability: core.DND, Status: "busy"})
	eventually(t, "node b to learn that a holds alice", func() bool { return b.Holds("alice@x") })

	carol := b.connect(t, "carol@x", avail) // b asks a, which refuses
	bob := b.connect(t, "bob@x", avail)
	got := bob.await("alice, shown to bob on b", presenceIs("alice@x", core.DND)).(core.PresenceEvent)
	if got.View.Status != "busy" || len(got.View.Sessions) != 1 {
		t.Fatalf("bob sees %+v", got.View)
	}
	for _, ev := range carol.events() {
		if p, ok := ev.(core.PresenceEvent); ok && p.View.Address == "alice@x" {
			t.Fatalf("carol was shown alice: %+v", p.View)
		}
	}
	if b.Metrics().RoutedIn.Load() == 0 || a.Metrics().RoutedOut.Load() == 0 {
		t.Fatal("nothing crossed the bus")
	}
}

// TestThreeNodesOnANATSCluster: three presenced nodes, each on its own
// server of a three-server NATS cluster (the registry replicated on all
// three), with a user on each: presence and messages cross, and when a
// node dies its user goes offline for the two others.
func TestThreeNodesOnANATSCluster(t *testing.T) {
	urls := strings.Split(natsCluster(t), ",")
	d := newDomain(t, "alice@x", "bob@x", "carol@x")
	d.befriend("alice@x", "bob@x")
	d.befriend("alice@x", "carol@x")
	d.befriend("bob@x", "carol@x")
	three := func(c *Config) { c.Replicas = 3 }
	a, b, c := d.start(urls[0], "a", three), d.start(urls[1], "b", three), d.start(urls[2], "c", three)

	alice := a.connect(t, "alice@x", nil)
	bob := b.connect(t, "bob@x", avail)
	carol := c.connect(t, "carol@x", avail)
	holder := map[string]*node{"alice@x": a, "bob@x": b, "carol@x": c}
	for _, n := range []*node{a, b, c} {
		for acct, h := range holder {
			if h != n {
				eventually(t, "node "+n.ID()+" to learn that "+h.ID()+" holds "+acct, func() bool { return n.Holds(acct) })
			}
		}
	}
	must(t, alice.s.SetPresence(core.Presence{Availability: core.Available, Status: "on a"}))
	bob.await("alice on b", presenceIs("alice@x", core.Available))
	carol.await("alice on c", presenceIs("alice@x", core.Available))

	n, err := carol.s.Send(core.Message{Kind: core.KindMessage, ID: "c1", To: "bob@x", Body: "from c"})
	if err != nil || n != 1 {
		t.Fatalf("carol to bob: %d, %v", n, err)
	}
	bob.await("carol's message", func(ev core.Event) bool {
		m, ok := ev.(core.MessageEvent)
		return ok && m.Message.ID == "c1" && m.Message.Body == "from c"
	})

	a.Kill()
	bob.await("alice offline on b", presenceIs("alice@x", core.Unavailable))
	carol.await("alice offline on c", presenceIs("alice@x", core.Unavailable))
}

// holders is how many live nodes hold account, by n's registry.
func (n *node) holders(account string) int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.liveHoldersLocked(account))
}

// TestUserOnTwoNodes: a user with sessions on nodes A and B is one
// aggregated presence for a viewer on C and for itself: both sessions;
// when the one on A ends the viewer sees the one left on B (never
// offline), and when B dies, offline.
func TestUserOnTwoNodes(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "bob@x")
	d.befriend("alice@x", "bob@x")
	a, b, c := d.start(url, "a", nil), d.start(url, "b", nil), d.start(url, "c", nil)

	bob := c.connect(t, "bob@x", avail)
	eventually(t, "a and b to learn that c holds bob", func() bool { return a.Holds("bob@x") && b.Holds("bob@x") })
	onA := a.connect(t, "alice@x", &core.Presence{Availability: core.Available, Status: "on a"})
	eventually(t, "b to learn that a holds alice", func() bool { return b.Holds("alice@x") })
	onB := b.connect(t, "alice@x", &core.Presence{Availability: core.Away, Status: "on b"})

	both := func(subject string) func(core.Event) bool {
		return func(ev core.Event) bool {
			p, ok := ev.(core.PresenceEvent)
			return ok && p.View.Address == subject && len(p.View.Sessions) == 2
		}
	}
	got := bob.await("alice with both sessions, on c", both("alice@x")).(core.PresenceEvent)
	if got.View.Availability != core.Available || got.View.Status != "on a" {
		t.Fatalf("bob sees %+v", got.View)
	}
	onB.await("alice's own two sessions, on b", both("alice@x"))
	eventually(t, "c to know both of alice's nodes", func() bool { return c.holders("alice@x") == 2 })

	onA.s.Close()
	bob.await("alice with the session on b alone", func(ev core.Event) bool {
		p, ok := ev.(core.PresenceEvent)
		if !ok || p.View.Address != "alice@x" {
			return false
		}
		if p.View.Availability == core.Unavailable {
			t.Fatalf("bob was shown alice offline while her session on b lives: %+v", p.View)
		}
		return len(p.View.Sessions) == 1 && p.View.Availability == core.Away && p.View.Status == "on b"
	})

	b.Kill()
	bob.await("alice offline once b died", presenceIs("alice@x", core.Unavailable))
}

// TestNATSRestart: the NATS server of three nodes stops and starts
// again (same port, same JetStream directory). Changes made during the
// outage are lost on the bus for certain (the nodes' clients buffer
// nothing while disconnected), and nobody repeats them: the nodes
// reconnect by themselves, follow the registry anew and resynchronise,
// so every viewer ends on the truth — a change of status, a session that
// ended (not online forever), one that started (not offline forever) —
// the registry is right, nobody was shown offline for the outage, the
// nodes were unhealthy during it, and messages cross again.
func TestNATSRestart(t *testing.T) {
	opts := &natsserver.Options{Host: "127.0.0.1", Port: freePort(t), JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true}
	ns := runNATS(t, opts)
	d := newDomain(t, "alice@x", "bob@x", "carol@x", "dave@x", "erin@x")
	for _, p := range [][2]string{{"alice@x", "bob@x"}, {"alice@x", "carol@x"}, {"bob@x", "carol@x"}, {"dave@x", "bob@x"}, {"erin@x", "bob@x"}} {
		d.befriend(p[0], p[1])
	}
	// a dead-after longer than a restart on a busy machine takes: the
	// outage must not be taken for the loss of the other nodes; and no
	// reconnect buffer, so what is published during the outage is lost
	patient := func(c *Config) {
		c.DeadAfter = 20 * time.Second
		c.Options = append(c.Options, nats.ReconnectBufSize(-1))
	}
	a, b, c := d.start(ns.ClientURL(), "a", patient), d.start(ns.ClientURL(), "b", patient), d.start(ns.ClientURL(), "c", patient)
	alice := a.connect(t, "alice@x", avail)
	dave := a.connect(t, "dave@x", avail)
	carol := c.connect(t, "carol@x", avail)
	for _, n := range []*node{b, c} {
		eventually(t, n.ID()+" to learn that a holds alice and dave", func() bool { return n.Holds("alice@x") && n.Holds("dave@x") })
	}
	eventually(t, "b to learn that c holds carol", func() bool { return b.Holds("carol@x") })
	bob := b.connect(t, "bob@x", avail)
	before := map[string]bool{}
	eventually(t, "bob to see alice, carol and dave before the restart", func() bool {
		for _, ev := range bob.events() {
			if p, ok := ev.(core.PresenceEvent); ok {
				before[p.View.Address] = p.View.Availability == core.Available
			}
		}
		return before["alice@x"] && before["carol@x"] && before["dave@x"]
	})
	carol.await("alice, before the restart", presenceIs("alice@x", core.Available))
	routedBefore := b.Metrics().RoutedIn.Load()

	ns.Shutdown()
	eventually(t, "the nodes to notice", func() bool { return !a.Healthy() && !b.Healthy() && !c.Healthy() })
	must(t, alice.s.SetPresence(core.Presence{Availability: core.Away, Status: "during the outage"}))
	dave.s.Close()
	erin := c.connect(t, "erin@x", avail)
	ns = runNATS(t, opts)
	eventually(t, "the nodes to reconnect", func() bool { return a.Healthy() && b.Healthy() && c.Healthy() })

	// what bob ends up showing of each, with nobody changing anything
	want := map[string]core.Availability{"alice@x": core.Away, "carol@x": core.Available, "dave@x": core.Unavailable, "erin@x": core.Available}
	shown := map[string]core.PresenceView{}
	eventually(t, "bob's view to heal after the restart", func() bool {
		for _, ev := range bob.events() {
			if p, ok := ev.(core.PresenceEvent); ok {
				if p.View.Availability == core.Unavailable && p.View.Address != "dave@x" {
					t.Fatalf("bob was shown %s offline for a NATS restart", p.View.Address)
				}
				shown[p.View.Address] = p.View
			}
		}
		for s, av := range want {
			if v, ok := shown[s]; (!ok && s != "carol@x") || (ok && v.Availability != av) {
				return false
			}
		}
		return shown["alice@x"].Status == "during the outage"
	})
	carol.await("alice away, on c", func(ev core.Event) bool {
		p, ok := ev.(core.PresenceEvent)
		return ok && p.View.Address == "alice@x" && p.View.Availability == core.Away && p.View.Status == "during the outage"
	})
	erin.await("bob, shown to erin who came during the outage", presenceIs("bob@x", core.Available))
	if b.Metrics().RoutedIn.Load() == routedBefore {
		t.Fatal("nothing crossed the bus after the restart")
	}
	for _, n := range []*node{a, b, c} {
		if n.Metrics().NodesDead.Load() != 0 {
			t.Fatalf("%s took a NATS restart for the loss of a node", n.ID())
		}
		if n.Metrics().Resyncs.Load() == 0 {
			t.Fatalf("%s did not resynchronise", n.ID())
		}
	}
	// the registry: dave gone everywhere, erin known, the rest kept
	holds := map[*node][]string{a: {"bob@x", "carol@x", "erin@x"}, b: {"alice@x", "carol@x", "erin@x"}, c: {"alice@x", "bob@x"}}
	for n, accts := range holds {
		eventually(t, "the registry on "+n.ID(), func() bool {
			for _, acct := range accts {
				if !n.Holds(acct) {
					return false
				}
			}
			return !n.Holds("dave@x")
		})
	}
	for _, from := range []*client{bob, carol} {
		id := "r-" + from.s.Account
		n, err := from.s.Send(core.Message{Kind: core.KindMessage, ID: id, To: "alice@x", Body: "still there?"}) // a request: answered or failed
		if err != nil || n != 1 {
			t.Fatalf("message from %s after the restart: %d, %v", from.s.Account, n, err)
		}
		alice.await("the message of "+from.s.Account, func(ev core.Event) bool {
			m, ok := ev.(core.MessageEvent)
			return ok && m.Message.ID == id
		})
	}
}

// cutter is a TCP proxy in front of a NATS server that a test can cut
// (every connection through it closed, new ones refused) and heal: a
// network partition between one node and the bus, in one process.
type cutter struct {
	t      *testing.T
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newCutter(t *testing.T, target string) *cutter {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cutter{t: t, ln: ln, target: strings.TrimPrefix(target, "nats://")}
	t.Cleanup(func() { ln.Close(); c.setCut(true) })
	go c.accept()
	return c
}

func (c *cutter) url() string { return "nats://" + c.ln.Addr().String() }

func (c *cutter) accept() {
	for {
		in, err := c.ln.Accept()
		if err != nil {
			return
		}
		c.mu.Lock()
		if c.cut {
			c.mu.Unlock()
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", c.target)
		if err != nil {
			c.mu.Unlock()
			in.Close()
			continue
		}
		c.conns = append(c.conns, in, out)
		c.mu.Unlock()
		go func() { io.Copy(out, in); out.Close() }()
		go func() { io.Copy(in, out); in.Close() }()
	}
}

// setCut cuts (closing what goes through) or heals the link.
func (c *cutter) setCut(cut bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = cut
	if cut {
		for _, conn := range c.conns {
			conn.Close()
		}
		c.conns = nil
	}
}

// TestPartitionHeals: node a is cut from the bus (its clients still
// connected to it) for longer than DeadAfter. The others declare it dead
// and show its user offline; a declares nobody dead (it hears nobody).
// When the link heals, a comes back by itself: its user is shown online
// again on b, b's user on a, and messages cross — with nobody changing
// anything. (A partition by a proxy in the test process: this container
// allows network namespaces, but no test builds one yet.)
func TestPartitionHeals(t *testing.T) {
	ns := natsServer(t)
	link := newCutter(t, ns.ClientURL())
	d := newDomain(t, "alice@x", "bob@x")
	d.befriend("alice@x", "bob@x")
	quick := func(c *Config) { c.Options = append(c.Options, nats.ReconnectBufSize(-1)) }
	a, b := d.start(link.url(), "a", quick), d.start(ns.ClientURL(), "b", quick)
	alice := a.connect(t, "alice@x", avail)
	eventually(t, "b to learn that a holds alice", func() bool { return b.Holds("alice@x") })
	bob := b.connect(t, "bob@x", avail)
	bob.await("alice before the partition", presenceIs("alice@x", core.Available))
	alice.await("bob before the partition", presenceIs("bob@x", core.Available))

	link.setCut(true)
	bob.await("alice offline once a is declared dead", presenceIs("alice@x", core.Unavailable))
	if a.Metrics().NodesDead.Load() != 0 {
		t.Fatal("the cut-off node declared others dead")
	}
	link.setCut(false)
	eventually(t, "a to reconnect", a.Healthy)
	bob.await("alice online again after the partition healed", presenceIs("alice@x", core.Available))
	eventually(t, "b to route to a again", func() bool { return b.Holds("alice@x") && a.Holds("bob@x") })
	for _, ev := range alice.events() {
		if presenceIs("bob@x", core.Unavailable)(ev) {
			t.Fatal("alice was shown bob offline for her own node's partition")
		}
	}
	n, err := bob.s.Send(core.Message{Kind: core.KindMessage, ID: "p1", To: "alice@x", Body: "back?"})
	if err != nil || n != 1 {
		t.Fatalf("message after the partition: %d, %v", n, err)
	}
	alice.await("bob's message", func(ev core.Event) bool {
		m, ok := ev.(core.MessageEvent)
		return ok && m.Message.ID == "p1"
	})
}

// TestDeclaredDeadByOneNode: node b alone declares node c dead (c was
// silent to it, as a node starved of CPU is, while a, the purger, still
// heard it), so c's registry entries stay and c writes none again. When
// b hears c again it must route to c's accounts again and both must show
// their users anew: before, b never routed to c again and carol never
// saw alice change.
func TestDeclaredDeadByOneNode(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "carol@x")
	d.befriend("alice@x", "carol@x")
	d.start(url, "a", nil)
	b, c := d.start(url, "b", nil), d.start(url, "c", nil)
	alice := b.connect(t, "alice@x", avail)
	carol := c.connect(t, "carol@x", avail)
	eventually(t, "b and c to learn where alice and carol are", func() bool { return b.Holds("carol@x") && c.Holds("alice@x") })
	carol.await("alice online", presenceIs("alice@x", core.Available))
	alice.await("carol online", presenceIs("carol@x", core.Available))

	b.mu.Lock()
	b.seen["c"] = time.Now().Add(-time.Hour)
	b.mu.Unlock()
	b.reap(time.Now())
	if b.Holds("carol@x") {
		t.Fatal("b still routes to c after declaring it dead")
	}
	alice.await("carol offline once b declared c dead", presenceIs("carol@x", core.Unavailable))

	// c's next heartbeat tells b it is alive
	eventually(t, "b to route to c again", func() bool { return b.Holds("carol@x") })
	alice.await("carol online again", presenceIs("carol@x", core.Available))
	must(t, alice.s.SetPresence(core.Presence{Availability: core.Away, Status: "back soon"}))
	carol.await("alice's change after c came back", presenceIs("alice@x", core.Away))
}

// TestNoReapBeforeHearingAnew: a node connected to NATS again does not
// declare the others dead before its reconnection's handler gave them a
// fresh DeadAfter: the NATS client runs that handler later, on a
// goroutine of its own, and a reap in between took the node's own outage
// for the others' silence (alice shown bob offline for her node's
// partition). The test holds the handler and reaps in between.
func TestNoReapBeforeHearingAnew(t *testing.T) {
	ns := natsServer(t)
	link := newCutter(t, ns.ClientURL())
	d := newDomain(t, "alice@x", "bob@x")
	d.befriend("alice@x", "bob@x")
	release := make(chan *node) // hands the node to the held reconnection handler
	t.Cleanup(func() {
		select {
		case release <- nil:
		default:
		}
	})
	held := func(c *Config) {
		c.Options = append(c.Options, nats.ReconnectBufSize(-1), nats.ReconnectHandler(func(*nats.Conn) {
			if n := <-release; n != nil {
				n.reconnected()
			}
		}))
	}
	a, b := d.start(link.url(), "a", held), d.start(ns.ClientURL(), "b", nil)
	a.connect(t, "alice@x", avail)
	b.connect(t, "bob@x", avail)
	eventually(t, "a and b to learn where alice and bob are", func() bool { return a.Holds("bob@x") && b.Holds("alice@x") })

	link.setCut(true)
	eventually(t, "a to notice", func() bool { return !a.nc.IsConnected() })
	link.setCut(false)
	eventually(t, "a to reconnect", a.nc.IsConnected)
	a.mu.Lock()
	a.seen["b"] = time.Now().Add(-time.Hour) // not heard during the outage
	a.mu.Unlock()
	a.reap(time.Now())
	if a.Metrics().NodesDead.Load() != 0 {
		t.Fatal("a declared b dead before its reconnection's handler ran")
	}
	release <- a
	eventually(t, "a to have heard b anew", func() bool { return a.heardAnew.Load() == a.nc.Stats().Reconnects })
	a.reap(time.Now())
	if a.Metrics().NodesDead.Load() != 0 || !a.Holds("bob@x") {
		t.Fatal("a declared b dead after hearing it anew")
	}
}

// TestNoReapWhileOwnHeartbeatIsLate: a node that has not read its own
// heartbeat back from the registry for DeadAfter has a stalled watch (a
// JetStream leader being elected after a NATS server's loss: every node
// once declared every other dead, each second, for 15 s), so the others'
// silence tells nothing and nobody is declared dead; when its own beat
// comes back, the others get a fresh DeadAfter, as their beats of the
// stall may come after it.
func TestNoReapWhileOwnHeartbeatIsLate(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "bob@x")
	d.befriend("alice@x", "bob@x")
	a, b := d.start(url, "a", nil), d.start(url, "b", nil)
	a.connect(t, "alice@x", avail)
	b.connect(t, "bob@x", avail)
	eventually(t, "a and b to learn where alice and bob are", func() bool { return a.Holds("bob@x") && b.Holds("alice@x") })

	stall := func(now time.Time) { // neither b's beats nor a's own came for an hour
		a.mu.Lock()
		a.seen["b"] = now.Add(-time.Hour)
		a.mu.Unlock()
		a.selfHeard.Store(now.Add(-time.Hour).UnixNano())
	}
	now := time.Now()
	stall(now)
	a.reap(now)
	if a.Metrics().NodesDead.Load() != 0 || !a.Holds("bob@x") {
		t.Fatal("a declared b dead while its own heartbeat was not back either")
	}
	now = time.Now()
	stall(now)
	a.heardSelf(now) // a's own beat is back
	a.reap(now)
	if a.Metrics().NodesDead.Load() != 0 || !a.Holds("bob@x") {
		t.Fatal("a declared b dead as soon as its own heartbeat came back")
	}
}
