package store

import (
	"context"
	"errors"
	"time"
)

// Secrets keeps a deployment's named secrets: the server secret, the
// OAuth signing keys, the Web Push keys, the XMPP certificate. They live
// with the data so that every node of a cluster uses the same ones; a
// node starting makes a missing one, and when several start at once the
// first insert wins and all read it back.
type Secrets interface {
	// CreateSecret stores value under name unless a secret of that name
	// exists, and returns the secret stored: value, or the one there.
	CreateSecret(ctx context.Context, name string, value []byte) ([]byte, error)
	// Secret returns the named secret; ErrNotFound if there is none.
	Secret(ctx context.Context, name string) ([]byte, error)
	// ReplaceSecret sets name to value if it still holds old: ErrConflict
	// if another writer replaced it first, ErrNotFound if there is none.
	ReplaceSecret(ctx context.Context, name string, old, value []byte) error
}

// AuthRequest is a pending OAuth authorization request, from /authorize
// until its code is exchanged or it expires. Data is the provider's own
// encoding of it; the code is kept only as its hash.
type AuthRequest struct {
	ID       string
	Data     []byte
	CodeHash []byte // the SHA-256 of its code, once one was issued
	Spent    bool   // its code was exchanged (or the user denied it)
	Family   string // the refresh-token family the exchange started, if any
	Expires  time.Time
}

// AuthRequests keeps the pending OAuth authorization requests of every
// node, so a flow may begin on one node and end on another. A request
// whose Expires has passed is gone for every method.
type AuthRequests interface {
	// CreateAuthRequest stores r (ID set by the caller), first deleting
	// the expired ones; ErrLimit when max live requests exist.
	CreateAuthRequest(ctx context.Context, r AuthRequest, max int, now time.Time) error
	// AuthRequest returns a live, unspent request; ErrNotFound otherwise.
	AuthRequest(ctx context.Context, id string, now time.Time) (AuthRequest, error)
	// UpdateAuthRequest replaces the Data of a live, unspent request
	// without a code; ErrNotFound otherwise.
	UpdateAuthRequest(ctx context.Context, id string, data []byte, now time.Time) error
	// SetAuthCode records the hash of a live, unspent request's code, once;
	// ErrNotFound otherwise.
	SetAuthCode(ctx context.Context, id string, codeHash []byte, now time.Time) error
	// AuthRequestByCode returns the request whose code hashes to
	// codeHash, spent or not (Spent tells), unless it expired;
	// ErrNotFound otherwise.
	AuthRequestByCode(ctx context.Context, codeHash []byte, now time.Time) (AuthRequest, error)
	// SpendAuthCode marks spent the live request id that has a code, once
	// for all nodes, to stay so (remembered for replays) until spentUntil:
	// ErrStale if it was spent already, ErrNotFound if there is none.
	SpendAuthCode(ctx context.Context, id string, now, spentUntil time.Time) error
	// SpendAuthRequest marks a live request spent without an exchange (the
	// user denied it); ErrNotFound if there is none.
	SpendAuthRequest(ctx context.Context, id string, now time.Time) error
	// SetAuthFamily records the refresh-token family a spent request's
	// exchange started, for revoking it if the code is replayed.
	SetAuthFamily(ctx context.Context, id, family string) error
}

// SecretOrMake returns the named secret, storing what make returns first
// when there is none. make runs only then; of nodes making it at once,
// the first to store wins and the others' values are dropped.
func SecretOrMake(ctx context.Context, s Secrets, name string, make func() ([]byte, error)) ([]byte, error) {
	v, err := s.Secret(ctx, name)
	if !errors.Is(err, ErrNotFound) {
		return v, err
	}
	if v, err = make(); err != nil {
		return nil, err
	}
	return s.CreateSecret(ctx, name, v)
}
