package sqlstore

import (
	"context"
	"database/sql"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// Dialect is what one SQL engine does differently.
type Dialect struct {
	Name string
	// Numbered: placeholders are $1, $2 … (PostgreSQL); the shared SQL is
	// written with SQLite's ? and ?N and rewritten once per query.
	Numbered bool
	// Prepare caches prepared statements in DB (SQLite, where parsing cost
	// more than running; pgx caches them per connection by itself).
	Prepare bool
	// Isolation of every transaction; a transaction that failed with an
	// error for which Retryable (if set) is true runs again.
	Isolation sql.IsolationLevel
	Retryable func(error) bool
	// ReadIsolation is that of a read of several queries that must see
	// one state (DB.read): SQLite's transactions always do; PostgreSQL's
	// need REPEATABLE READ (READ COMMITTED takes a snapshot per query).
	ReadIsolation sql.IsolationLevel
	// IsUnique and IsForeignKey recognise constraint violations.
	IsUnique, IsForeignKey func(error) bool
	// MapErr turns an engine's error into a store error where one applies
	// (an unreachable server into store.ErrUnavailable); nil: none.
	MapErr func(error) error
	// Greatest is the scalar maximum of two values ("MAX", "GREATEST").
	Greatest string
	// NoCase orders a text column ASCII-case-insensitively, then byte-wise
	// (SQLite's COLLATE NOCASE).
	NoCase func(col string) string
	// OctetLength is the length in bytes of a text column.
	OctetLength func(col string) string
	// JSONArrayLength is the length of a JSON array held as text.
	JSONArrayLength func(col string) string
	// Bytes is a placeholder typed as binary, for a SELECT list.
	Bytes string
	// BeforeLog runs in a transaction before it appends to the lifecycle
	// log ("" for nothing): see logLifecycle.
	BeforeLog string
	// AfterLog runs in that transaction after it appended to the log:
	// PostgreSQL's NOTIFY, which the watching nodes hear on commit.
	AfterLog string
}

// DB is a store.Store on a database/sql handle of one Dialect.
type DB struct {
	db      *sql.DB
	d       *Dialect
	onClose func() // after db is closed (a pool under it)

	watch Watch // how WatchLifecycle learns of changes (watch.go)

	mu    sync.Mutex
	stmts map[string]*sql.Stmt // prepared once (Dialect.Prepare)
	bound sync.Map             // query → query with numbered placeholders
}

var _ store.Store = (*DB)(nil)

// New returns the store on db, whose schema the caller brought up to date;
// onClose, if not nil, runs when the store is closed, after db.
func New(db *sql.DB, d *Dialect, onClose func()) *DB { return &DB{db: db, d: d, onClose: onClose} }

// SQL is the database handle, for the backends' own tools and tests.
func (s *DB) SQL() *sql.DB { return s.db }

// Ping reports whether the database answers (for /readyz): a server
// that cannot be reached is store.ErrUnavailable.
func (s *DB) Ping(ctx context.Context) error { return s.mapErr(s.db.PingContext(ctx)) }

// Dialect is the dialect the store speaks.
func (s *DB) Dialect() *Dialect { return s.d }

func (s *DB) Close() error {
	s.mu.Lock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.stmts = nil
	s.mu.Unlock()
	err := s.db.Close()
	if s.onClose != nil {
		s.onClose()
	}
	return err
}

// maxStmts bounds the statement cache (queries with a variable number of
// parameters come in a few sizes).
const maxStmts = 128

// prepared returns the cached statement for q, preparing it once; nil
// (and the caller runs q directly) when the cache is full or the dialect
// does not cache. The cache's lock is not held while preparing, which
// takes a connection from the pool: a read transaction holding a
// connection may be waiting for the lock (readTx), and with every
// connection so held, none would come.
func (s *DB) prepared(ctx context.Context, q string) (*sql.Stmt, error) {
	if !s.d.Prepare {
		return nil, nil
	}
	s.mu.Lock()
	st, ok := s.stmts[q]
	full := len(s.stmts) >= maxStmts
	s.mu.Unlock()
	if ok || full {
		return st, nil
	}
	st, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if held, ok := s.stmts[q]; ok { // prepared meanwhile by another caller
		st.Close()
		return held, nil
	}
	if len(s.stmts) >= maxStmts {
		st.Close()
		return nil, nil
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[q] = st
	return st, nil
}

// cached returns the statement prepared for q, if any, without preparing.
func (s *DB) cached(q string) *sql.Stmt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stmts[q]
}

func (s *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q, args = s.bind(q, args)
	st, err := s.prepared(ctx, q)
	var rows *sql.Rows
	if err != nil || st == nil {
		rows, err = s.db.QueryContext(ctx, q, args...)
	} else {
		rows, err = st.QueryContext(ctx, args...)
	}
	return rows, s.mapErr(err)
}

func (s *DB) queryRow(ctx context.Context, q string, args ...any) Row {
	q, args = s.bind(q, args)
	st, err := s.prepared(ctx, q)
	if err != nil || st == nil {
		return Row{s.db.QueryRowContext(ctx, q, args...), s}
	}
	return Row{st.QueryRowContext(ctx, args...), s}
}

func (s *DB) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	q, args = s.bind(q, args)
	st, err := s.prepared(ctx, q)
	var res sql.Result
	if err != nil || st == nil {
		res, err = s.db.ExecContext(ctx, q, args...)
	} else {
		res, err = st.ExecContext(ctx, args...)
	}
	return res, s.mapErr(err)
}

// Row is a *sql.Row whose Scan reports errors as the store does.
type Row struct {
	r *sql.Row
	s *DB
}

func (r Row) Scan(dest ...any) error { return r.s.mapErr(r.r.Scan(dest...)) }

func (s *DB) mapErr(err error) error {
	if err == nil || err == sql.ErrNoRows || s.d.MapErr == nil {
		return err
	}
	return s.d.MapErr(err)
}

// Tx is a transaction speaking the shared SQL.
type Tx struct {
	tx *sql.Tx
	s  *DB
}

func (t *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	q, args = t.s.bind(q, args)
	return t.tx.ExecContext(ctx, q, args...)
}

func (t *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q, args = t.s.bind(q, args)
	return t.tx.QueryContext(ctx, q, args...)
}

func (t *Tx) QueryRowContext(ctx context.Context, q string, args ...any) Row {
	q, args = t.s.bind(q, args)
	return Row{t.tx.QueryRowContext(ctx, q, args...), t.s}
}

// tx runs f in a transaction of the dialect's isolation, again while it
// fails with a retryable error (a serialisation failure): f must depend
// only on what it reads, and set its results only from its last run.
func (s *DB) tx(ctx context.Context, f func(*Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := s.tx1(ctx, f)
		if err == nil || s.d.Retryable == nil || !s.d.Retryable(err) || attempt >= maxAttempts || ctx.Err() != nil {
			return s.mapErr(err)
		}
		// Transactions that collided would collide again if they all
		// retried at once: each waits a random while, longer each time.
		wait := time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return s.mapErr(err)
		}
	}
}

// maxAttempts bounds the retries of a transaction that keeps losing (the
// waits between them add up to about 2.5 s at most).
const maxAttempts = 50

func (s *DB) tx1(ctx context.Context, f func(*Tx) error) error {
	var opts *sql.TxOptions
	if s.d.Isolation != sql.LevelDefault {
		opts = &sql.TxOptions{Isolation: s.d.Isolation}
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := f(&Tx{tx, s}); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// bind rewrites q's placeholders for a dialect that numbers them, and
// passes flags as the 0/1 integers the schemas store.
func (s *DB) bind(q string, args []any) (string, []any) {
	if !s.d.Numbered {
		return q, args
	}
	copied := false
	for i, a := range args {
		if b, ok := a.(bool); ok {
			if !copied { // the caller's slice stays as it was
				args, copied = append([]any(nil), args...), true
			}
			if args[i] = int64(0); b {
				args[i] = int64(1)
			}
		}
	}
	if b, ok := s.bound.Load(q); ok {
		return b.(string), args
	}
	b := Number(q)
	s.bound.Store(q, b)
	return b, args
}

// limit is a LIMIT's argument: a negative n means no limit, as in SQLite
// (PostgreSQL refuses a negative LIMIT).
func limit(n int) int64 {
	if n < 0 {
		return math.MaxInt64
	}
	return int64(n)
}

// Number rewrites SQLite's placeholders (? and ?N) as PostgreSQL's ($N),
// numbering a bare ? as SQLite does: one above the highest so far. Quoted
// text is left alone.
func Number(q string) string {
	var b strings.Builder
	high := 0
	quoted := false
	for i := 0; i < len(q); i++ {
		c := q[i]
		if c == '\'' {
			quoted = !quoted
		}
		if c != '?' || quoted {
			b.WriteByte(c)
			continue
		}
		j := i + 1
		for j < len(q) && q[j] >= '0' && q[j] <= '9' {
			j++
		}
		n := high + 1
		if j > i+1 {
			n, _ = strconv.Atoi(q[i+1 : j])
		}
		high = max(high, n)
		b.WriteString("$" + strconv.Itoa(n))
		i = j - 1
	}
	return b.String()
}

// IndexedQueries are queries that must be answered from an index, not by
// reading a whole table: deleting an account (the lists naming it), the
// cards with one presence address (an XMPP roster push), the revocations
// of grants, apps and refresh families, an account's linked identities and
// the accounts that granted an app. Each backend's tests check its plans.
func IndexedQueries(d *Dialect) []string {
	return []string{
		`DELETE FROM blocks WHERE blocker=?1 OR blocked=?1`,
		`DELETE FROM hidden WHERE subject=?1 OR viewer=?1`,
		`DELETE FROM relations WHERE subject=?1 OR viewer=?1`,
		`SELECT ` + contactCols + ` FROM contacts WHERE owner=?1 AND address=?1 ORDER BY ` + d.NoCase("name") + `, id`,
		// revoking a grant, an app, a refresh family; an owner's apps
		`DELETE FROM tokens WHERE app=?1 AND account=?1 AND app<>'' RETURNING account, id`,
		`DELETE FROM tokens WHERE family=?1 RETURNING account, id`,
		`DELETE FROM tokens WHERE app<>'' AND app IN (SELECT id FROM apps WHERE owner=?1) RETURNING account, id`,
		`DELETE FROM refresh_tokens WHERE app IN (SELECT id FROM apps WHERE id=?1)`,
		`DELETE FROM refresh_tokens WHERE account=?1 AND app=?1`,
		`DELETE FROM refresh_tokens WHERE account=?1`,
		`DELETE FROM refresh_tokens WHERE family=?1`,
		`DELETE FROM grants WHERE app IN (SELECT id FROM apps WHERE owner=?1)`,
		`DELETE FROM grants WHERE account=?1`,
		`SELECT COALESCE(SUM(` + d.JSONArrayLength("picked") + `),0) FROM grants WHERE account=?1 AND app<>?1`,
		// linked identities: deleting an account's, listing them, and the
		// accounts that granted an app (the token exchange)
		`DELETE FROM identities WHERE account=?1`,
		`SELECT ` + identityCols + ` FROM identities WHERE account=?1 ORDER BY created_at, issuer, subject`,
		`SELECT account FROM grants WHERE app=?1 ORDER BY account`,
		// what a login reads (FactsOf): its relations with who approved it,
		// and the personal items it is shown
		relationsFactsSQL,
		itemsSeenBySQL,
	}
}
