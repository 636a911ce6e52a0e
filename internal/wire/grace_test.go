package wire

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
)

type nopSink struct{}

func (nopSink) Wake()             {}
func (nopSink) Close(core.Goaway) {}

// graceRig is a protocol server on a real store and hub with a fake clock:
// grace 5 s, at most 300 s on request.
func graceRig(t *testing.T) (*Server, *clock.Fake) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "p.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	clk := clock.NewFake(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	a := &auth.Auth{Store: db, Clock: clk, Hasher: auth.NewHasher(auth.Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1, 4)}
	if _, err := a.CreateAccount(ctx, "bob@localhost", "bob-password"); err != nil {
		t.Fatal(err)
	}
	hub := core.New(core.Config{Domain: "localhost", Grace: 5 * time.Second, Limits: core.DefaultLimits}, db, clk, nil,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	return &Server{Hub: hub, Auth: a, Grace: 5 * time.Second, MaxGrace: 300 * time.Second, Heartbeat: 30 * time.Second}, clk
}

// hello sends raw as bob's first frame and returns the reply as a map and
// the connection.
func hello(t *testing.T, srv *Server, raw string) (map[string]any, *Conn) {
	t.Helper()
	c := srv.NewConn("longpoll", &store.Token{Account: "bob@localhost"}, srv.Hub.Checkpoint())
	f, err := Decode([]byte(raw))
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	reply, _ := c.Hello(context.Background(), f, nopSink{})
	var m map[string]any
	if err := json.Unmarshal(reply, &m); err != nil {
		t.Fatalf("%s: %v", reply, err)
	}
	return m, c
}

// TestHelloAsksForGrace: hello's grace asks for a longer grace period, up
// to the server's maximum (clamped, not refused); welcome reports what was
// granted, and the session really stays resumable that long.
func TestHelloAsksForGrace(t *testing.T) {
	srv, _ := graceRig(t)
	for _, tc := range []struct {
		hello string
		grace float64
	}{
		{`{"type":"hello"}`, 5},
		{`{"type":"hello","grace":0}`, 5},
		{`{"type":"hello","grace":2}`, 5}, // never shorter than the server's own
		{`{"type":"hello","grace":60}`, 60},
		{`{"type":"hello","grace":300}`, 300},
		{`{"type":"hello","grace":86400}`, 300},
		{`{"type":"hello","grace":9223372036854775807}`, 300},
	} {
		m, _ := hello(t, srv, tc.hello)
		if m["type"] != "welcome" || m["grace"] != tc.grace {
			t.Errorf("%s: %v, want welcome with grace %v", tc.hello, m, tc.grace)
		}
	}
}

func TestHelloGraceMustBeAWholeNumberOfSeconds(t *testing.T) {
	srv, _ := graceRig(t)
	m, c := hello(t, srv, `{"type":"hello","id":"1","grace":-1}`)
	if m["type"] != "error" || m["code"] != "invalid" || m["id"] != "1" || c.Session != nil {
		t.Fatalf("negative grace: %v", m)
	}
	for _, raw := range []string{`{"type":"hello","grace":1.5}`, `{"type":"hello","grace":"300"}`, `{"type":"hello","grace":1e40}`} {
		if _, err := Decode([]byte(raw)); core.CodeOf(err) != core.CodeInvalid || !strings.Contains(err.Error(), "grace must be a whole number") {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

// TestGrantedGraceKeepsTheSessionOnline: a session that asked for 300 s is
// still resumable 299 s after its connection dropped (the server's own
// grace is 5 s), and ended after 300 s.
func TestGrantedGraceKeepsTheSessionOnline(t *testing.T) {
	srv, clk := graceRig(t)
	ctx := context.Background()
	m, c := hello(t, srv, `{"type":"hello","grace":300}`)
	if m["grace"] != 300.0 {
		t.Fatalf("welcome %v", m)
	}
	s := c.Session
	s.Detach(nopSink{})
	clk.Advance(299 * time.Second)
	// resumed with a hello that does not ask again: the session keeps its
	// grace, and the welcome says so
	r, _ := hello(t, srv, `{"type":"hello","resume":{"session":"`+s.Resource+`","seq":0}}`)
	if r["type"] != "welcome" || r["resumed"] != true || r["grace"] != 300.0 {
		t.Fatalf("resume after 299 s of a 300 s grace: %v", r)
	}
	s.Detach(nopSink{})
	clk.Advance(299 * time.Second)
	if _, _, err := srv.Hub.Resume(ctx, "bob@localhost", s.Resource, 0, nopSink{}); err != nil {
		t.Fatalf("second resume after 299 s: %v", err)
	}
	s.Detach(nopSink{})
	clk.Advance(300 * time.Second)
	if _, _, err := srv.Hub.Resume(ctx, "bob@localhost", s.Resource, 0, nopSink{}); core.CodeOf(err) != core.CodeSessionGone {
		t.Fatalf("resume after the granted grace: %v, want session_expired", err)
	}
}
