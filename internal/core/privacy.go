package core

import (
	"context"
	"errors"

	"github.com/presenced/presenced/internal/store"
)

// Privacy returns actor's own visibility settings.
func (h *Hub) Privacy(ctx context.Context, actor string) (Privacy, error) {
	h.graphMu.RLock()
	defer h.graphMu.RUnlock()
	us, err := h.usersFor(ctx, actor)
	if err != nil {
		return Privacy{}, err
	}
	return us[0].privacy(), nil
}

// Block stops other seeing actor's presence (other sees actor offline),
// messaging actor, and having its requests shown to actor (XEP-0191).
func (h *Hub) Block(ctx context.Context, actor, other string) error {
	block := func(ctx context.Context, actor, other string) error {
		return h.store.Block(ctx, actor, other, h.cfg.Limits.ListPerAccount)
	}
	return h.listEdit(ctx, actor, other, true, h.store.ListBlocks, block, func(u *user) *map[string]struct{} { return &u.blocks })
}

// Unblock undoes Block.
func (h *Hub) Unblock(ctx context.Context, actor, other string) error {
	return h.listEdit(ctx, actor, other, false, h.store.ListBlocks, h.store.Unblock, func(u *user) *map[string]struct{} { return &u.blocks })
}

// Hide makes actor appear offline to other alone.
func (h *Hub) Hide(ctx context.Context, actor, other string) error {
	hide := func(ctx context.Context, actor, other string) error {
		return h.store.Hide(ctx, actor, other, h.cfg.Limits.ListPerAccount)
	}
	return h.listEdit(ctx, actor, other, true, h.store.ListHidden, hide, func(u *user) *map[string]struct{} { return &u.hidden })
}

// Unhide undoes Hide.
func (h *Hub) Unhide(ctx context.Context, actor, other string) error {
	return h.listEdit(ctx, actor, other, false, h.store.ListHidden, h.store.Unhide, func(u *user) *map[string]struct{} { return &u.hidden })
}

// listEdit adds other to (or removes it from) one of actor's privacy lists,
// then shows other what it may now see and tells actor's sessions.
func (h *Hub) listEdit(ctx context.Context, actor, other string, add bool,
	list func(context.Context, string) ([]string, error),
	write func(ctx context.Context, actor, other string) error,
	field func(*user) *map[string]struct{}) error {
	other, err := target(actor, other)
	if err != nil {
		return err
	}
	h.graphMu.Lock()
	defer h.graphMu.Unlock()
	if add {
		l, err := list(ctx, actor)
		if err != nil {
			return err
		}
		if len(l) >= h.cfg.Limits.ListPerAccount {
			return Errorf(CodeLimit, "at most %d entries", h.cfg.Limits.ListPerAccount)
		}
	}
	mine, theirs, err := h.edges(ctx, actor, other)
	if err != nil {
		return err
	}
	if err := write(ctx, actor, other); err != nil {
		return err
	}
	us, err := h.usersFor(ctx, actor)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.liveOr(us[0])
	before := pairView(actor, other, mine, theirs, u.blocking(other))
	m := field(u)
	if add {
		if *m == nil {
			*m = map[string]struct{}{}
		}
		(*m)[other] = struct{}{}
	} else {
		delete(*m, other)
	}
	h.showLocked(u, other)
	h.tellLocked(actor, true, before, pairView(actor, other, mine, theirs, u.blocking(other)))
	h.privacyChangedLocked(u)
	return nil
}

func (h *Hub) privacyChangedLocked(u *user) {
	ev := PrivacyEvent{Privacy: u.privacy()}
	for _, s := range u.sessions {
		s.push(ev)
	}
}

// SetInvisible makes actor appear offline to everyone (or visible again)
// while its sessions go on seeing and messaging others.
func (h *Hub) SetInvisible(ctx context.Context, actor string, invisible bool) error {
	h.graphMu.Lock()
	defer h.graphMu.Unlock()
	if err := h.store.SetInvisible(ctx, actor, invisible); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return Errorf(CodeNotFound, "no such account")
		}
		return err
	}
	us, err := h.usersFor(ctx, actor)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.unlock()
	u := h.liveOr(us[0])
	if u.invisible == invisible && u != us[0] {
		return nil
	}
	if invisible && u.online() {
		u.lastSeen = h.clock.Now() // to viewers, the user just went offline
		h.persistLastSeen(u.address, u.lastSeen)
	}
	u.invisible = invisible
	for v := range u.viewers {
		h.showLocked(u, v)
	}
	self := PresenceEvent{View: u.view(Facts{Self: true})}
	for _, s := range u.sessions {
		s.push(self)
	}
	h.privacyChangedLocked(u)
	return nil
}
