package core

import (
	"context"

	"github.com/presenced/presenced/internal/store"
)

// An AccountRead is an account's row as read to check a client's
// credentials (SASL SCRAM's stored keys), kept for the Connect that follows
// a successful check (SessionOptions.Account): a login then reads the row
// once, not twice. Connect uses it only while the account's epoch is the
// one taken before the read: every change of what Connect takes from the
// row (invisibility, deletion and registration anew) bumps the epoch after
// its write, so a row read before such a change is never used after it;
// otherwise Connect reads the row again.
type AccountRead struct {
	acct  store.Account
	epoch uint64
}

// ReadAccount reads address's row for a sign-in; it fails with
// store.ErrNotFound for an unknown account.
func (h *Hub) ReadAccount(ctx context.Context, address string) (*AccountRead, error) {
	e := h.epoch(address)
	a, err := h.store.GetAccount(ctx, address)
	if err != nil {
		return nil, err
	}
	return &AccountRead{acct: a, epoch: e}, nil
}

// Scram is the account's stored SCRAM credential for mechanism, if any.
func (r *AccountRead) Scram(mechanism string) (store.ScramCredential, bool) {
	for _, c := range r.acct.Scram {
		if c.Mechanism == mechanism {
			return c, true
		}
	}
	return store.ScramCredential{}, false
}

// account is the row to build account's user from at epoch e: r's while
// it is account's and still current, else a fresh read.
func (h *Hub) account(ctx context.Context, account string, r *AccountRead, e uint64) (store.Account, error) {
	if r != nil && r.acct.Address == account && r.epoch == e {
		return r.acct, nil
	}
	return h.store.GetAccount(ctx, account)
}
