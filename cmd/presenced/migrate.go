package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/presenced/presenced/internal/server"
	"github.com/presenced/presenced/internal/store/postgres"
)

const migrateUsage = "presenced migrate-store --from DATA_DIR --to postgres://USER:PASSWORD@HOST:PORT/DATABASE"

// migrateStoreCmd copies the SQLite database of a data directory into an
// empty PostgreSQL database (docs/operations.md#moving-to-postgresql).
func migrateStoreCmd(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("migrate-store", flag.ContinueOnError)
	from := fs.String("from", "", "the data directory whose database to copy (no server may be running on it)")
	to := fs.String("to", "", "the PostgreSQL database to copy it into, a postgres:// URL; it must hold no data yet")
	if err := parseFlags(fs, args, migrateUsage, stdout); err != nil {
		return err
	}
	if *from == "" || *to == "" || fs.NArg() > 0 {
		return usageError("usage: " + migrateUsage)
	}
	if !postgres.IsURL(*to) {
		return usageError(fmt.Sprintf("--to must be a postgres:// URL\nusage: %s", migrateUsage))
	}
	ctx := context.Background()
	src, err := server.OpenExistingStore(ctx, *from)
	if err != nil {
		return err
	}
	defer src.Close()
	release, err := server.LockDataDir(*from) // no server writes while we read
	if err != nil {
		return err
	}
	defer release()
	dst, err := postgres.Open(ctx, *to)
	if err != nil {
		return err
	}
	defer dst.Close()
	counts, err := postgres.Import(ctx, dst, src)
	if err != nil {
		return err
	}
	total := 0
	for _, c := range counts {
		fmt.Fprintf(stdout, "%-20s %d\n", c.Table, c.Rows)
		total += c.Rows
	}
	fmt.Fprintf(stdout, "copied %d rows from %s\n", total, *from)
	fmt.Fprintf(stdout, "the keys stay in the data directory: start presenced serve --store URL --data-dir %s (or a copy of it on each node)\n", *from)
	return nil
}
