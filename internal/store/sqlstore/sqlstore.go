// Package sqlstore is the store.Store both SQL backends share: the SQLite
// file of the embedded default (package sqlite) and PostgreSQL for clusters
// (package postgres). Their schemas are kept alike (times as milliseconds
// since the epoch in 64-bit integers, flags as 0/1 integers, lists as JSON
// text, binary values as BLOB/bytea), so one body of SQL serves both; a
// Dialect says how each engine differs (placeholders, isolation, a few
// functions, errors), and each backend opens its database and runs its own
// migrations.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/store"
)

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromUnix(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// mustAffect turns "no row changed" into store.ErrNotFound.
func mustAffect(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// Accounts

func (s *DB) CreateAccount(ctx context.Context, a store.Account) error {
	_, err := s.exec(ctx, `INSERT INTO accounts(address,password_hash,scram,created_at,invisible,last_seen) VALUES (?,?,?,?,?,?)`,
		a.Address, a.PasswordHash, scramJSON(a.Scram), unix(a.CreatedAt), a.Invisible, unix(a.LastSeen))
	if s.d.IsUnique(err) {
		return fmt.Errorf("account %s: %w", a.Address, store.ErrExists)
	}
	return err
}

const accountCols = `address,password_hash,scram,created_at,invisible,last_seen`

func scramJSON(c []store.ScramCredential) string {
	if c == nil {
		c = []store.ScramCredential{}
	}
	b, _ := json.Marshal(c)
	return string(b)
}

func scanAccount(sc interface{ Scan(...any) error }) (store.Account, error) {
	var a store.Account
	var created, seen int64
	var scram string
	if err := sc.Scan(&a.Address, &a.PasswordHash, &scram, &created, &a.Invisible, &seen); err != nil {
		return a, err
	}
	a.CreatedAt, a.LastSeen = fromUnix(created), fromUnix(seen)
	if err := json.Unmarshal([]byte(scram), &a.Scram); err != nil {
		return a, fmt.Errorf("account %s: corrupt SCRAM credentials: %w", a.Address, err)
	}
	if len(a.Scram) == 0 {
		a.Scram = nil
	}
	return a, nil
}

func (s *DB) GetAccount(ctx context.Context, address string) (store.Account, error) {
	a, err := scanAccount(s.queryRow(ctx, `SELECT `+accountCols+` FROM accounts WHERE address=?`, address))
	if errors.Is(err, sql.ErrNoRows) {
		return a, store.ErrNotFound
	}
	return a, err
}

func (s *DB) ListAccounts(ctx context.Context) ([]store.Account, error) {
	rows, err := s.query(ctx, `SELECT `+accountCols+` FROM accounts ORDER BY address`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

func (s *DB) DeleteAccount(ctx context.Context, address string) error {
	return s.tx(ctx, func(tx *Tx) error {
		if err := mustAffect(tx.ExecContext(ctx, `DELETE FROM accounts WHERE address=?`, address)); err != nil {
			return err
		}
		rels, err := relationsOf(ctx, tx, address) // logged with the event, for the counterparts
		if err != nil {
			return err
		}
		// tokens, contacts and personal items also go by ON DELETE CASCADE,
		// but only on connections with foreign_keys on: said here, they go
		// whatever opened the file
		for _, q := range []string{
			`DELETE FROM tokens WHERE account=?1`,
			`DELETE FROM contacts WHERE owner=?1`,
			`DELETE FROM contact_books WHERE owner=?1`,
			`DELETE FROM contact_tombstones WHERE owner=?1`,
			`DELETE FROM personal_items WHERE account=?1`,
			`DELETE FROM relations WHERE subject=?1 OR viewer=?1`,
			`DELETE FROM blocks WHERE blocker=?1 OR blocked=?1`,
			`DELETE FROM hidden WHERE subject=?1 OR viewer=?1`,
			`DELETE FROM grants WHERE account=?1`,
			`DELETE FROM refresh_tokens WHERE account=?1`,
			`DELETE FROM identities WHERE account=?1`,
			`DELETE FROM stored_messages WHERE account=?1`,
			`DELETE FROM archive WHERE owner=?1`,
			`DELETE FROM archive_off WHERE owner=?1`,
		} {
			if _, err := tx.ExecContext(ctx, q, address); err != nil {
				return err
			}
		}
		if err := deleteRoomsOf(ctx, tx, address); err != nil {
			return err
		}
		// the apps it registered go too, and with them the grants other
		// accounts gave them and their tokens, whose sessions end
		if err := deleteApps(ctx, tx, `owner=?`, address); err != nil {
			return err
		}
		return logLifecycle(ctx, tx, store.LifecycleDeleted, address, "", rels)
	})
}

func (s *DB) SetCredentials(ctx context.Context, address, hash string, scram []store.ScramCredential) error {
	return s.tx(ctx, func(tx *Tx) error {
		if err := mustAffect(tx.ExecContext(ctx, `UPDATE accounts SET password_hash=?, scram=? WHERE address=?`, hash, scramJSON(scram), address)); err != nil {
			return err
		}
		if err := logLifecycle(ctx, tx, store.LifecyclePassword, address, "", nil); err != nil {
			return err
		}
		_, err := deleteTokens(ctx, tx, `DELETE FROM tokens WHERE account=? RETURNING account, id`, address)
		return err
	})
}

func (s *DB) DeleteTokens(ctx context.Context, account string) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx *Tx) (err error) {
		n, err = deleteTokens(ctx, tx, `DELETE FROM tokens WHERE account=? RETURNING account, id`, account)
		return err
	})
	return n, err
}

// deleteTokens runs query, a DELETE … RETURNING account, id, and logs each
// token it deleted as revoked, in tx: sessions opened with them end.
func deleteTokens(ctx context.Context, tx *Tx, query string, args ...any) (int, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	var gone [][2]string
	for rows.Next() {
		var account, id string
		if err := rows.Scan(&account, &id); err != nil {
			rows.Close()
			return 0, err
		}
		gone = append(gone, [2]string{account, id})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for _, g := range gone {
		if err := logLifecycle(ctx, tx, store.LifecycleTokenRevoked, g[0], g[1], nil); err != nil {
			return 0, err
		}
	}
	return len(gone), nil
}

func (s *DB) SetInvisible(ctx context.Context, address string, invisible bool) error {
	return s.tx(ctx, func(tx *Tx) error {
		var was bool
		if err := tx.QueryRowContext(ctx, `SELECT invisible FROM accounts WHERE address=?`, address).Scan(&was); errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		} else if err != nil {
			return err
		}
		if was == invisible {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET invisible=? WHERE address=?`, invisible, address); err != nil {
			return err
		}
		return logLifecycle(ctx, tx, store.LifecycleFacts, address, "", nil)
	})
}

func (s *DB) SetLastSeen(ctx context.Context, address string, t time.Time) error {
	return mustAffect(s.exec(ctx, `UPDATE accounts SET last_seen=? WHERE address=?`, unix(t), address))
}

// lastSeenChunk bounds the addresses one statement names (SQLite allows
// 32,766 parameters, PostgreSQL 65,535).
const lastSeenChunk = 500

func (s *DB) SetLastSeenOf(ctx context.Context, addresses []string, t time.Time) error {
	return s.tx(ctx, func(tx *Tx) error {
		for rest := addresses; len(rest) > 0; {
			chunk := rest[:min(len(rest), lastSeenChunk)]
			rest = rest[len(chunk):]
			args := make([]any, 0, len(chunk)+1)
			args = append(args, unix(t))
			for _, a := range chunk {
				args = append(args, a)
			}
			q := `UPDATE accounts SET last_seen=? WHERE address IN (?` + strings.Repeat(",?", len(chunk)-1) + `)`
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// Tokens

func (s *DB) CreateToken(ctx context.Context, t store.Token) error {
	if t.App != "" {
		return s.tx(ctx, func(tx *Tx) error { return createAppToken(ctx, tx, t) })
	}
	var res sql.Result
	var err error
	if t.Proof == "" {
		res, err = s.exec(ctx, `INSERT INTO tokens(`+tokenCols+`) VALUES (?,?,?,?,?,?,?,?,?)`,
			t.ID, t.Hash, t.Account, t.Label, unix(t.CreatedAt), unix(t.ExpiresAt), "", jsonList(t.Scopes), t.Family)
	} else { // only while the password the sign-in verified is the account's
		// (the values typed for PostgreSQL, which cannot infer them in a SELECT list)
		res, err = s.exec(ctx, `INSERT INTO tokens(`+tokenCols+`)
			SELECT ?,`+s.d.Bytes+`,?,?,CAST(? AS BIGINT),CAST(? AS BIGINT),?,?,? WHERE EXISTS (SELECT 1 FROM accounts WHERE address=? AND password_hash=?)`,
			t.ID, t.Hash, t.Account, t.Label, unix(t.CreatedAt), unix(t.ExpiresAt), "", jsonList(t.Scopes), t.Family, t.Account, t.Proof)
		if err == nil {
			if n, _ := res.RowsAffected(); n == 0 {
				return fmt.Errorf("token for %s: the password changed: %w", t.Account, store.ErrStale)
			}
		}
	}
	return s.tokenInsertErr(t, err)
}

func (s *DB) tokenInsertErr(t store.Token, err error) error {
	if s.d.IsUnique(err) {
		return store.ErrExists
	}
	if s.d.IsForeignKey(err) {
		return fmt.Errorf("account %s: %w", t.Account, store.ErrNotFound)
	}
	return err
}

// createAppToken creates an app's access token in tx, only while the
// account's grant to the app exists (and, with a Proof, while the password
// is the one the sign-in checked).
func createAppToken(ctx context.Context, tx *Tx, t store.Token) error {
	if len(t.Scopes) > store.MaxListLen {
		return fmt.Errorf("token with %d scopes: %w", len(t.Scopes), store.ErrLimit)
	}
	if err := grantExists(ctx, tx, t.Account, t.App); err != nil {
		return err
	}
	if t.Proof != "" {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE address=? AND password_hash=?`, t.Account, t.Proof).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("token for %s: the password changed: %w", t.Account, store.ErrStale)
		}
		if err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO tokens(`+tokenCols+`) VALUES (?,?,?,?,?,?,?,?,?)`,
		t.ID, t.Hash, t.Account, t.Label, unix(t.CreatedAt), unix(t.ExpiresAt), t.App, jsonList(t.Scopes), t.Family)
	return tx.s.tokenInsertErr(t, err)
}

const tokenCols = `id,hash,account,label,created_at,expires_at,app,scopes,family`

func scanToken(sc interface{ Scan(...any) error }) (store.Token, error) {
	var t store.Token
	var created, expires int64
	var scopes string
	if err := sc.Scan(&t.ID, &t.Hash, &t.Account, &t.Label, &created, &expires, &t.App, &scopes, &t.Family); err != nil {
		return t, err
	}
	t.CreatedAt, t.ExpiresAt = fromUnix(created), fromUnix(expires)
	var err error
	if t.Scopes, err = fromJSONList(scopes); err != nil {
		return t, fmt.Errorf("token %s: corrupt scopes: %w", t.ID, err)
	}
	return t, nil
}

func (s *DB) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	t, err := scanToken(s.queryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash=?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, store.ErrNotFound
	}
	return t, err
}

func (s *DB) TokenByID(ctx context.Context, id string) (store.Token, error) {
	t, err := scanToken(s.queryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id=?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, store.ErrNotFound
	}
	return t, err
}

func (s *DB) ListTokens(ctx context.Context, account string) ([]store.Token, error) {
	rows, err := s.query(ctx, `SELECT `+tokenCols+` FROM tokens WHERE account=? ORDER BY created_at, id`, account)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *DB) DeleteToken(ctx context.Context, account, id string) error {
	return s.tx(ctx, func(tx *Tx) error {
		if err := mustAffect(tx.ExecContext(ctx, `DELETE FROM tokens WHERE account=? AND id=?`, account, id)); err != nil {
			return err
		}
		return logLifecycle(ctx, tx, store.LifecycleTokenRevoked, account, id, nil)
	})
}

func (s *DB) DeleteExpiredTokens(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := s.tx(ctx, func(tx *Tx) (err error) { // an expiry ends sessions as a revocation does
		if n, err = deleteTokens(ctx, tx, `DELETE FROM tokens WHERE expires_at<>0 AND expires_at<=? RETURNING account, id`, unix(now)); err != nil {
			return err
		}
		// no session runs on a refresh token: nothing to log
		_, err = tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE expires_at<>0 AND expires_at<=?`, unix(now))
		return err
	})
	return n, err
}

// Contacts

const contactCols = `id,owner,name,emails,phones,notes,groups_,address,version,updated,card`

func jsonList(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// fromJSONList reads what jsonList wrote; an empty list is nil.
func fromJSONList(s string) ([]string, error) {
	if s == "[]" { // most lists, read with every token (its scopes): no decoder needed
		return nil, nil
	}
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

func scanContact(sc interface{ Scan(...any) error }) (store.Contact, error) {
	var c store.Contact
	var emails, phones, groups string
	var updated int64
	err := sc.Scan(&c.ID, &c.Owner, &c.Name, &emails, &phones, &c.Notes, &groups, &c.Address, &c.Version, &updated, &c.Card)
	if err != nil {
		return c, err
	}
	c.Updated = fromUnix(updated)
	for _, f := range []struct {
		s   string
		dst *[]string
	}{{emails, &c.Emails}, {phones, &c.Phones}, {groups, &c.Groups}} {
		if err := json.Unmarshal([]byte(f.s), f.dst); err != nil {
			return c, fmt.Errorf("contact %s: corrupt list: %w", c.ID, err)
		}
	}
	return c, nil
}

func (s *DB) CreateContacts(ctx context.Context, owner string, cs []store.Contact, max int) error {
	return s.tx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM contacts WHERE owner=?`, owner).Scan(&n); err != nil {
			return err
		}
		if max > 0 && n+len(cs) > max {
			return fmt.Errorf("%d contacts would exceed the limit of %d: %w", n+len(cs), max, store.ErrLimit)
		}
		if len(cs) == 0 {
			return nil
		}
		last, err := bumpBookBy(ctx, tx, owner, len(cs))
		if err != nil {
			return err
		}
		for i, c := range cs {
			seq := last - int64(len(cs)-1-i)
			// the version is the write's position: never the same twice for
			// one name, not even for a card deleted and created again
			_, err = tx.ExecContext(ctx, `INSERT INTO contacts(`+contactCols+`,seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
				c.ID, owner, c.Name, jsonList(c.Emails), jsonList(c.Phones), c.Notes, jsonList(c.Groups), c.Address, seq, unix(c.Updated), c.Card, seq)
			if s.d.IsUnique(err) {
				return fmt.Errorf("contact %s: %w", c.ID, store.ErrExists)
			}
			if err != nil {
				return err
			}
			// a card created again under a deleted one's name is a change, not a deletion
			if _, err := tx.ExecContext(ctx, `DELETE FROM contact_tombstones WHERE owner=? AND id=?`, owner, c.ID); err != nil {
				return err
			}
		}
		for i := range cs { // only once the transaction cannot fail any more
			cs[i].Version = last - int64(len(cs)-1-i)
		}
		return nil
	})
}

func (s *DB) GetContact(ctx context.Context, owner, id string) (store.Contact, error) {
	c, err := scanContact(s.queryRow(ctx, `SELECT `+contactCols+` FROM contacts WHERE owner=? AND id=?`, owner, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, store.ErrNotFound
	}
	return c, err
}

func (s *DB) ListContacts(ctx context.Context, owner string, q store.ContactQuery) ([]store.Contact, error) {
	where, args := `owner=?`, []any{owner}
	if q.Address != "" { // contacts_address
		where, args = where+` AND address=?`, append(args, q.Address)
	}
	rows, err := s.query(ctx, `SELECT `+contactCols+` FROM contacts WHERE `+where+` ORDER BY `+s.d.NoCase("name")+`, id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.Contact{}
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, err
		}
		if store.Matches(c, q) {
			out = append(out, c)
		}
	}
	return out, rows.Err()
}

func (s *DB) CountContacts(ctx context.Context, owner string) (int, error) {
	var n int
	err := s.queryRow(ctx, `SELECT COUNT(*) FROM contacts WHERE owner=?`, owner).Scan(&n)
	return n, err
}

// versionCheck explains why a conditional write matched no row.
func versionCheck(ctx context.Context, tx *Tx, owner, id string) error {
	var v int64
	err := tx.QueryRowContext(ctx, `SELECT version FROM contacts WHERE owner=? AND id=?`, owner, id).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	return store.ErrConflict
}

func (s *DB) UpdateContact(ctx context.Context, c store.Contact, ifVersion int64) (int64, error) {
	var v int64
	err := s.tx(ctx, func(tx *Tx) error {
		seq, err := bumpBook(ctx, tx, c.Owner) // rolled back with the update if that fails
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `UPDATE contacts SET name=?,emails=?,phones=?,notes=?,groups_=?,address=?,version=?,updated=?,card=?,seq=?
			WHERE owner=? AND id=? AND (?=0 OR version=?) RETURNING version`,
			c.Name, jsonList(c.Emails), jsonList(c.Phones), c.Notes, jsonList(c.Groups), c.Address, seq, unix(c.Updated), c.Card, seq,
			c.Owner, c.ID, ifVersion, ifVersion).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			return versionCheck(ctx, tx, c.Owner, c.ID)
		}
		return err
	})
	return v, err
}

func (s *DB) DeleteContact(ctx context.Context, owner, id string, ifVersion int64, tombstones int) error {
	return s.tx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM contacts WHERE owner=? AND id=? AND (?=0 OR version=?)`, owner, id, ifVersion, ifVersion)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return versionCheck(ctx, tx, owner, id)
		}
		seq, err := bumpBook(ctx, tx, owner)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO contact_tombstones(owner,id,seq) VALUES (?,?,?)
			ON CONFLICT(owner,id) DO UPDATE SET seq=excluded.seq`, owner, id, seq); err != nil {
			return err
		}
		if tombstones <= 0 {
			return nil
		}
		// forget the oldest deletions past the bound; the positions before
		// the newest one forgotten can no longer be answered
		var cut int64
		err = tx.QueryRowContext(ctx, `SELECT seq FROM contact_tombstones WHERE owner=? ORDER BY seq DESC LIMIT 1 OFFSET ?`, owner, tombstones).Scan(&cut)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM contact_tombstones WHERE owner=? AND seq<=?`, owner, cut); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE contact_books SET floor=`+s.d.Greatest+`(floor,?) WHERE owner=?`, cut, owner)
		return err
	})
}

// bumpBook takes the next position of the change counter for a write of
// owner's book, starting the book (its floor: the position before its first
// write) if it has none.
func bumpBook(ctx context.Context, tx *Tx, owner string) (int64, error) {
	return bumpBookBy(ctx, tx, owner, 1)
}

// bumpBookBy takes n positions at once and returns the last.
func bumpBookBy(ctx context.Context, tx *Tx, owner string, n int) (int64, error) {
	if err := startBook(ctx, tx, owner); err != nil {
		return 0, err
	}
	var seq int64
	if err := tx.QueryRowContext(ctx, `UPDATE contact_seq SET n=n+? WHERE id=1 RETURNING n`, n).Scan(&seq); err != nil {
		return 0, err
	}
	// the book's own position moves, and only with its own writes
	_, err := tx.ExecContext(ctx, `UPDATE contact_books SET pos=? WHERE owner=?`, seq, owner)
	return seq, err
}

// startBook gives owner a book if it has none, its floor a position of its
// own: every position handed out before, by an earlier account at the same
// address too, is below it.
func startBook(ctx context.Context, tx *Tx, owner string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM contact_books WHERE owner=?`, owner).Scan(&one)
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	var floor int64
	if err := tx.QueryRowContext(ctx, `UPDATE contact_seq SET n=n+1 WHERE id=1 RETURNING n`).Scan(&floor); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO contact_books(owner,floor,pos) VALUES (?,?,?)`, owner, floor, floor)
	return err
}

func (s *DB) ContactChanges(ctx context.Context, owner string, since int64) ([]store.ContactChange, int64, error) {
	var out []store.ContactChange
	var seq, floor int64
	err := s.tx(ctx, func(tx *Tx) error {
		out = out[:0]
		if err := startBook(ctx, tx, owner); err != nil {
			return err
		}
		// the book's position, not the counter shared by all books: what
		// owner sees moves only with owner's writes (migration 0011)
		if err := tx.QueryRowContext(ctx, `SELECT pos, floor FROM contact_books WHERE owner=?`, owner).Scan(&seq, &floor); err != nil {
			return err
		}
		if since != 0 && (since < floor || since > seq) {
			return store.ErrSyncExpired
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, version FROM contacts WHERE owner=? AND (?=0 OR seq>?)`, owner, since, since)
		if err != nil {
			return err
		}
		for rows.Next() {
			var c store.ContactChange
			if err := rows.Scan(&c.ID, &c.Version); err != nil {
				rows.Close()
				return err
			}
			out = append(out, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil || since == 0 {
			return err
		}
		rows, err = tx.QueryContext(ctx, `SELECT id FROM contact_tombstones WHERE owner=? AND seq>?`, owner, since)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c := store.ContactChange{Deleted: true}
			if err := rows.Scan(&c.ID); err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, seq, err
}

// Graph

const (
	getRelationSQL    = `SELECT state,preapproved FROM relations WHERE subject=? AND viewer=?`
	deleteRelationSQL = `DELETE FROM relations WHERE subject=? AND viewer=?`
	upsertRelationSQL = `INSERT INTO relations(subject,viewer,state,preapproved) VALUES (?,?,?,?)
		ON CONFLICT(subject,viewer) DO UPDATE SET state=excluded.state, preapproved=excluded.preapproved`
)

func (s *DB) GetRelation(ctx context.Context, subject, viewer string) (store.Relation, error) {
	return scanRelation(s.queryRow(ctx, getRelationSQL, subject, viewer), subject, viewer)
}

func scanRelation(row Row, subject, viewer string) (store.Relation, error) {
	r := store.Relation{Subject: subject, Viewer: viewer}
	err := row.Scan(&r.State, &r.PreApproved)
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil
	}
	return r, err
}

// stored reports whether r is kept as a row: an edge with State None and
// no pre-approval is not.
func stored(r store.Relation) bool { return r.State != store.None || r.PreApproved }

func (s *DB) PutRelation(ctx context.Context, r store.Relation) error {
	var err error
	if stored(r) {
		_, err = s.exec(ctx, upsertRelationSQL, r.Subject, r.Viewer, r.State, r.PreApproved)
	} else {
		_, err = s.exec(ctx, deleteRelationSQL, r.Subject, r.Viewer)
	}
	return err
}

// EditPair runs in one write transaction. On SQLite s.tx begins it
// IMMEDIATE (the _txlock of sqlite.Open): it takes the single write lock
// before the first read, so a concurrent edit of the pair, from this
// process or another, waits until this one committed and then reads what
// it stored. On PostgreSQL it is SERIALIZABLE: of two concurrent edits
// whose reads and writes overlap (the pair's rows, the counts of the
// limits) one fails with a serialisation error and s.tx runs it again,
// reading what the other stored: change may run more than once.
func (s *DB) EditPair(ctx context.Context, actor, other string, lim store.RelationLimits, change func(mine, theirs *store.Relation)) (mine, theirs store.Relation, err error) {
	if actor == other {
		return mine, theirs, fmt.Errorf("relations of %s with itself", actor)
	}
	err = s.tx(ctx, func(tx *Tx) error {
		var err error
		if mine, err = scanRelation(tx.QueryRowContext(ctx, getRelationSQL, other, actor), other, actor); err != nil {
			return err
		}
		if theirs, err = scanRelation(tx.QueryRowContext(ctx, getRelationSQL, actor, other), actor, other); err != nil {
			return err
		}
		newMine, newTheirs := mine, theirs
		change(&newMine, &newTheirs)
		newMine.Subject, newMine.Viewer = other, actor
		newTheirs.Subject, newTheirs.Viewer = actor, other
		changes := [][2]store.Relation{{mine, newMine}, {theirs, newTheirs}}
		for _, c := range changes {
			if c[0] == c[1] {
				continue
			}
			var err error
			if stored(c[1]) {
				_, err = tx.ExecContext(ctx, upsertRelationSQL, c[1].Subject, c[1].Viewer, c[1].State, c[1].PreApproved)
			} else {
				_, err = tx.ExecContext(ctx, deleteRelationSQL, c[1].Subject, c[1].Viewer)
			}
			if err != nil {
				return err
			}
		}
		// the counts are taken after the writes, so they are those the
		// change would leave; over a limit, the rollback undoes the writes
		for _, c := range changes {
			if err := relationLimits(ctx, tx, lim, c[0], c[1]); err != nil {
				return err
			}
		}
		if mine == newMine && theirs == newTheirs {
			return nil
		}
		return logLifecycle(ctx, tx, store.LifecycleFacts, actor, "", []store.Relation{newMine, newTheirs})
	})
	return mine, theirs, err
}

func isRequest(s store.State) bool { return s == store.Pending || s == store.Declined }

// relationLimits checks the limits that the change of one edge from old to
// now is subject to, on counts taken after the change.
func relationLimits(ctx context.Context, tx *Tx, lim store.RelationLimits, old, now store.Relation) error {
	type check struct {
		what, q string
		args    []any
		max     int
	}
	var checks []check
	if lim.Requests > 0 && isRequest(now.State) && !isRequest(old.State) {
		checks = append(checks,
			check{"requests made by " + now.Viewer, `SELECT COUNT(*) FROM relations WHERE viewer=? AND state IN (?,?)`,
				[]any{now.Viewer, store.Pending, store.Declined}, lim.Requests},
			check{"requests received by " + now.Subject, `SELECT COUNT(*) FROM relations WHERE subject=? AND state IN (?,?)`,
				[]any{now.Subject, store.Pending, store.Declined}, lim.Requests})
	}
	if lim.Requests > 0 && now.PreApproved && !old.PreApproved {
		checks = append(checks, check{"pre-approvals by " + now.Subject, `SELECT COUNT(*) FROM relations WHERE subject=? AND preapproved=?`,
			[]any{now.Subject, true}, lim.Requests})
	}
	if lim.Relations > 0 && stored(now) && !stored(old) {
		for _, a := range []string{now.Subject, now.Viewer} {
			checks = append(checks, check{"relations of " + a, `SELECT COUNT(*) FROM relations WHERE subject=? OR viewer=?`,
				[]any{a, a}, lim.Relations})
		}
	}
	for _, c := range checks {
		var n int
		if err := tx.QueryRowContext(ctx, c.q, c.args...).Scan(&n); err != nil {
			return err
		}
		if n > c.max {
			return fmt.Errorf("%d %s would exceed the limit of %d: %w", n, c.what, c.max, store.ErrLimit)
		}
	}
	return nil
}

// relationsOfSQL reads each side by its own index (an OR read both
// indexes, then every row again from the table): the viewer side from
// the covering index alone.
const relationsOfSQL = `SELECT subject,viewer,state,preapproved FROM relations WHERE subject=?1
	UNION ALL SELECT subject,viewer,state,preapproved FROM relations WHERE viewer=?1 AND subject<>?1
	ORDER BY 1, 2`

func (s *DB) RelationsOf(ctx context.Context, address string) ([]store.Relation, error) {
	return relationsOf(ctx, s, address)
}

// relationsOf is RelationsOf through q (the pool, or a transaction).
func relationsOf(ctx context.Context, q querier, address string) ([]store.Relation, error) {
	rows, err := q.query(ctx, relationsOfSQL, address)
	if err != nil {
		return nil, err
	}
	return scanRelations(rows)
}

func scanRelations(rows *sql.Rows) ([]store.Relation, error) {
	defer rows.Close()
	var out []store.Relation
	for rows.Next() {
		var r store.Relation
		if err := rows.Scan(&r.Subject, &r.Viewer, &r.State, &r.PreApproved); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *DB) ApprovedBy(ctx context.Context, viewer string) ([]store.SubjectFacts, error) {
	return approvedBy(ctx, s, viewer)
}

// approvedBy is ApprovedBy through q.
func approvedBy(ctx context.Context, q querier, viewer string) ([]store.SubjectFacts, error) {
	rows, err := q.query(ctx, `SELECT r.subject, `+subjectFactsCols+`
		FROM relations r `+subjectFactsJoins("")+`
		WHERE r.viewer=? AND r.state=? ORDER BY r.subject`, viewer, store.Approved)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.SubjectFacts
	for rows.Next() {
		var f store.SubjectFacts
		var seen, shown int64
		if err := rows.Scan(&f.Subject, &f.Blocked, &f.Hidden, &f.Invisible, &seen, &shown); err != nil {
			return nil, err
		}
		f.LastSeen, f.Shown = fromUnix(seen), fromUnix(shown)
		out = append(out, f)
	}
	return out, rows.Err()
}

// The facts of a subject r.subject about a viewer r.viewer (SubjectFacts).
// blocks and hidden hold one row per pair at most (their keys): a join
// probes each once per subject, where a subquery per column probed twice.
const subjectFactsCols = `b.blocker IS NOT NULL, h.subject IS NOT NULL,
	COALESCE(a.invisible,0), COALESCE(a.last_seen,0), COALESCE(b.shown, h.shown, 0)`

// subjectFactsJoins joins what subjectFactsCols read, for the rows of r
// that only (a condition on r ending in AND, or "") selects.
func subjectFactsJoins(only string) string {
	return `LEFT JOIN accounts a ON ` + only + `a.address=r.subject
		LEFT JOIN blocks b ON ` + only + `b.blocker=r.subject AND b.blocked=r.viewer
		LEFT JOIN hidden h ON ` + only + `h.subject=r.subject AND h.viewer=r.viewer`
}

// pairSet runs query, a deletion from a privacy list of owner a, and logs
// it when it deleted an entry.
func (s *DB) pairSet(ctx context.Context, query string, a, b string) error {
	return s.tx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, query, a, b)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		return logLifecycle(ctx, tx, store.LifecycleFacts, a, "", []store.Relation{{Subject: a, Viewer: b}})
	})
}

func (s *DB) list(ctx context.Context, query, arg string) ([]string, error) {
	rows, err := s.query(ctx, query, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// addBounded inserts (owner, entry) into table unless it holds it, then,
// in the same write transaction, fails with ErrLimit (rolling back) if the
// owner's entries now exceed max.
func (s *DB) addBounded(ctx context.Context, table, ownerCol, entryCol, owner, entry string, shown time.Time, max int) error {
	return s.tx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO `+table+`(`+ownerCol+`,`+entryCol+`,shown) VALUES (?,?,?) ON CONFLICT DO NOTHING`, owner, entry, unix(shown))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // held already
		}
		if max > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+` WHERE `+ownerCol+`=?`, owner).Scan(&n); err != nil {
				return err
			}
			if n > max {
				return fmt.Errorf("%s holds %d entries, the limit: %w", owner, n-1, store.ErrLimit)
			}
		}
		return logLifecycle(ctx, tx, store.LifecycleFacts, owner, "", []store.Relation{{Subject: owner, Viewer: entry}})
	})
}

func (s *DB) Block(ctx context.Context, blocker, blocked string, shown time.Time, max int) error {
	return s.addBounded(ctx, "blocks", "blocker", "blocked", blocker, blocked, shown, max)
}

func (s *DB) Unblock(ctx context.Context, blocker, blocked string) error {
	return s.pairSet(ctx, `DELETE FROM blocks WHERE blocker=? AND blocked=?`, blocker, blocked)
}

func (s *DB) ListBlocks(ctx context.Context, blocker string) ([]string, error) {
	return s.list(ctx, `SELECT blocked FROM blocks WHERE blocker=? ORDER BY blocked`, blocker)
}

func (s *DB) Hide(ctx context.Context, subject, viewer string, shown time.Time, max int) error {
	return s.addBounded(ctx, "hidden", "subject", "viewer", subject, viewer, shown, max)
}

func (s *DB) Unhide(ctx context.Context, subject, viewer string) error {
	return s.pairSet(ctx, `DELETE FROM hidden WHERE subject=? AND viewer=?`, subject, viewer)
}

func (s *DB) ListHidden(ctx context.Context, subject string) ([]string, error) {
	return s.list(ctx, `SELECT viewer FROM hidden WHERE subject=? ORDER BY viewer`, subject)
}

func (s *DB) PrivacyLists(ctx context.Context, owner string) (blocks, hidden []store.ListEntry, err error) {
	return privacyLists(ctx, s, owner)
}

// privacyLists is PrivacyLists through q.
func privacyLists(ctx context.Context, q querier, owner string) (blocks, hidden []store.ListEntry, err error) {
	rows, err := q.query(ctx, `SELECT 0, blocked, shown FROM blocks WHERE blocker=?
		UNION ALL SELECT 1, viewer, shown FROM hidden WHERE subject=? ORDER BY 1, 2`, owner, owner)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var which int
		var e store.ListEntry
		var shown int64
		if err := rows.Scan(&which, &e.Address, &shown); err != nil {
			return nil, nil, err
		}
		e.Shown = fromUnix(shown)
		if which == 0 {
			blocks = append(blocks, e)
		} else {
			hidden = append(hidden, e)
		}
	}
	return blocks, hidden, rows.Err()
}

// Personal events

func (s *DB) PutPersonalItem(ctx context.Context, it store.PersonalItem, maxTopics int) error {
	return s.tx(ctx, func(tx *Tx) error {
		var exists, n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(CASE WHEN topic=? THEN 1 END) FROM personal_items WHERE account=?`, it.Topic, it.Account).Scan(&n, &exists); err != nil {
			return err
		}
		if exists == 0 && maxTopics > 0 && n >= maxTopics {
			return fmt.Errorf("%d topics: %w", n, store.ErrLimit)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO personal_items(account,topic,item_id,data,published) VALUES (?,?,?,?,?)
			ON CONFLICT(account,topic) DO UPDATE SET item_id=excluded.item_id, data=excluded.data, published=excluded.published`,
			it.Account, it.Topic, it.ItemID, it.Data, unix(it.Published))
		if s.d.IsForeignKey(err) {
			return store.ErrNotFound
		}
		return err
	})
}

func (s *DB) DeletePersonalItem(ctx context.Context, account, topic string) error {
	_, err := s.exec(ctx, `DELETE FROM personal_items WHERE account=? AND topic=?`, account, topic)
	return err
}

func (s *DB) PersonalItemsOf(ctx context.Context, accounts []string) ([]store.PersonalItem, error) {
	var out []store.PersonalItem
	for len(accounts) > 0 { // in chunks, under SQLite's limit on parameters
		chunk := accounts[:min(len(accounts), 500)]
		accounts = accounts[len(chunk):]
		args := make([]any, len(chunk))
		for i, a := range chunk {
			args[i] = a
		}
		rows, err := s.query(ctx, `SELECT account,topic,item_id,data,published FROM personal_items
			WHERE account IN (?`+strings.Repeat(",?", len(chunk)-1)+`) ORDER BY account, topic`, args...)
		if err != nil {
			return nil, err
		}
		if out, err = scanItems(rows, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// scanItems appends the personal items rows holds to out, and closes rows.
func scanItems(rows *sql.Rows, out []store.PersonalItem) ([]store.PersonalItem, error) {
	defer rows.Close()
	for rows.Next() {
		var it store.PersonalItem
		var ms int64
		if err := rows.Scan(&it.Account, &it.Topic, &it.ItemID, &it.Data, &ms); err != nil {
			return nil, err
		}
		it.Published = fromUnix(ms)
		out = append(out, it)
	}
	return out, rows.Err()
}
