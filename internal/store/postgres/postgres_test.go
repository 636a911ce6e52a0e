package postgres

import (
	"context"
	"database/sql"
	"github.com/presenced/presenced/internal/store/sqlstore"
	"io/fs"
	"testing"

	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/postgres/pgtest"
	"github.com/presenced/presenced/internal/store/storetest"
)

func open(t *testing.T, dsn string) *DB {
	t.Helper()
	db, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformance(t *testing.T) {
	pgtest.AdminDSN(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		t.Parallel() // each test has a database of its own
		return open(t, pgtest.DSN(t))
	})
}

// TestRemoteAffiliationsUpgrade: migration 0003 on a store made before it.
func TestRemoteAffiliationsUpgrade(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	raw, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	files, _ := fs.Sub(migrations, "migrations")
	if err := sqlstore.Migrate(ctx, raw, Dialect, storetest.Before(t, files, 3), "", ""); err != nil {
		t.Fatal(err)
	}
	insert := func(app, name, account, aff string) error {
		_, err := raw.ExecContext(ctx, `INSERT INTO room_affiliations(app,name,account,affiliation) VALUES ($1,$2,$3,$4)`, app, name, account, aff)
		return err
	}
	storetest.RemoteAffiliationsUpgrade(t, sqlstore.New(raw, Dialect, nil), insert, func() store.Store { return open(t, dsn) })
}

// TestWatch: a change logged through another pool on the database (as
// another node would) is signalled to a watch, by its notification.
func TestWatch(t *testing.T) {
	t.Parallel()
	storetest.RunWatch(t, func(t *testing.T) (store.Store, store.Store) {
		dsn := pgtest.DSN(t)
		return open(t, dsn), open(t, dsn)
	})
}
