package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/store"
)

// Limits bound what one account or session may hold.
type Limits struct {
	OutboxUnsent   int // events waiting for a slow reader before it is disconnected
	OutboxRetained int // sent but unacknowledged events kept for resumption
	// CoalesceAfter: a contact's presence update replaces its unsent one
	// (latest wins) only once this many events wait unsent, i.e. for a
	// reader that fell behind. Below it every update is queued, so a
	// transport that is a little behind sends several in one write
	// instead of losing all but the last. 0 (the default) coalesces at
	// once: a presence update is worth only its latest state, and every
	// update queued in a socket's buffers delays the fresher ones (the
	// server cannot see that backlog; docs/benchmarks.md, fan-out).
	CoalesceAfter      int
	SessionsPerAccount int
	ContactsPerAccount int
	ListPerAccount     int // blocks, hidden entries
	PendingPerAccount  int // subscription requests made, received, and pre-approvals
	RequestsPerSecond  float64
	RequestBurst       int
}

// DefaultLimits are used where Config.Limits is zero.
var DefaultLimits = Limits{OutboxUnsent: 1024, OutboxRetained: 256, CoalesceAfter: 0, SessionsPerAccount: 32, ContactsPerAccount: 10000, ListPerAccount: 10000, PendingPerAccount: 1000,
	RequestsPerSecond: 20, RequestBurst: 60}

// Config configures a Hub.
type Config struct {
	// Domain is the primary domain this node serves: the one a bare user
	// name without @ belongs to.
	Domain string
	// Domains lists every domain served, Domain among them (several
	// domains from one process, docs/federation.md); nil: Domain alone.
	// Accounts of all of them are local to each other.
	Domains []string
	Grace   time.Duration // how long a dropped session stays online awaiting resumption
	Limits  Limits
	// Handles makes apps' pairwise handles; nil: a random key (handles
	// change on restart, so only for tests).
	Handles *Handles
	// Waker wakes an account's devices when something waits for it and no
	// session took it (wake.go); nil: none.
	Waker Waker
	// Offline bounds stored messages and history (offline.go); zero
	// fields take DefaultOffline's.
	Offline OfflineConfig
	// Calls bounds calls (calls.go); zero fields take DefaultCallLimits.
	Calls CallLimits
	// Rooms bounds rooms (rooms.go); zero fields take DefaultRoomLimits'.
	Rooms RoomLimits
	// RoomTokens checks the room tokens of apps that authorize who joins
	// their rooms (roomtokens.go); nil: every such token is refused.
	RoomTokens RoomTokenVerifier
	// Peers reaches the other nodes of a cluster (peers.go); nil: this
	// node is the whole domain.
	Peers Peers
}

// Metrics are the hub's counters, read by the metrics endpoint.
type Metrics struct {
	Delivered   atomic.Uint64 // events handed to transports
	Coalesced   atomic.Uint64 // presence events merged into an unsent one
	QueueDrops  atomic.Uint64 // sessions disconnected for overflowing their outbox
	Sessions    atomic.Int64  // live sessions (attached or in grace)
	byTransport sync.Map      // transport name → *transportGauge
}

// transportGauge names a transport and counts its live sessions; a session
// points at its transport's (8 bytes where a name and a counter took 24).
type transportGauge struct {
	name     string
	sessions atomic.Int64
}

func (m *Metrics) gaugeOf(transport string) *transportGauge {
	if v, ok := m.byTransport.Load(transport); ok {
		return v.(*transportGauge)
	}
	v, _ := m.byTransport.LoadOrStore(transport, &transportGauge{name: transport})
	return v.(*transportGauge)
}

// SessionsOf is the number of live sessions (attached or in grace) that
// were opened over transport.
func (m *Metrics) SessionsOf(transport string) *atomic.Int64 {
	return &m.gaugeOf(transport).sessions
}

// Hub is the presence engine. All methods are safe for concurrent use.
//
// Locking (docs/architecture.md): the in-memory state of an account (its
// user and the presence of its sessions) is guarded by the lock of the
// shard its address hashes to; a fan-out about a subject holds that one
// lock, so fan-outs of unrelated users run in parallel. An operation on
// several accounts locks their shards in index order (lock). A session's
// outbox has its own lock, taken last; Sink and Router calls happen under
// these locks and must not block. No lock is held during store I/O:
// operations read and write the store first, then lock and check that
// nothing they read changed meanwhile (epochs), or start over.
type Hub struct {
	cfg     Config
	domains []string // the served domains, lower-cased, the primary first (servedDomains)
	store   store.Store
	clock   clock.Clock
	router  Router
	log     *slog.Logger
	metrics *Metrics

	shards    [shardCount]shard
	epochs    [epochStripes]atomic.Uint64
	rights    recentRights               // lifecycle events applied lately (lifecycle.go)
	publishMu [publishStripes]sync.Mutex // orders one account's personal events (personal.go)
	edits     [editStripes]sync.Mutex    // orders one pair's graph edits (graph.go)
	grantMu   [editStripes]sync.Mutex    // orders one account's grant reloads (appgrants.go)
	handles   *Handles                   // apps' pairwise handles (handles.go)
	closing   atomic.Bool                // Shutdown began: no new or resumed sessions
	born      time.Time                  // the hub's start, from which sessions count their own (sinceBorn)
	calls     callTable                  // live calls (calls.go)
	rooms     roomTable                  // rooms with occupants (rooms.go)
	adopter   Adopter                    // Peers, if it lets sessions move between nodes (adopt.go)
	foreign   foreignIndex               // sessions in rooms of other domains (foreignrooms.go)
}

const (
	shardCount     = 64
	epochStripes   = 4096
	publishStripes = 256
	editStripes    = 256
)

type shard struct {
	mu    sync.Mutex
	after []func() // store writes queued under mu, run once it is released

	// users holds the shard's accounts with sessions. It is written under
	// mu and usersMu, read under either: routers look viewers up without
	// their shard locks. usersMu is taken last and held for nothing else.
	usersMu sync.RWMutex
	users   map[string]*user
}

var errShuttingDown = Errorf(CodeBusy, "server shutting down; reconnect shortly")

func hash(account string) uint32 {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(account); i++ {
		h ^= uint32(account[i])
		h *= 16777619
	}
	return h
}

func (h *Hub) shardOf(account string) *shard { return &h.shards[hash(account)%shardCount] }

// lock locks the shards of the accounts, in index order, and returns the
// function that unlocks them and then runs the store writes queued
// meanwhile: fan-out never waits on the disk.
func (h *Hub) lock(accounts ...string) (unlock func()) {
	var want [shardCount]bool
	for _, a := range accounts {
		want[hash(a)%shardCount] = true
	}
	for i := range want {
		if want[i] {
			h.shards[i].mu.Lock()
		}
	}
	return func() {
		var after []func()
		for i := range want {
			if want[i] {
				after = append(after, h.shards[i].after...)
				h.shards[i].after = nil
				h.shards[i].mu.Unlock()
			}
		}
		for _, f := range after {
			f()
		}
	}
}

// epoch counts the graph changes an account was part of. An operation that
// read the store before locking compares it to learn whether what it read
// is still true.
func (h *Hub) epoch(account string) uint64 { return h.epochs[hash(account)%epochStripes].Load() }

// bumpLocked records a graph change of the accounts; the caller holds their locks.
func (h *Hub) bumpLocked(accounts ...string) {
	for _, a := range accounts {
		h.epochs[hash(a)%epochStripes].Add(1)
	}
}

// afterLocked queues a store write for when account's lock is released.
func (h *Hub) afterLocked(account string, f func()) {
	sh := h.shardOf(account)
	sh.after = append(sh.after, f)
}

// live returns the in-memory user of an account with sessions, or nil.
func (h *Hub) live(account string) *user {
	sh := h.shardOf(account)
	sh.usersMu.RLock()
	u := sh.users[account]
	sh.usersMu.RUnlock()
	return u
}

// keepLocked makes u the live user of its account; the caller holds its lock.
func (h *Hub) keepLocked(u *user) {
	if h.putLocked(u) {
		h.announceLocked(u)
	}
}

// putLocked makes u the live user of its address here, reporting whether
// none was; the caller holds its lock.
func (h *Hub) putLocked(u *user) (fresh bool) {
	sh := h.shardOf(u.address)
	sh.usersMu.Lock()
	defer sh.usersMu.Unlock()
	if sh.users == nil {
		sh.users = make(map[string]*user)
	}
	_, had := sh.users[u.address]
	sh.users[u.address] = u
	return !had
}

// announceLocked tells the other nodes that this one now holds sessions
// of u; the caller holds its lock.
func (h *Hub) announceLocked(u *user) {
	if h.cfg.Peers != nil && !h.Remote(u.address) { // a remote stand-in holds no session
		h.cfg.Peers.Held(u.address, true)
	}
}

// forgetLocked removes u from memory unless another user replaced it; the
// caller holds its lock.
func (h *Hub) forgetLocked(u *user) {
	sh := h.shardOf(u.address)
	sh.usersMu.Lock()
	gone := sh.users[u.address] == u
	if gone {
		delete(sh.users, u.address)
	}
	sh.usersMu.Unlock()
	if gone && h.cfg.Peers != nil && !h.Remote(u.address) {
		h.cfg.Peers.Held(u.address, false)
	}
}

// liveUsers lists the users in memory now, for the rare walks over all of
// them (shutdown, an account deleted); callers lock each as they go.
func (h *Hub) liveUsers() []*user {
	var out []*user
	for i := range h.shards {
		sh := &h.shards[i]
		sh.usersMu.RLock()
		for _, u := range sh.users {
			out = append(out, u)
		}
		sh.usersMu.RUnlock()
	}
	return out
}

// user is the in-memory state of an account with sessions, guarded by its
// shard's lock but for sessions, which routers read without it.
type user struct {
	address   string
	created   int64                       // UnixNano of the account's creation: tells a re-registered address from the deleted one
	sessions  atomic.Pointer[sessionList] // copied on write
	grantsP   atomic.Pointer[grantTable]  // its grants to apps (appgrants.go), replaced whole
	viewers   viewerSet                   // approved to see this user
	blocks    map[string]time.Time        // blocked viewer → the last-seen it is shown (store.ListEntry)
	hidden    map[string]time.Time        // hidden-from viewer → the same
	invisible bool
	lastSeen  time.Time
	// fed is kept, for an account of another domain, while its server
	// says some of its resources are online (federation.go); nil for
	// accounts of this domain.
	fed *remoteUser
}

// remoteUser is what a user of another domain has that local ones do not.
type remoteUser struct {
	// remote holds the presence of its resources as its server announced
	// them.
	remote map[string]Presence
	// greeted holds "resource\x00local account" for each resource online
	// that was sent that local account's last personal events: once per
	// resource and account.
	greeted map[string]struct{}
}

// remoteRes is the presence of the resources of u, an account of another
// domain, as its server announced them; nil for local accounts. The caller
// holds u's lock.
func (u *user) remoteRes() map[string]Presence {
	if u.fed == nil {
		return nil
	}
	return u.fed.remote
}

// sessionList is a user's sessions with what routing asks of them.
type sessionList struct {
	all     []*Session
	apps    []Channel   // the app channels among them, each once
	private bool        // one is in an app its user keeps private
	one     [1]*Session // all's array when there is one session (most accounts): no array of its own
}

func (u *user) list() []*Session {
	if p := u.sessions.Load(); p != nil {
		return p.all
	}
	return nil
}

// appChannels lists the app channels u has sessions on.
func (u *user) appChannels() []Channel {
	if p := u.sessions.Load(); p != nil {
		return p.apps
	}
	return nil
}

// hasPrivate reports whether one of u's sessions is private to its app.
func (u *user) hasPrivate() bool {
	p := u.sessions.Load()
	return p != nil && p.private
}

func (u *user) setList(l []*Session) {
	sl := &sessionList{all: l}
	if len(l) == 1 {
		sl.one[0] = l[0]
		sl.all = sl.one[:]
	}
	for _, s := range l {
		if !s.channel.FirstParty() && !slices.Contains(sl.apps, s.channel) {
			sl.apps = append(sl.apps, s.channel)
		}
		sl.private = sl.private || s.private
	}
	u.sessions.Store(sl)
}

// New returns a hub. A nil router routes to this process's sessions only.
func New(cfg Config, st store.Store, clk clock.Clock, router Router, log *slog.Logger) *Hub {
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits
	}
	cfg.Offline = cfg.Offline.withDefaults()
	h := &Hub{cfg: cfg, domains: servedDomains(cfg), store: st, clock: clk, log: log, metrics: &Metrics{}, born: clk.Now(), handles: cfg.Handles}
	if h.handles == nil {
		h.handles = NewHandles(nil)
	}
	if router == nil {
		router = h.LocalRouter()
	}
	h.router = router
	h.adopter, _ = cfg.Peers.(Adopter)
	return h
}

// servedDomains is Config.Domain then the rest of Config.Domains,
// lower-cased, each once; empty when no domain is configured.
func servedDomains(cfg Config) []string {
	var out []string
	for _, d := range append([]string{cfg.Domain}, cfg.Domains...) {
		if d = strings.ToLower(d); d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// Domain is the hub's primary domain (Config.Domain).
func (h *Hub) Domain() string { return h.cfg.Domain }

// Domains lists the domains the hub serves, the primary first.
func (h *Hub) Domains() []string { return slices.Clone(h.domains) }

// Serves reports whether domain is one of the hub's (any case).
func (h *Hub) Serves(domain string) bool {
	return slices.Contains(h.domains, strings.ToLower(domain))
}

// Metrics returns the hub's counters.
func (h *Hub) Metrics() *Metrics { return h.metrics }

// SessionOptions describe a new session.
type SessionOptions struct {
	Transport string   // "ws", "longpoll" …: for metrics
	Device    string   // prefix of the resource ("phone", "web"); optional
	Accepts   []string // message kinds the session takes; nil means all
	// Payloads: the session takes Message.Payload (XMPP sessions). Others are
	// not sent messages that have a payload and no body (chat states …).
	Payloads bool
	// Topics of personal events the session takes; nil means all.
	Topics []string
	// Resource asks for exactly this resource instead of Device plus a
	// random suffix. A session already on it is ended ("conflict"), as RFC
	// 6120 § 7.7.2.2 lets a server do: the newest connection wins.
	Resource string
	Presence *Presence // initial presence; nil: not shown to others until set
	// Credential names what the session signed in with, so that revoking it
	// ends the session (lifecycle.go): CredentialPassword, or the ID of a
	// bearer token.
	Credential string
	// Checked is the Checkpoint taken before the credential was verified:
	// a right lost since (a revocation applied between the check and this
	// call) refuses the session. Zero: not given, nothing is checked.
	Checked Checkpoint
	Channel Channel // first-party unless an app's (its App; Scopes come from Scopes)
	// Scopes are what the app's user granted it, for an app's channel
	// (scopes.go): its token's; a first-party session needs none.
	Scopes []string
	// View, if set, receives what Connect read from the store, for a
	// transport that asks for it again soon after (XMPP's roster get and
	// initial presence): see View.
	View *View
	// Account, if set, is the account's row read to check the credential
	// (Hub.ReadAccount), used instead of reading it again while current.
	Account *AccountRead
	// StoredOnAck: an ack of a stored message (Session.Ack) deletes it
	// (XMPP: XEP-0198 acks, or the write itself without them). Without
	// it a client deletes them with Session.AckStored (the JSON protocol).
	StoredOnAck bool
	// Resumable: the session may be resumed on another node of a cluster
	// if this one goes (adopt.go): its record is kept in the registry.
	Resumable bool

	adopted *SessionRecord // started again from another node's record (adopt.go)
	seqFrom uint64         // and numbered after the client's last event
}

func (u *user) online() bool {
	for _, s := range u.list() {
		if s.available {
			return true
		}
	}
	return len(u.remoteRes()) > 0
}

// fullView is the user's presence from all its sessions: what its own
// first-party sessions see, and approved viewers when no session is
// private to its app; the self view also shows an invisible user its own
// sessions.
func (u *user) fullView() PresenceView { return u.viewOn(Channel{}, true) }

// viewOn is the user's presence as an approved viewer on ch sees it: the
// sessions in apps the user keeps private count only in their own app,
// unless all is set.
func (u *user) viewOn(ch Channel, all bool) PresenceView {
	var ss []SessionPresence
	for _, s := range u.list() {
		if s.available && (all || !s.private || s.channel.App == ch.App) {
			ss = append(ss, SessionPresence{Resource: s.Resource, Presence: s.presence})
		}
	}
	for r, p := range u.remoteRes() {
		ss = append(ss, SessionPresence{Resource: r, Presence: p})
	}
	v := aggregate(u.address, ss)
	if len(ss) == 0 {
		v.LastSeen = u.lastSeen
	}
	return v
}

// view is the user's presence as a viewer with facts f may see it.
func (u *user) view(f Facts) PresenceView {
	if !Allow(f, FlowPresence) {
		return u.absence(f)
	}
	return u.viewOn(f.Channel, f.Self && f.Channel.FirstParty() || !u.hasPrivate())
}

// shownTo maps a privacy list's viewers to what each is shown.
func shownTo(list []store.ListEntry) map[string]time.Time {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]time.Time, len(list))
	for _, e := range list {
		m[e.Address] = e.Shown
	}
	return m
}

func set(list []string) map[string]struct{} {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]struct{}, len(list))
	for _, v := range list {
		m[v] = struct{}{}
	}
	return m
}

// loadUser reads an account's graph from the store.
func (h *Hub) loadUser(ctx context.Context, account string) (*user, error) {
	acct, err := h.store.GetAccount(ctx, account)
	if err != nil {
		return nil, err
	}
	var f store.AccountFacts
	if f.Relations, err = h.store.RelationsOf(ctx, account); err != nil {
		return nil, err
	}
	if f.Blocks, f.Hidden, err = h.store.PrivacyLists(ctx, account); err != nil {
		return nil, err
	}
	if f.Grants, err = h.store.ListGrants(ctx, account); err != nil {
		return nil, err
	}
	return h.userOf(ctx, account, acct, &f)
}

// userOf builds account's user from its row and the facts read with it
// (its relations, privacy lists and grants).
func (h *Hub) userOf(ctx context.Context, account string, acct store.Account, f *store.AccountFacts) (*user, error) {
	grants, err := h.grantTableOf(ctx, account, f.Grants)
	if err != nil {
		return nil, err
	}
	u := &user{address: account, created: acct.CreatedAt.UnixNano(), blocks: shownTo(f.Blocks), hidden: shownTo(f.Hidden), invisible: acct.Invisible, lastSeen: acct.LastSeen}
	u.setGrants(grants)
	u.viewers = h.approvedViewers(account, f.Relations)
	return u, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// newSession checks opts and builds a detached session.
func (h *Hub) newSession(account string, opts SessionOptions, sink Sink) (*Session, error) {
	device := deviceOf(opts)
	if len(device) > 32 || addr.Resource(device) != nil {
		return nil, Errorf(CodeInvalid, "device must be 1 to 32 printable characters without / or @")
	}
	if opts.Resource != "" && (len(opts.Resource) > 64 || addr.Resource(opts.Resource) != nil) {
		return nil, Errorf(CodeInvalid, "resource must be 1 to 64 printable characters without / or @")
	}
	s := &Session{hub: h, Account: account, Resource: opts.Resource, payloads: opts.Payloads, storedAck: opts.StoredOnAck, portable: opts.Resumable,
		transport: h.metrics.gaugeOf(opts.Transport), credential: opts.Credential, channel: opts.Channel, sink: sink,
		started: h.sinceBorn(h.clock.Now())}
	if !s.channel.FirstParty() {
		s.channel.Scopes = ScopesOf(opts.Scopes)
	}
	for _, k := range opts.Accepts {
		b := kindBit(k)
		if b == 0 {
			return nil, Errorf(CodeInvalid, "unknown message kind %q", k)
		}
		s.accepts |= b
	}
	if opts.Accepts == nil {
		s.accepts = acceptMessage | acceptSignal
	}
	if opts.Payloads {
		s.accepts |= acceptIQ
	}
	topics := allTopics
	if opts.Topics != nil {
		var err error
		if topics, err = topicsOf(opts.Topics); err != nil {
			return nil, err
		}
	}
	if opts.adopted != nil {
		s.adoptOptions(opts.adopted, opts.seqFrom)
		topics = topicSet(s.topics.Load())
	}
	if !s.channel.FirstParty() {
		// an app's session takes only what its scopes cover
		if !s.channel.Scopes.Has(ScopeMessage) {
			s.accepts &^= acceptMessage
		}
		if !s.channel.Scopes.Has(ScopeSignal) {
			s.accepts &^= acceptSignal | acceptCall
		}
		if !s.channel.Scopes.Has(ScopeEventsRead) {
			topics = 0
		}
	}
	s.topics.Store(uint32(topics))
	if opts.Presence != nil {
		if err := opts.Presence.Validate(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// sinceBorn is t in whole seconds since the hub started, as sessions keep
// their start (4 bytes; a time.Time takes 24).
func (h *Hub) sinceBorn(t time.Time) uint32 {
	return uint32(max(0, min(t.Sub(h.born)/time.Second, math.MaxUint32)))
}

// deviceOf names the client's device; generated resources start with it.
func deviceOf(opts SessionOptions) string {
	if opts.Device == "" {
		return "session"
	}
	return opts.Device
}

// Connect starts a new session of account attached to sink. The session's
// first event is a Snapshot.
func (h *Hub) Connect(ctx context.Context, account string, opts SessionOptions, sink Sink) (*Session, error) {
	s, err := h.newSession(account, opts, sink)
	if err != nil {
		return nil, err
	}
	if opts.Presence != nil {
		if err := s.may(ScopePresencePublish); err != nil {
			return nil, err
		}
	}
	var probe []string // subjects whose sessions other nodes may hold
	err = h.withView(ctx, account, opts.Account, func(loaded *user, view storedView) error {
		if h.closing.Load() {
			return errShuttingDown
		}
		if reason, lost := h.rights.lostSince(account, opts.Credential, opts.Checked); lost {
			return Errorf(CodeUnauthorized, "%s", reason)
		}
		u := h.live(account)
		if u != nil && u.created != loaded.created {
			h.dropUserLocked(u, GoawayDeleted) // the address was deleted and registered anew
			u = nil
		}
		if u == nil {
			u = loaded
		}
		if old := u.session(opts.Resource); opts.Resource != "" && old != nil {
			h.replaceLocked(old)
		}
		if len(u.list()) >= h.cfg.Limits.SessionsPerAccount {
			return Errorf(CodeLimit, "at most %d sessions per account", h.cfg.Limits.SessionsPerAccount)
		}
		g, err := h.appGrantLocked(u, s)
		if err != nil {
			return err
		}
		s.private = g != nil && g.private
		for s.Resource == "" || u.session(s.Resource) != nil {
			s.Resource = deviceOf(opts) + "-" + randomHex(3)
		}
		s.user = u
		for _, sf := range view.facts { // who approved u hold its address: this copy from now on
			if su := h.live(sf.Subject); su != nil {
				su.viewers.canon(u.address)
			}
		}
		l := u.list()
		u.setList(append(l[:len(l):len(l)], s)) // a new array: routers may be reading the old one
		fresh := h.putLocked(u)
		h.metrics.Sessions.Add(1)
		s.transport.sessions.Add(1)
		h.snapshotToLocked(s, view)
		if fresh {
			// only now: a node that learns of the session may route to it
			// at once (what it routed towards nobody: cluster/unheld.go),
			// and the snapshot must be the session's first event
			h.announceLocked(u)
		}
		if opts.View != nil {
			*opts.View = View{read: true, epoch: view.epoch, subs: view.subs, subjects: subjectsOf("", view.facts)[1:]}
		}
		if h.cfg.Peers != nil {
			probe = subjectsOf("", view.facts)[1:] // an app's session: decided for its grant where it is shown (RouteApps)
		}
		if opts.Presence != nil {
			h.setPresenceLocked(s, *opts.Presence)
		} else {
			h.recordLocked(s)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(probe) > 0 {
		h.cfg.Peers.Probe(account, s.Resource, probe) // the snapshot showed them from here only
	}
	return s, nil
}

// withView reads account's graph and snapshot view from the store, then
// runs f with the shards of the account and of every subject in the view
// locked, once nothing it read has changed meanwhile (else it reads again).
// pre, if not nil, is the account's row read at sign-in (AccountRead).
func (h *Hub) withView(ctx context.Context, account string, pre *AccountRead, f func(loaded *user, view storedView) error) error {
	for {
		e := h.epoch(account)
		loaded, view, err := h.readView(ctx, account, pre, e)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return Errorf(CodeUnauthorized, "account does not exist")
			}
			return err
		}
		view.epoch = e
		unlock := h.lock(subjectsOf(account, view.facts)...)
		if h.epoch(account) != e {
			unlock()
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		err = f(loaded, view)
		unlock()
		return err
	}
}

func (u *user) session(resource string) *Session {
	for _, s := range u.list() {
		if s.Resource == resource {
			return s
		}
	}
	return nil
}

// storedView is the durable part of a snapshot.
type storedView struct {
	facts []store.SubjectFacts
	subs  []SubscriptionView
	items []store.PersonalItem
	epoch uint64 // the account's epoch when it was read
}

// readView reads account's user and view in one read of the store
// (store.Graph.FactsOf), with the account's row from pre while it is
// current at epoch e (AccountRead).
func (h *Hub) readView(ctx context.Context, account string, pre *AccountRead, e uint64) (*user, storedView, error) {
	acct, err := h.account(ctx, account, pre, e)
	if err != nil {
		return nil, storedView{}, err
	}
	f, err := h.store.FactsOf(ctx, account)
	if err != nil {
		return nil, storedView{}, err
	}
	loaded, err := h.userOf(ctx, account, acct, &f)
	if err != nil {
		return nil, storedView{}, err
	}
	subs := pairViews(account, f.Relations, func(other string) bool { return loaded.blocking(other) })
	return loaded, storedView{facts: f.Approvers, subs: subs, items: f.Items}, nil
}

// snapshotToLocked delivers s its snapshot: its own information, so the
// policy has been asked about each subject while building it.
func (h *Hub) snapshotToLocked(s *Session, view storedView) {
	snap := s.ownSnapshot(h.snapshotLocked(s.user, view, s.channel))
	// redact: an app's session without presence:read is refused its own
	// presence, but gets its snapshot all the same, its Self an absence
	h.deliver(delivery{ev: snap, subject: s.user, flow: FlowPresence, redact: true, to: []Target{s.target()}})
}

// ownSnapshot keeps the personal items of the topics s takes.
func (s *Session) ownSnapshot(snap Snapshot) Snapshot {
	kept := make([]store.PersonalItem, 0, len(snap.Items))
	for _, it := range snap.Items {
		if s.takes(topicBit(it.Topic)) {
			kept = append(kept, it)
		}
	}
	snap.Items = kept
	return snap
}

// snapshotLocked builds what account may see now from the store's view
// and live presence from memory. The caller holds the locks of u and of
// every subject in sv.
func (h *Hub) snapshotLocked(u *user, sv storedView, ch Channel) Snapshot {
	if !ch.FirstParty() {
		return Snapshot{Self: u.view(h.factsLocked(u, u.address, ch)),
			Items: h.visibleItemsLocked(u.address, sv.facts, sv.items, ch), Presence: h.viewsLocked(u.address, sv.facts, ch)}
	}
	snap := Snapshot{Self: u.fullView(), Privacy: u.privacy(), Subscriptions: sv.subs,
		Items: h.visibleItemsLocked(u.address, sv.facts, sv.items, ch)}
	snap.Presence = h.viewsLocked(u.address, sv.facts, ch)
	return snap
}

// viewsLocked is what viewer may see of each subject in facts; the caller
// holds their locks.
func (h *Hub) viewsLocked(viewer string, facts []store.SubjectFacts, ch Channel) []PresenceView {
	var g *liveGrant
	if !ch.FirstParty() {
		g = h.grantOf(viewer, ch)
	}
	return h.viewsWith(viewer, facts, ch, g)
}

// viewsWith is viewsLocked with viewer's grant g to ch's app given.
func (h *Hub) viewsWith(viewer string, facts []store.SubjectFacts, ch Channel, g *liveGrant) []PresenceView {
	out := make([]PresenceView, 0, len(facts)) // one allocation per login, not six
	for _, sf := range facts {
		su := h.live(sf.Subject)
		if su == nil {
			su = storedUser(sf, viewer)
		}
		f := factsWith(su, viewer, ch, viewer, g)
		if !ch.FirstParty() && !appSees(f, FlowPresence) {
			continue // an app is not told of contacts its grant does not cover
		}
		out = append(out, su.view(f))
	}
	if len(out) == 0 {
		return nil // none: nil, as before
	}
	return out
}

func (u *user) privacy() Privacy {
	return Privacy{Invisible: u.invisible, Blocks: keys(u.blocks), Hidden: keys(u.hidden)}
}

// Resume re-attaches a first-party session that lost its connection,
// replaying events after lastSeq; if those are gone, the session starts
// over with a snapshot. Its contacts see no change: the session never went
// offline for them.
func (h *Hub) Resume(ctx context.Context, account, resource string, lastSeq uint64, sink Sink) (s *Session, replayed bool, err error) {
	return h.ResumeOn(ctx, account, resource, Channel{}, lastSeq, sink)
}

// ResumeOn is Resume for a session of channel ch: an app's session is
// resumed only by that app, and no app resumes a first-party session
// (either way, as if there were no such session).
func (h *Hub) ResumeOn(ctx context.Context, account, resource string, ch Channel, lastSeq uint64, sink Sink) (s *Session, replayed bool, err error) {
	return h.resume(ctx, account, resource, nil, ch, lastSeq, sink)
}

// ResumeSession is ResumeOn for exactly the session want: not another one
// bound since to the same resource (XMPP lets a new binding take a
// resource over; a client resuming the old stream must not take the new
// one).
func (h *Hub) ResumeSession(ctx context.Context, want *Session, ch Channel, lastSeq uint64, sink Sink) (s *Session, replayed bool, err error) {
	return h.resume(ctx, want.Account, want.Resource, want, ch, lastSeq, sink)
}

// resume is ResumeOn, limited to the session want unless it is nil.
func (h *Hub) resume(ctx context.Context, account, resource string, want *Session, ch Channel, lastSeq uint64, sink Sink) (s *Session, replayed bool, err error) {
	if h.closing.Load() {
		return nil, false, errShuttingDown
	}
	unlock := h.lock(account)
	if u := h.live(account); u != nil {
		s = u.session(resource)
	}
	if s == nil || (want != nil && s != want) || s.ended.Load() || s.channel.App != ch.App {
		unlock()
		return nil, false, Errorf(CodeSessionGone, "no such session; connect anew")
	}
	h.stopGraceLocked(s)
	if old := s.attach(sink); old != nil && old != sink {
		old.Close(Goaway{Reason: GoawayReplaced})
	}
	s.mu.Lock()
	replayed = s.rewindLocked(lastSeq)
	if !replayed {
		s.queue, s.coalesce, s.sent, s.handed, s.resync = nil, nil, s.seq, s.seq, false
	}
	s.mu.Unlock()
	unlock()
	if !replayed {
		err = h.withView(ctx, account, nil, func(_ *user, view storedView) error {
			if s.ended.Load() {
				return errSessionGone
			}
			h.snapshotToLocked(s, view)
			return nil
		})
		if err != nil {
			s.Detach(sink) // not resumed: the sink must not be woken for it
			return nil, false, err
		}
	}
	if s.Pending() {
		sink.Wake()
	}
	return s, replayed, nil
}

func (h *Hub) stopGraceLocked(s *Session) {
	if r := s.rare; r != nil && r.grace != nil {
		r.grace.Stop()
		r.grace = nil
		s.dropRareLocked()
	}
}

// Detach says sink's connection is gone. The session stays online for the
// grace period, awaiting Resume, then ends.
func (s *Session) Detach(sink Sink) {
	h := s.hub
	defer h.lock(s.Account)()
	s.mu.Lock()
	mine := s.sink == sink
	if mine {
		s.sink = nil
	}
	s.mu.Unlock()
	if !mine || s.ended.Load() {
		return
	}
	h.stopGraceLocked(s)
	grace := h.cfg.Grace
	if s.graceMS > 0 {
		grace = time.Duration(s.graceMS) * time.Millisecond
	}
	// The timer is assigned before the lock its function waits for is
	// released, so it can tell whether it is still the session's timer or
	// was stopped too late (a Resume, a newer Detach).
	var t clock.Timer
	t = h.clock.AfterFunc(grace, func() {
		defer h.lock(s.Account)()
		if s.rare != nil && s.rare.grace == t && !s.ended.Load() {
			h.endLocked(s, "session ended")
		}
	})
	s.rareLocked().grace = t
}

// SetGrace gives this session its own grace period instead of the hub's
// (XMPP stream management keeps a stream resumable for minutes).
func (s *Session) SetGrace(d time.Duration) {
	defer s.hub.lock(s.Account)()
	s.graceMS = uint32(min(d.Milliseconds(), math.MaxUint32))
	if !s.ended.Load() {
		s.hub.recordLocked(s)
	}
}

// Grace is how long this session stays online after its connection drops:
// its own grace period if SetGrace gave it one, else the hub's.
func (s *Session) Grace() time.Duration {
	defer s.hub.lock(s.Account)()
	if s.graceMS > 0 {
		return time.Duration(s.graceMS) * time.Millisecond
	}
	return s.hub.cfg.Grace
}

// Close ends the session now (sign-out): its contacts see it go at once.
func (s *Session) Close() { s.closeFrom(nil) }

// CloseFrom is Close from the connection sink, unless the session has
// another connection now: a client that signs out on a stream another
// one resumed meanwhile ends that stream, not the session it carries on.
func (s *Session) CloseFrom(sink Sink) { s.closeFrom(sink) }

func (s *Session) closeFrom(sink Sink) {
	h := s.hub
	defer h.lock(s.Account)()
	if s.ended.Load() {
		return
	}
	s.mu.Lock()
	other := sink != nil && s.sink != nil && s.sink != sink
	s.mu.Unlock()
	if !other {
		h.endLocked(s, "session ended")
	}
}

// GoawayConflict is the reason given to a session ended because a new one
// took its resource.
const GoawayConflict = "conflict: another connection took this resource"

// replaceLocked ends s for a newer session on its resource.
func (h *Hub) replaceLocked(s *Session) {
	if sink := s.attach(nil); sink != nil {
		sink.Close(Goaway{Reason: GoawayConflict})
	}
	h.endLocked(s, GoawayConflict)
}

// endLocked ends s, telling its transport why; the caller holds its lock.
func (h *Hub) endLocked(s *Session, reason string) {
	s.ended.Store(true)
	h.stopGraceLocked(s)
	u := s.user
	var kept []*Session
	for _, x := range u.list() {
		if x != s {
			kept = append(kept, x)
		}
	}
	u.setList(kept)
	h.metrics.Sessions.Add(-1)
	s.transport.sessions.Add(-1)
	if sink := s.attach(nil); sink != nil {
		sink.Close(Goaway{Reason: reason})
	}
	h.unavailableLocked(s)
	h.leaveCallsLocked(s)
	h.leaveRoomsLocked(s)
	h.leaveForeignLocked(s, false)
	if len(kept) == 0 {
		h.forgetLocked(u)
	}
	h.recordLocked(s)
}

// persistLastSeen queues the write for when the lock is released.
func (h *Hub) persistLastSeen(account string, t time.Time) {
	h.afterLocked(account, func() {
		if err := h.store.SetLastSeen(context.Background(), account, t); err != nil && !errors.Is(err, store.ErrNotFound) {
			h.log.Warn("store last seen", "account", account, "err", err)
		}
	})
}

// unavailableLocked withdraws s's presence: others see the session go.
func (h *Hub) unavailableLocked(s *Session) {
	if !s.available {
		return
	}
	s.available = false
	h.recordLocked(s)
	h.undirectLocked(s)
	u := s.user
	if !u.online() && !u.invisible {
		u.lastSeen = h.clock.Now()
		h.persistLastSeen(u.address, u.lastSeen)
	}
	h.broadcastLocked(u)
}

// Unavailable withdraws the session's presence without ending the session
// (RFC 6121 § 4.5): it stays connected, gets no bare-address messages, and
// SetPresence makes it available again.
func (s *Session) Unavailable() {
	h := s.hub
	defer h.lock(s.Account)()
	if !s.ended.Load() {
		h.unavailableLocked(s)
		h.leaveForeignLocked(s, true) // directed presence ends too (RFC 6121 § 4.6.3)
	}
}

// SetPresence publishes the session's presence to everyone allowed to see it.
func (s *Session) SetPresence(p Presence) error {
	if err := s.may(ScopePresencePublish); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	h := s.hub
	defer h.lock(s.Account)()
	if s.ended.Load() {
		return errSessionGone
	}
	h.setPresenceLocked(s, p)
	return nil
}

func (h *Hub) setPresenceLocked(s *Session, p Presence) {
	if p.LastActive.IsZero() {
		p.LastActive = h.clock.Now()
	}
	p.Availability = p.Availability.canonical()
	s.presence, s.available = p, true
	h.recordLocked(s)
	h.broadcastLocked(s.user)
	h.becameAvailableLocked(s)
	h.roomPresenceLocked(s)
}

// self targets every session of account.
func self(account string) []Target { return []Target{{Account: account}} }

// broadcastLocked sends u's presence to its own sessions and to every
// session of every viewer the policy allows.
func (h *Hub) broadcastLocked(u *user) {
	view := u.fullView()
	h.deliver(delivery{ev: PresenceEvent{View: view}, subject: u, flow: FlowPresence, to: self(u.address)})
	tb := getTargets()
	for _, v := range u.viewers.all() {
		tb.t = append(tb.t, Target{Account: v})
	}
	h.deliver(delivery{ev: PresenceEvent{View: view}, subject: u, flow: FlowPresence, to: tb.t})
	putTargets(tb)
}

// reshowLocked sends every session that may see u, and every one that
// saw it and may no longer, what it may see now: after a change of what
// some channels may see of it (per-app visibility, appgrants.go).
func (h *Hub) reshowLocked(u *user) {
	to := self(u.address)
	for _, v := range u.viewers.all() {
		to = append(to, Target{Account: v})
	}
	h.deliver(delivery{ev: PresenceEvent{View: u.fullView()}, subject: u, flow: FlowPresence, redact: true, to: to})
}

// showLocked sends viewer's sessions what they may now see of u, after a
// change of relation, block or visibility: its presence, or its absence.
func (h *Hub) showLocked(u *user, viewer string) {
	h.deliver(delivery{ev: PresenceEvent{View: u.fullView()}, subject: u, flow: FlowPresence, redact: true, to: self(viewer)})
}

// Presence returns what viewer may see now of each subject that approved it,
// restricted to only when only is not empty. Subjects that did not approve
// viewer are left out, whether they exist or not.
func (h *Hub) Presence(ctx context.Context, viewer string, only []string) ([]PresenceView, error) {
	return h.PresenceOn(ctx, viewer, Channel{}, only)
}

// PresenceOn is Presence for viewer's app on ch: "which of my user's
// contacts are online?" for exactly the contacts the grant covers, named
// as the app knows them (handles, or addresses with the addresses
// permission), only naming some of them the same way.
func (h *Hub) PresenceOn(ctx context.Context, viewer string, ch Channel, only []string) ([]PresenceView, error) {
	facts, err := h.store.ApprovedBy(ctx, viewer)
	if err != nil {
		return nil, err
	}
	var n *namer
	if !ch.FirstParty() {
		if !ch.Scopes.Has(ScopePresenceRead) {
			return nil, Errorf(CodeForbidden, "the app was not granted %s", ScopePresenceRead)
		}
		t, err := h.loadGrants(ctx, viewer)
		if err != nil {
			return nil, err
		}
		g := h.unexpired(t[ch.App])
		if g == nil {
			return nil, errNoGrant
		}
		n = &namer{h: h, g: g, app: ch.App, holder: viewer}
	}
	if len(only) > 0 {
		want := set(only)
		kept := facts[:0]
		for _, f := range facts {
			if _, ok := want[n.nameOf(f.Subject)]; ok {
				kept = append(kept, f)
			}
		}
		facts = kept
	}
	out := make([]PresenceView, 0, len(facts))
	for _, sf := range facts { // one subject at a time: a query needs no atomic picture
		unlock := h.lock(sf.Subject)
		for _, v := range h.viewsWith(viewer, []store.SubjectFacts{sf}, ch, n.grant()) {
			out = append(out, n.viewOf(v))
		}
		unlock()
	}
	return out, nil
}

// A View is what Connect read from the store about a session's account:
// its subscriptions and who lets it see their presence. A transport that
// asks for these soon after connecting (XMPP's roster get and initial
// presence) sets SessionOptions.View, keeps it and hands it back to
// Session.Subscriptions and Session.Probe, which use it instead of reading
// the store again while it is current: while no relationship, block or
// hide of the account has changed since (its epoch). The zero View is
// never current.
type View struct {
	read     bool
	epoch    uint64
	subs     []SubscriptionView
	subjects []string // who approved the account
}

// current reports whether v still tells the truth about account.
func (v *View) current(h *Hub, account string) bool {
	return v != nil && v.read && h.epoch(account) == v.epoch
}

// Subscriptions is Hub.Subscriptions for the session's account: from v
// while it is current, else from the store.
// An app's session (XMPP's roster of an app) is told only of the
// contacts its grant covers.
func (s *Session) Subscriptions(ctx context.Context, v *View) ([]SubscriptionView, error) {
	var subs []SubscriptionView
	if v.current(s.hub, s.Account) {
		subs = slices.Clone(v.subs)
	} else {
		var err error
		if subs, err = s.hub.subscriptions(ctx, s.Account); err != nil {
			return nil, err
		}
	}
	if s.channel.FirstParty() {
		return subs, nil
	}
	g := s.hub.grantOf(s.Account, s.channel)
	return slices.DeleteFunc(subs, func(sv SubscriptionView) bool { return g == nil || !g.covers(sv.Address) }), nil
}

// Probe queues for s the presence of every contact it may see that is
// online — what XMPP sends a resource when it becomes available (RFC 6121
// § 4.3). Each is queued under the contact's lock, so its later changes
// follow it. Who may be seen comes from v while it is current (View),
// else from the store; what each shows is decided now, from memory; in a
// cluster, the nodes holding contacts show those (Peers.Probe).
func (s *Session) Probe(ctx context.Context, v *View) error {
	h := s.hub
	subjects := v.approvers(h, s.Account)
	if subjects == nil {
		facts, err := h.store.ApprovedBy(ctx, s.Account)
		if err != nil {
			return err
		}
		subjects = subjectsOf("", facts)[1:]
	}
	for _, subject := range subjects {
		unlock := h.lock(subject, s.Account)
		if h.Remote(subject) && h.live(subject) == nil && !s.ended.Load() {
			// its server answers with its presence (federation.go)
			h.deliver(delivery{ev: ProbeEvent{From: s.Account, To: subject}, subject: s.user, flow: FlowRequest, to: self(subject)})
		}
		if su := h.live(subject); su != nil && !s.ended.Load() {
			if v := su.view(h.factsLocked(su, s.Account, s.channel)); v.Availability != Unavailable {
				h.deliver(delivery{ev: PresenceEvent{View: v}, subject: su, flow: FlowPresence, to: []Target{s.target()}})
			}
		}
		unlock()
	}
	if s.ended.Load() {
		return errSessionGone
	}
	if h.cfg.Peers != nil && s.channel.FirstParty() && len(subjects) > 0 {
		// the subjects with sessions on other nodes: those nodes show them
		// (the probe at Connect came before this client was available)
		h.cfg.Peers.Probe(s.Account, s.Resource, subjects)
	}
	return nil
}

// approvers is who approved account, from v while it is current; nil when
// the store must tell.
func (v *View) approvers(h *Hub, account string) []string {
	if !v.current(h, account) {
		return nil
	}
	return append([]string{}, v.subjects...)
}

// Shutdown tells every session to reconnect, without telling their contacts
// anything: a restart must not look like everybody leaving. Online users'
// last-seen time is written before it returns.
func (h *Hub) Shutdown(ctx context.Context) {
	h.closing.Store(true)
	now := h.clock.Now()
	var online []string
	for _, u := range h.liveUsers() {
		unlock := h.lock(u.address)
		if u.online() && !u.invisible {
			online = append(online, u.address)
		}
		for _, s := range u.list() {
			h.stopGraceLocked(s)
			if sink := s.attach(nil); sink != nil {
				sink.Close(Goaway{Reason: "server shutting down", Reconnect: true})
			}
		}
		unlock()
	}
	// One transaction for all: a node with thousands online would
	// otherwise outlast the shutdown's time writing them one by one.
	if err := h.store.SetLastSeenOf(ctx, online, now); err != nil {
		h.log.Warn("store last seen at shutdown", "accounts", len(online), "err", err)
	}
}
