package core

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/store"
)

// The contact picker (docs/apps.md, "Pick contacts"): a page of presenced
// (internal/oauth) shows the user their address book on behalf of an app
// whose grant holds contacts:pick; the user picks some, and only those are
// added to the grant and named to the app, by the handles its sessions
// will know them by. The app never sees the address book.
//
// What a pick adds to the grant, by its mode:
//   - none: the grant becomes picked, with the picked addresses only (not
//     with addresses picked before the user set it to none);
//   - picked: the union of the picked addresses and the new ones;
//   - group: the new addresses are covered in addition to the group's
//     members (the grant keeps following the group);
//   - all: nothing to add, every contact is covered already.

// Pickable is an address book card the picker offers.
type Pickable struct {
	Address string // the card's presence address
	Name    string // the card's name; "" when it has none
	Shared  bool   // the grant covers it already
}

// Picked is a contact picked for an app, as the app is told of it.
type Picked struct {
	// Handle is the app's name for the contact: its handle for the user
	// in that app (what its sessions are shown), or the address itself
	// when the grant has the addresses permission.
	Handle string `json:"handle"`
	// Name is the card's name, when the user let the app see names.
	Name string `json:"name,omitempty"`
}

// pickGrant is account's grant to app if it may open the picker.
func (h *Hub) pickGrant(ctx context.Context, account, app string) (store.Grant, error) {
	g, err := h.store.GetGrant(ctx, account, app)
	if errors.Is(err, store.ErrNotFound) {
		return g, Errorf(CodeForbidden, "you have not allowed this app anything: sign in to it with presenced first")
	}
	if err != nil {
		return g, err
	}
	if !g.ExpiresAt.IsZero() && !h.clock.Now().Before(g.ExpiresAt) {
		return g, Errorf(CodeForbidden, "your grant to this app has expired: sign in to it with presenced again")
	}
	if !slices.Contains(g.Scopes, ScopeContactsPick) {
		return g, Errorf(CodeForbidden, "the app was not granted %s: its user can grant it on the app's next sign-in", ScopeContactsPick)
	}
	return g, nil
}

// Pickable lists the cards of account's address book that have a presence
// address (and match text, as the address book's search does), for the
// picker of app; CodeForbidden unless account's grant to app holds
// contacts:pick. An address on several cards is offered once, under the
// first card's name.
func (h *Hub) Pickable(ctx context.Context, account, app, text string) ([]Pickable, error) {
	g, err := h.pickGrant(ctx, account, app)
	if err != nil {
		return nil, err
	}
	cards, err := h.store.ListContacts(ctx, account, store.ContactQuery{Text: text})
	if err != nil {
		return nil, err
	}
	covered := h.pickCovered(ctx, g)
	out := []Pickable{}
	seen := map[string]bool{}
	for _, c := range cards {
		if c.Address == "" || seen[c.Address] {
			continue
		}
		seen[c.Address] = true
		out = append(out, Pickable{Address: c.Address, Name: c.Name, Shared: covered(c.Address)})
	}
	slices.SortStableFunc(out, func(a, b Pickable) int {
		return strings.Compare(strings.ToLower(sortName(a)), strings.ToLower(sortName(b)))
	})
	return out, nil
}

func sortName(p Pickable) string {
	if p.Name != "" {
		return p.Name
	}
	return p.Address
}

// pickCovered reports, for the picker's listing, whether g covers an
// address already.
func (h *Hub) pickCovered(ctx context.Context, g store.Grant) func(string) bool {
	switch g.Contacts {
	case store.ContactsAll:
		return func(string) bool { return true }
	case store.ContactsPicked:
		return func(a string) bool { return slices.Contains(g.Picked, a) }
	case store.ContactsGroup:
		members, err := h.store.ListContacts(ctx, g.Account, store.ContactQuery{Group: g.Group})
		if err != nil {
			members = nil // only a hint on the page
		}
		return func(a string) bool {
			return slices.Contains(g.Picked, a) || slices.ContainsFunc(members, func(c store.Contact) bool { return c.Address == a })
		}
	}
	return func(string) bool { return false }
}

// PickContacts adds addresses, picked by account on the picker page, to
// its grant to app, and returns what the app is told of each: its handle,
// and the card's name when names is set. Every address must be a
// presence address on a card of account's address book (CodeInvalid
// otherwise: the picker offers nothing else); the grant must hold
// contacts:pick (CodeForbidden); the grants' picked addresses are bounded
// by store.MaxPicked (CodeLimit). The app's live sessions are sent a new
// snapshot at once.
func (h *Hub) PickContacts(ctx context.Context, account, app string, addresses []string, names bool) ([]Picked, error) {
	if len(addresses) > store.MaxPicked {
		return nil, Errorf(CodeLimit, "at most %d contacts can be picked", store.MaxPicked)
	}
	g, err := h.pickGrant(ctx, account, app)
	if err != nil {
		return nil, err
	}
	cards, err := h.store.ListContacts(ctx, account, store.ContactQuery{})
	if err != nil {
		return nil, err
	}
	nameOf := map[string]string{}
	for _, c := range cards {
		if _, seen := nameOf[c.Address]; c.Address != "" && !seen {
			nameOf[c.Address] = c.Name
		}
	}
	picked := make([]string, 0, len(addresses))
	for _, a := range addresses {
		bare, err := addr.Bare(a)
		if err != nil {
			return nil, Errorf(CodeInvalid, "picked: %v", err)
		}
		if _, ok := nameOf[bare]; !ok {
			return nil, Errorf(CodeInvalid, "%s is not a presence address in your address book", bare)
		}
		if !slices.Contains(picked, bare) {
			picked = append(picked, bare)
		}
	}
	changed := true
	switch g.Contacts {
	case store.ContactsAll:
		changed = false
	case store.ContactsNone, "":
		g.Contacts, g.Picked = store.ContactsPicked, picked
	default: // picked, group: the union
		n := len(g.Picked)
		for _, a := range picked {
			if !slices.Contains(g.Picked, a) {
				g.Picked = append(g.Picked, a)
			}
		}
		changed = len(g.Picked) != n
	}
	if changed && len(picked) > 0 {
		g.UpdatedAt = h.clock.Now()
		if err := h.store.PutGrant(ctx, g); err != nil {
			if errors.Is(err, store.ErrLimit) {
				return nil, Errorf(CodeLimit, "%v", err)
			}
			return nil, err
		}
		if err := h.grantsChanged(ctx, account); err != nil {
			return nil, err
		}
	}
	out := make([]Picked, 0, len(picked))
	for _, a := range picked {
		p := Picked{Handle: h.handles.Of(app, account, a)}
		if g.Addresses {
			p.Handle = a
		}
		if names {
			p.Name = nameOf[a]
		}
		out = append(out, p)
	}
	return out, nil
}
