package core

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/store"
)

// A user's grants to apps (docs/apps.md): what each app may see and do.
// The user sees them, narrows them and revokes them here; apps widen them
// only through the consent page (internal/oauth). Revoking one, or taking
// a scope from it, revokes the app's tokens for the account in the same
// store transaction as the change, so its live sessions end within a
// lifecycle interval (lifecycle.go) and it must ask again.

// GrantView is a grant as its user sees it, with the app's public face.
type GrantView struct {
	App       AppView            `json:"app"`
	Scopes    []string           `json:"scopes"`
	Contacts  store.ContactsMode `json:"contacts"`
	Group     string             `json:"group,omitempty"`
	Picked    []string           `json:"picked,omitempty"`
	Addresses bool               `json:"addresses"`
	Hidden    bool               `json:"hidden"`  // appears offline to others in this app
	Private   bool               `json:"private"` // what it publishes through this app is not shown elsewhere
	Created   time.Time          `json:"created"`
	Updated   time.Time          `json:"updated"`
	Expires   *time.Time         `json:"expires,omitempty"`
}

// AppView is what a user is shown of an app.
type AppView struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Logo        string `json:"logo,omitempty"`
	Description string `json:"description,omitempty"`
}

// GrantChange edits a grant; nil fields stay as they are.
type GrantChange struct {
	Scopes   []string            `json:"scopes,omitempty"` // a subset of the grant's: taking scopes away
	Contacts *store.ContactsMode `json:"contacts,omitempty"`
	Group    *string             `json:"group,omitempty"`
	Picked   []string            `json:"picked,omitempty"`
	Hidden   *bool               `json:"hidden,omitempty"`
	Private  *bool               `json:"private,omitempty"`
	// Expires ends the grant at a time (RFC 3339, in the future, within
	// MaxGrantLife); "" makes it last until revoked. At its end the grant
	// goes with the app's tokens, as if revoked (Hub.SweepGrants).
	Expires *string `json:"expires,omitempty"`
}

// MaxGrantLife bounds how far ahead a grant's expiry may be set.
const MaxGrantLife = 10 * 365 * 24 * time.Hour

// Grants lists account's grants, by app name.
func (h *Hub) Grants(ctx context.Context, account string) ([]GrantView, error) {
	gs, err := h.store.ListGrants(ctx, account)
	if err != nil {
		return nil, err
	}
	out := make([]GrantView, 0, len(gs))
	for _, g := range gs {
		app, err := h.store.GetApp(ctx, g.App)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, grantView(g, app))
	}
	slices.SortFunc(out, func(a, b GrantView) int {
		if a.App.Name < b.App.Name {
			return -1
		}
		return 1
	})
	return out, nil
}

func grantView(g store.Grant, app store.App) GrantView {
	v := GrantView{App: AppView{ID: app.ID, Name: app.Name, Logo: app.Logo, Description: app.Description},
		Scopes: g.Scopes, Contacts: g.Contacts, Group: g.Group, Picked: g.Picked, Addresses: g.Addresses,
		Hidden: g.Hidden, Private: g.Private, Created: g.CreatedAt, Updated: g.UpdatedAt}
	if !g.ExpiresAt.IsZero() {
		v.Expires = &g.ExpiresAt
	}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	return v
}

// AllowApp records what account allowed app on the consent page: its
// grant gains scopes (created with no contacts if it had none). This is
// the only way scopes are added to a grant.
func (h *Hub) AllowApp(ctx context.Context, account, app string, scopes []string) error {
	g, err := h.store.GetGrant(ctx, account, app)
	now := h.clock.Now()
	switch {
	case err == nil:
		for _, sc := range scopes {
			if !slices.Contains(g.Scopes, sc) {
				g.Scopes = append(g.Scopes, sc)
			}
		}
	case errors.Is(err, store.ErrNotFound):
		g = store.Grant{Account: account, App: app, Scopes: slices.Clone(scopes), Contacts: store.ContactsNone, CreatedAt: now}
	default:
		return err
	}
	g.Addresses = slices.Contains(g.Scopes, ScopeAddresses)
	g.UpdatedAt = now
	if err := h.store.PutGrant(ctx, g); err != nil {
		return err
	}
	return h.grantsChanged(ctx, account)
}

// RevokeGrant takes app's grant from account with its tokens: the app's
// sessions for the account end.
func (h *Hub) RevokeGrant(ctx context.Context, account, app string) error {
	err := h.store.DeleteGrant(ctx, account, app)
	if errors.Is(err, store.ErrNotFound) {
		return Errorf(CodeNotFound, "no grant to app %q", app)
	}
	if err != nil {
		return err
	}
	return h.grantsChanged(ctx, account)
}

// EditGrant applies change to account's grant to app. Taking scopes away
// revokes the app's tokens for the account (they carry the old scopes).
func (h *Hub) EditGrant(ctx context.Context, account, app string, change GrantChange) (GrantView, error) {
	g, err := h.store.GetGrant(ctx, account, app)
	if errors.Is(err, store.ErrNotFound) {
		return GrantView{}, Errorf(CodeNotFound, "no grant to app %q", app)
	}
	if err != nil {
		return GrantView{}, err
	}
	a, err := h.store.GetApp(ctx, app)
	if err != nil {
		return GrantView{}, err
	}
	narrowed := false
	if change.Scopes != nil {
		for _, sc := range change.Scopes {
			if !slices.Contains(g.Scopes, sc) {
				return GrantView{}, Errorf(CodeInvalid, "scope %q is not granted: an app gains scopes only by asking its user on the consent page", sc)
			}
		}
		narrowed = len(change.Scopes) < len(g.Scopes)
		g.Scopes = slices.Clone(change.Scopes)
	}
	if err := applyContacts(&g, change); err != nil {
		return GrantView{}, err
	}
	if change.Hidden != nil {
		g.Hidden = *change.Hidden
	}
	if change.Private != nil {
		g.Private = *change.Private
	}
	if err := h.applyExpiry(&g, change.Expires); err != nil {
		return GrantView{}, err
	}
	g.Addresses = slices.Contains(g.Scopes, ScopeAddresses)
	g.UpdatedAt = h.clock.Now()
	if narrowed {
		// the app's tokens carry the old scopes: revoked with the grant,
		// which comes back narrowed
		if err := h.store.DeleteGrant(ctx, account, app); err != nil {
			return GrantView{}, err
		}
	}
	if err := h.store.PutGrant(ctx, g); err != nil {
		if errors.Is(err, store.ErrLimit) {
			return GrantView{}, Errorf(CodeLimit, "%v", err)
		}
		return GrantView{}, err
	}
	if err := h.grantsChanged(ctx, account); err != nil {
		return GrantView{}, err
	}
	return grantView(g, a), nil
}

// applyContacts applies the contacts part of change to g.
func applyContacts(g *store.Grant, change GrantChange) error {
	if change.Contacts != nil {
		switch *change.Contacts {
		case store.ContactsNone, store.ContactsAll, store.ContactsGroup, store.ContactsPicked:
			if *change.Contacts == store.ContactsGroup && g.Contacts != store.ContactsGroup && change.Picked == nil {
				// a group grant covers its picked addresses too (pick.go):
				// switching to a group starts from the group alone
				g.Picked = nil
			}
			g.Contacts = *change.Contacts
		default:
			return Errorf(CodeInvalid, "contacts must be none, picked, group or all")
		}
	}
	if change.Group != nil {
		if err := checkCardText("group", *change.Group, maxItem); err != nil {
			return err
		}
		g.Group = *change.Group
	}
	if change.Picked != nil {
		picked := make([]string, 0, len(change.Picked))
		for _, p := range change.Picked {
			bare, err := addr.Bare(p)
			if err != nil {
				return Errorf(CodeInvalid, "picked: %v", err)
			}
			if !slices.Contains(picked, bare) {
				picked = append(picked, bare)
			}
		}
		g.Picked = picked
	}
	if g.Contacts == store.ContactsGroup && g.Group == "" {
		return Errorf(CodeInvalid, "contacts \"group\" needs the group's name")
	}
	return nil
}

// applyExpiry sets g's expiry from a change's Expires, if given.
func (h *Hub) applyExpiry(g *store.Grant, expires *string) error {
	if expires == nil {
		return nil
	}
	if *expires == "" {
		g.ExpiresAt = time.Time{}
		return nil
	}
	at, err := time.Parse(time.RFC3339, *expires)
	now := h.clock.Now()
	switch {
	case err != nil:
		return Errorf(CodeInvalid, "expires must be a time like 2027-01-31T12:00:00Z, or \"\" for never")
	case !at.After(now):
		return Errorf(CodeInvalid, "expires must be in the future: revoke the grant to end it now")
	case at.Sub(now) > MaxGrantLife:
		return Errorf(CodeInvalid, "expires must be within ten years")
	}
	g.ExpiresAt = at.UTC()
	return nil
}

// SweepGrants ends the grants whose expiry has come, with their apps'
// tokens: their sessions end as for a revocation (the store logs it).
// The server runs it every minute; until then an expired grant's app
// sees nothing (grantOf).
func (h *Hub) SweepGrants(ctx context.Context) (int, error) {
	return h.store.DeleteExpiredGrants(ctx, h.clock.Now())
}
