// Package sqlite is the embedded store backend: one SQLite file in WAL mode
// through the pure-Go modernc.org/sqlite driver, so the binary needs no cgo.
// The store itself is package sqlstore's, shared with package postgres.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"strings"

	"github.com/presenced/presenced/internal/store/sqlstore"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is a store.Store on SQLite.
type DB = sqlstore.DB

// Dialect is SQLite's: ? placeholders, one writer at a time (every
// transaction begins IMMEDIATE, so it never needs a retry), prepared
// statements cached.
var Dialect = &sqlstore.Dialect{
	Name:    "sqlite",
	Prepare: true,
	IsUnique: func(err error) bool {
		return err != nil && strings.Contains(err.Error(), "UNIQUE constraint")
	},
	IsForeignKey: func(err error) bool {
		return err != nil && strings.Contains(err.Error(), "FOREIGN KEY constraint")
	},
	Greatest:        "MAX",
	NoCase:          func(col string) string { return col + " COLLATE NOCASE" },
	OctetLength:     func(col string) string { return "LENGTH(CAST(" + col + " AS BLOB))" },
	JSONArrayLength: func(col string) string { return "json_array_length(" + col + ")" },
	Bytes:           "CAST(? AS BLOB)",
}

// maxConns bounds the pool; cacheKiB is each connection's page cache.
const (
	maxConns = 8
	cacheKiB = 256
)

// Open opens (creating if needed) the database file at path and brings its
// schema up to date. synchronous=FULL makes every committed write survive
// both a killed process and a power cut.
//
// The pool keeps its connections open while idle: database/sql's default
// of two idle connections out of maxConns made a burst of concurrent reads
// (a login storm) close and reopen connections, each reopened one reading
// the schema and preparing every cached statement again (7-9 % of a
// login's CPU). Each connection's page cache is small instead (cacheKiB):
// eight of SQLite's default 2 MiB each would stay resident for the
// process's life (at 2,000 idle XMPP sessions, 5-14 KiB more RSS per
// session), while the pages a small cache misses come from the system's
// file cache (about 3 % of a login; and in WAL mode a connection drops its
// whole cache anyway whenever another one committed).
func Open(ctx context.Context, path string) (*DB, error) {
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)", fmt.Sprintf("cache_size(-%d)", cacheKiB)} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate") // take the write lock at BEGIN: no upgrade deadlocks
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", path, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	files, _ := fs.Sub(migrations, "migrations")
	if err := sqlstore.Migrate(ctx, db, Dialect, files, "", ""); err != nil {
		db.Close()
		return nil, err
	}
	shm := newSHMHeader(shmPath(path))
	s := sqlstore.New(db, Dialect, shm.close)
	s.SetWatch(sqlstore.Watch{Stamp: shm.stamp})
	return s, nil
}

// shmPath is the -shm file of the database at path, as the driver opens
// it; "" when the path has characters a file: URI gives another meaning
// (the lifecycle watch then reads the log every interval).
func shmPath(path string) string {
	if strings.ContainsAny(path, "?#%") || strings.HasPrefix(path, ":memory:") {
		return ""
	}
	return path + "-shm"
}
