package core

import (
	"context"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// Account lifecycle. Deleting an account, changing its password and
// revoking a token are written to the store's lifecycle log in the same
// transaction as the change, by whichever process made it (the REST API, the
// web page, XMPP registration, the CLI while the server runs, later another
// cluster node). The hub follows that log (Follow) and applies each event:
// live sessions that lost their right end at once with a reason, and every
// cached privacy fact about the account is dropped. Watching the store
// rather than being called is what makes the CLI and other nodes work
// without an admin channel: the log is the channel.

// CredentialPassword is SessionOptions.Credential for a session that signed
// in with the account's password (XMPP SASL, the web page's sign-in).
const CredentialPassword = "password"

// Reasons given to sessions ended by a lifecycle event.
const (
	GoawayDeleted  = "account deleted"
	GoawayPassword = "password changed: sign in again"
	GoawayRevoked  = "credential revoked"
)

// Apply applies one lifecycle event to the live sessions.
func (h *Hub) Apply(ev store.LifecycleEvent) {
	h.rights.record(ev) // first: a Connect that misses the sessions below sees it
	switch ev.Kind {
	case store.LifecycleDeleted:
		h.accountDeleted(ev.Account, ev.Relations)
	case store.LifecyclePassword:
		// Every session signed in with the password ends. One signed in
		// with a token ends if the token is gone: the change deletes every
		// token in its own transaction (store.SetCredentials). A token
		// still in the store was issued after the change, by a sign-in
		// with the new password (a token is created only while the
		// password its sign-in checked is the account's: Token.Proof), so
		// its session keeps its right.
		current := h.currentTokens(ev.Account)
		h.endSessions(ev.Account, GoawayPassword, func(s *Session) bool { return !current[s.credential] })
	case store.LifecycleTokenRevoked:
		h.endSessions(ev.Account, GoawayRevoked, func(s *Session) bool { return ends(ev, s.credential) })
	case store.LifecycleGrant:
		// made by this process, it was applied already; by another (a
		// cluster node, the CLI), it is applied here (unchanged grants
		// change nothing)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.grantsChanged(ctx, ev.Account); err != nil {
			h.log.Warn("lifecycle: grants", "account", ev.Account, "err", err)
		}
	case store.LifecycleFacts:
		// a relationship, block, hide or invisibility change: made by this
		// process, memory has it already (reading it again finds nothing
		// changed); by another (a cluster node, the CLI), the accounts'
		// live users here read their facts again and re-show what changed
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, a := range factsAccounts(ev) {
			if err := h.refreshFacts(ctx, a); err != nil {
				h.log.Warn("lifecycle: facts", "account", a, "err", err)
			}
		}
	}
}

// ends reports whether ev ends a session of its account signed in with
// credential, for a session that did not exist when ev was applied
// (Checkpoint). A password change ends those signed in with the password;
// those signed in with a token end by its revocation, which the change
// logs for each token (and a token issued since is no old credential).
func ends(ev store.LifecycleEvent, credential string) bool {
	switch ev.Kind {
	case store.LifecycleTokenRevoked:
		return ev.TokenID == credential
	case store.LifecyclePassword:
		return credential == CredentialPassword
	case store.LifecycleGrant:
		return false // a grant's change narrows sessions; revoking it revokes tokens, logged as such
	case store.LifecycleFacts:
		return false // a change of what others see ends no session
	}
	return true
}

// Checkpoint is a position in the lifecycle events this hub applied. A
// transport takes one before it verifies a credential and gives it with
// the session (SessionOptions.Checked, Session.SetCredential): an event
// applied after it may have been committed after the verification read
// the store, so the hub checks the new session against those events,
// which Apply could not end because the session did not exist yet. (An
// event committed before the verification made it fail; one applied after
// the session exists ends it.)
type Checkpoint uint64

// Checkpoint returns the current position.
func (h *Hub) Checkpoint() Checkpoint { return h.rights.checkpoint() }

// recentRights keeps the last lifecycle events applied, numbered from 1.
type recentRights struct {
	mu     sync.Mutex
	n      uint64 // events recorded
	events [4096]store.LifecycleEvent
}

func (r *recentRights) record(ev store.LifecycleEvent) {
	r.mu.Lock()
	r.n++
	r.events[r.n%uint64(len(r.events))] = ev
	r.mu.Unlock()
}

func (r *recentRights) checkpoint() Checkpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Checkpoint(r.n + 1)
}

// lostSince reports whether an event applied at or after checked ends a
// session of account signed in with credential, and the reason to give.
// Only the last 4,096 events are kept: a checkpoint older than those is
// checked against what is left. Refusing it instead would refuse every
// sign-in under way whenever thousands of tokens expire in one sweep; the
// window this leaves needs a revocation of that very credential during
// its handshake, amid thousands of other events.
func (r *recentRights) lostSince(account, credential string, checked Checkpoint) (string, bool) {
	if checked == 0 {
		return "", false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if oldest := r.n + 1 - min(r.n, uint64(len(r.events))); uint64(checked) < oldest {
		checked = Checkpoint(oldest)
	}
	for i := uint64(checked); i <= r.n; i++ {
		ev := r.events[i%uint64(len(r.events))]
		if ev.Account == account && ends(ev, credential) {
			return goawayFor(ev.Kind), true
		}
	}
	return "", false
}

// goawayFor is the reason a session ended by an event of kind is given.
func goawayFor(kind string) string {
	switch kind {
	case store.LifecycleDeleted:
		return GoawayDeleted
	case store.LifecyclePassword:
		return GoawayPassword
	}
	return GoawayRevoked
}

// currentTokens is the set of IDs of the account's tokens in the store;
// empty if it cannot be read (then every session ends: the safe side).
func (h *Hub) currentTokens(account string) map[string]bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	toks, err := h.store.ListTokens(ctx, account)
	if err != nil {
		h.log.Error("lifecycle: list tokens", "account", account, "err", err)
	}
	ids := make(map[string]bool, len(toks))
	for _, t := range toks {
		ids[t.ID] = true
	}
	return ids
}

// endSessions ends the account's sessions that match.
func (h *Hub) endSessions(account, reason string, match func(*Session) bool) {
	defer h.lock(account)()
	u := h.live(account)
	if u == nil {
		return
	}
	for _, s := range u.list() {
		if match(s) {
			h.endLocked(s, reason)
		}
	}
}

// accountDeleted ends the account's sessions (its viewers see it go
// offline), tells each counterpart with sessions that its relationship
// with the account ended (rels, the edges the deletion removed: an XMPP
// roster pushes the item as gone, with unsubscribe and unsubscribed as for
// a contact who cancelled both ways), and forgets the account in every live
// user's cached facts, so that an account registered anew at the address
// inherits nothing.
func (h *Hub) accountDeleted(account string, rels []store.Relation) {
	unlock := h.lock(account)
	if u := h.live(account); u != nil {
		h.dropUserLocked(u, GoawayDeleted)
	}
	h.bumpLocked(account)
	unlock()
	for other, p := range pairsOf(account, rels) {
		unlock := h.lock(other)
		h.bumpLocked(other) // a snapshot read before the deletion is stale
		if u := h.live(other); u != nil {
			was := pairView(other, account, p.to, p.from, u.blocking(account))
			h.tellLocked(u, false, was, SubscriptionView{Address: account})
		}
		unlock()
	}
	for _, u := range h.liveUsers() {
		unlock := h.lock(u.address)
		h.withdrawDirectedLocked(u, account)
		u.viewers.remove(account)
		delete(u.blocks, account)
		delete(u.hidden, account)
		unlock()
	}
}

// edgePair is the two edges between a counterpart and an account, seen
// from the counterpart: to, "it may see the account"; from, "the account
// may see it".
type edgePair struct{ to, from store.Relation }

// pairsOf groups an account's edges by counterpart.
func pairsOf(account string, rels []store.Relation) map[string]edgePair {
	out := map[string]edgePair{}
	for _, r := range rels {
		switch {
		case r.Subject == account && r.Viewer != account:
			p := out[r.Viewer]
			p.to = r
			out[r.Viewer] = p
		case r.Viewer == account && r.Subject != account:
			p := out[r.Subject]
			p.from = r
			out[r.Subject] = p
		}
	}
	return out
}

// dropUserLocked ends every session of u (its viewers see it go) and
// removes it from memory. The caller holds u's lock.
func (h *Hub) dropUserLocked(u *user, reason string) {
	for _, s := range u.list() {
		h.endLocked(s, reason)
	}
	h.forgetLocked(u)
}

// Follow applies the store's lifecycle log from now on, until ctx ends.
// A store that tells when the log may have grown (store.LifecycleWatcher:
// SQLite looks at its shared-memory header, PostgreSQL listens for a
// notification) is read only then; another is read every interval (a few
// hundred milliseconds: a revoked right must end its sessions within a
// second). Reading runs on the wall clock: it is how soon, not what
// happens, so tests need not drive it.
func (h *Hub) Follow(ctx context.Context, interval time.Duration) error {
	last, err := h.store.LastLifecycleID(ctx)
	if err != nil {
		return err
	}
	h.FollowFrom(ctx, last, interval)
	return nil
}

// FollowFrom is Follow from the events after last (a LastLifecycleID read
// by the caller, so that nothing it changes afterwards is missed).
func (h *Hub) FollowFrom(ctx context.Context, last int64, interval time.Duration) {
	changed := h.lifecycleChanges(ctx, interval)
	sweep := time.NewTicker(time.Minute)
	defer sweep.Stop()
	var pruned time.Time
	h.sweepLifecycle(ctx, &pruned)
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			last = h.applyLifecycle(ctx, last)
		case <-sweep.C:
			h.sweepLifecycle(ctx, &pruned)
		}
	}
}

// lifecycleFallback is how often a watched log is read whatever the
// watch heard: what a missed notification delays an event at most.
const lifecycleFallback = 10 * time.Second

// lifecycleChanges signals when the log may have grown: the store's watch,
// or every interval.
func (h *Hub) lifecycleChanges(ctx context.Context, interval time.Duration) <-chan struct{} {
	if w, ok := h.store.(store.LifecycleWatcher); ok {
		return w.WatchLifecycle(ctx, interval, lifecycleFallback)
	}
	ch := make(chan struct{})
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				select {
				case ch <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return ch
}

// sweepLifecycle is the log's minute housekeeping: expired grants swept
// (their end is logged), and old events pruned now and then.
func (h *Hub) sweepLifecycle(ctx context.Context, pruned *time.Time) {
	if _, err := h.SweepGrants(ctx); err != nil && ctx.Err() == nil {
		h.log.Warn("sweep expired grants", "err", err)
	}
	if now := h.clock.Now(); now.Sub(*pruned) > lifecycleKept/10 {
		*pruned = now
		if _, err := h.store.PruneLifecycle(ctx, now.Add(-lifecycleKept)); err != nil && ctx.Err() == nil {
			h.log.Warn("prune lifecycle log", "err", err)
		}
	}
}

// lifecycleKept is how long applied events stay in the log, for nodes
// that poll less often or restart.
const lifecycleKept = time.Hour

// applyLifecycle applies the events after last and returns the new last.
func (h *Hub) applyLifecycle(ctx context.Context, last int64) int64 {
	for {
		evs, err := h.store.LifecycleSince(ctx, last, 256)
		if err != nil {
			if ctx.Err() == nil {
				h.log.Warn("read lifecycle log", "err", err)
			}
			return last
		}
		for _, ev := range evs {
			h.Apply(ev)
			last = ev.ID
		}
		if len(evs) < 256 {
			return last
		}
	}
}
