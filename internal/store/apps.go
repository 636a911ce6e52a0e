package store

import (
	"context"
	"time"
)

// App is an application registered to use presenced on its users' behalf:
// an OAuth 2.1 client (docs/apps.md). Its users grant it, one by one, what
// it may see and do (Grant).
type App struct {
	ID           string // the OAuth client_id: public, unguessable
	Name         string // shown on the consent page
	Owner        string // the account that registered it; "" when the operator did
	RedirectURIs []string
	Scopes       []string // the scopes it may ask for
	Logo         string   // an https URL shown on the consent page, optional
	Description  string
	// Public: a client that cannot keep a secret (a browser or mobile app),
	// which proves itself with PKCE alone. Confidential apps have a secret.
	Public     bool
	SecretHash []byte // SHA-256 of the client secret; nil for public apps
	CreatedAt  time.Time
}

// ContactsMode says which contacts a grant exposes to its app.
type ContactsMode string

// The contacts a grant may expose.
const (
	ContactsNone   ContactsMode = "none"
	ContactsPicked ContactsMode = "picked" // Grant.Picked
	ContactsGroup  ContactsMode = "group"  // the address book group Grant.Group
	ContactsAll    ContactsMode = "all"
)

// Grant is what one account lets one app see and do.
type Grant struct {
	Account  string
	App      string
	Scopes   []string
	Contacts ContactsMode
	Group    string   // for ContactsGroup
	Picked   []string // addresses, for ContactsPicked
	// Addresses lets the app see real addresses instead of its handles
	// (the user saw it asked on the consent page).
	Addresses bool
	// Hidden: the account appears offline to others in this app.
	Hidden bool
	// Private: what the account publishes through this app (status,
	// activity) is not shown to contacts in other apps.
	Private   bool
	CreatedAt time.Time
	UpdatedAt time.Time
	ExpiresAt time.Time // zero: until revoked
}

// RefreshToken is an OAuth refresh token: rotated on every use, and its
// whole family (every token rotated from the same sign-in) revoked when a
// used one comes back (OAuth 2.1 § 4.3.1 reuse detection).
type RefreshToken struct {
	ID        string
	Hash      []byte // SHA-256 of the secret
	Family    string // the ID of the family's first token
	Account   string
	App       string
	Scopes    []string
	AuthTime  time.Time // when the user signed in for the family's grant
	CreatedAt time.Time
	ExpiresAt time.Time
	Used      bool // rotated already: coming back means it was stolen
}

// Apps stores registered apps, their users' grants and their refresh
// tokens. An app's access tokens are Tokens with App set.
type Apps interface {
	CreateApp(ctx context.Context, a App) error // ErrExists if the ID is taken
	GetApp(ctx context.Context, id string) (App, error)
	// ListApps lists the apps owner registered, every app when owner is "".
	ListApps(ctx context.Context, owner string) ([]App, error)
	// DeleteApp removes the app with its grants and tokens, in one
	// transaction, each token logged as revoked.
	DeleteApp(ctx context.Context, id string) error

	// PutGrant creates or replaces the grant of (g.Account, g.App).
	PutGrant(ctx context.Context, g Grant) error
	GetGrant(ctx context.Context, account, app string) (Grant, error)
	ListGrants(ctx context.Context, account string) ([]Grant, error)
	// DeleteGrant revokes it with the app's tokens for the account, each
	// logged as revoked, in one transaction; ErrNotFound if there is none.
	DeleteGrant(ctx context.Context, account, app string) error

	CreateRefreshToken(ctx context.Context, r RefreshToken) error
	RefreshTokenByHash(ctx context.Context, hash []byte) (RefreshToken, error)
	// UseRefreshToken marks the token used and creates next (its rotation)
	// in one transaction. A token already used is reuse: its family and
	// the family's access tokens are deleted and ErrStale is returned.
	UseRefreshToken(ctx context.Context, hash []byte, next RefreshToken) error
	// DeleteRefreshFamily revokes a family with its access tokens.
	DeleteRefreshFamily(ctx context.Context, family string) error
}

// KnownScopes are the OAuth scopes presenced knows (docs/apps.md): what an
// app may be registered for and ask its users.
var KnownScopes = []string{"openid", "profile", "offline_access", "presence:publish", "presence:read", "message", "signal",
	"contacts:pick", "events:publish", "events:read", "rooms", "addresses"}
