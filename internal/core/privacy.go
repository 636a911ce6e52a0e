package core

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// Privacy returns actor's own visibility settings.
func (h *Hub) Privacy(ctx context.Context, actor string) (Privacy, error) {
	acct, err := h.store.GetAccount(ctx, actor)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Privacy{}, err
	}
	blocks, err := h.store.ListBlocks(ctx, actor)
	if err != nil {
		return Privacy{}, err
	}
	hidden, err := h.store.ListHidden(ctx, actor)
	if err != nil {
		return Privacy{}, err
	}
	return Privacy{Invisible: acct.Invisible, Blocks: sorted(blocks), Hidden: sorted(hidden)}, nil
}

func sorted(l []string) []string {
	if l == nil {
		l = []string{}
	}
	sort.Strings(l)
	return l
}

// Block stops other seeing actor's presence (other sees actor offline),
// messaging actor, and having its requests shown to actor (XEP-0191).
// To other, actor signed out when the block began: it goes on seeing the
// last-seen of that moment until unblocked.
func (h *Hub) Block(ctx context.Context, actor, other string) error {
	block := func(ctx context.Context, actor, other string, shown time.Time) error {
		return h.store.Block(ctx, actor, other, shown, h.cfg.Limits.ListPerAccount)
	}
	return h.listEdit(ctx, actor, other, true, block, func(u *user) *map[string]time.Time { return &u.blocks })
}

// Unblock undoes Block. other sees actor as it is now, last-seen included.
func (h *Hub) Unblock(ctx context.Context, actor, other string) error {
	unblock := func(ctx context.Context, actor, other string, _ time.Time) error {
		return h.store.Unblock(ctx, actor, other)
	}
	return h.listEdit(ctx, actor, other, false, unblock, func(u *user) *map[string]time.Time { return &u.blocks })
}

// Hide makes actor appear offline to other alone, as if it signed out now.
func (h *Hub) Hide(ctx context.Context, actor, other string) error {
	hide := func(ctx context.Context, actor, other string, shown time.Time) error {
		return h.store.Hide(ctx, actor, other, shown, h.cfg.Limits.ListPerAccount)
	}
	return h.listEdit(ctx, actor, other, true, hide, func(u *user) *map[string]time.Time { return &u.hidden })
}

// Unhide undoes Hide. other sees actor as it is now, last-seen included.
func (h *Hub) Unhide(ctx context.Context, actor, other string) error {
	unhide := func(ctx context.Context, actor, other string, _ time.Time) error {
		return h.store.Unhide(ctx, actor, other)
	}
	return h.listEdit(ctx, actor, other, false, unhide, func(u *user) *map[string]time.Time { return &u.hidden })
}

// listEdit adds other to (or removes it from) one of actor's privacy lists,
// then shows other what it may now see and tells actor's sessions. An
// entry added keeps what other saw of actor at that moment as the last-seen
// it is shown (store.ListEntry).
func (h *Hub) listEdit(ctx context.Context, actor, other string, add bool,
	write func(ctx context.Context, actor, other string, shown time.Time) error,
	field func(*user) *map[string]time.Time) error {
	other, err := target(actor, other)
	if err != nil {
		return err
	}
	mu := h.pairStripe(actor, other)
	mu.Lock()
	defer mu.Unlock()
	mine, err := h.store.GetRelation(ctx, other, actor)
	if err != nil {
		return err
	}
	theirs, err := h.store.GetRelation(ctx, actor, other)
	if err != nil {
		return err
	}
	us, err := h.usersFor(ctx, actor)
	if err != nil {
		return err
	}
	shown := h.lastSeenShown(us[0], other)
	if err := write(ctx, actor, other, shown); errors.Is(err, store.ErrLimit) {
		return Errorf(CodeLimit, "at most %d entries", h.cfg.Limits.ListPerAccount) // counted by the store, atomically
	} else if err != nil {
		return err
	}
	defer h.lock(actor, other)()
	h.bumpLocked(actor, other)
	u := h.liveOr(us[0])
	before := pairView(actor, other, mine, theirs, u.blocking(other))
	m := field(u)
	if add {
		if *m == nil {
			*m = map[string]time.Time{}
		}
		if _, held := (*m)[other]; !held { // the store keeps the first too
			(*m)[other] = shown
		}
		h.withdrawDirectedLocked(u, other)
	} else {
		delete(*m, other)
	}
	h.showLocked(u, other)
	h.tellLocked(u, true, before, pairView(actor, other, mine, theirs, u.blocking(other)))
	h.privacyChangedLocked(u)
	return nil
}

// lastSeenShown is the last-seen viewer sees of loaded's account now: the
// moment itself if it sees the account online.
func (h *Hub) lastSeenShown(loaded *user, viewer string) time.Time {
	defer h.lock(loaded.address)()
	u := h.liveOr(loaded)
	v := u.view(h.factsLocked(u, viewer, Channel{}))
	if v.Availability != Unavailable {
		return h.clock.Now()
	}
	return v.LastSeen
}

func (h *Hub) privacyChangedLocked(u *user) {
	h.deliver(delivery{ev: PrivacyEvent{Privacy: u.privacy()}, subject: u, flow: FlowPresence, to: self(u.address)})
}

// SetInvisible makes actor appear offline to everyone (or visible again)
// while its sessions go on seeing and messaging others.
func (h *Hub) SetInvisible(ctx context.Context, actor string, invisible bool) error {
	mu := h.pairStripe(actor, actor)
	mu.Lock()
	defer mu.Unlock()
	if err := h.store.SetInvisible(ctx, actor, invisible); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Errorf(CodeNotFound, "no such account")
		}
		return err
	}
	if !invisible {
		if err := h.restampHidden(ctx, actor); err != nil {
			return err
		}
	}
	us, err := h.usersFor(ctx, actor)
	if err != nil {
		return err
	}
	defer h.lock(actor)()
	h.bumpLocked(actor)
	u := us[0]
	if live := h.live(actor); live != nil {
		if live.invisible == invisible {
			return nil
		}
		u = live
	}
	if invisible && u.online() {
		u.lastSeen = h.clock.Now() // to viewers, the user just went offline
		h.persistLastSeen(u.address, u.lastSeen)
	}
	u.invisible = invisible
	if invisible {
		h.withdrawDirectedLocked(u, "")
	}
	for _, v := range u.viewers.all() {
		h.showLocked(u, v)
	}
	h.deliver(delivery{ev: PresenceEvent{View: u.fullView()}, subject: u, flow: FlowPresence, to: self(u.address)})
	h.privacyChangedLocked(u)
	return nil
}
