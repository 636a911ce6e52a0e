package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlstore"
	"github.com/presenced/presenced/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func TestReopenKeepsSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	ctx := context.Background()
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAccount(ctx, store.Account{Address: "a@x", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(ctx, path) // migrations must not run twice
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.GetAccount(ctx, "a@x"); err != nil {
		t.Fatal(err)
	}
}

// TestDeleteAccountUsesIndexes checks that deleting an account reads the
// lists naming it through an index, not by scanning the tables; and so do
// the lookup of the cards with one address (an XMPP roster push) and the
// revocations of grants, apps and refresh families.
func TestDeleteAccountUsesIndexes(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range sqlstore.IndexedQueries(Dialect) {
		rows, err := db.SQL().Query(`EXPLAIN QUERY PLAN `+q, "a@x")
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, d := range plan {
			if strings.HasPrefix(d, "SCAN") {
				t.Errorf("%s: plan %q scans", q, plan)
			}
		}
		// the primary key (owner, id) would not scan either, but read the whole address book
		if strings.Contains(q, "FROM contacts") && strings.Contains(q, "address=") && !strings.Contains(strings.Join(plan, "\n"), "contacts_address") {
			t.Errorf("%s: plan %q reads every card of the owner", q, plan)
		}
	}
}

// TestMigrationsFillGaps: a migration numbered below the highest one
// recorded (a branch merged after a later-numbered one) still runs.
func TestMigrationsFillGaps(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "g.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TABLE room_history`, `DROP TABLE room_affiliations`, `DROP TABLE rooms`, `DELETE FROM schema_migrations WHERE version=17`} {
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	db, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ListRooms(ctx, "", 1); err != nil {
		t.Fatalf("migration 17 did not run again: %v", err)
	}
}

// TestRemoteAffiliationsUpgrade: migration 0021 on a store made before it.
func TestRemoteAffiliationsUpgrade(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "u.db")
	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := fs.Sub(migrations, "migrations")
	if err := sqlstore.Migrate(ctx, raw, Dialect, storetest.Before(t, files, 21), "", ""); err != nil {
		t.Fatal(err)
	}
	insert := func(app, name, account, aff string) error {
		_, err := raw.ExecContext(ctx, `INSERT INTO room_affiliations(app,name,account,affiliation) VALUES (?,?,?,?)`, app, name, account, aff)
		return err
	}
	storetest.RemoteAffiliationsUpgrade(t, sqlstore.New(raw, Dialect, nil), insert, func() store.Store {
		raw.Close()
		db, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

// coldStore is a new store holding the account a@x, whose statement cache
// is empty.
func coldStore(t *testing.T) *DB {
	t.Helper()
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateAccount(ctx, store.Account{Address: "a@x", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestReadOnTheLastConnection: a read of several queries (FactsOf, a
// login's) on a store that has prepared none of their statements yet ends
// when it holds the pool's last free connection. Preparing a statement for
// the store's cache takes a connection of its own: a read that did so while
// holding one waited for as long as every other was in use, and with each
// of them held by such a read, forever.
func TestReadOnTheLastConnection(t *testing.T) {
	ctx := context.Background()
	db := coldStore(t)
	for range maxConns - 1 { // every connection but one, held
		tx, err := db.SQL().BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
	}
	done := make(chan error, 1)
	go func() {
		_, err := db.FactsOf(ctx, "a@x")
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // a hang guard: it ends at once, or never
		t.Fatal("a read on the last free connection never ended")
	}
}

// TestConcurrentReadsOnAColdStore: many more callers than the pool has
// connections, mixing reads of several queries in a transaction (FactsOf)
// with single queries (RelationsOf, PrivacyLists …), on a store whose
// statement cache starts empty, all end: a login storm on a server just
// started. A caller preparing a statement while holding the cache's lock,
// waiting for a connection that every read transaction held while waiting
// for that lock, hung them all.
func TestConcurrentReadsOnAColdStore(t *testing.T) {
	ctx := context.Background()
	db := coldStore(t)
	const callers = 8 * maxConns
	errs := make(chan error, callers)
	start := make(chan struct{})
	for i := range callers {
		go func() {
			<-start
			var err error
			for j := range 10 {
				switch (i + j) % 4 {
				case 0:
					_, err = db.RelationsOf(ctx, "a@x")
				case 1:
					_, _, err = db.PrivacyLists(ctx, "a@x")
				case 2:
					_, err = db.ApprovedBy(ctx, "a@x")
				default:
					_, err = db.FactsOf(ctx, "a@x")
				}
				if err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	close(start)
	for range callers {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(time.Minute): // a hang guard: they end at once, or never
			t.Fatal("concurrent reads on a cold store never ended")
		}
	}
}

// TestWatch: a change made through another handle on the file (as the CLI
// or another process would) is signalled to a watch.
func TestWatch(t *testing.T) {
	storetest.RunWatch(t, func(t *testing.T) (store.Store, store.Store) {
		path := filepath.Join(t.TempDir(), "p.db")
		return openAt(t, path), openAt(t, path)
	})
}

// TestWatchLooksAtTheHeader: the watch's stamp (the -shm file's
// WAL-index header) stays the same while nothing commits, reads included,
// and moves on every commit by another handle; a path the driver reads as
// a URI has no stamp (the watch then reads the log every interval).
func TestWatchLooksAtTheHeader(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "p.db")
	a, b := openAt(t, path), openAt(t, path)
	shm := newSHMHeader(shmPath(path))
	defer shm.close()
	before := shm.stamp(nil)
	if before == nil {
		t.Skip("the -shm file cannot be mapped on this system")
	}
	for i := 0; i < 3; i++ {
		if _, err := a.LastLifecycleID(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := b.LifecycleSince(ctx, 0, 10); err != nil {
			t.Fatal(err)
		}
		if now := shm.stamp(nil); string(now) != string(before) {
			t.Fatalf("read %d moved the stamp", i)
		}
	}
	for i := 0; i < 3; i++ {
		if err := b.CreateAccount(ctx, store.Account{Address: fmt.Sprintf("a%d@x", i), PasswordHash: "h"}); err != nil {
			t.Fatal(err)
		}
		now := shm.stamp(nil)
		if string(now) == string(before) {
			t.Fatalf("commit %d did not move the stamp", i)
		}
		before = now
	}
	if shmPath(filepath.Join(t.TempDir(), "a%20b.db")) != "" {
		t.Fatal("a path with a URI escape has a -shm path")
	}
}

func openAt(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
