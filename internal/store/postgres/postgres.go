// Package postgres is the store backend for clusters: several presenced
// nodes sharing one PostgreSQL database through pgx (pgxpool for the
// connection pool). The store itself is package sqlstore's, shared with
// package sqlite; this package says how PostgreSQL differs (its Dialect),
// opens the pool and runs the migrations.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a store.Store on PostgreSQL.
type DB = sqlstore.DB

// Advisory lock keys (pg_advisory_lock's bigint namespace is the
// database's: these are "presenced" in ASCII, plus one).
const (
	migrateLock   = 0x70726573656e6364 // held by the migrating node
	lifecycleLock = 0x70726573656e6365 // held by a transaction appending to the lifecycle log
)

// Dialect is PostgreSQL's: $N placeholders; SERIALIZABLE transactions
// (where SQLite relied on its single writer: limits counted then written,
// read-modify-write of a pair of relations), retried when they lose a
// serialisation conflict or a deadlock; the lifecycle log's ids drawn in
// commit order.
var Dialect = &sqlstore.Dialect{
	Name:          "postgres",
	Numbered:      true,
	Isolation:     sql.LevelSerializable,
	ReadIsolation: sql.LevelRepeatableRead,
	Retryable:     func(err error) bool { return hasCode(err, "40001", "40P01") },
	IsUnique:      func(err error) bool { return hasCode(err, "23505") },
	IsForeignKey:  func(err error) bool { return hasCode(err, "23503") },
	MapErr:        mapErr,
	Greatest:      "GREATEST",
	NoCase: func(col string) string {
		return "translate(" + col + ", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
	},
	OctetLength:     func(col string) string { return "octet_length(" + col + ")" },
	JSONArrayLength: func(col string) string { return "json_array_length(CAST(" + col + " AS json))" },
	Bytes:           "CAST(? AS BYTEA)",
	BeforeLog:       fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", lifecycleLock),
	AfterLog:        "NOTIFY " + lifecycleChannel,
}

func hasCode(err error, codes ...string) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	for _, c := range codes {
		if pe.Code == c {
			return true
		}
	}
	return false
}

// mapErr reports a server that cannot be reached, or went away, as
// store.ErrUnavailable, keeping the cause.
func mapErr(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) { // whatever the server said: no connection, no store
		return fmt.Errorf("postgres: %w: %w", store.ErrUnavailable, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exceptions; 57P01-03: the server shutting down or
		// starting; 53300: too many connections
		if strings.HasPrefix(pe.Code, "08") || hasCode(err, "57P01", "57P02", "57P03", "53300") {
			return fmt.Errorf("postgres: %w: %w", store.ErrUnavailable, err)
		}
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "closed pool") {
		return fmt.Errorf("postgres: %w: %w", store.ErrUnavailable, err)
	}
	return err
}

// DefaultMaxConns is the connection pool's size unless the connection
// string sets pool_max_conns: each node holds at most this many
// connections to the server.
const DefaultMaxConns = 16

// IsURL reports whether a --store value names a PostgreSQL database.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database at dsn (a postgres:// URL or a libpq
// keyword string; pool settings such as pool_max_conns may be given in it,
// see pgxpool.ParseConfig) and brings its schema up to date: several nodes
// starting at once migrate one at a time under an advisory lock.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad connection string: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 10 * time.Second
	}
	// pgxpool's default (4, or the number of CPUs) is for a client, not a
	// server with many sessions: pool_max_conns in dsn overrides this
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	// a connection found dead is replaced at the next acquire; a restarted
	// server is found again without a restart of presenced
	cfg.HealthCheckPeriod = 15 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", mapErr(err))
	}
	db := stdlib.OpenDBFromPool(pool)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		pool.Close()
		return nil, fmt.Errorf("postgres %s: %w", cfg.ConnConfig.Host, mapErr(err))
	}
	files, _ := fs.Sub(migrations, "migrations")
	lock := fmt.Sprintf("SELECT pg_advisory_lock(%d)", migrateLock)
	unlock := fmt.Sprintf("SELECT pg_advisory_unlock(%d)", migrateLock)
	if err := sqlstore.Migrate(ctx, db, Dialect, files, lock, unlock); err != nil {
		db.Close()
		pool.Close()
		return nil, mapErr(err)
	}
	s := sqlstore.New(db, Dialect, pool.Close)
	s.SetWatch(sqlstore.Watch{Listen: listener(cfg.ConnConfig.Copy())})
	return s, nil
}
