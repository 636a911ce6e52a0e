package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/presenced/presenced/internal/store/sqlstore"
)

// Tables are every table of the store, parents before the tables whose
// foreign keys name them: the order Import copies them in. Both schemas
// name their columns alike.
var Tables = []string{
	"accounts", "apps", "grants", "refresh_tokens", "tokens",
	"contact_seq", "contacts", "contact_books", "contact_tombstones",
	"relations", "blocks", "hidden", "personal_items", "lifecycle", "identities",
	"stored_messages", "archive", "archive_off",
	"rooms", "room_affiliations", "room_history", "push_subscriptions",
	"secrets", "oauth_requests",
}

// identities are the tables whose ids the database assigns, with their id
// column: after a copy their sequences must start above the copied ids.
var identities = map[string]string{"lifecycle": "id", "stored_messages": "seq", "archive": "seq", "room_history": "seq"}

// ErrNotEmpty is Import's error for a target that holds data already.
var ErrNotEmpty = errors.New("the target store is not empty")

// TableCount is how many rows Import copied into a table.
type TableCount struct {
	Table string
	Rows  int
}

// Import copies every row of every table of src (a SQLite store, which no
// server may be writing: the caller holds its data directory's lock) into
// dst, a PostgreSQL store that holds no data yet (else ErrNotEmpty, naming
// the first table with rows), in one transaction: a failure leaves dst as
// it was. Ids, positions and times are copied as they are, so tokens,
// sync positions, ETags and message ids given out before still hold; the
// sequences then continue above them.
func Import(ctx context.Context, dst *DB, src *sqlstore.DB) ([]TableCount, error) {
	if dst.Dialect() != Dialect {
		return nil, errors.New("import: the target is not a PostgreSQL store")
	}
	in, err := src.SQL().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("import: source: %w", err)
	}
	defer in.Rollback()
	out, err := dst.SQL().BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelSerializable})
	if err != nil {
		return nil, fmt.Errorf("import: target: %w", mapErr(err))
	}
	defer out.Rollback()
	// no other writer while the copy runs: nodes started on the target
	// meanwhile wait for it (their first write does), rather than mix in
	if _, err := out.ExecContext(ctx, `LOCK TABLE `+strings.Join(Tables, ", ")+` IN EXCLUSIVE MODE`); err != nil {
		return nil, fmt.Errorf("import: %w", mapErr(err))
	}
	for _, t := range Tables {
		q := `SELECT EXISTS(SELECT 1 FROM ` + t + `)`
		if t == "contact_seq" { // its one row is the counter, 1 when new
			q = `SELECT EXISTS(SELECT 1 FROM contact_seq WHERE n<>1)`
		}
		var rows bool
		if err := out.QueryRowContext(ctx, q).Scan(&rows); err != nil {
			return nil, fmt.Errorf("import: %s: %w", t, mapErr(err))
		}
		if rows {
			return nil, fmt.Errorf("%w: table %s has rows (import into a new, empty database)", ErrNotEmpty, t)
		}
	}
	var counts []TableCount
	for _, t := range Tables {
		n, err := copyTable(ctx, in, out, t)
		if err != nil {
			return nil, fmt.Errorf("import: %s: %w", t, mapErr(err))
		}
		counts = append(counts, TableCount{t, n})
	}
	for t, col := range identities {
		if _, err := out.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t+`', '`+col+`'),
			COALESCE((SELECT MAX(`+col+`) FROM `+t+`), 0) + 1, false)`); err != nil {
			return nil, fmt.Errorf("import: %s: %w", t, mapErr(err))
		}
	}
	if err := out.Commit(); err != nil {
		return nil, fmt.Errorf("import: %w", mapErr(err))
	}
	return counts, nil
}

// batch is how many rows one INSERT carries (at most 12 columns each:
// well under PostgreSQL's 65535 parameters).
const batch = 500

func copyTable(ctx context.Context, in, out *sql.Tx, table string) (int, error) {
	rows, err := in.QueryContext(ctx, `SELECT * FROM `+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	if table == "contact_seq" { // replace the new database's counter
		if _, err := out.ExecContext(ctx, `DELETE FROM contact_seq`); err != nil {
			return 0, err
		}
	}
	n := 0
	var args []any
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		var q strings.Builder
		q.WriteString(`INSERT INTO ` + table + ` (` + strings.Join(cols, ",") + `) VALUES `)
		for r := 0; r < len(args)/len(cols); r++ {
			if r > 0 {
				q.WriteByte(',')
			}
			q.WriteByte('(')
			for c := range cols {
				if c > 0 {
					q.WriteByte(',')
				}
				fmt.Fprintf(&q, "$%d", r*len(cols)+c+1)
			}
			q.WriteByte(')')
		}
		_, err := out.ExecContext(ctx, q.String(), args...)
		args = args[:0]
		return err
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return 0, err
		}
		args = append(args, vals...)
		n++
		if n%batch == 0 {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	return n, flush()
}
