package core

import (
	"context"
	"errors"
	"sort"

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
func (h *Hub) Block(ctx context.Context, actor, other string) error {
	block := func(ctx context.Context, actor, other string) error {
		return h.store.Block(ctx, actor, other, h.cfg.Limits.ListPerAccount)
	}
	return h.listEdit(ctx, actor, other, true, block, func(u *user) *map[string]struct{} { return &u.blocks })
}

// Unblock undoes Block.
func (h *Hub) Unblock(ctx context.Context, actor, other string) error {
	return h.listEdit(ctx, actor, other, false, h.store.Unblock, func(u *user) *map[string]struct{} { return &u.blocks })
}

// Hide makes actor appear offline to other alone.
func (h *Hub) Hide(ctx context.Context, actor, other string) error {
	hide := func(ctx context.Context, actor, other string) error {
		return h.store.Hide(ctx, actor, other, h.cfg.Limits.ListPerAccount)
	}
	return h.listEdit(ctx, actor, other, true, hide, func(u *user) *map[string]struct{} { return &u.hidden })
}

// Unhide undoes Hide.
func (h *Hub) Unhide(ctx context.Context, actor, other string) error {
	return h.listEdit(ctx, actor, other, false, h.store.Unhide, func(u *user) *map[string]struct{} { return &u.hidden })
}

// listEdit adds other to (or removes it from) one of actor's privacy lists,
// then shows other what it may now see and tells actor's sessions.
func (h *Hub) listEdit(ctx context.Context, actor, other string, add bool,
	write func(ctx context.Context, actor, other string) error,
	field func(*user) *map[string]struct{}) error {
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
	if err := write(ctx, actor, other); errors.Is(err, store.ErrLimit) {
		return Errorf(CodeLimit, "at most %d entries", h.cfg.Limits.ListPerAccount) // counted by the store, atomically
	} else if err != nil {
		return err
	}
	us, err := h.usersFor(ctx, actor)
	if err != nil {
		return err
	}
	defer h.lock(actor, other)()
	h.bumpLocked(actor, other)
	u := h.liveOr(us[0])
	before := pairView(actor, other, mine, theirs, u.blocking(other))
	m := field(u)
	if add {
		if *m == nil {
			*m = map[string]struct{}{}
		}
		(*m)[other] = struct{}{}
		h.withdrawDirectedLocked(u, other)
	} else {
		delete(*m, other)
	}
	h.showLocked(u, other)
	h.tellLocked(u, true, before, pairView(actor, other, mine, theirs, u.blocking(other)))
	h.privacyChangedLocked(u)
	return nil
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
	for v := range u.viewers {
		h.showLocked(u, v)
	}
	h.deliver(delivery{ev: PresenceEvent{View: u.fullView()}, subject: u, flow: FlowPresence, to: self(u.address)})
	h.privacyChangedLocked(u)
	return nil
}
