package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/config"
)

// TestExpiredTokensAreDeleted: a serving server deletes expired tokens from
// the store at once and then every tokenSweepInterval on its clock, until
// it stops (they used to stay forever, and every sign-in adds one).
func TestExpiredTokensAreDeleted(t *testing.T) {
	cfg := config.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", Domain: "localhost", Grace: time.Second, Heartbeat: time.Second, HashWorkers: 1}
	srv, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	must(t, err)
	defer srv.Close()
	clk := clock.NewFake(time.Unix(1e9, 0))
	srv.clock, srv.Auth.Clock, srv.Auth.TokenTTL = clk, clk, tokenSweepInterval*3/2
	ctx := context.Background()
	_, err = srv.Auth.CreateAccount(ctx, "alice@localhost", "password-alice")
	must(t, err)
	count := func() int {
		toks, err := srv.Auth.Tokens(ctx, "alice@localhost")
		must(t, err)
		return len(toks)
	}
	issue := func() {
		_, _, err := srv.Auth.IssueToken(ctx, "alice@localhost", "t")
		must(t, err)
	}
	issue()
	issue()
	clk.Advance(2 * time.Hour) // both expired while the server was down

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	must(t, err)
	serveCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(serveCtx, ln) }()
	stopped := false
	stopServer := func() {
		if !stopped {
			stopped = true
			stop()
			<-done
		}
	}
	defer stopServer()
	deadline := time.Now().Add(10 * time.Second)
	for count() != 0 { // the first sweep runs at start, off the start path
		if time.Now().After(deadline) {
			t.Fatalf("%d expired tokens left 10 s after the start", count())
		}
		time.Sleep(10 * time.Millisecond)
	}

	issue()
	clk.Advance(tokenSweepInterval) // a sweep is due (the fake clock runs it now); the token lives on
	if n := count(); n != 1 {
		t.Fatalf("%d tokens: a sweep deleted a live one", n)
	}
	clk.Advance(tokenSweepInterval) // it expired, and the next sweep is due
	if n := count(); n != 0 {
		t.Fatalf("%d expired tokens left after a periodic sweep", n)
	}
	issue()

	stopServer()
	clk.Advance(2 * tokenSweepInterval) // expired, but nobody sweeps a stopped server
	if n := count(); n != 1 {
		t.Fatalf("%d tokens: a sweep ran after Serve returned", n)
	}
}
