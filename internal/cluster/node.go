// Package cluster joins presenced nodes serving one domain over NATS
// (docs/architecture.md, "Cluster"). A Node is the hub's core.Router — it
// wraps the hub's LocalRouter and forwards each event's targets to the
// nodes that hold their sessions — and its core.Peers: it keeps the
// session registry (which nodes hold sessions of which accounts, in a
// JetStream key-value bucket) and hands a message whose recipient has
// sessions only elsewhere to a node that holds them, whose hub decides it.
// The core imports nothing of this.
package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/presenced/presenced/internal/core"
)

// Config configures a Node. Zero fields take DefaultConfig's.
type Config struct {
	URLs      string // NATS servers, comma-separated (nats://host:4222,…)
	NodeID    string // unique among the domain's nodes: letters, digits, - and _
	Namespace string // prefix of subjects and buckets; one per domain sharing a NATS
	Heartbeat time.Duration
	// DeadAfter: a node not heard for this long is dead: its sessions are
	// offline everywhere. Heartbeat + DeadAfter + one registry check
	// bound how long a killed node's users look online.
	DeadAfter time.Duration
	Replicas  int // of the registry's buckets: 3 on a three-server NATS cluster
	// QueueLen bounds the events waiting to be published to one node;
	// beyond it events to that node are dropped and counted.
	QueueLen int
	// MaxEntries bounds the registry entries (account, node) a node keeps,
	// and MaxTracked the (subject, viewer) pairs remembered to withdraw a
	// dead node's presence.
	MaxEntries  int
	MaxTracked  int
	SendTimeout time.Duration // a message handed to another node
	// ResyncBatch accounts are shown again, then ResyncPause waited, when
	// the node resynchronises after a reconnection (resync.go).
	ResyncBatch int
	ResyncPause time.Duration
	// Grace is the hub's grace period, and ResumeFor how long the
	// records of a dead node's sessions are kept for their clients to
	// resume them elsewhere (adopt.go): the longest grace a session may have.
	Grace     time.Duration
	ResumeFor time.Duration
	Log       *slog.Logger
	Options   []nats.Option // more NATS options (credentials, TLS)
	// Federates says the nodes federate with other domains: a dead node's
	// sessions are then withdrawn from remote viewers too (fed.go).
	Federates bool
}

// DefaultConfig fills a Config's zero fields.
var DefaultConfig = Config{Namespace: "presenced", Heartbeat: time.Second, DeadAfter: 3 * time.Second, Replicas: 1,
	QueueLen: 8192, MaxEntries: 4 << 20, MaxTracked: 4 << 20, SendTimeout: 5 * time.Second,
	ResyncBatch: 512, ResyncPause: 50 * time.Millisecond, Grace: 5 * time.Second, ResumeFor: 5 * time.Minute}

func (c Config) withDefaults() Config {
	d := DefaultConfig
	if c.Namespace == "" {
		c.Namespace = d.Namespace
	}
	orDefault(&c.Heartbeat, d.Heartbeat)
	orDefault(&c.DeadAfter, d.DeadAfter)
	orDefault(&c.SendTimeout, d.SendTimeout)
	orDefault(&c.Replicas, d.Replicas)
	orDefault(&c.QueueLen, d.QueueLen)
	orDefault(&c.MaxEntries, d.MaxEntries)
	orDefault(&c.MaxTracked, d.MaxTracked)
	orDefault(&c.ResyncBatch, d.ResyncBatch)
	orDefault(&c.ResyncPause, d.ResyncPause)
	orDefault(&c.Grace, d.Grace)
	orDefault(&c.ResumeFor, d.ResumeFor)
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// orDefault gives a field that is not positive its default.
func orDefault[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Metrics count a node's routed traffic.
type Metrics struct {
	RoutedOut  atomic.Uint64 // bus messages of events published to other nodes
	RoutedIn   atomic.Uint64 // received and handed to the local router
	Dropped    atomic.Uint64 // not published: the node's queue was full or the registry at its bound
	BadIn      atomic.Uint64 // received and refused (ErrBadMessage)
	SentOut    atomic.Uint64 // messages handed to another node's hub
	ReceivedIn atomic.Uint64 // messages received for this node's hub
	NodesDead  atomic.Uint64 // nodes declared dead
	Resyncs    atomic.Uint64 // resynchronisations after a reconnection (this node's or another's)
	Adopted    atomic.Uint64 // sessions of other nodes resumed here (adopt.go)
}

// Typed errors.
var (
	ErrNotStarted = errors.New("cluster: node not started")
	ErrNoNode     = errors.New("cluster: no live node holds the account")
	ErrBus        = errors.New("cluster: NATS unavailable")
)

// Node is one presenced node of a cluster.
type Node struct {
	cfg     Config
	id      string
	metrics Metrics

	hub                 *core.Hub
	local               core.Router
	nc                  *nats.Conn
	kvNodes, kvSessions nats.KeyValue
	kvRooms             nats.KeyValue // room → its home node (rooms.go)
	kvResume            nats.KeyValue // node, account, resource → a resumable session's record (adopt.go)
	run                 string        // this run of the node (adopt.go)
	subs                []*nats.Subscription
	watch               []nats.KeyWatcher
	wmu                 sync.Mutex // guards watch, replaced after a reconnection
	rewatch             chan struct{}
	rereads             chan string // nodes back after this one declared them dead (nodeBack)
	up                  atomic.Bool // Start done, not yet stopped
	// heardAnew is the count of NATS reconnections after which the other
	// nodes were last given a fresh DeadAfter (reconnected); reap waits
	// while the connection's count is ahead of it
	heardAnew atomic.Uint64
	// selfHeard is when this node last read its own heartbeat back from
	// the registry (Unix ns): while it is late, the registry's watch is
	// behind (a JetStream leader being elected after a NATS server's
	// loss), and the others' silence tells nothing of them (reap)
	selfHeard atomic.Int64

	mu      sync.RWMutex
	byNode  map[string]map[string]struct{} // other node → accounts it holds
	held    map[string][]string            // account → other nodes holding it
	entries int
	seen    map[string]time.Time // other node → when this node last heard it (local clock)
	dead    map[string]bool
	// readRev: node → the registry revision up to which its keys were read
	// again when it came back; older updates still on their way are stale
	readRev map[string]uint64
	diedAt  map[string]time.Time // dead node → when this node declared it dead
	peers   map[string]*peer
	tracked map[string]map[core.Target]string // subject → viewer target → node it was shown available from
	ntrack  int
	unheld  unheldViewers // viewers routed towards before any node was known to hold them (unheld.go)
	// partials: subject → viewer target → node → what that node last
	// showed of it, for subjects with sessions on several nodes (merge.go)
	partials map[string]map[core.Target]map[string]core.PresenceView
	npart    int
	apps     map[string]core.AppFacts // subject with partials → its latest facts for apps from another node
	started  time.Time

	// heldMu orders Held with the answer to a recheck (resync.go); taken
	// before pmu and mu, never after
	heldMu  sync.Mutex
	pmu     sync.Mutex
	mine    map[string]struct{} // accounts this node holds
	pending map[string]bool     // registry writes to make: account → held
	kick    chan struct{}

	resyncKick chan struct{}
	// records of this node's resumable sessions to write: key → record,
	// nil to delete (adopt.go)
	recMu      sync.Mutex
	recPending map[string]*sessionRec
	recKick    chan struct{}
	adopting   chan struct{} // Adopt's look-ups running (adopt.go)
	stop       chan struct{}
	wg         sync.WaitGroup
}

// peer is the bounded queue of events to one other node.
type peer struct {
	ch   chan outgoing
	stop chan struct{}
}

type outgoing struct {
	what string // "route" or "probe"
	b    []byte
}

// New returns a node; Attach gives it its hub and Start joins the cluster.
// Give it to core.New as both the Router and Config.Peers.
func New(cfg Config) (*Node, error) {
	cfg = cfg.withDefaults()
	if err := checkNodeID(cfg.NodeID); err != nil {
		return nil, err
	}
	if err := checkNodeID(cfg.Namespace); err != nil {
		return nil, fmt.Errorf("namespace: %w", err)
	}
	return &Node{cfg: cfg, id: cfg.NodeID, byNode: map[string]map[string]struct{}{}, held: map[string][]string{},
		seen: map[string]time.Time{}, dead: map[string]bool{}, readRev: map[string]uint64{}, diedAt: map[string]time.Time{}, run: newRun(),
		recPending: map[string]*sessionRec{}, recKick: make(chan struct{}, 1), adopting: make(chan struct{}, maxAdopting), peers: map[string]*peer{}, tracked: map[string]map[core.Target]string{},
		partials: map[string]map[core.Target]map[string]core.PresenceView{}, apps: map[string]core.AppFacts{},
		mine: map[string]struct{}{}, pending: map[string]bool{}, kick: make(chan struct{}, 1),
		rewatch: make(chan struct{}, 1), rereads: make(chan string, 16), resyncKick: make(chan struct{}, 1), stop: make(chan struct{})}, nil
}

// ID is the node's ID.
func (n *Node) ID() string { return n.id }

// Metrics returns the node's counters.
func (n *Node) Metrics() *Metrics { return &n.metrics }

// Attach gives the node its hub, before Start.
func (n *Node) Attach(h *core.Hub) { n.hub, n.local = h, h.LocalRouter() }

func (n *Node) subject(node, what string) string { return n.cfg.Namespace + "." + what + "." + node }

// Start connects to NATS, opens (or creates) the registry's buckets,
// follows them and starts heartbeats.
func (n *Node) Start(ctx context.Context) error {
	if n.hub == nil {
		return errors.New("cluster: Start before Attach")
	}
	opts := append([]nats.Option{nats.Name("presenced " + n.id), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectHandler(func(*nats.Conn) { n.reconnected() })}, n.cfg.Options...)
	nc, err := nats.Connect(n.cfg.URLs, opts...)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBus, err)
	}
	n.nc = nc
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
	}
	if err := n.open(ctx); err != nil {
		nc.Close()
		return err
	}
	n.started = time.Now()
	n.selfHeard.Store(n.started.UnixNano())
	n.up.Store(true)
	n.wg.Add(4)
	go n.loop()
	go n.beatLoop()
	go n.resyncLoop()
	go n.recordLoop()
	time.AfterFunc(n.cfg.DeadAfter+n.cfg.ResumeFor, n.purgeEarlierRuns)
	return nil
}

func (n *Node) open(ctx context.Context) error {
	js, err := n.nc.JetStream() // the buckets' operations: JetStream's default wait
	if err != nil {
		return fmt.Errorf("%w: jetstream: %v", ErrBus, err)
	}
	bucket := func(name string, ttl time.Duration) (nats.KeyValue, error) {
		kv, err := n.openBucket(ctx, js, &nats.KeyValueConfig{Bucket: name, History: 1, TTL: ttl, Replicas: n.cfg.Replicas, Storage: nats.FileStorage})
		if err != nil {
			return nil, fmt.Errorf("%w: bucket %s: %v", ErrBus, name, err)
		}
		return kv, nil
	}
	// heartbeats expire in the bucket (so it does not grow with dead
	// nodes' keys), but liveness is judged here, on this node's clock
	if n.kvNodes, err = bucket(n.cfg.Namespace+"_nodes", 10*n.cfg.DeadAfter); err != nil {
		return err
	}
	if n.kvSessions, err = bucket(n.cfg.Namespace+"_sessions", 0); err != nil {
		return err
	}
	if n.kvRooms, err = bucket(n.cfg.Namespace+"_rooms", 0); err != nil {
		return err
	}
	if n.kvResume, err = bucket(n.cfg.Namespace+"_resume", recordTTL); err != nil {
		return err
	}
	if _, err := n.kvNodes.Put(n.id, n.beat()); err != nil {
		return fmt.Errorf("%w: heartbeat: %v", ErrBus, err)
	}
	for _, s := range []struct {
		what string
		f    nats.MsgHandler
	}{{"route", n.onRouted}, {"send", n.onSend}, {"sendto", n.onSendTo}, {"probe", n.onProbe}, {"resync", n.onResync}, {"recheck", n.onRecheck}, {"gone", n.onGone},
		{"hold", n.onHold}, {"ring", n.onRing}, {"call", n.onCallStep}, {"room", n.onRoomStep}, {"roomev", n.onRoomEvents},
		{"fedpresence", n.onFedPresence}, {"fedprobe", n.onFedProbe}} {
		sub, err := n.nc.Subscribe(n.subject(n.id, s.what), s.f)
		if err != nil {
			return fmt.Errorf("%w: subscribe: %v", ErrBus, err)
		}
		n.subs = append(n.subs, sub)
	}
	if err := n.watchRegistry(ctx); err != nil {
		return err
	}
	return n.nc.FlushWithContext(ctx)
}

// bucketTry bounds one attempt at opening or making a bucket.
const bucketTry = 5 * time.Second

// openBucket opens the bucket of cfg, making it if there is none, as long
// as ctx allows. Making a replicated bucket elects its leaders, which on a
// busy machine takes longer than an operation may, and a request made
// while a NATS cluster is still forming (its routes, its meta leader) may
// get no answer at all: an attempt that times out or finds no responder
// is made again.
func (n *Node) openBucket(ctx context.Context, js nats.JetStreamContext, cfg *nats.KeyValueConfig) (nats.KeyValue, error) {
	for {
		wait := bucketTry
		if deadline, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(deadline))
		}
		setup, err := n.nc.JetStream(nats.MaxWait(max(wait, time.Millisecond)))
		if err != nil {
			return nil, err
		}
		_, err = setup.KeyValue(cfg.Bucket)
		if errors.Is(err, nats.ErrBucketNotFound) {
			_, err = setup.CreateKeyValue(cfg)
			if errors.Is(err, nats.ErrStreamNameAlreadyInUse) { // another node (or an earlier attempt) made it
				err = nil
			}
		}
		if err == nil {
			var kv nats.KeyValue
			if kv, err = js.KeyValue(cfg.Bucket); err == nil {
				return kv, nil
			}
		}
		retry := errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrNoResponders)
		if !retry || ctx.Err() != nil {
			return nil, err
		}
		n.cfg.Log.Info("cluster: opening a bucket again", "bucket", cfg.Bucket, "err", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// watchRegistry (re)starts following both buckets, from their current
// values: at start, Holds answers right away; after a reconnection, the
// watchers of before may wait long for their consumers to come back.
func (n *Node) watchRegistry(ctx context.Context) error {
	wn, err := n.kvNodes.WatchAll()
	if err != nil {
		return fmt.Errorf("%w: watch: %v", ErrBus, err)
	}
	ws, err := n.kvSessions.WatchAll()
	if err != nil {
		wn.Stop()
		return fmt.Errorf("%w: watch: %v", ErrBus, err)
	}
	n.wmu.Lock()
	old := n.watch
	n.watch = []nats.KeyWatcher{wn, ws}
	n.wmu.Unlock()
	for _, w := range old {
		w.Stop()
	}
	if err := n.follow(ctx, wn, true, nil, nil); err != nil {
		return err
	}
	keys := map[string]struct{}{}
	if err := n.follow(ctx, ws, true, keys, nil); err != nil {
		return err
	}
	n.pruneRegistry(keys)
	n.wg.Add(2)
	go func() { defer n.wg.Done(); n.follow(context.Background(), wn, false, nil, nil) }()
	go func() { defer n.wg.Done(); n.follow(context.Background(), ws, false, nil, n.rereads) }()
	return nil
}

// pruneRegistry forgets the entries of other nodes that are not among
// the registry's current keys: deleted while this node did not follow it
// (NATS was away).
func (n *Node) pruneRegistry(keys map[string]struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for node, accts := range n.byNode {
		for a := range accts {
			if _, ok := keys[key(a, node)]; !ok {
				n.unholdLocked(a, node)
			}
		}
	}
}

// reconnected: NATS is back (the same server restarted, or another).
// What this node holds is written again, the registry followed anew, and
// the other nodes are given a fresh DeadAfter: not hearing them while
// this node heard nothing at all says nothing about them.
func (n *Node) reconnected() {
	reconnects := n.nc.Stats().Reconnects
	n.rewriteAll()
	n.hearAllAnew()
	n.heardAnew.Store(reconnects)
	select {
	case n.rewatch <- struct{}{}:
	default:
	}
}

func (n *Node) beat() []byte { return []byte(time.Now().UTC().Format(time.RFC3339Nano)) }

// follow applies a watcher's updates: until its initial values are done
// (initial), or until stopped. keys, if not nil, collects the keys put.
func (n *Node) follow(ctx context.Context, w nats.KeyWatcher, initial bool, keys map[string]struct{}, reread <-chan string) error {
	for {
		select {
		case node := <-reread:
			n.readNodeAgain(node)
		case e, ok := <-w.Updates():
			if !ok {
				return nil
			}
			if e == nil {
				if initial {
					return nil
				}
				continue
			}
			if keys != nil && e.Operation() == nats.KeyValuePut {
				keys[e.Key()] = struct{}{}
			}
			n.apply(e)
		case <-ctx.Done():
			return fmt.Errorf("%w: registry: %v", ErrBus, ctx.Err())
		case <-n.stop:
			return nil
		}
	}
}

func (n *Node) apply(e nats.KeyValueEntry) {
	put := e.Operation() == nats.KeyValuePut
	if e.Bucket() == n.kvNodes.Bucket() {
		node := e.Key()
		if node == n.id {
			n.heardSelf(time.Now())
			return
		}
		if checkNodeID(node) != nil {
			return
		}
		n.mu.Lock()
		back := false
		if put {
			n.seen[node] = time.Now()
			if n.dead[node] {
				delete(n.dead, node) // back (a partition healed): its keys come again
				back = true
			}
		}
		n.mu.Unlock()
		if back {
			n.nodeBack(node)
		}
		return
	}
	account, node, ok := parseKey(e.Key())
	if !ok {
		n.metrics.BadIn.Add(1)
		return
	}
	n.mu.RLock()
	stale := e.Revision() <= n.readRev[node]
	n.mu.RUnlock()
	if stale {
		return // read again since (readNodeAgain)
	}
	if node == n.id {
		n.pmu.Lock()
		_, mine := n.mine[account]
		switch {
		case put && !mine:
			n.pending[account] = false // a stale key of an earlier run
		case !put && mine:
			n.pending[account] = true // purged while this node was thought dead
		}
		n.pmu.Unlock()
		n.kickWriter()
		if !put && mine && n.hub != nil {
			// the others showed the account offline when they declared
			// this node dead: show them what it is
			n.hub.Rebroadcast(account)
		}
		return
	}
	n.mu.Lock()
	fresh := false
	if put {
		fresh = n.holdLocked(account, node)
	} else if _, had := n.byNode[node][account]; had {
		n.unholdLocked(account, node)
	}
	n.mu.Unlock()
	if fresh {
		n.pmu.Lock()
		_, mine := n.mine[account]
		n.pmu.Unlock()
		if mine { // the account is split now: the other node needs this one's part
			n.hub.Rebroadcast(account)
		}
		n.showUnheld(account) // what was routed towards it before this entry came
	}
}

// holdLocked records that node holds account, reporting whether that is
// new; the caller holds mu.
func (n *Node) holdLocked(account, node string) bool {
	accts := n.byNode[node]
	if _, had := accts[account]; had {
		return false
	}
	if n.entries >= n.cfg.MaxEntries {
		n.metrics.Dropped.Add(1)
		return false
	}
	if accts == nil {
		accts = map[string]struct{}{}
		n.byNode[node] = accts
	}
	accts[account] = struct{}{}
	n.held[account] = append(slices.Clip(n.held[account]), node)
	n.entries++
	return true
}

// unholdLocked forgets that node holds account; the caller holds mu.
func (n *Node) unholdLocked(account, node string) {
	delete(n.byNode[node], account)
	if len(n.byNode[node]) == 0 {
		delete(n.byNode, node)
	}
	nodes := slices.DeleteFunc(slices.Clone(n.held[account]), func(x string) bool { return x == node })
	if len(nodes) == 0 {
		delete(n.held, account)
	} else {
		n.held[account] = nodes
	}
	n.entries--
}

// key is the registry key of account held on node: the address in
// base64url (a key's characters are limited), then the node.
func key(account, node string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(account)) + "." + node
}

func parseKey(k string) (account, node string, ok bool) {
	a, node, ok := strings.Cut(k, ".")
	if !ok || checkNodeID(node) != nil {
		return "", "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil || len(b) == 0 || len(b) > maxAccountLen {
		return "", "", false
	}
	return string(b), node, true
}

// Held is core.Peers's: it records the change for the registry writer.
func (n *Node) Held(account string, held bool) {
	n.heldMu.Lock()
	defer n.heldMu.Unlock()
	n.pmu.Lock()
	if held {
		n.mine[account] = struct{}{}
	} else {
		delete(n.mine, account)
	}
	n.pending[account] = held
	n.pmu.Unlock()
	n.kickWriter()
}

func (n *Node) kickWriter() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// rewriteAll writes every account this node holds again (after a
// reconnection: the registry may have lost them).
func (n *Node) rewriteAll() {
	n.pmu.Lock()
	for a := range n.mine {
		n.pending[a] = true
	}
	n.pmu.Unlock()
	n.kickWriter()
}

// Holds is core.Peers's: whether a live other node holds account.
func (n *Node) Holds(account string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.liveHoldersLocked(account)) > 0
}

func (n *Node) liveHoldersLocked(account string) []string {
	var out []string
	for _, node := range n.held[account] {
		if _, ok := n.seen[node]; ok && !n.dead[node] {
			out = append(out, node)
		}
	}
	return out
}

// Route is core.Router's: the local sessions first, then each other node
// holding a target's account gets those targets, through its bounded
// queue. It never blocks. What it reports is what the local router
// reached: other nodes are told, not asked.
func (n *Node) Route(ev core.Event, to []core.Target) core.Routed {
	if !n.up.Load() {
		return n.local.Route(ev, to)
	}
	var r core.Routed
	if pe, ok := ev.(core.PresenceEvent); ok {
		r = n.deliverPresence(n.id, pe, to, core.AppFacts{})
	} else {
		r = n.local.Route(ev, to)
	}
	if _, ok := ev.(core.Snapshot); ok {
		return r // always for one session of this node
	}
	if n.remoteSubject(ev) {
		return r // every node shows it to its own sessions (fed.go)
	}
	var groups map[string][]core.Target
	var nobody []string // viewers of an available presence held by no live node (unheld.go)
	pe, available := ev.(core.PresenceEvent)
	available = available && pe.View.Availability != core.Unavailable
	n.mu.RLock()
	for _, t := range to {
		if !t.Channel.FirstParty() {
			continue // each node serves its own sessions' app channels (core.Hub.RouteApps)
		}
		nodes := n.liveHoldersLocked(t.Account)
		if len(nodes) == 0 && available && t.Account != pe.View.Address {
			nobody = append(nobody, t.Account)
		}
		for _, node := range nodes {
			if groups == nil {
				groups = map[string][]core.Target{}
			}
			groups[node] = append(groups[node], t)
		}
	}
	n.mu.RUnlock()
	if len(nobody) > 0 {
		n.metrics.Dropped.Add(uint64(n.unheld.note(pe.View.Address, nobody, time.Now())))
	}
	var af core.AppFacts
	if len(groups) > 0 {
		af = n.appFactsOf(ev)
	}
	for node, ts := range groups {
		for len(ts) > 0 {
			part := ts[:min(len(ts), MaxTargets)]
			ts = ts[len(part):]
			b, err := encodeRoutedApps(n.id, ev, part, af)
			if err != nil || len(b) > MaxMessageBytes {
				n.metrics.Dropped.Add(1)
				n.cfg.Log.Warn("cluster route", "event", fmt.Sprintf("%T", ev), "err", err, "bytes", len(b))
				continue
			}
			n.enqueue(node, "route", b)
		}
	}
	return r
}

func (n *Node) enqueue(node, what string, b []byte) {
	n.mu.Lock()
	p := n.peers[node]
	if p == nil && n.up.Load() {
		p = &peer{ch: make(chan outgoing, n.cfg.QueueLen), stop: make(chan struct{})}
		n.peers[node] = p
		n.wg.Add(1)
		go n.publish(node, p)
	}
	n.mu.Unlock()
	if p == nil {
		return
	}
	select {
	case p.ch <- outgoing{what, b}:
	default:
		n.metrics.Dropped.Add(1)
	}
}

func (n *Node) publish(node string, p *peer) {
	defer n.wg.Done()
	for {
		select {
		case o := <-p.ch:
			if err := n.nc.Publish(n.subject(node, o.what), o.b); err != nil {
				n.metrics.Dropped.Add(1)
				continue
			}
			n.metrics.RoutedOut.Add(1)
		case <-p.stop:
			return
		case <-n.stop:
			return
		}
	}
}

// onRouted delivers what another node routed here to this node's sessions.
func (n *Node) onRouted(msg *nats.Msg) {
	origin, ev, to, af, err := decodeRoutedApps(msg.Data)
	if err != nil {
		n.metrics.BadIn.Add(1)
		n.cfg.Log.Debug("cluster: refused routed message", "err", err)
		return
	}
	n.metrics.RoutedIn.Add(1)
	if pe, ok := ev.(core.PresenceEvent); ok {
		n.deliverPresence(origin, pe, to, af)
		n.track(origin, pe.View, to)
		return
	}
	n.local.Route(ev, to)
	n.hub.RouteApps(ev, af, to)
}

// appFactsOf is what the subject of ev (presence, personal event) may
// tell other nodes for their app channels; Route holds its lock.
func (n *Node) appFactsOf(ev core.Event) core.AppFacts {
	switch ev := ev.(type) {
	case core.PresenceEvent:
		return n.hub.AppFactsOf(ev.View.Address)
	case core.PersonalEvent:
		return n.hub.AppFactsOf(ev.Item.Account)
	}
	return core.AppFacts{}
}

// track remembers which viewers were shown a subject available by which
// node, to withdraw it if that node dies.
func (n *Node) track(origin string, v core.PresenceView, to []core.Target) {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.tracked[v.Address]
	for _, t := range to {
		if v.Availability == core.Unavailable {
			if _, ok := m[t]; ok {
				delete(m, t)
				n.ntrack--
			}
			continue
		}
		if _, ok := m[t]; !ok {
			if n.ntrack >= n.cfg.MaxTracked {
				n.metrics.Dropped.Add(1)
				continue
			}
			if m == nil {
				m = map[core.Target]string{}
				n.tracked[v.Address] = m
			}
			n.ntrack++
		}
		m[t] = origin
	}
	if m != nil && len(m) == 0 {
		delete(n.tracked, v.Address)
	}
}

// Probe is core.Peers's: each live node holding some of subjects is
// asked to show them to the session.
func (n *Node) Probe(account, resource string, subjects []string) {
	if !n.up.Load() {
		return
	}
	var groups map[string][]string
	n.mu.RLock()
	for _, s := range subjects {
		for _, node := range n.liveHoldersLocked(s) {
			if groups == nil {
				groups = map[string][]string{}
			}
			groups[node] = append(groups[node], s)
		}
	}
	n.mu.RUnlock()
	for node, ss := range groups {
		b, err := json.Marshal(probe{Origin: n.id, Viewer: account, Resource: resource, Subjects: ss})
		if err != nil || len(b) > MaxMessageBytes {
			n.metrics.Dropped.Add(1)
			continue
		}
		n.enqueue(node, "probe", b)
	}
}

// onProbe shows a session on another node the subjects held here. The
// asking node holds the viewer: that is taken as a registry entry at
// once, since its own may still be on its way, and the answer must go there.
func (n *Node) onProbe(msg *nats.Msg) {
	p, err := decodeProbe(msg.Data)
	if err == nil && p.Origin != n.id {
		n.hint(p.Viewer, p.Origin)
		err = n.hub.Show(p.Viewer, p.Resource, p.Subjects)
	}
	if err != nil {
		n.metrics.BadIn.Add(1)
		n.cfg.Log.Debug("cluster: refused probe", "err", err)
	}
}

// hint records that node holds account, as a registry entry would.
func (n *Node) hint(account, node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.seen[node]; !ok || n.dead[node] {
		return // only live nodes are routed to
	}
	n.holdLocked(account, node)
}

// Send is core.Peers's: it asks a node holding m's recipient to deliver it.
// One node decides; its router reaches the account's other nodes. A
// message to one resource must be decided by the node holding it, since
// only that node's answer counts the session (Route reports what it
// reached itself): the registry names an account's nodes, not its
// resources, so each is asked in turn ("sendto") and the one holding the
// resource decides; when none says so, the least decides, as for the bare
// address.
func (n *Node) Send(ctx context.Context, m core.PeerMessage) (core.Routed, error) {
	if !n.up.Load() {
		return core.Routed{}, ErrNotStarted
	}
	bare, resource, _ := strings.Cut(m.Message.To, "/")
	n.mu.RLock()
	nodes := n.liveHoldersLocked(bare)
	n.mu.RUnlock()
	if len(nodes) == 0 {
		return core.Routed{}, ErrNoNode
	}
	slices.Sort(nodes)
	b, err := json.Marshal(m)
	if err != nil {
		return core.Routed{}, fmt.Errorf("cluster: encode message: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.SendTimeout)
	defer cancel()
	if resource != "" && len(nodes) > 1 {
		for _, node := range nodes {
			r, err := n.handOver(ctx, node, "sendto", b)
			var decided *core.Error
			if err == nil || errors.As(err, &decided) {
				return r, err
			}
			// elsewhere, or no answer (a node that died, or one of an
			// older version): the next, then the least decides
		}
	}
	return n.handOver(ctx, nodes[0], "send", b)
}

// errElsewhere: the node asked does not hold the resource a message is
// for (onSendTo).
var errElsewhere = errors.New("cluster: the resource is on another node")

// handOver asks node, on subject what, to decide the encoded message b.
func (n *Node) handOver(ctx context.Context, node, what string, b []byte) (core.Routed, error) {
	var r sendReply
	if err := n.request(ctx, node, what, b, &r); err != nil {
		return core.Routed{}, err
	}
	switch {
	case r.Elsewhere:
		return core.Routed{}, errElsewhere
	case r.Error != "":
		return core.Routed{}, core.Errorf(core.Code(r.Code), "%s", r.Error)
	}
	return core.Routed{Sessions: max(r.Sessions, 0), Online: max(r.Online, 0)}, nil
}

// onSend delivers a message another node's session sent to an account
// with sessions here.
func (n *Node) onSend(msg *nats.Msg) {
	m, err := decodeSend(msg.Data)
	n.answerSend(msg, m, err)
}

// onSendTo is onSend for a message to one resource, which this node
// decides only if it holds that resource (Send).
func (n *Node) onSendTo(msg *nats.Msg) {
	m, err := decodeSend(msg.Data)
	if err == nil {
		bare, resource, _ := strings.Cut(m.Message.To, "/")
		if !n.hub.HoldsSession(bare, resource) {
			b, _ := json.Marshal(sendReply{Elsewhere: true})
			if msg.Reply != "" {
				msg.Respond(b)
			}
			return
		}
	}
	n.answerSend(msg, m, err)
}

// answerSend has the hub decide m (decoded with err) and answers msg.
func (n *Node) answerSend(msg *nats.Msg, m core.PeerMessage, err error) {
	var rep sendReply
	if err == nil {
		var r core.Routed
		r, err = n.hub.Receive(m)
		rep.Sessions, rep.Online = r.Sessions, r.Online
	}
	if err != nil {
		n.metrics.BadIn.Add(1)
		rep.Error, rep.Code = err.Error(), string(core.CodeOf(err))
		var ce *core.Error
		if errors.As(err, &ce) {
			rep.Error = ce.Message
		}
	} else {
		n.metrics.ReceivedIn.Add(1)
	}
	b, _ := json.Marshal(rep)
	if msg.Reply != "" {
		msg.Respond(b)
	}
}

// beatLoop beats and declares silent nodes dead, on a goroutine of its
// own: registry writes (thousands when sessions pour in) must not delay
// the heartbeat past DeadAfter. A round that comes late says this node
// was starved of CPU, not that the others were silent: their updates may
// still be on their way to it, so they are given a fresh DeadAfter.
func (n *Node) beatLoop() {
	defer n.wg.Done()
	every := min(n.cfg.Heartbeat, n.cfg.DeadAfter/3)
	tick := time.NewTicker(every)
	defer tick.Stop()
	last, lastBeat := time.Now(), time.Now()
	for {
		select {
		case <-n.stop:
			return
		case now := <-tick.C:
			if now.Sub(lastBeat) >= n.cfg.Heartbeat {
				if _, err := n.kvNodes.Put(n.id, n.beat()); err == nil {
					lastBeat = now
				}
			}
			if late := time.Since(last) > n.cfg.DeadAfter/2; late {
				n.hearAllAnew()
			} else {
				n.reap(now)
			}
			last = time.Now()
		}
	}
}

// heardSelf notes that this node read its own heartbeat back from the
// registry. Back after a silence of the registry's watch, it gives the
// others a fresh DeadAfter: their beats of the silence may be lost or
// still coming after its own.
func (n *Node) heardSelf(now time.Time) {
	late := n.selfLate(now)
	n.selfHeard.Store(now.UnixNano())
	if late {
		n.hearAllAnew()
	}
}

// selfLate reports whether this node has not read its own heartbeat back
// for longer than a heartbeat and DeadAfter.
func (n *Node) selfLate(now time.Time) bool {
	return now.Sub(time.Unix(0, n.selfHeard.Load())) > n.cfg.Heartbeat+n.cfg.DeadAfter
}

// hearAllAnew gives every other node a fresh DeadAfter: not hearing them
// while this node was away (NATS gone, or starved) says nothing of them.
func (n *Node) hearAllAnew() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for node := range n.seen {
		n.seen[node] = time.Now()
	}
}

// registryReadTimeout bounds reading the registry's current values again
// (after a reconnection, or a node's return): tens of thousands of keys
// on a loaded NATS take seconds.
const registryReadTimeout = 30 * time.Second

// loop writes the registry and follows it anew when asked.
func (n *Node) loop() {
	defer n.wg.Done()
	tick := time.NewTicker(min(n.cfg.Heartbeat, n.cfg.DeadAfter/3))
	defer tick.Stop()
	rewatch := false // the registry must be followed anew (reconnected)
	var retryAt time.Time
	var backoff time.Duration
	for {
		select {
		case <-n.stop:
			return
		case <-n.kick:
			n.writeRegistry()
		case <-n.rewatch:
			rewatch = true
		case <-tick.C:
			n.writeRegistry() // those that failed
		}
		if rewatch && n.nc.IsConnected() && !time.Now().Before(retryAt) {
			ctx, cancel := context.WithTimeout(context.Background(), registryReadTimeout)
			if err := n.watchRegistry(ctx); err != nil {
				// again later: on a NATS too loaded to answer in time, at
				// once would only load it more
				backoff = min(max(2*backoff, time.Second), registryReadTimeout)
				retryAt = time.Now().Add(backoff)
				n.cfg.Log.Warn("cluster: following the registry again", "err", err, "retry in", backoff)
			} else {
				rewatch, backoff = false, 0
				n.resyncEverywhere()
			}
			cancel()
		}
	}
}

// writeRegistry makes the registry writes pending; those that fail wait
// for the next round.
func (n *Node) writeRegistry() {
	n.pmu.Lock()
	todo := n.pending
	n.pending = map[string]bool{}
	n.pmu.Unlock()
	for account, held := range todo {
		var err error
		if held {
			_, err = n.kvSessions.Put(key(account, n.id), nil)
		} else {
			err = n.kvSessions.Delete(key(account, n.id))
		}
		if err != nil {
			n.pmu.Lock()
			if _, newer := n.pending[account]; !newer {
				n.pending[account] = held
			}
			n.pmu.Unlock()
		}
	}
}

// reap declares dead the nodes not heard for DeadAfter, and nodes with
// registry entries never heard at all: their accounts are no longer
// routed to, and the viewers they showed presence to are shown the
// subjects offline.
func (n *Node) reap(now time.Time) {
	if !n.nc.IsConnected() {
		return // this node hears nobody: that tells nothing of the others
	}
	if n.selfLate(now) {
		return // this node's own heartbeat is not back: its watch of the registry is behind
	}
	if n.nc.Stats().Reconnects != n.heardAnew.Load() {
		// connected again, but the reconnection's handler (run later, on
		// the NATS client's callback goroutine) has not yet given the
		// others a fresh DeadAfter: their silence is this node's outage
		return
	}
	var gone []string
	n.mu.Lock()
	for node, t := range n.seen {
		if !n.dead[node] && now.Sub(t) > n.cfg.DeadAfter {
			gone = append(gone, node)
		}
	}
	if now.Sub(n.started) > n.cfg.DeadAfter {
		for node := range n.byNode {
			if _, ok := n.seen[node]; !ok && !slices.Contains(gone, node) {
				gone = append(gone, node)
			}
		}
	}
	type withdraw struct {
		subject string
		to      []core.Target
	}
	var ws []withdraw
	var purge, accounts []string
	shown := map[string]map[core.Target]core.PresenceView{} // split subjects: what their other nodes show
	apps := map[string]core.AppFacts{}                      // and their facts for apps
	for _, node := range gone {
		for subject := range n.partials {
			apps[subject] = n.apps[subject]
		}
		for subject, m := range n.dropNodeLocked(node) {
			if shown[subject] == nil {
				shown[subject] = m
				continue
			}
			for t, v := range m {
				shown[subject][t] = v
			}
		}
		n.dead[node] = true
		n.diedAt[node] = now
		delete(n.seen, node)
		delete(n.readRev, node)
		for a := range n.byNode[node] {
			purge = append(purge, key(a, node))
			accounts = append(accounts, a)
			n.unholdLocked(a, node)
		}
		if p := n.peers[node]; p != nil {
			close(p.stop)
			delete(n.peers, node)
		}
		for subject, m := range n.tracked {
			var to []core.Target
			for t, origin := range m {
				if origin == node {
					to = append(to, t)
					delete(m, t)
					n.ntrack--
				}
			}
			if len(m) == 0 {
				delete(n.tracked, subject)
			}
			if len(to) > 0 {
				ws = append(ws, withdraw{subject, to})
			}
		}
		n.metrics.NodesDead.Add(1)
	}
	// the live node with the least ID removes the dead nodes' entries
	purger := true
	for node := range n.seen {
		if !n.dead[node] && node < n.id {
			purger = false
		}
	}
	n.mu.Unlock()
	for _, node := range gone {
		n.cfg.Log.Warn("cluster: node dead", "node", node)
		n.hub.PeerGone(node) // its parties of calls are gone
		time.AfterFunc(n.cfg.ResumeFor, func() { n.purgeRecords(node) })
	}
	for _, w := range ws {
		var left []core.Target // not shown by another node of the subject's
		for _, t := range w.to {
			if _, ok := shown[w.subject][t]; !ok {
				left = append(left, t)
			}
		}
		if len(left) > 0 {
			ev := core.PresenceEvent{View: core.PresenceView{Address: w.subject, Availability: core.Unavailable, LastSeen: now.UTC()}}
			n.local.Route(ev, left)
			n.hub.RouteApps(ev, core.AppFacts{}, left)
		}
	}
	for subject, m := range shown {
		for t, v := range m {
			if v.Availability == core.Unavailable && v.LastSeen.IsZero() {
				v.LastSeen = now.UTC()
			}
			n.local.Route(core.PresenceEvent{View: v}, []core.Target{t})
			n.hub.RouteApps(core.PresenceEvent{View: v}, apps[subject], []core.Target{t})
		}
	}
	if n.cfg.Federates && len(accounts) > 0 {
		n.wg.Add(1)
		go n.reannounce(accounts, purger)
	}
	if purger && len(purge) > 0 {
		// not on the heartbeat's goroutine: thousands of deletes take long
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			for _, k := range purge {
				if n.kvSessions.Delete(k) != nil && !n.nc.IsConnected() {
					return // what is left is purged again once the registry is followed anew (reap: entries of nodes never heard)
				}
			}
		}()
	}
}

// Healthy reports whether the node is connected to NATS (for /readyz).
func (n *Node) Healthy() bool { return n.up.Load() && n.nc.IsConnected() }

// Close leaves the cluster: it removes this node's registry entries (its
// sessions are ending with the hub's shutdown) and disconnects.
func (n *Node) Close() {
	if !n.up.Swap(false) {
		return
	}
	n.pmu.Lock()
	mine := make([]string, 0, len(n.mine))
	for a := range n.mine {
		mine = append(mine, a)
	}
	n.pmu.Unlock()
	done := make(chan struct{})
	go func() { // bounded: with NATS away, each delete would wait for its own timeout
		defer close(done)
		n.writeRecords() // kept: its clients resume them on other nodes
		for _, a := range mine {
			if !n.nc.IsConnected() {
				return // the others will declare this node dead instead
			}
			n.kvSessions.Delete(key(a, n.id))
		}
	}()
	select {
	case <-done:
	case <-time.After(n.cfg.SendTimeout):
	}
	n.shutdown()
}

// Kill stops the node as a crash would (tests): no goodbye, its registry
// entries stay for the others to expire.
func (n *Node) Kill() {
	if n.up.Swap(false) {
		n.shutdown()
	}
}

func (n *Node) shutdown() {
	close(n.stop)
	n.wmu.Lock()
	for _, w := range n.watch {
		w.Stop()
	}
	n.wmu.Unlock()
	n.nc.Close()
	n.wg.Wait()
}

// NamespaceFor is the namespace of a domain's cluster: nodes of different
// domains may share a NATS without hearing each other.
func NamespaceFor(domain string) string {
	ns := "presenced_" + tokenOf(domain)
	if len(ns) > 64 {
		sum := sha256.Sum256([]byte(domain))
		ns = "presenced_" + hex.EncodeToString(sum[:16])
	}
	return ns
}

// DefaultNodeID is a node ID unique enough for --node-id's default: the
// host name and a random suffix.
func DefaultNodeID() string {
	host, _ := os.Hostname()
	host = tokenOf(host)
	if len(host) > 40 {
		host = host[:40]
	}
	b := make([]byte, 4)
	rand.Read(b)
	if host == "" {
		host = "node"
	}
	return host + "-" + hex.EncodeToString(b)
}

// tokenOf keeps the characters a subject token and a key may hold.
func tokenOf(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// nodeBack: node, declared dead here, is heard again (a partition healed,
// or it was starved of CPU for longer than DeadAfter). Declaring it dead
// forgot what it holds, and unless the purger declared it dead too its
// registry keys are still there, so it writes none of them again: they
// are read again (on the registry's follower, in order with its updates),
// then both sides show their accounts anew — what each routed meanwhile
// never reached the other.
func (n *Node) nodeBack(node string) {
	select {
	case n.rereads <- node:
	default: // many at once: follow the whole registry anew
		select {
		case n.rewatch <- struct{}{}:
		default:
		}
	}
}

// readNodeAgain reads what node holds from the registry's current values
// and makes it this node's view of node; updates older than what it read
// are ignored when they come (apply). Then node is asked to show its
// accounts again, and this node does the same.
func (n *Node) readNodeAgain(node string) {
	ctx, cancel := context.WithTimeout(context.Background(), registryReadTimeout)
	defer cancel()
	w, err := n.kvSessions.Watch("*."+node, nats.Context(ctx))
	if err != nil {
		n.cfg.Log.Warn("cluster: reading a node's registry entries again", "node", node, "err", err)
		n.nodeBackLater()
		return
	}
	defer w.Stop()
	held := map[string]struct{}{}
	var rev uint64
read:
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return // stopping
			}
			if e == nil {
				break read // the current values are all in
			}
			rev = max(rev, e.Revision())
			if a, _, ok := parseKey(e.Key()); ok && e.Operation() == nats.KeyValuePut {
				held[a] = struct{}{}
			}
		case <-ctx.Done():
			n.cfg.Log.Warn("cluster: reading a node's registry entries again", "node", node, "err", ctx.Err())
			n.nodeBackLater()
			return
		}
	}
	n.mu.Lock()
	n.readRev[node] = rev
	for a := range n.byNode[node] {
		if _, ok := held[a]; !ok {
			n.unholdLocked(a, node)
		}
	}
	for a := range held {
		n.holdLocked(a, node)
	}
	n.mu.Unlock()
	b, _ := json.Marshal(subjectList{Origin: n.id})
	n.enqueue(node, "resync", b)
	n.wantResync()
}

// nodeBackLater falls back on following the whole registry anew, and
// resynchronising everywhere, at the heartbeat loop's next round.
func (n *Node) nodeBackLater() {
	select {
	case n.rewatch <- struct{}{}:
	default:
	}
}
