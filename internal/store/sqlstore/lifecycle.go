package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// logLifecycle appends a lifecycle event inside the change's transaction.
//
// Readers poll LifecycleSince(after) with the last id they saw, so ids must
// become visible in increasing order: a reader that saw id N must never
// later find a committed id below N. SQLite has one writer at a time, so ids
// increase in commit order by themselves. PostgreSQL's sequences do not:
// transaction A may take id 7, B id 8, and B commit first; a reader then
// sees 8, moves past it, and never sees 7. Dialect.BeforeLog closes that
// gap: on PostgreSQL it takes a transaction-scoped advisory lock before the
// id is drawn, held until commit or rollback, so the transactions that log
// take their ids one at a time in the order they commit. Lifecycle events
// are rare (deletions, password changes, revocations, and the user-made
// relationship, block, hide and invisibility changes), so this costs little:
// those edits are serialised across the processes for their commits.
func logLifecycle(ctx context.Context, tx *Tx, kind, account, tokenID string, rels []store.Relation) error {
	if tx.s.d.BeforeLog != "" {
		if _, err := tx.ExecContext(ctx, tx.s.d.BeforeLog); err != nil {
			return err
		}
	}
	relsJSON := ""
	if len(rels) > 0 {
		b, err := json.Marshal(rels)
		if err != nil {
			return err
		}
		relsJSON = string(b)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO lifecycle(kind,account,token_id,at,relations) VALUES(?,?,?,?,?)`, kind, account, tokenID, unix(time.Now()), relsJSON); err != nil {
		return err
	}
	if tx.s.d.AfterLog != "" {
		if _, err := tx.ExecContext(ctx, tx.s.d.AfterLog); err != nil {
			return err
		}
	}
	return nil
}

func (s *DB) LifecycleSince(ctx context.Context, after int64, max int) ([]store.LifecycleEvent, error) {
	rows, err := s.query(ctx, `SELECT id,kind,account,token_id,at,relations FROM lifecycle WHERE id>? ORDER BY id LIMIT ?`, after, limit(max))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.LifecycleEvent
	for rows.Next() {
		var ev store.LifecycleEvent
		var at int64
		var rels string
		if err := rows.Scan(&ev.ID, &ev.Kind, &ev.Account, &ev.TokenID, &at, &rels); err != nil {
			return nil, err
		}
		if rels != "" {
			if err := json.Unmarshal([]byte(rels), &ev.Relations); err != nil {
				return nil, fmt.Errorf("lifecycle event %d: relations: %w", ev.ID, err)
			}
		}
		ev.At = fromUnix(at)
		out = append(out, ev)
	}
	return out, rows.Err()
}

func (s *DB) LastLifecycleID(ctx context.Context) (int64, error) {
	var id int64
	err := s.queryRow(ctx, `SELECT COALESCE(MAX(id),0) FROM lifecycle`).Scan(&id)
	return id, err
}

func (s *DB) PruneLifecycle(ctx context.Context, before time.Time) (int, error) {
	// the newest event stays, so that LastLifecycleID never goes back
	res, err := s.exec(ctx, `DELETE FROM lifecycle WHERE at<? AND id<(SELECT MAX(id) FROM lifecycle)`, unix(before))
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}
