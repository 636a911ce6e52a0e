package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/server"
)

// buildBinary compiles presenced once per test run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "presenced")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

var servingOn = regexp.MustCompile(`on (http://\S+)/`)

// startProcess runs "presenced serve" (with more arguments, if any) and
// returns its base URL.
func startProcess(t *testing.T, bin, dataDir string, more ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--xmpp-addr", "127.0.0.1:0", "--log-level", "warn"}, more...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := servingOn.FindStringSubmatch(sc.Text()); m != nil {
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd, m[1]
		}
	}
	t.Fatal("server printed no address")
	return nil, ""
}

func cli(t *testing.T, bin, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("presenced %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestKill9LosesNothingAcknowledged: a write answered with 2xx survives the
// server being killed with SIGKILL right after.
func TestKill9LosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, dir := buildBinary(t), t.TempDir()
	cmd, url := startProcess(t, bin, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// a second server on the same data directory is refused, clearly
	second := exec.Command(bin, "serve", "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--xmpp-addr", "")
	if out, err := second.CombinedOutput(); err == nil || !strings.Contains(string(out), "in use by another presenced serve") {
		t.Fatalf("second serve on one data directory: %v\n%s", err, out)
	}

	// accounts made by the CLI while the server runs
	if out := cli(t, bin, "alice-password\n", "user", "add", "alice@localhost", "--data-dir", dir, "--password-stdin"); !strings.Contains(out, "created alice@localhost") {
		t.Fatalf("user add: %s", out)
	}
	cli(t, bin, "bob-password\n", "user", "add", "bob@localhost", "--data-dir", dir, "--password-stdin")
	if out := cli(t, bin, "", "user", "list", "--data-dir", dir); !strings.Contains(out, "alice@localhost") || !strings.Contains(out, "bob@localhost") {
		t.Fatalf("user list: %s", out)
	}
	alice, err := client.Login(ctx, url, "alice@localhost", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	var created struct{ ID string }
	if err := alice.Do(ctx, "POST", "/v1/contacts", map[string]any{"name": "Bob", "address": "bob@localhost"}, &created); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.SubscriptionAction(ctx, "bob@localhost", "subscribe"); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	_, url = startProcess(t, bin, dir)
	alice.BaseURL = url
	var got struct{ Name string }
	if err := alice.Do(ctx, "GET", "/v1/contacts/"+created.ID, nil, &got); err != nil || got.Name != "Bob" {
		t.Fatalf("contact after kill -9: %+v %v", got, err)
	}
	subs, err := alice.Subscriptions(ctx)
	if err != nil || len(subs) != 1 || !subs[0].PendingOut {
		t.Fatalf("subscription after kill -9: %+v %v", subs, err)
	}
}

// TestSIGTERMTellsClientsToReconnect: a graceful stop sends goaway with
// reconnect, and contacts are not told that anybody went offline.
func TestSIGTERMTellsClientsToReconnect(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin, dir := buildBinary(t), t.TempDir()
	cmd, url := startProcess(t, bin, dir) // only serve makes a data directory
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	alice, bob := mutualContacts(ctx, t, bin, dir, url)
	as, err := alice.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	if err != nil {
		t.Fatal(err)
	}
	bs, err := bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := as.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "presence" && f.Address == "bob@localhost" }); err != nil {
		t.Fatal(err)
	}
	_ = bs
	cmd.Process.Signal(syscall.SIGTERM)
	f, err := as.WaitFor(ctx, func(f client.Frame) bool {
		if f.Type == "presence" && f.Address == "bob@localhost" && f.Availability == "unavailable" {
			t.Errorf("alice was told bob went offline during a restart: %s", f.Raw)
		}
		return f.Type == "goaway"
	})
	if err != nil || !f.Reconnect {
		t.Fatalf("goaway: %s %v", f.Raw, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("server exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("server did not exit within 15s of SIGTERM")
	}
}

// mutualContacts adds alice and bob with the CLI and makes each the
// other's approved contact; it returns their clients, with tokens.
func mutualContacts(ctx context.Context, t *testing.T, bin, dir, url string) (alice, bob *client.Client) {
	t.Helper()
	cli(t, bin, "alice-password\n", "user", "add", "alice@localhost", "--data-dir", dir, "--password-stdin")
	cli(t, bin, "bob-password\n", "user", "add", "bob@localhost", "--data-dir", dir, "--password-stdin")
	ta := strings.TrimSpace(cli(t, bin, "", "token", "issue", "alice@localhost", "--data-dir", dir))
	tb := strings.TrimSpace(cli(t, bin, "", "token", "issue", "bob@localhost", "--data-dir", dir))
	alice, bob = client.New(url, ta), client.New(url, tb)
	for _, s := range []struct {
		c     *client.Client
		other string
	}{{alice, "bob@localhost"}, {bob, "alice@localhost"}} {
		if _, err := s.c.SubscriptionAction(ctx, s.other, "subscribe"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.c.SubscriptionAction(ctx, s.other, "approve"); err != nil {
			t.Fatal(err)
		}
	}
	return alice, bob
}

// newDataDir is a data directory as presenced serve leaves it.
func newDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cfg := config.Config{DataDir: dir, Domain: "localhost", Grace: time.Second, Heartbeat: time.Second, HashWorkers: 1}
	srv, err := server.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	return dir
}

func TestCLIUsageAndErrors(t *testing.T) {
	var out bytes.Buffer
	if err := run(nil, nil, &out, &out); err == nil {
		t.Fatal("no command must be a usage error")
	}
	dir := newDataDir(t)
	if err := run([]string{"user", "add", "alice@localhost", "--data-dir", dir, "--password-stdin"}, strings.NewReader("short\n"), &out, &out); err == nil {
		t.Fatal("weak password accepted")
	}
	if err := run([]string{"user", "add", "not an address", "--data-dir", dir, "--password-stdin"}, strings.NewReader("long-enough\n"), &out, &out); err == nil {
		t.Fatal("bad address accepted")
	}
	if err := run([]string{"user", "delete", "ghost@localhost", "--data-dir", dir}, nil, &out, &out); err == nil || !strings.Contains(err.Error(), "no account") {
		t.Fatalf("delete ghost: %v", err)
	}
	if err := run([]string{"user", "add", "alice@localhost", "--data-dir", dir}, strings.NewReader(""), &out, &out); err == nil || !strings.Contains(err.Error(), "--password-stdin") {
		t.Fatalf("no terminal: %v", err)
	}
}
