package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// Named secrets and pending OAuth authorization requests
// (store/secrets.go; migration 0024, PostgreSQL's 0004).

func (s *DB) CreateSecret(ctx context.Context, name string, value []byte) ([]byte, error) {
	var stored []byte
	err := s.tx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO secrets(name,value) VALUES (?,?) ON CONFLICT(name) DO NOTHING`, name, value); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name=?`, name).Scan(&stored)
	})
	return stored, err
}

func (s *DB) Secret(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.queryRow(ctx, `SELECT value FROM secrets WHERE name=?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("secret %s: %w", name, store.ErrNotFound)
	}
	return v, err
}

func (s *DB) ReplaceSecret(ctx context.Context, name string, old, value []byte) error {
	return s.tx(ctx, func(tx *Tx) error {
		var cur []byte
		err := tx.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name=?`, name).Scan(&cur)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("secret %s: %w", name, store.ErrNotFound)
		case err != nil:
			return err
		case !bytes.Equal(cur, old):
			return fmt.Errorf("secret %s: %w", name, store.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, `UPDATE secrets SET value=? WHERE name=?`, value, name)
		return err
	})
}

func (s *DB) CreateAuthRequest(ctx context.Context, r store.AuthRequest, max int, now time.Time) error {
	return s.tx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM oauth_requests WHERE expires<=?`, unix(now)); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM oauth_requests`).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return fmt.Errorf("%d pending authorization requests: %w", n, store.ErrLimit)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO oauth_requests(id,data,expires) VALUES (?,?,?)`, r.ID, r.Data, unix(r.Expires))
		if s.d.IsUnique(err) {
			return fmt.Errorf("authorization request %s: %w", r.ID, store.ErrExists)
		}
		return err
	})
}

const authRequestColumns = `id,data,code_hash,spent,family,expires`

func scanAuthRequest(row interface{ Scan(...any) error }) (store.AuthRequest, error) {
	var r store.AuthRequest
	var expires int64
	err := row.Scan(&r.ID, &r.Data, &r.CodeHash, &r.Spent, &r.Family, &expires)
	r.Expires = fromUnix(expires)
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("authorization request: %w", store.ErrNotFound)
	}
	return r, err
}

func (s *DB) AuthRequest(ctx context.Context, id string, now time.Time) (store.AuthRequest, error) {
	return scanAuthRequest(s.queryRow(ctx, `SELECT `+authRequestColumns+` FROM oauth_requests WHERE id=? AND spent=0 AND expires>?`, id, unix(now)))
}

func (s *DB) UpdateAuthRequest(ctx context.Context, id string, data []byte, now time.Time) error {
	return mustAffect(s.exec(ctx, `UPDATE oauth_requests SET data=? WHERE id=? AND spent=0 AND code_hash IS NULL AND expires>?`, data, id, unix(now)))
}

func (s *DB) SetAuthCode(ctx context.Context, id string, codeHash []byte, now time.Time) error {
	return mustAffect(s.exec(ctx, `UPDATE oauth_requests SET code_hash=? WHERE id=? AND spent=0 AND code_hash IS NULL AND expires>?`, codeHash, id, unix(now)))
}

func (s *DB) AuthRequestByCode(ctx context.Context, codeHash []byte, now time.Time) (store.AuthRequest, error) {
	return scanAuthRequest(s.queryRow(ctx, `SELECT `+authRequestColumns+` FROM oauth_requests WHERE code_hash=? AND expires>?`, codeHash, unix(now)))
}

// SpendAuthCode claims with one conditional UPDATE, which two nodes
// cannot both win whatever the isolation.
func (s *DB) SpendAuthCode(ctx context.Context, id string, now, spentUntil time.Time) error {
	return s.tx(ctx, func(tx *Tx) error {
		claimed := mustAffect(tx.ExecContext(ctx, `UPDATE oauth_requests SET spent=1, expires=? WHERE id=? AND code_hash IS NOT NULL AND spent=0 AND expires>?`,
			unix(spentUntil), id, unix(now)))
		if !errors.Is(claimed, store.ErrNotFound) {
			return claimed
		}
		var spent bool
		err := tx.QueryRowContext(ctx, `SELECT spent FROM oauth_requests WHERE id=? AND code_hash IS NOT NULL AND expires>?`, id, unix(now)).Scan(&spent)
		switch {
		case errors.Is(err, sql.ErrNoRows) || err == nil && !spent:
			return fmt.Errorf("authorization code of %s: %w", id, store.ErrNotFound)
		case err != nil:
			return err
		}
		return fmt.Errorf("authorization code of %s: %w", id, store.ErrStale)
	})
}

func (s *DB) SpendAuthRequest(ctx context.Context, id string, now time.Time) error {
	return mustAffect(s.exec(ctx, `UPDATE oauth_requests SET spent=1 WHERE id=? AND spent=0 AND expires>?`, id, unix(now)))
}

func (s *DB) SetAuthFamily(ctx context.Context, id, family string) error {
	return mustAffect(s.exec(ctx, `UPDATE oauth_requests SET family=? WHERE id=?`, family, id))
}
