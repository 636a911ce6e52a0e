// Package pgtest gives tests a fresh PostgreSQL database each.
//
// Tests that need PostgreSQL run when PRESENCED_TEST_POSTGRES holds the
// connection URL of a role allowed to CREATE DATABASE (.ci/run sets it) and
// are skipped, saying so, otherwise.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env is the variable naming the server tests may use.
const Env = "PRESENCED_TEST_POSTGRES"

// AdminDSN returns the URL in Env, skipping t if it is unset.
func AdminDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(Env)
	if dsn == "" {
		t.Skip(Env + " is not set: no PostgreSQL to test on (see .ci/run)")
	}
	return dsn
}

// DSN creates an empty database for t alone, dropped when t ends, and
// returns its URL. It skips t unless Env is set.
func DSN(t testing.TB) string {
	t.Helper()
	admin := AdminDSN(t)
	b := make([]byte, 8)
	rand.Read(b)
	name := "presenced_test_" + hex.EncodeToString(b)
	exec(t, admin, "CREATE DATABASE "+name)
	t.Cleanup(func() {
		// FORCE: a test that failed may have left connections open. It
		// fails while a backend it may not end is in the database (an
		// autovacuum worker): those go by themselves, so try again.
		var err error
		for range 120 {
			if err = tryExec(admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err == nil {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Errorf("postgres: dropping %s: %v", name, err)
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", Env, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Name is the name of the database dsn (from DSN) connects to.
func Name(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// Exec runs one statement on the database at dsn.
func Exec(t testing.TB, dsn, sql string) {
	t.Helper()
	exec(t, dsn, sql)
}

func exec(t testing.TB, dsn, sql string) {
	t.Helper()
	if err := tryExec(dsn, sql); err != nil {
		t.Fatalf("postgres: %s: %v", sql, err)
	}
}

func tryExec(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}
