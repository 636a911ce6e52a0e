package store

import (
	"context"
	"time"
)

// KnownScopes are the scopes an app may be allowed (docs/apps.md): those
// that map onto the core (issue 10), "addresses" (real addresses instead of
// handles) and the OpenID Connect ones.
var KnownScopes = []string{
	"presence:publish", "presence:read", "message", "signal", "contacts:pick",
	"events:publish", "events:read", "rooms", "addresses",
	"openid", "profile", "offline_access",
}

// EveryAppScopes are the OpenID Connect scopes every app may ask for,
// registered or not (internal/oauth): an app that stops listing one does
// not take it from its grants (Apps.UpdateApp).
var EveryAppScopes = []string{"openid", "offline_access"}

// Bounds of what an account or an app holds: a write past one fails with
// ErrLimit and writes nothing.
const (
	MaxAppsPerOwner     = 100    // apps one account registered (the operator's are not bounded)
	MaxGrantsPerAccount = 100    // apps one account granted
	MaxPicked           = 10_000 // picked addresses over all of one account's grants, as its address book
	MaxListLen          = 32     // redirect URIs of an app; scopes of an app, a grant or a token
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
	// RoomKey is the public key (a JSON Web Key) the app signs room tokens
	// with (docs/rooms.md): set, the app authorizes who joins the rooms of
	// its namespace; nil, its grant's rooms scope does.
	RoomKey   []byte
	CreatedAt time.Time
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
//
// A token of an app for an account (access or refresh) exists only while
// the account's grant to the app does: creating one without the grant
// fails with ErrNotFound, and DeleteGrant, DeleteApp and DeleteAccount
// delete them with it.
type Apps interface {
	// CreateApp stores a: ErrExists if the ID is taken; ErrLimit past
	// MaxListLen redirect URIs or scopes, or past MaxAppsPerOwner apps of
	// its owner; ErrNotFound if the owner is not an account.
	CreateApp(ctx context.Context, a App) error
	GetApp(ctx context.Context, id string) (App, error)
	// ListApps lists the apps owner registered, every app when owner is "".
	ListApps(ctx context.Context, owner string) ([]App, error)
	// UpdateApp replaces the name, redirect URIs, scopes, logo,
	// description and room key of the app a.ID; its owner, client type, secret and
	// creation time stay. A scope the app loses is taken, in the same
	// transaction, from every grant to it that held it, and the app's
	// tokens (access and refresh) for those grants' accounts are deleted,
	// each access token logged as revoked, as DeleteGrant does: they carry
	// the old scopes, so the app's sessions end and it asks again.
	// ErrNotFound if there is no such app; ErrLimit past MaxListLen
	// redirect URIs or scopes.
	UpdateApp(ctx context.Context, a App) error
	// SetAppSecret replaces the secret hash of the confidential app id:
	// the old secret stops working at once; the tokens it obtained stay.
	// ErrNotFound if there is no confidential app id.
	SetAppSecret(ctx context.Context, id string, hash []byte) error
	// DeleteApp removes the app with its grants and tokens, in one
	// transaction, each token logged as revoked.
	DeleteApp(ctx context.Context, id string) error

	// PutGrant creates or replaces the grant of (g.Account, g.App);
	// ErrNotFound if the account or the app does not exist; ErrLimit past
	// MaxGrantsPerAccount grants, MaxListLen scopes or MaxPicked picked
	// addresses (over all the account's grants). Replacing a grant keeps
	// its CreatedAt.
	PutGrant(ctx context.Context, g Grant) error
	GetGrant(ctx context.Context, account, app string) (Grant, error)
	ListGrants(ctx context.Context, account string) ([]Grant, error)
	// GrantingAccounts lists the accounts that granted app something,
	// sorted: the token exchange finds whom one of the app's handles
	// names among them (internal/oauth).
	GrantingAccounts(ctx context.Context, app string) ([]string, error)
	// DeleteGrant revokes it with the app's tokens for the account, each
	// logged as revoked, in one transaction; ErrNotFound if there is none.
	DeleteGrant(ctx context.Context, account, app string) error
	// DeleteExpiredGrants deletes, as DeleteGrant does, every grant whose
	// ExpiresAt is set and not after now, and returns how many.
	DeleteExpiredGrants(ctx context.Context, now time.Time) (int, error)

	// CreateRefreshToken stores r, ErrNotFound without the grant of
	// (r.Account, r.App).
	CreateRefreshToken(ctx context.Context, r RefreshToken) error
	// RefreshTokenByHash returns the token, used or expired ones too (as
	// TokenByHash); ErrNotFound if none.
	RefreshTokenByHash(ctx context.Context, hash []byte) (RefreshToken, error)
	// UseRefreshToken marks the token used and creates next (its rotation)
	// in one transaction. A token already used is reuse: its family and
	// the family's access tokens are deleted (each logged as revoked) and
	// ErrStale is returned. An unknown token, one of another account or
	// app than next's, or one expired at next.CreatedAt (the caller's
	// clock; time.Now() if zero) fails with ErrNotFound and changes
	// nothing. next joins the used token's family: its Family, Account and
	// App, when empty, are the used token's.
	UseRefreshToken(ctx context.Context, hash []byte, next RefreshToken) error
	// DeleteRefreshFamily revokes a family with its access tokens, each
	// logged as revoked; no error if there is none (RFC 7009 § 2.2).
	DeleteRefreshFamily(ctx context.Context, family string) error
}
