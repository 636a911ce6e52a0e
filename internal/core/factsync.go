package core

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// Facts changed elsewhere. A live user keeps in memory the facts the
// policy reads about it as a subject: who is approved to see it (viewers),
// its block and hide lists and its invisibility. A change made by another
// process sharing the store (another cluster node, the CLI) reaches them
// through the lifecycle log (store.LifecycleFacts, logged in the change's
// transaction): every node follows it (Follow), reads the facts of the
// accounts it names that are live here from the store again, and re-shows
// each viewer whose facts changed, as the local change does on the node
// that made it. So a user split over two nodes is decided alike on both,
// and a viewer removed on one node stops getting the subject's presence
// from the node that holds the subject.

// factsAccounts are the accounts a LifecycleFacts event touched.
func factsAccounts(ev store.LifecycleEvent) []string {
	out := []string{ev.Account}
	for _, r := range ev.Relations {
		for _, a := range []string{r.Subject, r.Viewer} {
			if a != "" && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// refreshFacts reads account's facts from the store again when it is live
// here and applies what changed. The store is read without a lock; an edit
// made here meanwhile bumps the account's epoch after its write, and the
// read starts over, so memory never goes back to what the store held
// before an edit that memory already shows. (An edit whose write follows
// the read applies its own change on top, after this.)
func (h *Hub) refreshFacts(ctx context.Context, account string) error {
	for try := 0; ; try++ {
		if h.notLiveBumped(account) {
			return nil
		}
		epoch := h.epoch(account)
		load := h.loadUser
		if h.Remote(account) {
			load = h.loadRemote // a remote account's stand-in: who it approved (fedpeers.go)
		}
		loaded, err := load(ctx, account)
		if errors.Is(err, store.ErrNotFound) {
			return nil // deleted: its own event ends its sessions
		}
		if err != nil {
			return err
		}
		unlock := h.lock(account)
		if h.epoch(account) != epoch && try < 16 {
			unlock()
			continue
		}
		if u := h.live(account); u != nil && u.created == loaded.created {
			h.refreshLocked(u, loaded)
		}
		unlock()
		return nil
	}
}

// notLiveBumped reports whether account has no live user here, and then
// bumps its epoch under its lock: a Connect under way that read the
// account before the change (at sign-in: AccountRead, or in withView)
// reads it again, where without the bump it would make the user live
// from a read that no refresh would follow.
func (h *Hub) notLiveBumped(account string) bool {
	defer h.lock(account)()
	if h.live(account) != nil {
		return false
	}
	h.bumpLocked(account)
	return true
}

// refreshLocked makes u's facts those of loaded (read from the store) and
// shows each viewer whose facts changed what it may now see of u. The
// caller holds u's lock. The relationship and privacy events the change
// caused reached u's sessions everywhere from the process that made it:
// they are not sent again.
func (h *Hub) refreshLocked(u *user, loaded *user) {
	changed := map[string]bool{}
	diff := func(a, b *viewerSet) {
		for _, v := range a.all() {
			if !b.has(v) {
				changed[v] = true
			}
		}
	}
	diff(&u.viewers, &loaded.viewers)
	diff(&loaded.viewers, &u.viewers)
	blocks, blocksChanged := mergeList(u.blocks, loaded.blocks, changed)
	hidden, hiddenChanged := mergeList(u.hidden, loaded.hidden, changed)
	invisible := u.invisible != loaded.invisible
	if len(changed) == 0 && !invisible {
		return
	}
	h.bumpLocked(u.address) // a snapshot read before the change is stale
	u.viewers, u.blocks, u.hidden = loaded.viewers, blocks, hidden
	for v := range changed {
		if blocksChanged && u.blocking(v) || hiddenChanged && u.hides(v) {
			h.withdrawDirectedLocked(u, v)
		}
	}
	if invisible {
		if loaded.invisible && u.online() {
			u.lastSeen = h.clock.Now() // to viewers, the user just went offline (as SetInvisible)
		}
		u.invisible = loaded.invisible
		if u.invisible {
			h.withdrawDirectedLocked(u, "")
		}
		for _, v := range u.viewers.all() {
			changed[v] = true
		}
	}
	for v := range changed {
		h.showLocked(u, v)
	}
	if invisible {
		h.deliver(delivery{ev: PresenceEvent{View: u.fullView()}, subject: u, flow: FlowPresence, to: self(u.address)})
	}
}

// mergeList is the list the store holds (stored), keeping the moment
// memory holds for an entry in both (the store's may be rounded), and
// marks in changed the entries added or removed.
func mergeList(mem, stored map[string]time.Time, changed map[string]bool) (map[string]time.Time, bool) {
	any := false
	for v := range mem {
		if _, ok := stored[v]; !ok {
			changed[v], any = true, true
		}
	}
	for v := range stored {
		if t, ok := mem[v]; ok {
			stored[v] = t
		} else {
			changed[v], any = true, true
		}
	}
	return stored, any
}

func (u *user) hides(other string) bool {
	_, ok := u.hidden[other]
	return ok
}
