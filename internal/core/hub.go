package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/ratelimit"
	"github.com/presenced/presenced/internal/store"
)

// Limits bound what one account or session may hold.
type Limits struct {
	OutboxUnsent       int // events waiting for a slow reader before it is disconnected
	OutboxRetained     int // sent but unacknowledged events kept for resumption
	SessionsPerAccount int
	ContactsPerAccount int
	ListPerAccount     int // blocks, hidden entries
	RequestsPerSecond  float64
	RequestBurst       int
}

// DefaultLimits are used where Config.Limits is zero.
var DefaultLimits = Limits{OutboxUnsent: 1024, OutboxRetained: 256, SessionsPerAccount: 32, ContactsPerAccount: 10000, ListPerAccount: 10000,
	RequestsPerSecond: 20, RequestBurst: 60}

// Config configures a Hub.
type Config struct {
	Domain string        // the domain this node serves
	Grace  time.Duration // how long a dropped session stays online awaiting resumption
	Limits Limits
}

// Metrics are the hub's counters, read by the metrics endpoint.
type Metrics struct {
	Delivered   atomic.Uint64 // events handed to transports
	Coalesced   atomic.Uint64 // presence events merged into an unsent one
	QueueDrops  atomic.Uint64 // sessions disconnected for overflowing their outbox
	Sessions    atomic.Int64  // live sessions (attached or in grace)
	byTransport sync.Map      // transport name → *atomic.Int64
}

// SessionsOf is the number of live sessions (attached or in grace) that
// were opened over transport.
func (m *Metrics) SessionsOf(transport string) *atomic.Int64 {
	v, _ := m.byTransport.LoadOrStore(transport, new(atomic.Int64))
	return v.(*atomic.Int64)
}

// Router delivers to sessions that live outside this process (another node
// of a cluster, a remote domain). The single-node build uses NoRouter.
type Router interface {
	// Deliver hands ev to the sessions of account (one resource, or all when
	// resource is empty) and reports how many took it.
	Deliver(account, resource string, ev Event) int
}

// NoRouter is the Router of a single node: nothing lives elsewhere.
type NoRouter struct{}

func (NoRouter) Deliver(string, string, Event) int { return 0 }

// Hub is the presence engine. All methods are safe for concurrent use.
type Hub struct {
	cfg     Config
	store   store.Store
	clock   clock.Clock
	router  Router
	log     *slog.Logger
	metrics *Metrics

	// graphMu orders changes of relations, blocks and visibility against
	// each other and against snapshots (read-locked). Lock order:
	// graphMu, then eventsMu, then mu, then a Session's mu.
	graphMu sync.RWMutex
	// eventsMu orders personal events: stored and delivered in one order.
	eventsMu sync.Mutex
	mu       sync.Mutex
	users    map[string]*user // accounts with at least one session
	after    []func()         // store writes queued under mu, run by unlock
	closing  bool             // Shutdown began: no new or resumed sessions
}

var errShuttingDown = Errorf(CodeBusy, "server shutting down; reconnect shortly")

// unlock releases mu, then runs the store writes queued while it was held:
// fan-out must never wait on the disk.
func (h *Hub) unlock() {
	after := h.after
	h.after = nil
	h.mu.Unlock()
	for _, f := range after {
		f()
	}
}

// user is the in-memory state of an account with sessions.
type user struct {
	address   string
	sessions  []*Session
	viewers   map[string]struct{} // approved to see this user
	blocks    map[string]struct{}
	hidden    map[string]struct{}
	invisible bool
	lastSeen  time.Time
}

// New returns a hub.
func New(cfg Config, st store.Store, clk clock.Clock, router Router, log *slog.Logger) *Hub {
	if cfg.Limits == (Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if router == nil {
		router = NoRouter{}
	}
	return &Hub{cfg: cfg, store: st, clock: clk, router: router, log: log, metrics: &Metrics{}, users: map[string]*user{}}
}

// Domain is the domain this hub serves.
func (h *Hub) Domain() string { return h.cfg.Domain }

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
}

func (u *user) facts(viewer string) Facts {
	_, approved := u.viewers[viewer]
	_, blocked := u.blocks[viewer]
	_, hidden := u.hidden[viewer]
	f := Facts{Self: viewer == u.address, Blocked: blocked, Hidden: hidden, Invisible: u.invisible, Online: u.online()}
	if approved {
		f.State = store.Approved
	}
	return f
}

func (u *user) online() bool {
	for _, s := range u.sessions {
		if s.available {
			return true
		}
	}
	return false
}

// view is the user's presence as a viewer with facts f may see it.
func (u *user) view(f Facts) PresenceView {
	if !Allow(f, FlowPresence) {
		return PresenceView{Address: u.address, Availability: Unavailable}
	}
	var ss []SessionPresence
	for _, s := range u.sessions {
		if s.available {
			ss = append(ss, SessionPresence{Resource: s.Resource, Presence: s.presence})
		}
	}
	v := aggregate(u.address, ss)
	if Allow(f, FlowLastSeen) {
		v.LastSeen = u.lastSeen
	}
	return v
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

// loadUser reads an account's graph; the caller holds graphMu (read or write).
func (h *Hub) loadUser(ctx context.Context, account string) (*user, error) {
	acct, err := h.store.GetAccount(ctx, account)
	if err != nil {
		return nil, err
	}
	rels, err := h.store.RelationsOf(ctx, account)
	if err != nil {
		return nil, err
	}
	blocks, err := h.store.ListBlocks(ctx, account)
	if err != nil {
		return nil, err
	}
	hidden, err := h.store.ListHidden(ctx, account)
	if err != nil {
		return nil, err
	}
	u := &user{address: account, blocks: set(blocks), hidden: set(hidden), invisible: acct.Invisible, lastSeen: acct.LastSeen}
	for _, r := range rels {
		if r.Subject == account && r.State == store.Approved {
			if u.viewers == nil {
				u.viewers = map[string]struct{}{}
			}
			u.viewers[r.Viewer] = struct{}{}
		}
	}
	return u, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Connect starts a new session of account attached to sink. The session's
// first event is a Snapshot.
func (h *Hub) Connect(ctx context.Context, account string, opts SessionOptions, sink Sink) (*Session, error) {
	device := opts.Device
	if device == "" {
		device = "session"
	}
	if len(device) > 32 || addr.Resource(device) != nil {
		return nil, Errorf(CodeInvalid, "device must be 1 to 32 printable characters without / or @")
	}
	if opts.Resource != "" && (len(opts.Resource) > 64 || addr.Resource(opts.Resource) != nil) {
		return nil, Errorf(CodeInvalid, "resource must be 1 to 64 printable characters without / or @")
	}
	s := &Session{hub: h, Account: account, transport: opts.Transport, payloads: opts.Payloads, sink: sink, rate: ratelimit.New(h.cfg.Limits.RequestsPerSecond, h.cfg.Limits.RequestBurst)}
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
	s.topics = allTopics
	if opts.Topics != nil {
		var err error
		if s.topics, err = topicsOf(opts.Topics); err != nil {
			return nil, err
		}
	}
	if opts.Presence != nil {
		if err := opts.Presence.Validate(); err != nil {
			return nil, err
		}
	}

	h.graphMu.RLock()
	defer h.graphMu.RUnlock()
	loaded, err := h.loadUser(ctx, account)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, Errorf(CodeUnauthorized, "account does not exist")
		}
		return nil, err
	}
	view, err := h.readView(ctx, account)
	if err != nil {
		return nil, err
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return nil, errShuttingDown
	}
	u := h.users[account]
	if u == nil {
		u = loaded
		h.users[account] = u
	}
	if old := u.session(opts.Resource); opts.Resource != "" && old != nil {
		h.replaceLocked(old)
		h.users[account] = u // it may have been its only session
	}
	if len(u.sessions) >= h.cfg.Limits.SessionsPerAccount {
		if len(u.sessions) == 0 {
			delete(h.users, account)
		}
		return nil, Errorf(CodeLimit, "at most %d sessions per account", h.cfg.Limits.SessionsPerAccount)
	}
	s.Resource = opts.Resource
	for s.Resource == "" || u.session(s.Resource) != nil {
		s.Resource = device + "-" + randomHex(3)
	}
	s.user = u
	u.sessions = append(u.sessions, s)
	h.metrics.Sessions.Add(1)
	h.metrics.SessionsOf(s.transport).Add(1)
	s.push(s.ownSnapshot(h.snapshotLocked(u, view)))
	if opts.Presence != nil {
		h.setPresenceLocked(s, *opts.Presence)
	}
	return s, nil
}

func (u *user) session(resource string) *Session {
	for _, s := range u.sessions {
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
	items []store.PersonalItem // of the account and of those who approved it
}

// readView reads it; the caller holds graphMu.
func (h *Hub) readView(ctx context.Context, account string) (storedView, error) {
	facts, err := h.store.ApprovedBy(ctx, account)
	if err != nil {
		return storedView{}, err
	}
	subs, err := h.subscriptions(ctx, account)
	if err != nil {
		return storedView{}, err
	}
	items, err := h.store.PersonalItemsOf(ctx, subjectsOf(account, facts))
	return storedView{facts, subs, items}, err
}

// ownSnapshot keeps the personal items of the topics s takes.
func (s *Session) ownSnapshot(snap Snapshot) Snapshot {
	kept := make([]store.PersonalItem, 0, len(snap.Items))
	for _, it := range snap.Items {
		if s.topics&topicBit(it.Topic) != 0 {
			kept = append(kept, it)
		}
	}
	snap.Items = kept
	return snap
}

// snapshotLocked builds what account may see now from the store's view
// (read under graphMu) and live presence from memory.
func (h *Hub) snapshotLocked(u *user, sv storedView) Snapshot {
	snap := Snapshot{Self: u.view(Facts{Self: true}), Privacy: u.privacy(), Subscriptions: sv.subs,
		Items: h.visibleItemsLocked(u, sv.facts, sv.items)}
	for _, sf := range sv.facts {
		var v PresenceView
		if su := h.users[sf.Subject]; su != nil {
			v = su.view(su.facts(u.address))
		} else {
			f := Facts{State: store.Approved, Blocked: sf.Blocked, Hidden: sf.Hidden, Invisible: sf.Invisible}
			v = PresenceView{Address: sf.Subject, Availability: Unavailable}
			if Allow(f, FlowLastSeen) {
				v.LastSeen = sf.LastSeen
			}
		}
		snap.Presence = append(snap.Presence, v)
	}
	return snap
}

func (u *user) privacy() Privacy {
	return Privacy{Invisible: u.invisible, Blocks: keys(u.blocks), Hidden: keys(u.hidden)}
}

// Resume re-attaches a session that lost its connection, replaying events
// after lastSeq; if those are gone, the session starts over with a snapshot.
// Its contacts see no change: the session never went offline for them.
func (h *Hub) Resume(ctx context.Context, account, resource string, lastSeq uint64, sink Sink) (s *Session, replayed bool, err error) {
	h.graphMu.RLock()
	defer h.graphMu.RUnlock()
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		return nil, false, errShuttingDown
	}
	u := h.users[account]
	if u != nil {
		s = u.session(resource)
	}
	if s == nil {
		h.mu.Unlock()
		return nil, false, Errorf(CodeSessionGone, "no such session; connect anew")
	}
	h.stopGraceLocked(s)
	if old := s.attach(sink); old != nil && old != sink {
		old.Close(Goaway{Reason: GoawayReplaced})
	}
	s.mu.Lock()
	replayed = s.rewindLocked(lastSeq)
	if !replayed {
		s.queue, s.coalesce, s.sent, s.resync = nil, nil, s.seq, false
	}
	s.mu.Unlock()
	h.mu.Unlock()
	if !replayed {
		view, err := h.readView(ctx, account)
		if err != nil {
			return nil, false, err
		}
		h.mu.Lock()
		s.push(s.ownSnapshot(h.snapshotLocked(u, view)))
		h.mu.Unlock()
	}
	if s.Pending() {
		sink.Wake()
	}
	return s, replayed, nil
}

func (h *Hub) stopGraceLocked(s *Session) {
	if s.grace != nil {
		s.grace.Stop()
		s.grace = nil
	}
	s.graceGen++
}

// Detach says sink's connection is gone. The session stays online for the
// grace period, awaiting Resume, then ends.
func (s *Session) Detach(sink Sink) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	s.mu.Lock()
	mine := s.sink == sink
	if mine {
		s.sink = nil
	}
	s.mu.Unlock()
	if !mine || s.ended {
		return
	}
	h.stopGraceLocked(s)
	gen := s.graceGen
	grace := h.cfg.Grace
	if s.graceFor > 0 {
		grace = s.graceFor
	}
	s.grace = h.clock.AfterFunc(grace, func() {
		h.mu.Lock()
		defer h.unlock()
		if s.graceGen == gen && !s.ended {
			h.endLocked(s)
		}
	})
}

// SetGrace sets how long this session, once detached, stays online
// awaiting Resume, in place of the hub's grace period (0 restores that): a
// transport whose clients resume later than others, as XEP-0198 stream
// management lets XMPP clients, keeps their sessions that long.
func (s *Session) SetGrace(d time.Duration) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	s.graceFor = d
}

// Close ends the session now (sign-out): its contacts see it go at once.
func (s *Session) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.unlock()
	if !s.ended {
		h.endLocked(s)
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
	h.endLocked(s)
}

func (h *Hub) endLocked(s *Session) {
	s.ended = true
	h.stopGraceLocked(s)
	u := s.user
	for i, x := range u.sessions {
		if x == s {
			u.sessions = append(u.sessions[:i], u.sessions[i+1:]...)
			break
		}
	}
	h.metrics.Sessions.Add(-1)
	h.metrics.SessionsOf(s.transport).Add(-1)
	if sink := s.attach(nil); sink != nil {
		sink.Close(Goaway{Reason: "session ended"})
	}
	h.unavailableLocked(s)
	if len(u.sessions) == 0 {
		delete(h.users, u.address)
	}
}

// persistLastSeen queues the write for unlock; the caller holds mu.
func (h *Hub) persistLastSeen(account string, t time.Time) {
	h.after = append(h.after, func() {
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
	h.mu.Lock()
	defer h.unlock()
	if !s.ended {
		h.unavailableLocked(s)
	}
}

// SetPresence publishes the session's presence to everyone allowed to see it.
func (s *Session) SetPresence(p Presence) error {
	if err := p.Validate(); err != nil {
		return err
	}
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.ended {
		return errSessionGone
	}
	h.setPresenceLocked(s, p)
	return nil
}

func (h *Hub) setPresenceLocked(s *Session, p Presence) {
	if p.LastActive.IsZero() {
		p.LastActive = h.clock.Now()
	}
	s.presence, s.available = p, true
	h.broadcastLocked(s.user)
}

// broadcastLocked sends u's presence to its own sessions and to every
// session of every viewer the policy allows.
func (h *Hub) broadcastLocked(u *user) {
	self := PresenceEvent{View: u.view(Facts{Self: true})}
	for _, s := range u.sessions {
		s.push(self)
	}
	var shared *PresenceEvent // the same view for every allowed viewer
	for v := range u.viewers {
		vu := h.users[v]
		if vu == nil || !Allow(u.facts(v), FlowPresence) {
			continue
		}
		if shared == nil {
			shared = &PresenceEvent{View: u.view(Facts{State: store.Approved, Online: u.online()}), Memo: &Memo{}}
		}
		for _, s := range vu.sessions {
			s.push(*shared)
		}
	}
}

// showLocked sends viewer's sessions what they may now see of u, after a
// change of relation, block or visibility.
func (h *Hub) showLocked(u *user, viewer string) {
	if vu := h.users[viewer]; vu != nil {
		ev := PresenceEvent{View: u.view(u.facts(viewer))}
		for _, s := range vu.sessions {
			s.push(ev)
		}
	}
}

// Presence returns what viewer may see now of each subject that approved it,
// restricted to only when only is not empty. Subjects that did not approve
// viewer are left out, whether they exist or not.
func (h *Hub) Presence(ctx context.Context, viewer string, only []string) ([]PresenceView, error) {
	h.graphMu.RLock()
	defer h.graphMu.RUnlock()
	facts, err := h.store.ApprovedBy(ctx, viewer)
	if err != nil {
		return nil, err
	}
	if len(only) > 0 {
		want := set(only)
		kept := facts[:0]
		for _, f := range facts {
			if _, ok := want[f.Subject]; ok {
				kept = append(kept, f)
			}
		}
		facts = kept
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.users[viewer]
	if u == nil {
		u = &user{address: viewer}
	}
	return h.snapshotLocked(u, storedView{facts: facts}).Presence, nil
}

// Probe queues for s the presence of every contact it may see that is
// online — what XMPP sends a resource when it becomes available (RFC 6121
// § 4.3). It is queued under the hub's lock, so later changes follow it.
func (s *Session) Probe(ctx context.Context) error {
	h := s.hub
	h.graphMu.RLock()
	defer h.graphMu.RUnlock()
	facts, err := h.store.ApprovedBy(ctx, s.Account)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.ended {
		return errSessionGone
	}
	for _, v := range h.snapshotLocked(s.user, storedView{facts: facts}).Presence {
		if v.Availability != Unavailable {
			s.push(PresenceEvent{View: v})
		}
	}
	return nil
}

// Shutdown tells every session to reconnect, without telling their contacts
// anything: a restart must not look like everybody leaving. Online users'
// last-seen time is written before it returns.
func (h *Hub) Shutdown(ctx context.Context) {
	h.mu.Lock()
	h.closing = true
	now := h.clock.Now()
	var online []string
	for _, u := range h.users {
		if u.online() && !u.invisible {
			online = append(online, u.address)
		}
		for _, s := range u.sessions {
			h.stopGraceLocked(s)
			if sink := s.attach(nil); sink != nil {
				sink.Close(Goaway{Reason: "server shutting down", Reconnect: true})
			}
		}
	}
	h.mu.Unlock()
	for _, a := range online {
		if err := h.store.SetLastSeen(ctx, a, now); err != nil {
			h.log.Warn("store last seen", "account", a, "err", err)
		}
	}
}
