package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/config"
)

// TestDataDirLocked: a second server on a data directory in use is
// refused (two would split live sessions between them); the lock goes
// with Close.
func TestDataDirLocked(t *testing.T) {
	cfg := config.Config{DataDir: t.TempDir(), Domain: "localhost", Grace: time.Second, Heartbeat: time.Second, HashWorkers: 1}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	first, err := Open(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), cfg, log); !errors.Is(err, ErrDataDirInUse) {
		t.Fatalf("second server on one data directory: %v", err)
	}
	// the account commands still open the store beside the server
	st, err := OpenExistingStore(context.Background(), cfg.DataDir)
	if err != nil {
		t.Fatalf("store beside the server: %v", err)
	}
	st.Close()
	first.Close()
	again, err := Open(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	again.Close()
}
