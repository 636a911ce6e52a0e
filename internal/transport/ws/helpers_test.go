package ws

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
)

// testHub is a hub on a fresh SQLite store with the account
// alice@localhost, for tests that drive a conn by hand.
func testHub(t *testing.T) *core.Hub {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateAccount(ctx, store.Account{Address: "alice@localhost", PasswordHash: "-", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return core.New(core.Config{Domain: "localhost", Grace: time.Minute, Limits: core.DefaultLimits}, db, clock.Real{}, nil, discard)
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))
