// Package oauth_test runs OAuth/OpenID Connect client libraries written by
// others against presenced's provider (internal/oauth).
package oauth_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/server"
	"github.com/presenced/presenced/internal/store"
)

// TestAuthlibRelyingParty runs test/oauth/authlib_flow.py (Authlib, as
// Debian packages it) against a real server. PRESENCED_TEST_AUTHLIB names
// the Python that has authlib and requests (.ci/run sets it).
func TestAuthlibRelyingParty(t *testing.T) {
	python := os.Getenv("PRESENCED_TEST_AUTHLIB")
	if python == "" {
		t.Skip("PRESENCED_TEST_AUTHLIB is not set (a python3 with authlib and requests; .ci/run sets it)")
	}
	ctx := context.Background()
	cfg := config.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", Domain: "localhost", Grace: 2 * time.Second,
		Heartbeat: 30 * time.Second, TokenTTL: time.Hour, HashWorkers: 2, LogLevel: "warn"}
	srv, err := server.Open(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, ln) }()
	defer func() { stop(); <-done }()
	issuer := "http://" + ln.Addr().String()

	if _, err := srv.Auth.CreateAccount(ctx, "alice@localhost", "password-alice"); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 16)
	rand.Read(b)
	app := store.App{ID: base64.RawURLEncoding.EncodeToString(b), Name: "Authlib", RedirectURIs: []string{"http://127.0.0.1:9/cb"},
		Scopes: []string{"presence:read"}, Public: true, CreatedAt: time.Now()}
	if err := srv.Store.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); srv.OAuth.Issuer() == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server did not set its issuer")
		}
	}
	cmd := exec.Command(python, "authlib_flow.py", issuer, app.ID, "http://127.0.0.1:9/cb", "alice@localhost", "password-alice")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("authlib flow: %v", err)
	}
	for _, step := range []string{"discovery", "consent", "id_token", "userinfo", "refresh", "revoke"} {
		if !strings.Contains(string(out), step+" ok") {
			t.Errorf("step %s did not pass", step)
		}
	}
}
