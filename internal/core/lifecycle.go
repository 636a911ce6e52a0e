package core

import (
	"context"
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
	switch ev.Kind {
	case store.LifecycleDeleted:
		h.accountDeleted(ev.Account)
	case store.LifecyclePassword:
		// Every session signed in with the password ends. One signed in
		// with a token ends if the token is gone: auth.SetPassword revokes
		// every token right after the credentials change, each revocation
		// logged after this event. A token still in the store is either
		// one of those, not yet deleted when this is applied (its own
		// revocation event, next in the log, ends the session), or one
		// issued after the change (the web page signing in again with the
		// new password before the log was read), whose session keeps its
		// right: it used to be ended too.
		current := h.currentTokens(ev.Account)
		h.endSessions(ev.Account, GoawayPassword, func(s *Session) bool { return !current[s.credential] })
	case store.LifecycleTokenRevoked:
		h.endSessions(ev.Account, GoawayRevoked, func(s *Session) bool { return s.credential == ev.TokenID })
	}
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

// accountDeleted ends the account's sessions and forgets it in every live
// user's cached facts, so that an account registered anew at the address
// inherits nothing.
func (h *Hub) accountDeleted(account string) {
	unlock := h.lock(account)
	if u := h.live(account); u != nil {
		h.dropUserLocked(u, GoawayDeleted)
	}
	h.bumpLocked(account)
	unlock()
	h.users.Range(func(_, v any) bool {
		u := v.(*user)
		unlock := h.lock(u.address)
		defer unlock()
		h.withdrawDirectedLocked(u, account)
		delete(u.viewers, account)
		delete(u.blocks, account)
		delete(u.hidden, account)
		return true
	})
}

// dropUserLocked ends every session of u (its viewers see it go) and
// removes it from memory. The caller holds u's lock.
func (h *Hub) dropUserLocked(u *user, reason string) {
	for _, s := range u.list() {
		h.endLocked(s, reason)
	}
	h.users.CompareAndDelete(u.address, u)
}

// Follow applies the store's lifecycle log from now on, polling every
// interval (a few hundred milliseconds: a revoked right must end its
// sessions within a second), until ctx ends. Polling runs on the wall
// clock: it is how soon, not what happens, so tests need not drive it.
func (h *Hub) Follow(ctx context.Context, interval time.Duration) error {
	last, err := h.store.LastLifecycleID(ctx)
	if err != nil {
		return err
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var pruned time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		last = h.applyLifecycle(ctx, last)
		if now := h.clock.Now(); now.Sub(pruned) > lifecycleKept/10 {
			pruned = now
			if _, err := h.store.PruneLifecycle(ctx, now.Add(-lifecycleKept)); err != nil && ctx.Err() == nil {
				h.log.Warn("prune lifecycle log", "err", err)
			}
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
