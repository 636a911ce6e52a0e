package ws

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
	"github.com/presenced/presenced/internal/wire"
)

// testHub is a hub on a fresh SQLite store with the account
// alice@localhost, for tests that drive a conn by hand.
func testHub(t *testing.T) *core.Hub {
	t.Helper()
	db := testDB(t)
	lim := core.DefaultLimits
	lim.CoalesceAfter = 64 // queued updates go out together, which these tests watch
	return core.New(core.Config{Domain: "localhost", Grace: time.Minute, Limits: lim}, db, clock.Real{}, nil, discard)
}

// testDB is a fresh SQLite store with the account alice@localhost.
func testDB(t *testing.T) store.Store {
	t.Helper()
	ctx := context.Background()
	db := testStore(t)
	if err := db.CreateAccount(ctx, store.Account{Address: "alice@localhost", PasswordHash: "-", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return db
}

// testStore is a fresh SQLite store, closed when the test ends.
func testStore(t *testing.T) store.Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// heldConn is a conn of alice's on a net.Pipe (one Read per write) whose
// flushes are held until the test has queued events: c.writing is set, so
// a test clears it and calls c.Wake. other is a second session of alice's,
// never flushed, to send from.
func heldConn(t *testing.T, h *Handler, p *core.Presence) (c *conn, other *core.Session, peer net.Conn) {
	t.Helper()
	ctx := context.Background()
	hub := testHub(t)
	server, peer := net.Pipe()
	t.Cleanup(func() { server.Close(); peer.Close() })
	c = &conn{h: h, nc: server, proto: &wire.Conn{}}
	c.writing.Store(true) // no flush until the events are queued
	s, err := hub.Connect(ctx, "alice@localhost", core.SessionOptions{Transport: "ws", Device: "a", Presence: p}, c)
	if err != nil {
		t.Fatal(err)
	}
	c.proto.Session = s
	other, err = hub.Connect(ctx, "alice@localhost", core.SessionOptions{Transport: "ws", Device: "b", Presence: p}, quietSink{})
	if err != nil {
		t.Fatal(err)
	}
	return c, other, peer
}
