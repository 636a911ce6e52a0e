package core

import (
	"context"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// The grants of a live account, as the delivery path reads them: which
// contacts each app may see and with what scopes (rule 3), and in which
// apps the account itself is hidden or private (per-app visibility). They
// are read with the account (loadUserRelations) and replaced whole when
// one changes (grantsChanged), so readers holding another account's lock
// read them without the owner's.

// liveGrant is one grant, resolved for the policy.
type liveGrant struct {
	scopes    ScopeSet
	all       bool                // every contact: the policy alone decides
	group     string              // the address book group it covers, if one
	covered   map[string]struct{} // else exactly these bare addresses
	addresses bool                // real addresses instead of handles
	hidden    bool                // its holder appears offline in the app
	private   bool                // what its holder does in the app stays there
	expires   time.Time           // zero: until revoked
}

// grantTable maps app IDs to the account's grants.
type grantTable map[string]*liveGrant

// covers reports whether the grant exposes other to the app.
func (g *liveGrant) covers(other string) bool {
	if g.all {
		return true
	}
	_, ok := g.covered[other]
	return ok
}

// equal reports whether two tables grant the same.
func (t grantTable) equal(o grantTable) bool {
	if len(t) != len(o) {
		return false
	}
	for app, g := range t {
		if !g.equal(o[app]) {
			return false
		}
	}
	return true
}

func (g *liveGrant) equal(o *liveGrant) bool {
	if g == nil || o == nil {
		return g == o
	}
	if g.scopes != o.scopes || g.all != o.all || g.group != o.group || g.addresses != o.addresses || g.hidden != o.hidden ||
		g.private != o.private || !g.expires.Equal(o.expires) || len(g.covered) != len(o.covered) {
		return false
	}
	for a := range g.covered {
		if _, ok := o.covered[a]; !ok {
			return false
		}
	}
	return true
}

// loadGrants reads account's grants; a grant of a group reads the group's
// members from the address book, and covers its picked addresses too (the
// contact picker adds to a group grant: pick.go).
func (h *Hub) loadGrants(ctx context.Context, account string) (grantTable, error) {
	gs, err := h.store.ListGrants(ctx, account)
	if err != nil {
		return nil, err
	}
	return h.grantTable(ctx, account, gs)
}

// grantTable is loadGrants for the grants gs, read already.
func (h *Hub) grantTable(ctx context.Context, account string, gs []store.Grant) (grantTable, error) {
	if len(gs) == 0 {
		return nil, nil
	}
	t := make(grantTable, len(gs))
	for _, g := range gs {
		lg := &liveGrant{scopes: ScopesOf(g.Scopes), addresses: g.Addresses, hidden: g.Hidden, private: g.Private, expires: g.ExpiresAt}
		switch g.Contacts {
		case store.ContactsAll:
			lg.all = true
		case store.ContactsPicked:
			lg.covered = set(g.Picked)
		case store.ContactsGroup:
			lg.group = g.Group
			cs, err := h.store.ListContacts(ctx, account, store.ContactQuery{Group: g.Group})
			if err != nil {
				return nil, err
			}
			lg.covered = make(map[string]struct{}, len(cs)+len(g.Picked))
			for _, a := range g.Picked { // picked in addition to the group (pick.go)
				lg.covered[a] = struct{}{}
			}
			for _, c := range cs {
				if c.Address != "" {
					lg.covered[c.Address] = struct{}{}
				}
			}
		}
		t[g.App] = lg
	}
	return t, nil
}

// grants is the account's table; nil when it granted nothing.
func (u *user) grants() grantTable {
	if p := u.grantsP.Load(); p != nil {
		return *p
	}
	return nil
}

func (u *user) setGrants(t grantTable) { u.grantsP.Store(&t) }

// grantsGroup reports whether one of u's grants covers a group of its
// address book, which a change of a card may change.
func (u *user) grantsGroup() bool {
	for _, g := range u.grants() {
		if g.group != "" {
			return true
		}
	}
	return false
}

// hiddenIn reports whether u appears offline in app.
func (u *user) hiddenIn(app string) bool {
	g := u.grants()[app]
	return g != nil && g.hidden
}

// grantOf is the grant by which holder's sessions on ch see: nil when it
// has none (expired, revoked, or no live session to hold one).
func (h *Hub) grantOf(holder string, ch Channel) *liveGrant {
	u := h.live(holder)
	if u == nil {
		return nil
	}
	return h.unexpired(u.grants()[ch.App])
}

func (h *Hub) unexpired(g *liveGrant) *liveGrant {
	if g == nil || !g.expires.IsZero() && !h.clock.Now().Before(g.expires) {
		return nil
	}
	return g
}

// grantsChanged applies a change of account's grants, written to the
// store, to its live state: what its app sessions may see is sent to them
// anew (a snapshot), and its contacts are shown its presence again, as
// hiding or privacy in an app may have changed what each channel sees.
func (h *Hub) grantsChanged(ctx context.Context, account string) error {
	mu := &h.grantMu[hash(account)%editStripes]
	mu.Lock() // one reload at a time per account: the last read wins
	defer mu.Unlock()
	unlock := h.lock(account)
	h.bumpLocked(account) // a Connect that read the old grants reads again
	unlock()
	if h.live(account) == nil {
		return nil
	}
	return h.withView(ctx, account, func(loaded *user, view storedView) error {
		u := h.live(account)
		if u == nil {
			return nil
		}
		t := loaded.grants()
		if t.equal(u.grants()) {
			return nil // applied already (the change's own call, then its lifecycle event)
		}
		u.setGrants(t)
		l := u.list()
		for _, s := range l {
			if !s.channel.FirstParty() {
				g := t[s.channel.App]
				s.private = g != nil && g.private
			}
		}
		u.setList(l)
		for _, s := range l {
			if !s.channel.FirstParty() {
				h.snapshotToLocked(s, view)
			}
		}
		h.reshowLocked(u)
		return nil
	})
}

// errNoGrant refuses an app's session whose grant is gone.
var errNoGrant = Errorf(CodeUnauthorized, "the app's grant was revoked or has expired: sign in again")

// appGrantLocked is the grant an app's new session s of u holds.
func (h *Hub) appGrantLocked(u *user, s *Session) (*liveGrant, error) {
	if s.channel.FirstParty() {
		return nil, nil
	}
	g := h.unexpired(u.grants()[s.channel.App])
	if g == nil {
		return nil, errNoGrant
	}
	return g, nil
}
