package core

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/store"
)

// SubscriptionView is one's relationship with a counterpart, as RFC 6121
// names it: To (I see them), From (they see me), the pending requests both
// ways and my pre-approval of them.
type SubscriptionView struct {
	Address     string
	To, From    bool
	PendingOut  bool // I asked to see them and have no answer (or a refusal: it looks the same)
	PendingIn   bool // they asked to see me
	PreApproved bool // I will approve them as soon as they ask
}

// State is the RFC 6121 subscription state: none, to, from or both.
func (v SubscriptionView) State() string {
	switch {
	case v.To && v.From:
		return "both"
	case v.To:
		return "to"
	case v.From:
		return "from"
	}
	return "none"
}

func (v SubscriptionView) empty() bool {
	return v == SubscriptionView{Address: v.Address}
}

// pairView derives me's view of other from the two edges and me's blocks.
func pairView(me, other string, toEdge, fromEdge store.Relation, iBlock bool) SubscriptionView {
	return SubscriptionView{
		Address:     other,
		To:          toEdge.State == store.Approved,
		From:        fromEdge.State == store.Approved,
		PendingOut:  toEdge.State == store.Pending || toEdge.State == store.Declined,
		PendingIn:   fromEdge.State == store.Pending && !iBlock,
		PreApproved: fromEdge.PreApproved,
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// target validates the counterpart of a graph operation.
func target(actor, other string) (string, error) {
	bare, err := addr.Bare(other)
	if err != nil {
		return "", Errorf(CodeInvalid, "%v", err)
	}
	if bare == actor {
		return "", Errorf(CodeInvalid, "%s is your own address: you cannot subscribe to, approve, block or hide yourself", bare)
	}
	return bare, nil
}

// Subscriptions lists actor's relationships. A request from someone actor
// blocks is left out.
func (h *Hub) Subscriptions(ctx context.Context, actor string) ([]SubscriptionView, error) {
	return h.subscriptions(ctx, actor)
}

// Subscription is actor's relationship with one counterpart (its empty
// view when there is none), read from the pair's two edges alone: what an
// XMPP roster push needs, at a cost that does not grow with the roster as
// Subscriptions' does.
func (h *Hub) Subscription(ctx context.Context, actor, other string) (SubscriptionView, error) {
	other, err := target(actor, other)
	if err != nil {
		return SubscriptionView{}, err
	}
	mine, err := h.store.GetRelation(ctx, other, actor)
	if err != nil {
		return SubscriptionView{}, err
	}
	theirs, err := h.store.GetRelation(ctx, actor, other)
	if err != nil {
		return SubscriptionView{}, err
	}
	blocked := false
	if theirs.State == store.Pending { // only their pending request depends on actor's blocks
		if blocked, err = h.blocks(ctx, actor, other); err != nil {
			return SubscriptionView{}, err
		}
	}
	return pairView(actor, other, mine, theirs, blocked), nil
}

// blocks reports whether actor blocks other: from memory when actor has
// sessions (the core keeps its block list there), else from the store.
func (h *Hub) blocks(ctx context.Context, actor, other string) (bool, error) {
	unlock := h.lock(actor)
	u := h.live(actor)
	b := u != nil && u.blocking(other)
	unlock()
	if u != nil {
		return b, nil
	}
	list, err := h.store.ListBlocks(ctx, actor)
	return slices.Contains(list, other), err
}

// subscriptions reads actor's relationships from the store.
func (h *Hub) subscriptions(ctx context.Context, actor string) ([]SubscriptionView, error) {
	rels, err := h.store.RelationsOf(ctx, actor)
	if err != nil {
		return nil, err
	}
	blocks, err := h.store.ListBlocks(ctx, actor)
	if err != nil {
		return nil, err
	}
	blocked := set(blocks)
	return pairViews(actor, rels, func(other string) bool { _, b := blocked[other]; return b }), nil
}

// pairViews makes actor's subscriptions, sorted by address, from its
// relations (both directions) and whom it blocks.
func pairViews(actor string, rels []store.Relation, blocks func(other string) bool) []SubscriptionView {
	// each edge under its other account, sorted by it: the two edges of a
	// pair side by side, with no map nor pair allocated per account (a
	// login makes the views of its whole roster)
	type edge struct {
		other string
		r     *store.Relation
	}
	edges := make([]edge, len(rels))
	for i := range rels {
		other := rels[i].Subject
		if other == actor {
			other = rels[i].Viewer
		}
		edges[i] = edge{other, &rels[i]}
	}
	slices.SortStableFunc(edges, func(a, b edge) int { return strings.Compare(a.other, b.other) })
	out := make([]SubscriptionView, 0, len(edges))
	for i := 0; i < len(edges); {
		other := edges[i].other
		var to, from store.Relation
		for ; i < len(edges) && edges[i].other == other; i++ { // a later edge of the same side wins
			if r := edges[i].r; r.Viewer == actor {
				to = *r
			} else {
				from = *r
			}
		}
		if v := pairView(actor, other, to, from, blocks(other)); !v.empty() {
			out = append(out, v)
		}
	}
	return out
}

// pairStripe serialises the edits of one pair of accounts, so that they
// reach memory in the order they reached the store. It is held across one
// store transaction; fan-outs never take it.
func (h *Hub) pairStripe(a, b string) *sync.Mutex {
	if b < a {
		a, b = b, a
	}
	return &h.edits[hash(a+"\x00"+b)%editStripes]
}

// edit is one graph change between actor and other: the store applies
// change to both edges in one transaction (bounded by the relation limits),
// then memory follows and both parties are told what changed in their view.
func (h *Hub) edit(ctx context.Context, actor, other string, change func(mine, theirs *store.Relation)) error {
	other, err := target(actor, other)
	if err != nil {
		return err
	}
	mu := h.pairStripe(actor, other)
	mu.Lock()
	defer mu.Unlock()
	mine, theirs, err := h.store.EditPair(ctx, actor, other, h.relationLimits(), change)
	if err != nil {
		if errors.Is(err, store.ErrLimit) {
			return Errorf(CodeLimit, "too many subscriptions or pending requests")
		}
		return err
	}
	newMine, newTheirs := mine, theirs
	change(&newMine, &newTheirs)
	if newMine == mine && newTheirs == theirs {
		return nil
	}
	// a new viewer gets the subject's last personal events with its presence
	var items []store.PersonalItem
	if newMine.State == store.Approved && mine.State != store.Approved || newTheirs.State == store.Approved && theirs.State != store.Approved {
		if items, err = h.store.PersonalItemsOf(ctx, []string{actor, other}); err != nil {
			return err
		}
	}
	us, err := h.usersFor(ctx, actor, other)
	if err != nil {
		return err
	}
	defer h.lock(actor, other)()
	h.bumpLocked(actor, other)
	actorU, otherU := h.liveOr(us[0]), h.liveOr(us[1])
	// the relationship change goes out before the presence it allows, as
	// RFC 6121 § 3.1.6 orders an approval and the contact's presence
	aBlocks, oBlocks := actorU.blocking(other), otherU.blocking(actor)
	h.tellLocked(actorU, true, pairView(actor, other, mine, theirs, aBlocks), pairView(actor, other, newMine, newTheirs, aBlocks))
	h.tellLocked(otherU, false, pairView(other, actor, theirs, mine, oBlocks), pairView(other, actor, newTheirs, newMine, oBlocks))
	h.relationLocked(actorU, theirs, newTheirs, items) // actor is the subject of theirs
	h.relationLocked(otherU, mine, newMine, items)
	return nil
}

// relationLimits bound the relations one account holds or makes others hold.
func (h *Hub) relationLimits() store.RelationLimits {
	return store.RelationLimits{Requests: h.cfg.Limits.PendingPerAccount, Relations: h.cfg.Limits.ContactsPerAccount}
}

// usersFor returns the live user of each account, or its graph loaded from
// the store when it has no sessions (an unknown account yields an empty
// user). Loading happens before any lock is taken.
func (h *Hub) usersFor(ctx context.Context, accounts ...string) ([]*user, error) {
	out := make([]*user, len(accounts))
	for i, a := range accounts {
		if u := h.live(a); u != nil {
			out[i] = u
			continue
		}
		u, err := h.loadUser(ctx, a)
		if errors.Is(err, store.ErrNotFound) {
			u, err = &user{address: a}, nil
		}
		if err != nil {
			return nil, err
		}
		out[i] = u
	}
	return out, nil
}

// liveOr returns the live user of loaded's account, or loaded when the
// account has no sessions. The caller holds the account's lock.
func (h *Hub) liveOr(loaded *user) *user {
	if u := h.live(loaded.address); u != nil {
		return u
	}
	return loaded
}

func (u *user) blocking(other string) bool {
	_, ok := u.blocks[other]
	return ok
}

// relationLocked applies a changed edge to su, the subject's user, and shows
// the viewer what it may now see of the subject: presence, and on approval
// the subject's personal items (among items).
func (h *Hub) relationLocked(su *user, old, now store.Relation, items []store.PersonalItem) {
	if old.State == now.State {
		return
	}
	if now.State == store.Approved {
		su.viewers.add(now.Viewer)
	} else {
		su.viewers.remove(now.Viewer)
	}
	if old.State == store.Approved || now.State == store.Approved {
		h.showLocked(su, now.Viewer)
	}
	if now.State != store.Approved {
		return
	}
	for _, it := range items {
		if it.Account == su.address {
			h.deliver(delivery{ev: PersonalEvent{Item: it}, subject: su, flow: FlowEvent,
				to: []Target{{Account: now.Viewer, Want: Want{Topic: it.Topic}}}})
		}
	}
}

// tellLocked pushes u's new view of a relationship if it changed; mine
// says u made the change. It is u's own information.
func (h *Hub) tellLocked(u *user, mine bool, before, after SubscriptionView) {
	if before != after {
		h.deliver(delivery{ev: SubscriptionEvent{View: after, Before: before, Mine: mine}, subject: u, flow: FlowPresence, to: self(u.address)})
	}
}

// Subscribe asks to see other's presence. It is granted at once if other
// pre-approved actor. To actor, a request to an unknown account, to one that
// blocks actor and to one that never answers all look the same: pending.
func (h *Hub) Subscribe(ctx context.Context, actor, other string) error {
	return h.edit(ctx, actor, other, func(mine, _ *store.Relation) {
		switch {
		case mine.State == store.Approved || mine.State == store.Pending || mine.State == store.Declined:
		case mine.PreApproved:
			mine.State, mine.PreApproved = store.Approved, false
		default:
			mine.State = store.Pending
		}
	})
}

// Approve lets other see actor's presence: it answers other's request, or
// pre-approves a request other has not made yet.
func (h *Hub) Approve(ctx context.Context, actor, other string) error {
	return h.edit(ctx, actor, other, func(_, theirs *store.Relation) {
		switch theirs.State {
		case store.Pending, store.Declined:
			theirs.State = store.Approved
		case store.None:
			theirs.PreApproved = true
		}
	})
}

// Deny refuses other's request, withdraws other's permission or a
// pre-approval. Other is not told: its request just stays unanswered.
func (h *Hub) Deny(ctx context.Context, actor, other string) error {
	return h.edit(ctx, actor, other, func(_, theirs *store.Relation) {
		if theirs.State == store.Pending || theirs.State == store.Approved {
			theirs.State = store.Declined
		}
		theirs.PreApproved = false
	})
}

// Unsubscribe stops actor seeing other (or withdraws actor's request).
func (h *Hub) Unsubscribe(ctx context.Context, actor, other string) error {
	return h.edit(ctx, actor, other, func(mine, _ *store.Relation) {
		mine.State = store.None
	})
}

// Remove ends the relationship both ways, as removing a roster item does.
func (h *Hub) Remove(ctx context.Context, actor, other string) error {
	return h.edit(ctx, actor, other, func(mine, theirs *store.Relation) {
		*mine = store.Relation{Subject: mine.Subject, Viewer: mine.Viewer}
		*theirs = store.Relation{Subject: theirs.Subject, Viewer: theirs.Viewer}
	})
}
