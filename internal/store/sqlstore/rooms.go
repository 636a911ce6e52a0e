package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/presenced/presenced/internal/store"
)

// Rooms (store/rooms.go; migration 0017, and 0021 for remote accounts'
// affiliations: PostgreSQL's 0003).

func (s *DB) CreateRoom(ctx context.Context, r store.Room, maxOwned int) error {
	return s.tx(ctx, func(tx *Tx) error {
		var account, exists bool
		var n int
		err := tx.QueryRowContext(ctx, `SELECT
				EXISTS(SELECT 1 FROM accounts WHERE address=?1),
				EXISTS(SELECT 1 FROM rooms WHERE app=?2 AND name=?3),
				(SELECT COUNT(*) FROM rooms WHERE owner=?1)`, r.Owner, r.App, r.Name).Scan(&account, &exists, &n)
		switch {
		case err != nil:
			return err
		case !account:
			return fmt.Errorf("account %s: %w", r.Owner, store.ErrNotFound)
		case exists:
			return fmt.Errorf("room %s: %w", r.Name, store.ErrExists)
		case n >= maxOwned:
			return fmt.Errorf("%s owns %d rooms, the limit: %w", r.Owner, n, store.ErrLimit)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO rooms(app,name,owner,mode,subject,subject_by,created) VALUES (?,?,?,?,?,?,?)`,
			r.App, r.Name, r.Owner, r.Mode, r.Subject, r.SubjectBy, unix(r.Created))
		return err
	})
}

const roomColumns = `app,name,owner,mode,subject,subject_by,created`

func scanRoom(sc interface{ Scan(...any) error }) (store.Room, error) {
	var r store.Room
	var created int64
	err := sc.Scan(&r.App, &r.Name, &r.Owner, &r.Mode, &r.Subject, &r.SubjectBy, &created)
	r.Created = fromUnix(created)
	return r, err
}

func (s *DB) GetRoom(ctx context.Context, app, name string) (store.Room, error) {
	r, err := scanRoom(s.queryRow(ctx, `SELECT `+roomColumns+` FROM rooms WHERE app=? AND name=?`, app, name))
	if err == sql.ErrNoRows {
		return r, fmt.Errorf("room %s: %w", name, store.ErrNotFound)
	}
	return r, err
}

func (s *DB) UpdateRoom(ctx context.Context, r store.Room) error {
	if err := mustAffect(s.exec(ctx, `UPDATE rooms SET mode=?, subject=?, subject_by=? WHERE app=? AND name=?`,
		r.Mode, r.Subject, r.SubjectBy, r.App, r.Name)); err != nil {
		return fmt.Errorf("room %s: %w", r.Name, err)
	}
	return nil
}

func (s *DB) DeleteRoom(ctx context.Context, app, name string) error {
	if err := mustAffect(s.exec(ctx, `DELETE FROM rooms WHERE app=? AND name=?`, app, name)); err != nil {
		return fmt.Errorf("room %s: %w", name, err)
	}
	return nil
}

func (s *DB) ListRooms(ctx context.Context, app string, n int) ([]store.Room, error) {
	rows, err := s.query(ctx, `SELECT `+roomColumns+` FROM rooms WHERE app=? ORDER BY name LIMIT ?`, app, limit(n))
	return collect(rows, err, scanRoom)
}

func (s *DB) SetAffiliation(ctx context.Context, app, name string, a store.RoomAffiliation, max int) error {
	return s.tx(ctx, func(tx *Tx) error {
		var room, exists bool
		var n int
		err := tx.QueryRowContext(ctx, `SELECT
				EXISTS(SELECT 1 FROM rooms WHERE app=?1 AND name=?2),
				EXISTS(SELECT 1 FROM room_affiliations WHERE app=?1 AND name=?2 AND account=?3),
				(SELECT COUNT(*) FROM room_affiliations WHERE app=?1 AND name=?2)`, app, name, a.Account).Scan(&room, &exists, &n)
		switch {
		case err != nil:
			return err
		case !room:
			return fmt.Errorf("room %s: %w", name, store.ErrNotFound)
		case a.Affiliation == store.AffNone || a.Affiliation == "":
			_, err := tx.ExecContext(ctx, `DELETE FROM room_affiliations WHERE app=? AND name=? AND account=?`, app, name, a.Account)
			return err
		case !exists && n >= max:
			return fmt.Errorf("room %s names %d accounts, the limit: %w", name, n, store.ErrLimit)
		}
		// local_account ties a local account's entry to its account
		// (migration 0021): NULL for an account of another domain
		var local any = a.Account
		if a.Remote {
			local = nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO room_affiliations(app,name,account,local_account,affiliation) VALUES (?,?,?,?,?)
			ON CONFLICT(app,name,account) DO UPDATE SET affiliation=excluded.affiliation, local_account=excluded.local_account`,
			app, name, a.Account, local, a.Affiliation)
		if s.d.IsForeignKey(err) {
			return fmt.Errorf("account %s: %w", a.Account, store.ErrNotFound)
		}
		return err
	})
}

func (s *DB) Affiliations(ctx context.Context, app, name string) ([]store.RoomAffiliation, error) {
	rows, err := s.query(ctx, `SELECT account,affiliation,local_account IS NULL FROM room_affiliations WHERE app=? AND name=? ORDER BY account`, app, name)
	return collect(rows, err, func(sc interface{ Scan(...any) error }) (store.RoomAffiliation, error) {
		var a store.RoomAffiliation
		return a, sc.Scan(&a.Account, &a.Affiliation, &a.Remote)
	})
}

func (s *DB) AppendRoomMessage(ctx context.Context, app, name string, m store.RoomMessage, maxCount, maxBytes int) error {
	return s.tx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO room_history(app,name,id,account,nick,body,sent) VALUES (?,?,?,?,?,?,?)`,
			app, name, m.ID, m.Account, m.Nick, m.Body, unix(m.Sent))
		if s.d.IsForeignKey(err) {
			return fmt.Errorf("room %s: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		// keep the newest messages within both bounds: the oldest kept is
		// the newest whose running total (newest first) is within them
		_, err = tx.ExecContext(ctx, `DELETE FROM room_history WHERE app=?1 AND name=?2 AND seq NOT IN (
				SELECT seq FROM (SELECT seq, SUM(`+s.d.OctetLength("body")+`) OVER (ORDER BY seq DESC) AS total,
					ROW_NUMBER() OVER (ORDER BY seq DESC) AS n
				FROM room_history WHERE app=?1 AND name=?2) AS kept WHERE n<=?3 AND total<=?4)`, app, name, maxCount, maxBytes)
		return err
	})
}

func (s *DB) RoomHistory(ctx context.Context, app, name string) ([]store.RoomMessage, error) {
	rows, err := s.query(ctx, `SELECT id,account,nick,body,sent FROM room_history WHERE app=? AND name=? ORDER BY seq`, app, name)
	return collect(rows, err, func(sc interface{ Scan(...any) error }) (store.RoomMessage, error) {
		var m store.RoomMessage
		var sent int64
		err := sc.Scan(&m.ID, &m.Account, &m.Nick, &m.Body, &sent)
		m.Sent = fromUnix(sent)
		return m, err
	})
}

// deleteRoomsOf removes, in a deletion of account, the rooms it owns (with
// their affiliations and history) and its affiliations elsewhere (those
// tied to it by local_account: a remote entry of the same address, which
// cannot be, would not be the account's): they also go by ON DELETE
// CASCADE, but only on connections with foreign_keys on.
func deleteRoomsOf(ctx context.Context, tx *Tx, account string) error {
	for _, q := range []string{
		`DELETE FROM room_history WHERE (app, name) IN (SELECT app, name FROM rooms WHERE owner=?1)`,
		`DELETE FROM room_affiliations WHERE local_account=?1 OR (app, name) IN (SELECT app, name FROM rooms WHERE owner=?1)`,
		`DELETE FROM rooms WHERE owner=?1`,
	} {
		if _, err := tx.ExecContext(ctx, q, account); err != nil {
			return err
		}
	}
	return nil
}
