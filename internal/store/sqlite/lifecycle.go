package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// logLifecycle appends a lifecycle event inside the change's transaction.
// SQLite has one writer at a time, so ids increase in commit order: a
// reader polling LifecycleSince never skips one. (PostgreSQL will need more:
// sequence values can commit out of order.)
func logLifecycle(ctx context.Context, tx *sql.Tx, kind, account, tokenID string, rels []store.Relation) error {
	relsJSON := ""
	if len(rels) > 0 {
		b, err := json.Marshal(rels)
		if err != nil {
			return err
		}
		relsJSON = string(b)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO lifecycle(kind,account,token_id,at,relations) VALUES(?,?,?,?,?)`, kind, account, tokenID, unix(time.Now()), relsJSON)
	return err
}

func (s *DB) LifecycleSince(ctx context.Context, after int64, limit int) ([]store.LifecycleEvent, error) {
	rows, err := s.query(ctx, `SELECT id,kind,account,token_id,at,relations FROM lifecycle WHERE id>? ORDER BY id LIMIT ?`, after, limit)
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
