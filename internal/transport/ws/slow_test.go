package ws

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
	"github.com/presenced/presenced/internal/wire"
)

// slowTokens is a store whose token lookups wait until released: a
// request stuck on the disk.
type slowTokens struct {
	store.Store
	entered atomic.Int32
	release chan struct{}
}

func (s *slowTokens) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	s.entered.Add(1)
	select {
	case <-s.release:
	case <-ctx.Done():
	}
	return s.Store.TokenByHash(ctx, hash)
}

// TestSlowRequestDoesNotStallOtherConnections: while many connections'
// requests wait on the store — more than the shared pool of frame workers
// used to have (16), which took every frame of every connection through
// an unbuffered queue — another connection still says hello and gets its
// pings answered.
func TestSlowRequestDoesNotStallOtherConnections(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := &slowTokens{Store: db, release: make(chan struct{})}
	released := false
	release := func() {
		if !released {
			released = true
			close(st.release)
		}
	}
	defer release()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := core.New(core.Config{Domain: "localhost", Grace: time.Minute, Limits: core.DefaultLimits}, st, clock.Real{}, nil, log)
	a := &auth.Auth{Store: st, Clock: clock.Real{}}
	h := &Handler{
		Proto: &wire.Server{Hub: hub, Auth: a, Grace: time.Minute, Heartbeat: 30 * time.Second},
		// the fast client proves its account by header, so its hello
		// needs no token lookup
		Authenticate: func(r *http.Request) *store.Token {
			if a := r.Header.Get("X-Test-Account"); a != "" {
				return &store.Token{Account: a}
			}
			return nil
		},
		OriginAllowed: func(*http.Request, string) bool { return true },
		Log:           log,
		Live:          new(atomic.Int64),
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http")

	account := func(name string) string {
		address := name + "@localhost"
		if err := db.CreateAccount(ctx, store.Account{Address: address, PasswordHash: "-", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return address
	}
	dial := func(hdr http.Header) *websocket.Conn {
		c, _, err := websocket.DefaultDialer.Dial(url, hdr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	const slow = 24
	for i := 0; i < slow; i++ {
		secret, _, err := a.IssueToken(ctx, account(fmt.Sprint("slow", i)), "t")
		if err != nil {
			t.Fatal(err)
		}
		c := dial(nil)
		if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","id":"h","token":"`+secret+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for st.entered.Load() < 16 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d hellos reached the store", st.entered.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}

	fast := dial(http.Header{"X-Test-Account": {account("fast")}})
	fast.SetReadDeadline(time.Now().Add(20 * time.Second)) // generous: the bug stalled it for good
	await := func(typ, id string) {
		t.Helper()
		for {
			_, msg, err := fast.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for %s %s while %d requests of other connections wait on the store: %v", typ, id, st.entered.Load(), err)
			}
			var f struct{ Type, ID string }
			json.Unmarshal(msg, &f)
			if f.Type == typ && f.ID == id {
				return
			}
		}
	}
	fast.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","id":"h"}`))
	await("welcome", "h")
	for _, id := range []string{"p1", "p2", "p3"} {
		fast.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","id":"`+id+`"}`))
		await("pong", id)
	}
	release()
}
