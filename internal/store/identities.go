package store

import (
	"context"
	"time"
)

// MaxIdentitiesPerAccount bounds the external identities linked to one
// account.
const MaxIdentitiesPerAccount = 20

// Identity is an account at an external OpenID Connect provider (its
// issuer and its subject there) linked to a presenced account: signing in
// with it signs in to the account (docs/operations.md, external identity
// providers).
type Identity struct {
	Issuer    string // the provider's issuer URL, as configured
	Subject   string // the ID token's sub at that issuer
	Account   string
	Email     string // the e-mail the provider gave when the link was made, for the user to recognise it; "" if none
	CreatedAt time.Time
}

// Identities stores the links between external identities and accounts.
type Identities interface {
	// LinkIdentity stores the link: ErrNotFound if the account does not
	// exist; ErrExists if the identity is linked already (to this or
	// another account: unlink it first); ErrLimit past
	// MaxIdentitiesPerAccount links of the account.
	LinkIdentity(ctx context.Context, id Identity) error
	// IdentityByIssuerSubject returns the link of (issuer, subject);
	// ErrNotFound if none.
	IdentityByIssuerSubject(ctx context.Context, issuer, subject string) (Identity, error)
	// ListIdentities lists the account's links, oldest first.
	ListIdentities(ctx context.Context, account string) ([]Identity, error)
	// UnlinkIdentity removes a link of account; ErrNotFound if it has none
	// for (issuer, subject).
	UnlinkIdentity(ctx context.Context, account, issuer, subject string) error
}
