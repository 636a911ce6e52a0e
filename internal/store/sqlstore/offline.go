package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// Offline delivery and history (store/offline.go; migration 0016).

func (s *DB) PutStored(ctx context.Context, m store.StoredMessage, lim store.StoredLimits) (seq int64, stored bool, err error) {
	err = s.tx(ctx, func(tx *Tx) error {
		if m.ID != "" {
			err := tx.QueryRowContext(ctx, `SELECT seq FROM stored_messages WHERE account=? AND sender=? AND id=? AND body=? AND payload=?`,
				m.Account, m.Sender, m.ID, m.Body, m.Payload).Scan(&seq)
			if err == nil {
				return nil // a duplicate: the one stored stands
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		var exists bool
		var n, size int
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM accounts WHERE address=?1),
			(SELECT COUNT(*) FROM stored_messages WHERE account=?1), (SELECT CAST(COALESCE(SUM(size),0) AS BIGINT) FROM stored_messages WHERE account=?1)`,
			m.Account).Scan(&exists, &n, &size); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("account %s: %w", m.Account, store.ErrNotFound)
		}
		if lim.Count > 0 && n+1 > lim.Count || lim.Bytes > 0 && size+m.Size() > lim.Bytes {
			return fmt.Errorf("%s holds %d stored messages of %d bytes: %w", m.Account, n, size, store.ErrLimit)
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO stored_messages (account,sender,sender_from,id,type,body,payload,size,sent,expires)
			VALUES (?,?,?,?,?,?,?,?,?,?) RETURNING seq`, m.Account, m.Sender, m.From, m.ID, m.Type, m.Body, m.Payload, m.Size(),
			unix(m.Sent), unix(m.Expires)).Scan(&seq)
		stored = err == nil
		return err
	})
	return seq, stored, err
}

func (s *DB) StoredFor(ctx context.Context, account string, now time.Time, n int) ([]store.StoredMessage, error) {
	rows, err := s.query(ctx, `SELECT seq,account,sender,sender_from,id,type,body,payload,sent,expires FROM stored_messages
		WHERE account=? AND (expires=0 OR expires>?) ORDER BY seq LIMIT ?`, account, unix(now), limit(n))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.StoredMessage
	for rows.Next() {
		var m store.StoredMessage
		var sent, expires int64
		if err := rows.Scan(&m.Seq, &m.Account, &m.Sender, &m.From, &m.ID, &m.Type, &m.Body, &m.Payload, &sent, &expires); err != nil {
			return nil, err
		}
		m.Sent, m.Expires = fromUnix(sent), fromUnix(expires)
		out = append(out, m)
	}
	return out, rows.Err()
}

func (s *DB) DeleteStored(ctx context.Context, account string, seqs []int64) (int, error) {
	if len(seqs) == 0 {
		return 0, nil
	}
	args := []any{account}
	for _, q := range seqs {
		args = append(args, q)
	}
	res, err := s.exec(ctx, `DELETE FROM stored_messages WHERE account=? AND seq IN (?`+strings.Repeat(",?", len(seqs)-1)+`)`, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (s *DB) DeleteExpiredStored(ctx context.Context, now time.Time) (int, error) {
	res, err := s.exec(ctx, `DELETE FROM stored_messages WHERE expires<>0 AND expires<=?`, unix(now))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (s *DB) ArchiveMessages(ctx context.Context, ms []store.ArchivedMessage, maxPerOwner int) error {
	if len(ms) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *Tx) error {
		for _, m := range ms {
			res, err := tx.ExecContext(ctx, `INSERT INTO archive (owner,peer,outgoing,sender_from,recipient,id,type,body,sent)
				SELECT ?1,?2,CAST(?3 AS BIGINT),?4,?5,?6,?7,?8,CAST(?9 AS BIGINT) WHERE EXISTS(SELECT 1 FROM accounts WHERE address=?1)
				AND NOT EXISTS(SELECT 1 FROM archive_off WHERE owner=?1)`,
				m.Owner, m.With, m.Outgoing, m.From, m.To, m.ID, m.Type, m.Body, unix(m.Sent))
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n > 0 && maxPerOwner > 0 {
				if _, err := tx.ExecContext(ctx, `DELETE FROM archive WHERE owner=?1 AND seq <=
					(SELECT seq FROM archive WHERE owner=?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)`, m.Owner, maxPerOwner); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (s *DB) QueryArchive(ctx context.Context, owner string, q store.ArchiveQuery) ([]store.ArchivedMessage, bool, error) {
	where := []string{"owner=?"}
	args := []any{owner}
	if q.With != "" {
		where, args = append(where, "peer=?"), append(args, q.With)
	}
	if !q.Start.IsZero() {
		where, args = append(where, "sent>=?"), append(args, unix(q.Start))
	}
	if !q.End.IsZero() {
		where, args = append(where, "sent<=?"), append(args, unix(q.End))
	}
	if q.After > 0 {
		where, args = append(where, "seq>?"), append(args, q.After)
	}
	if q.Before > 0 {
		where, args = append(where, "seq<?"), append(args, q.Before)
	}
	backwards := q.Last || q.Before > 0
	order := "ASC"
	if backwards {
		order = "DESC"
	}
	max := q.Max
	if max <= 0 {
		max = 1
	}
	rows, err := s.query(ctx, `SELECT seq,owner,peer,outgoing,sender_from,recipient,id,type,body,sent FROM archive WHERE `+
		strings.Join(where, " AND ")+` ORDER BY seq `+order+` LIMIT ?`, append(args, max+1)...)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []store.ArchivedMessage
	for rows.Next() {
		var m store.ArchivedMessage
		var sent int64
		if err := rows.Scan(&m.Seq, &m.Owner, &m.With, &m.Outgoing, &m.From, &m.To, &m.ID, &m.Type, &m.Body, &sent); err != nil {
			return nil, false, err
		}
		m.Sent = fromUnix(sent)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	complete := len(out) <= max
	if !complete {
		out = out[:max]
	}
	if backwards {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, complete, nil
}

func (s *DB) EraseArchive(ctx context.Context, owner string) (int, error) {
	res, err := s.exec(ctx, `DELETE FROM archive WHERE owner=?`, owner)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (s *DB) DeleteArchivedBefore(ctx context.Context, t time.Time) (int, error) {
	res, err := s.exec(ctx, `DELETE FROM archive WHERE sent<?`, unix(t))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

func (s *DB) SetArchiving(ctx context.Context, owner string, on bool) error {
	return s.tx(ctx, func(tx *Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS(SELECT 1 FROM accounts WHERE address=?)`, owner).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return fmt.Errorf("account %s: %w", owner, store.ErrNotFound)
		}
		q := `DELETE FROM archive_off WHERE owner=?`
		if !on {
			q = `INSERT INTO archive_off (owner) VALUES (?) ON CONFLICT DO NOTHING`
		}
		_, err := tx.ExecContext(ctx, q, owner)
		return err
	})
}

func (s *DB) Archiving(ctx context.Context, owner string) (bool, error) {
	var off bool
	err := s.queryRow(ctx, `SELECT EXISTS(SELECT 1 FROM archive_off WHERE owner=?)`, owner).Scan(&off)
	return !off, err
}
