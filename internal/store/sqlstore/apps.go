package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// Apps, grants and refresh tokens (store/apps.go; migration 0013).

const appCols = `id,name,owner,redirect_uris,scopes,logo,description,public,secret_hash,room_key,created_at`

func scanApp(sc interface{ Scan(...any) error }) (store.App, error) {
	var a store.App
	var uris, scopes string
	var created int64
	if err := sc.Scan(&a.ID, &a.Name, &a.Owner, &uris, &scopes, &a.Logo, &a.Description, &a.Public, &a.SecretHash, &a.RoomKey, &created); err != nil {
		return a, err
	}
	a.CreatedAt = fromUnix(created)
	var err error
	if a.RedirectURIs, err = fromJSONList(uris); err != nil {
		return a, fmt.Errorf("app %s: corrupt redirect URIs: %w", a.ID, err)
	}
	if a.Scopes, err = fromJSONList(scopes); err != nil {
		return a, fmt.Errorf("app %s: corrupt scopes: %w", a.ID, err)
	}
	return a, nil
}

func (s *DB) CreateApp(ctx context.Context, a store.App) error {
	if a.ID == "" {
		return errors.New("app without an ID")
	}
	if len(a.RedirectURIs) > store.MaxListLen || len(a.Scopes) > store.MaxListLen {
		return fmt.Errorf("app %s: %d redirect URIs, %d scopes: %w", a.ID, len(a.RedirectURIs), len(a.Scopes), store.ErrLimit)
	}
	secret := nilIfEmpty(a.SecretHash) // NULL for a public app
	return s.tx(ctx, func(tx *Tx) error {
		if a.Owner != "" {
			var exists bool
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM accounts WHERE address=?1), (SELECT COUNT(*) FROM apps WHERE owner=?1)`, a.Owner).Scan(&exists, &n); err != nil {
				return err
			}
			if !exists {
				return fmt.Errorf("owner %s: %w", a.Owner, store.ErrNotFound)
			}
			if n >= store.MaxAppsPerOwner {
				return fmt.Errorf("%s registered %d apps, the limit: %w", a.Owner, n, store.ErrLimit)
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO apps(`+appCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
			a.ID, a.Name, a.Owner, jsonList(a.RedirectURIs), jsonList(a.Scopes), a.Logo, a.Description, a.Public, secret, nilIfEmpty(a.RoomKey), unix(a.CreatedAt))
		if s.d.IsUnique(err) {
			return fmt.Errorf("app %s: %w", a.ID, store.ErrExists)
		}
		return err
	})
}

func (s *DB) GetApp(ctx context.Context, id string) (store.App, error) {
	a, err := scanApp(s.queryRow(ctx, `SELECT `+appCols+` FROM apps WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, store.ErrNotFound
	}
	return a, err
}

func (s *DB) ListApps(ctx context.Context, owner string) ([]store.App, error) {
	q, args := `SELECT `+appCols+` FROM apps ORDER BY name, id`, []any{}
	if owner != "" { // apps_owner
		q, args = `SELECT `+appCols+` FROM apps WHERE owner=? ORDER BY name, id`, []any{owner}
	}
	rows, err := s.query(ctx, q, args...)
	return collect(rows, err, scanApp)
}

// collect scans every row of a query with scan.
func collect[T any](rows *sql.Rows, err error, scan func(interface{ Scan(...any) error }) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (s *DB) UpdateApp(ctx context.Context, a store.App) error {
	if len(a.RedirectURIs) > store.MaxListLen || len(a.Scopes) > store.MaxListLen {
		return fmt.Errorf("app %s: %d redirect URIs, %d scopes: %w", a.ID, len(a.RedirectURIs), len(a.Scopes), store.ErrLimit)
	}
	return s.tx(ctx, func(tx *Tx) error {
		old, err := scanApp(tx.QueryRowContext(ctx, `SELECT `+appCols+` FROM apps WHERE id=?`, a.ID))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("app %s: %w", a.ID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE apps SET name=?, redirect_uris=?, scopes=?, logo=?, description=?, room_key=? WHERE id=?`,
			a.Name, jsonList(a.RedirectURIs), jsonList(a.Scopes), a.Logo, a.Description, nilIfEmpty(a.RoomKey), a.ID); err != nil {
			return err
		}
		var lost []string
		for _, sc := range old.Scopes {
			if !slices.Contains(a.Scopes, sc) && !slices.Contains(store.EveryAppScopes, sc) {
				lost = append(lost, sc)
			}
		}
		if len(lost) == 0 {
			return nil
		}
		return narrowGrants(ctx, tx, a.ID, lost)
	})
}

// narrowGrants takes the scopes lost from every grant to app that holds
// one, in tx, with the app's tokens for those grants' accounts.
func narrowGrants(ctx context.Context, tx *Tx, app string, lost []string) error {
	rows, err := tx.QueryContext(ctx, `SELECT `+grantCols+` FROM grants WHERE app=?`, app)
	gs, err := collect(rows, err, scanGrant)
	if err != nil {
		return err
	}
	for _, g := range gs {
		kept := slices.DeleteFunc(slices.Clone(g.Scopes), func(sc string) bool { return slices.Contains(lost, sc) })
		if len(kept) == len(g.Scopes) {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE grants SET scopes=?, addresses=? WHERE account=? AND app=?`,
			jsonList(kept), slices.Contains(kept, "addresses"), g.Account, app); err != nil {
			return err
		}
		if err := deleteGrantTokens(ctx, tx, g.Account, app); err != nil {
			return err
		}
		if err := logLifecycle(ctx, tx, store.LifecycleGrant, g.Account, "", nil); err != nil {
			return err
		}
	}
	return nil
}

func (s *DB) SetAppSecret(ctx context.Context, id string, hash []byte) error {
	if len(hash) == 0 {
		return fmt.Errorf("app %s: an empty secret hash", id)
	}
	err := mustAffect(s.exec(ctx, `UPDATE apps SET secret_hash=? WHERE id=? AND public=0`, hash, id))
	if err != nil {
		return fmt.Errorf("confidential app %s: %w", id, err)
	}
	return nil
}

func (s *DB) DeleteApp(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM apps WHERE id=?`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("app %s: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		return deleteApps(ctx, tx, `id=?`, id)
	})
}

// deleteApps deletes, in tx, the apps matching where (a condition on the
// apps table with one parameter, arg) with their grants and tokens, each
// access token logged as revoked.
func deleteApps(ctx context.Context, tx *Tx, where string, arg string) error {
	in := `(SELECT id FROM apps WHERE ` + where + `)`
	if _, err := deleteTokens(ctx, tx, `DELETE FROM tokens WHERE app<>'' AND app IN `+in+` RETURNING account, id`, arg); err != nil {
		return err
	}
	for _, q := range []string{
		`DELETE FROM refresh_tokens WHERE app IN ` + in,
		`DELETE FROM grants WHERE app IN ` + in,
		`DELETE FROM apps WHERE ` + where,
	} {
		if _, err := tx.ExecContext(ctx, q, arg); err != nil {
			return err
		}
	}
	return nil
}

// Grants

const grantCols = `account,app,scopes,contacts,group_,picked,addresses,hidden,private,created_at,updated_at,expires_at`

func scanGrant(sc interface{ Scan(...any) error }) (store.Grant, error) {
	var g store.Grant
	var scopes, picked string
	var created, updated, expires int64
	if err := sc.Scan(&g.Account, &g.App, &scopes, &g.Contacts, &g.Group, &picked, &g.Addresses, &g.Hidden, &g.Private, &created, &updated, &expires); err != nil {
		return g, err
	}
	g.CreatedAt, g.UpdatedAt, g.ExpiresAt = fromUnix(created), fromUnix(updated), fromUnix(expires)
	var err error
	if g.Scopes, err = fromJSONList(scopes); err != nil {
		return g, fmt.Errorf("grant of %s to %s: corrupt scopes: %w", g.Account, g.App, err)
	}
	if g.Picked, err = fromJSONList(picked); err != nil {
		return g, fmt.Errorf("grant of %s to %s: corrupt picked contacts: %w", g.Account, g.App, err)
	}
	return g, nil
}

func (s *DB) PutGrant(ctx context.Context, g store.Grant) error {
	switch g.Contacts {
	case store.ContactsNone, store.ContactsPicked, store.ContactsGroup, store.ContactsAll:
	default:
		return fmt.Errorf("grant of %s to %s: unknown contacts mode %q", g.Account, g.App, g.Contacts)
	}
	if len(g.Scopes) > store.MaxListLen || len(g.Picked) > store.MaxPicked {
		return fmt.Errorf("grant of %s to %s: %d scopes, %d picked: %w", g.Account, g.App, len(g.Scopes), len(g.Picked), store.ErrLimit)
	}
	return s.tx(ctx, func(tx *Tx) error {
		// the account, the app, whether the grant is new, and what the
		// account's other grants hold, in one read
		var account, app, exists bool
		var grants, picked int
		err := tx.QueryRowContext(ctx, `SELECT
				EXISTS(SELECT 1 FROM accounts WHERE address=?1),
				EXISTS(SELECT 1 FROM apps WHERE id=?2),
				EXISTS(SELECT 1 FROM grants WHERE account=?1 AND app=?2),
				(SELECT COUNT(*) FROM grants WHERE account=?1),
				(SELECT CAST(COALESCE(SUM(`+s.d.JSONArrayLength("picked")+`),0) AS BIGINT) FROM grants WHERE account=?1 AND app<>?2)`,
			g.Account, g.App).Scan(&account, &app, &exists, &grants, &picked)
		if err != nil {
			return err
		}
		if !account {
			return fmt.Errorf("account %s: %w", g.Account, store.ErrNotFound)
		}
		if !app {
			return fmt.Errorf("app %s: %w", g.App, store.ErrNotFound)
		}
		if !exists && grants >= store.MaxGrantsPerAccount {
			return fmt.Errorf("%s granted %d apps, the limit: %w", g.Account, grants, store.ErrLimit)
		}
		if picked+len(g.Picked) > store.MaxPicked {
			return fmt.Errorf("%s would have %d picked contacts over its grants, the limit is %d: %w", g.Account, picked+len(g.Picked), store.MaxPicked, store.ErrLimit)
		}
		// an update, not INSERT OR REPLACE: replacing the row would cascade
		// to the grant's refresh tokens
		_, err = tx.ExecContext(ctx, `INSERT INTO grants(`+grantCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)
			ON CONFLICT(account,app) DO UPDATE SET scopes=excluded.scopes, contacts=excluded.contacts, group_=excluded.group_,
				picked=excluded.picked, addresses=excluded.addresses, hidden=excluded.hidden, private=excluded.private,
				updated_at=excluded.updated_at, expires_at=excluded.expires_at`,
			g.Account, g.App, jsonList(g.Scopes), string(g.Contacts), g.Group, jsonList(g.Picked), g.Addresses, g.Hidden, g.Private,
			unix(g.CreatedAt), unix(g.UpdatedAt), unix(g.ExpiresAt))
		if err != nil {
			return err
		}
		return logLifecycle(ctx, tx, store.LifecycleGrant, g.Account, "", nil)
	})
}

func (s *DB) GetGrant(ctx context.Context, account, app string) (store.Grant, error) {
	g, err := scanGrant(s.queryRow(ctx, `SELECT `+grantCols+` FROM grants WHERE account=? AND app=?`, account, app))
	if errors.Is(err, sql.ErrNoRows) {
		return g, store.ErrNotFound
	}
	return g, err
}

func (s *DB) ListGrants(ctx context.Context, account string) ([]store.Grant, error) {
	return listGrants(ctx, s, account)
}

// listGrants is ListGrants through q.
func listGrants(ctx context.Context, q querier, account string) ([]store.Grant, error) {
	rows, err := q.query(ctx, `SELECT `+grantCols+` FROM grants WHERE account=? ORDER BY app`, account)
	return collect(rows, err, scanGrant)
}

func (s *DB) DeleteGrant(ctx context.Context, account, app string) error {
	return s.tx(ctx, func(tx *Tx) error {
		if err := mustAffect(tx.ExecContext(ctx, `DELETE FROM grants WHERE account=? AND app=?`, account, app)); err != nil {
			return fmt.Errorf("grant of %s to %s: %w", account, app, err)
		}
		if err := deleteGrantTokens(ctx, tx, account, app); err != nil {
			return err
		}
		return logLifecycle(ctx, tx, store.LifecycleGrant, account, "", nil)
	})
}

// deleteGrantTokens deletes, in tx, app's refresh and access tokens for
// account, each access token logged as revoked.
func deleteGrantTokens(ctx context.Context, tx *Tx, account, app string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE account=? AND app=?`, account, app); err != nil {
		return err
	}
	// app<>'' keeps the account's first-party tokens whatever app is
	_, err := deleteTokens(ctx, tx, `DELETE FROM tokens WHERE app=? AND account=? AND app<>'' RETURNING account, id`, app, account)
	return err
}

func (s *DB) DeleteExpiredGrants(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx *Tx) error {
		rows, err := tx.QueryContext(ctx, `DELETE FROM grants WHERE expires_at<>0 AND expires_at<=? RETURNING account, app`, unix(now))
		if err != nil {
			return err
		}
		type grant struct{ account, app string }
		var gone []grant
		for rows.Next() {
			var g grant
			if err := rows.Scan(&g.account, &g.app); err != nil {
				rows.Close()
				return err
			}
			gone = append(gone, g)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		for _, g := range gone {
			if err := deleteGrantTokens(ctx, tx, g.account, g.app); err != nil {
				return err
			}
			if err := logLifecycle(ctx, tx, store.LifecycleGrant, g.account, "", nil); err != nil {
				return err
			}
		}
		n = len(gone)
		return nil
	})
	return n, err
}

// grantExists fails with ErrNotFound unless account granted app.
func grantExists(ctx context.Context, tx *Tx, account, app string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM grants WHERE account=? AND app=?`, account, app).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("no grant of %s to %s: %w", account, app, store.ErrNotFound)
	}
	return err
}

// Refresh tokens

const refreshCols = `id,hash,family,account,app,scopes,auth_time,created_at,expires_at,used`

func scanRefresh(sc interface{ Scan(...any) error }) (store.RefreshToken, error) {
	var r store.RefreshToken
	var scopes string
	var auth, created, expires int64
	if err := sc.Scan(&r.ID, &r.Hash, &r.Family, &r.Account, &r.App, &scopes, &auth, &created, &expires, &r.Used); err != nil {
		return r, err
	}
	r.AuthTime, r.CreatedAt, r.ExpiresAt = fromUnix(auth), fromUnix(created), fromUnix(expires)
	var err error
	if r.Scopes, err = fromJSONList(scopes); err != nil {
		return r, fmt.Errorf("refresh token %s: corrupt scopes: %w", r.ID, err)
	}
	return r, nil
}

func insertRefresh(ctx context.Context, tx *Tx, r store.RefreshToken) error {
	if r.ID == "" {
		return errors.New("refresh token without an ID")
	}
	if len(r.Scopes) > store.MaxListLen {
		return fmt.Errorf("refresh token with %d scopes: %w", len(r.Scopes), store.ErrLimit)
	}
	if r.Family == "" { // the first of its family
		r.Family = r.ID
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens(`+refreshCols+`) VALUES (?,?,?,?,?,?,?,?,?,?)`,
		r.ID, r.Hash, r.Family, r.Account, r.App, jsonList(r.Scopes), unix(r.AuthTime), unix(r.CreatedAt), unix(r.ExpiresAt), r.Used)
	if tx.s.d.IsUnique(err) {
		return fmt.Errorf("refresh token %s: %w", r.ID, store.ErrExists)
	}
	return err
}

func (s *DB) CreateRefreshToken(ctx context.Context, r store.RefreshToken) error {
	return s.tx(ctx, func(tx *Tx) error {
		if err := grantExists(ctx, tx, r.Account, r.App); err != nil {
			return err
		}
		return insertRefresh(ctx, tx, r)
	})
}

func (s *DB) RefreshTokenByHash(ctx context.Context, hash []byte) (store.RefreshToken, error) {
	r, err := scanRefresh(s.queryRow(ctx, `SELECT `+refreshCols+` FROM refresh_tokens WHERE hash=?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return r, store.ErrNotFound
	}
	return r, err
}

func (s *DB) UseRefreshToken(ctx context.Context, hash []byte, next store.RefreshToken) error {
	now := next.CreatedAt
	if now.IsZero() {
		now = time.Now()
	}
	reused := false
	err := s.tx(ctx, func(tx *Tx) error {
		reused = false
		r, err := scanRefresh(tx.QueryRowContext(ctx, `SELECT `+refreshCols+` FROM refresh_tokens WHERE hash=?`, hash))
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		// a token shown by another app, or for another account, is none
		// of theirs: it tells nothing and changes nothing
		if (next.Account != "" && next.Account != r.Account) || (next.App != "" && next.App != r.App) {
			return fmt.Errorf("refresh token %s is not of %s for %s: %w", r.ID, next.App, next.Account, store.ErrNotFound)
		}
		if r.Used { // stolen: the thief or the owner used it already
			reused = true
			return deleteFamily(ctx, tx, r.Family)
		}
		if !r.ExpiresAt.IsZero() && !now.Before(r.ExpiresAt) {
			return store.ErrNotFound
		}
		if next.Family != "" && next.Family != r.Family {
			return fmt.Errorf("refresh token %s is of family %s, not %s", r.ID, r.Family, next.Family)
		}
		next.Family, next.Account, next.App, next.Used = r.Family, r.Account, r.App, false
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET used=1 WHERE id=?`, r.ID); err != nil {
			return err
		}
		return insertRefresh(ctx, tx, next)
	})
	if err == nil && reused {
		return fmt.Errorf("refresh token reused: its family is revoked: %w", store.ErrStale)
	}
	return err
}

func (s *DB) DeleteRefreshFamily(ctx context.Context, family string) error {
	return s.tx(ctx, func(tx *Tx) error { return deleteFamily(ctx, tx, family) })
}

// deleteFamily deletes a refresh family and the access tokens issued from
// it, each logged as revoked, in tx.
func deleteFamily(ctx context.Context, tx *Tx, family string) error {
	if family == "" { // first-party tokens have no family: never "all of them"
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE family=?`, family); err != nil {
		return err
	}
	_, err := deleteTokens(ctx, tx, `DELETE FROM tokens WHERE family=? RETURNING account, id`, family)
	return err
}

// nilIfEmpty stores an empty byte string as NULL, so it reads back nil.
func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}
