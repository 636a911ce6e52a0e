package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/presenced/presenced/internal/store"
)

// External identities linked to accounts (store/identities.go; migration
// 0014).

const identityCols = `issuer,subject,account,email,created_at`

func scanIdentity(sc interface{ Scan(...any) error }) (store.Identity, error) {
	var id store.Identity
	var created int64
	err := sc.Scan(&id.Issuer, &id.Subject, &id.Account, &id.Email, &created)
	id.CreatedAt = fromUnix(created)
	return id, err
}

func (s *DB) LinkIdentity(ctx context.Context, id store.Identity) error {
	if id.Issuer == "" || id.Subject == "" {
		return errors.New("identity without issuer or subject")
	}
	return s.tx(ctx, func(tx *Tx) error {
		var exists bool
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM accounts WHERE address=?1), (SELECT COUNT(*) FROM identities WHERE account=?1)`,
			id.Account).Scan(&exists, &n); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("account %s: %w", id.Account, store.ErrNotFound)
		}
		if n >= store.MaxIdentitiesPerAccount {
			return fmt.Errorf("%s has %d linked identities, the limit: %w", id.Account, n, store.ErrLimit)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO identities(`+identityCols+`) VALUES (?,?,?,?,?)`,
			id.Issuer, id.Subject, id.Account, id.Email, unix(id.CreatedAt))
		if s.d.IsUnique(err) {
			return fmt.Errorf("identity %s at %s: %w", id.Subject, id.Issuer, store.ErrExists)
		}
		return err
	})
}

func (s *DB) IdentityByIssuerSubject(ctx context.Context, issuer, subject string) (store.Identity, error) {
	id, err := scanIdentity(s.queryRow(ctx, `SELECT `+identityCols+` FROM identities WHERE issuer=? AND subject=?`, issuer, subject))
	if errors.Is(err, sql.ErrNoRows) {
		return id, store.ErrNotFound
	}
	return id, err
}

func (s *DB) ListIdentities(ctx context.Context, account string) ([]store.Identity, error) {
	rows, err := s.query(ctx, `SELECT `+identityCols+` FROM identities WHERE account=? ORDER BY created_at, issuer, subject`, account)
	return collect(rows, err, scanIdentity)
}

func (s *DB) UnlinkIdentity(ctx context.Context, account, issuer, subject string) error {
	return mustAffect(s.exec(ctx, `DELETE FROM identities WHERE account=? AND issuer=? AND subject=?`, account, issuer, subject))
}

func (s *DB) GrantingAccounts(ctx context.Context, app string) ([]string, error) {
	rows, err := s.query(ctx, `SELECT account FROM grants WHERE app=? ORDER BY account`, app) // grants_app
	return collect(rows, err, func(sc interface{ Scan(...any) error }) (string, error) {
		var a string
		err := sc.Scan(&a)
		return a, err
	})
}
