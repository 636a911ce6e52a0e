package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/store/postgres"
	"github.com/presenced/presenced/internal/store/postgres/pgtest"
)

// TestAccountCommandsOnPostgres: user add, list, passwd and delete, token
// issue and app add work on a shared PostgreSQL store named by --store,
// with no data directory.
func TestAccountCommandsOnPostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	var out bytes.Buffer
	cmd := func(stdin string, args ...string) string {
		t.Helper()
		out.Reset()
		if err := run(append(args, "--store", dsn, "--data-dir", "/nonexistent"), strings.NewReader(stdin), &out, &out); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	cmd("secret-password\n", "user", "add", "ann@localhost", "--password-stdin")
	cmd("secret-password\n", "user", "add", "ben@localhost", "--password-stdin")
	if got := cmd("", "user", "list"); !strings.Contains(got, "ann@localhost") || !strings.Contains(got, "ben@localhost") {
		t.Fatalf("user list: %q", got)
	}
	cmd("another-password\n", "user", "passwd", "ann@localhost", "--password-stdin")
	if got := cmd("", "token", "issue", "ann@localhost"); len(strings.TrimSpace(got)) < 20 {
		t.Fatalf("token issue: %q", got)
	}
	cmd("", "app", "add", "--name", "Demo", "--redirect-uri", "https://demo.example/cb")
	if got := cmd("", "app", "list"); !strings.Contains(got, "Demo") {
		t.Fatalf("app list: %q", got)
	}
	cmd("", "user", "delete", "ben@localhost")
	if got := cmd("", "user", "list"); strings.Contains(got, "ben@localhost") {
		t.Fatalf("user list after delete: %q", got)
	}
}

// TestMigrateStore: an account made in a data directory is found through
// --store after migrate-store; a second run into the same database, now
// not empty, is refused; and a server running on the directory stops it.
func TestMigrateStore(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	dir := newDataDir(t)
	var out bytes.Buffer
	if err := run([]string{"user", "add", "cat@localhost", "--password-stdin", "--data-dir", dir}, strings.NewReader("secret-password\n"), &out, &out); err != nil {
		t.Fatal(err, out.String())
	}
	out.Reset()
	if err := run([]string{"migrate-store", "--from", dir, "--to", dsn}, nil, &out, &out); err != nil {
		t.Fatal(err, out.String())
	}
	if !strings.Contains(out.String(), "accounts             1\n") {
		t.Fatalf("migrate-store printed:\n%s", out.String())
	}
	out.Reset()
	if err := run([]string{"user", "list", "--store", dsn}, nil, &out, &out); err != nil || !strings.Contains(out.String(), "cat@localhost") {
		t.Fatalf("user list on postgres after the migration: %v %q", err, out.String())
	}
	err := run([]string{"migrate-store", "--from", dir, "--to", dsn}, nil, &out, &out)
	if !errors.Is(err, postgres.ErrNotEmpty) || !strings.Contains(err.Error(), "accounts") {
		t.Fatalf("a second migration into the same database: %v", err)
	}
	var u usageError
	if err := run([]string{"migrate-store", "--from", dir, "--to", dir}, nil, &out, &out); !errors.As(err, &u) {
		t.Fatalf("--to a directory: %v, want a usage error", err)
	}
}
