package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/postgres/pgtest"
	"github.com/presenced/presenced/internal/store/sqlstore"
)

// TestMigrationsConcurrentStart: nodes starting at once on an empty
// database all come up, and every migration ran once.
func TestMigrationsConcurrentStart(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	const nodes = 6
	var wg sync.WaitGroup
	dbs := make([]*DB, nodes)
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dbs[i], errs[i] = Open(context.Background(), dsn)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		t.Cleanup(func() { dbs[i].Close() })
	}
	var n, distinct int
	if err := dbs[0].SQL().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations`).Scan(&n, &distinct); err != nil {
		t.Fatal(err)
	}
	files, _ := migrations.ReadDir("migrations")
	if n != len(files) || distinct != len(files) {
		t.Fatalf("schema_migrations holds %d rows (%d versions), want %d", n, distinct, len(files))
	}
	ctx := context.Background()
	if err := dbs[1].CreateAccount(ctx, store.Account{Address: "a@x", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	if _, err := dbs[nodes-1].GetAccount(ctx, "a@x"); err != nil {
		t.Fatal(err)
	}
}

// TestReopenKeepsSchema: migrations do not run twice.
func TestReopenKeepsSchema(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	db := open(t, dsn)
	if err := db.CreateAccount(ctx, store.Account{Address: "a@x", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = open(t, dsn)
	if _, err := db.GetAccount(ctx, "a@x"); err != nil {
		t.Fatal(err)
	}
}

// TestUnavailable: with the server unreachable, opening and every call
// fail with store.ErrUnavailable, and none panics; when it is back, calls
// succeed again without reopening.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// nothing listens on port 1
	if _, err := Open(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=5"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open of an unreachable server: %v, want ErrUnavailable", err)
	}
	if _, err := Open(ctx, "postgres://%zz"); err == nil || errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Open of a malformed URL: %v, want a plain error", err)
	}

	dsn := pgtest.DSN(t)
	db := open(t, dsn)
	if err := db.CreateAccount(ctx, store.Account{Address: "a@x", PasswordHash: "h"}); err != nil {
		t.Fatal(err)
	}
	// the database refuses connections and ends those it has: as far as
	// the store can tell, the server is down
	name := pgtest.Name(t, dsn)
	admin := pgtest.AdminDSN(t)
	pgtest.Exec(t, admin, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`)
	pgtest.Exec(t, admin, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname='`+name+`' AND pid<>pg_backend_pid()`)
	calls := map[string]func() error{
		"GetAccount":   func() error { _, err := db.GetAccount(ctx, "a@x"); return err },
		"ListAccounts": func() error { _, err := db.ListAccounts(ctx); return err },
		"CreateAccount": func() error {
			return db.CreateAccount(ctx, store.Account{Address: "b@x", PasswordHash: "h"})
		},
		"SetCredentials (a transaction)": func() error { return db.SetCredentials(ctx, "a@x", "h2", nil) },
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s while down: %v, want ErrUnavailable", name, err)
		}
	}
	pgtest.Exec(t, admin, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`)
	if err := db.SetCredentials(ctx, "a@x", "h2", nil); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	if _, err := db.GetAccount(ctx, "b@x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a write that failed in the outage was stored: %v", err)
	}
}

func TestNumber(t *testing.T) {
	for q, want := range map[string]string{
		`SELECT a FROM t WHERE x=? AND y=?`:        `SELECT a FROM t WHERE x=$1 AND y=$2`,
		`SELECT ?1, ?2 WHERE a=?1 OR b=?2`:         `SELECT $1, $2 WHERE a=$1 OR b=$2`,
		`SELECT ?2, ? WHERE c='?'`:                 `SELECT $2, $3 WHERE c='?'`,
		`x IN (?` + strings.Repeat(",?", 10) + `)`: `x IN ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`,
	} {
		if got := sqlstore.Number(q); got != want {
			t.Errorf("Number(%q) = %q, want %q", q, got, want)
		}
	}
}

// TestIndexedQueries: with sequential scans made as costly as the planner
// allows, the queries that must use an index have a plan without a
// sequential scan and without an index read whole with a filter, and the
// cards with one address are read through contacts_address, not the whole
// address book. What it cannot see: PostgreSQL also answers a condition on
// the second column of a two-column index (blocks' primary key for
// blocked=) by reading that whole index, shown as an index condition, so
// dropping blocks_blocked, hidden_viewer, relations_viewer or grants_app
// goes unnoticed here (dropping tokens_family, tokens_app, contacts_address,
// identities_account or refresh_tokens_grant fails it).
func TestIndexedQueries(t *testing.T) {
	t.Parallel()
	db := open(t, pgtest.DSN(t))
	ctx := context.Background()
	// tables of some size, and statistics: on empty tables the planner's
	// choices mean nothing
	for _, q := range []string{
		`INSERT INTO accounts(address,password_hash,created_at) VALUES ('a@x','h',0)`,
		`INSERT INTO contacts(id,owner,name,emails,phones,notes,groups_,address,version,updated,seq)
			SELECT 'c'||i, 'a@x', 'n'||i, '[]', '[]', '', '[]', 'p'||i||'@x', i, 0, i FROM generate_series(1, 2000) AS i`,
		`INSERT INTO accounts(address,password_hash,created_at) SELECT 'u'||i||'@x', 'h', 0 FROM generate_series(1, 2000) AS i`,
		`INSERT INTO apps(id,name,owner,redirect_uris,scopes,logo,description,public,created_at)
			SELECT 'app'||i, 'n', 'u'||i||'@x', '[]', '[]', '', '', 1, 0 FROM generate_series(1, 2000) AS i`,
		`INSERT INTO grants(account,app,scopes,contacts,group_,picked,addresses,hidden,private,created_at,updated_at,expires_at)
			SELECT 'u'||i||'@x', 'app'||i, '[]', 'none', '', '[]', 0, 0, 0, 0, 0, 0 FROM generate_series(1, 2000) AS i`,
		`INSERT INTO tokens(id,hash,account,label,created_at,expires_at,app,family)
			SELECT 't'||i, decode(md5(i::text), 'hex'), 'u'||i||'@x', '', 0, 0, 'app'||i, 'f'||i FROM generate_series(1, 2000) AS i`,
		`INSERT INTO refresh_tokens(id,hash,family,account,app,scopes,auth_time,created_at,expires_at,used)
			SELECT 'r'||i, decode(md5(i::text), 'hex'), 'f'||i, 'u'||i||'@x', 'app'||i, '[]', 0, 0, 0, 0 FROM generate_series(1, 2000) AS i`,
		`INSERT INTO identities(issuer,subject,account,email,created_at) SELECT 'https://id', 's'||i, 'u'||i||'@x', '', 0 FROM generate_series(1, 2000) AS i`,
		`INSERT INTO blocks(blocker,blocked) SELECT 'u'||i||'@x', 'u'||(i+1)||'@x' FROM generate_series(1, 2000) AS i`,
		`INSERT INTO hidden(subject,viewer) SELECT 'u'||i||'@x', 'u'||(i+1)||'@x' FROM generate_series(1, 2000) AS i`,
		`INSERT INTO relations(subject,viewer,state,preapproved) SELECT 'u'||i||'@x', 'u'||(i+1)||'@x', 2, 0 FROM generate_series(1, 2000) AS i`,
		`INSERT INTO personal_items(account,topic,item_id,data,published) SELECT 'u'||i||'@x', 'mood', 'x', '{}', 0 FROM generate_series(1, 2000) AS i`,
		`ANALYZE`,
	} {
		if _, err := db.SQL().ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	for _, q := range sqlstore.IndexedQueries(Dialect) {
		rows, err := tx.QueryContext(ctx, `EXPLAIN `+sqlstore.Number(q), "a@x")
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		all := strings.Join(plan, "\n")
		if strings.Contains(all, "Seq Scan") {
			t.Errorf("%s: plan scans:\n%s", q, all)
		}
		// nor a whole index read with a filter: each index scan has a condition
		for i, node := range strings.Split(all, "->") {
			if strings.Contains(node, "Scan using") && !strings.Contains(node, "Index Cond") {
				t.Errorf("%s: plan node %d reads a whole index:\n%s", q, i, all)
			}
		}
		if strings.Contains(q, "FROM contacts") && strings.Contains(q, "address=") && !strings.Contains(all, "contacts_address") {
			t.Errorf("%s: plan reads every card of the owner:\n%s", q, all)
		}
	}
}
