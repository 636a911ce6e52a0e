package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/store/postgres"
	"github.com/presenced/presenced/internal/store/sqlite"
	"github.com/presenced/presenced/internal/store/sqlstore"
)

// LockDataDir holds dataDir as a running server does (ErrDataDirInUse if
// one runs on it) until release is called: presenced migrate-store reads a
// data directory no server is writing.
func LockDataDir(dataDir string) (release func() error, err error) { return lockDataDir(dataDir) }

// OpenAdminStore opens the store the account commands (user, token, app)
// work on: the PostgreSQL database cfg.Store names, shared with the
// servers, or else the SQLite database of an existing data directory
// (OpenExistingStore).
func OpenAdminStore(ctx context.Context, cfg config.Config) (*sqlstore.DB, error) {
	if cfg.Store != "" {
		return postgres.Open(ctx, cfg.Store)
	}
	return OpenExistingStore(ctx, cfg.DataDir)
}

// LockFile is the file in the data directory that the running server holds
// locked (flock(2)); it contains the server's process id.
const LockFile = "presenced.lock"

// ErrDataDirInUse is returned by Open when another server holds the data
// directory: two servers on one database would split live sessions
// between them, each unaware of the other's.
var ErrDataDirInUse = errors.New("data directory in use by another presenced serve")

// OpenExistingStore opens the database of an existing data directory. The
// account commands use it: only serve creates a data directory, so a
// mistyped --data-dir, or a command run in another folder, stops here
// instead of working on a new, empty database the server never reads.
// It works beside a running server: SQLite serializes the writes and the
// server hears deletions and password changes through the lifecycle log.
func OpenExistingStore(ctx context.Context, dataDir string) (*sqlite.DB, error) {
	where := dataDir
	if abs, err := filepath.Abs(dataDir); err == nil {
		where = abs
	}
	const hint = "name the server's data directory with --data-dir (or PRESENCED_DATA_DIR, or data_dir in the --config file); presenced serve creates it on its first start"
	fi, err := os.Stat(dataDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("no data directory %s: %s", where, hint)
	case err != nil:
		return nil, fmt.Errorf("data directory: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("%s is not a directory: %s", where, hint)
	}
	if _, err := os.Stat(filepath.Join(dataDir, DBFile)); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is not a presenced data directory (it has no %s): %s", where, DBFile, hint)
	} else if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return sqlite.Open(ctx, filepath.Join(dataDir, DBFile))
}
