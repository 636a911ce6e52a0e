package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/presenced/presenced/internal/cluster/natstest"
	"github.com/presenced/presenced/internal/store/postgres/pgtest"
)

// TestBenchSmoke runs every load generator briefly against the real
// binary, so the tools cannot rot. It checks that they finish and report
// what they measured, never a figure: figures live in docs/benchmarks.md.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "idle", "--sessions", "20", "--idle-for", "1s"}, "RSS per idle session"},
		{[]string{"bench", "xmpp-idle", "--sessions", "10", "--contacts", "4", "--idle-for", "1s"}, "RSS per idle session"},
		{[]string{"bench", "fanout", "--watchers", "10", "--updates", "20"}, "updates delivered:    200 of 200"},
		{[]string{"bench", "fanout", "--publishers", "2", "--watchers", "10", "--updates", "20", "--rate", "200"}, "updates delivered:    400 of 400"},
		{[]string{"bench", "login-storm", "--sessions", "20", "--contacts", "4"}, "converged:            20 of 20 sessions"},
		{[]string{"bench", "reconnect-storm", "--sessions", "20", "--contacts", "4", "--grace", "10"}, "resumed:              20 of 20 (resume errors: 0)"},
		{[]string{"bench", "longpoll", "--watchers", "10", "--updates", "20"}, "long-polling: updates delivered 200 of 200"},
		{[]string{"bench", "room-storm", "--members", "20", "--messages", "5"}, "converged:            20 of 20 members"},
		{[]string{"bench", "s2s-fanout", "--watchers", "10", "--updates", "20"}, "updates delivered:    200 of 200"},
		{append([]string{"bench", "xmpp-compare", "--servers", "presenced"}, tinyCompare...), "| login storm: errors | 0 |"},
	} {
		t.Run(strings.Join(c.args[1:], " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			var out, errs bytes.Buffer
			cmd := exec.CommandContext(ctx, bin, append(c.args, "--server", bin)...)
			cmd.Stdout, cmd.Stderr = &out, &errs
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v\n%s\n%s", err, out.String(), errs.String())
			}
			if !strings.Contains(out.String(), c.want) {
				t.Fatalf("no %q in\n%s", c.want, out.String())
			}
		})
	}
}

// tinyCompare are xmpp-compare's flags for a smoke run.
var tinyCompare = []string{"--sessions", "20", "--contacts", "4", "--rounds", "1", "--idle-for", "1s", "--churn-rate", "20", "--churn-for", "1s"}

// TestBenchCompareWithPeers runs the side-by-side comparison briefly
// against Prosody and ejabberd (Debian's packages) beside presenced, so
// that their set-up (configuration, storage written directly, TLS 1.3,
// SCRAM-SHA-256) cannot rot. Like TestBenchSmoke it checks that every
// login succeeded and that the report came out, never a figure.
func TestBenchCompareWithPeers(t *testing.T) {
	if os.Getenv("PRESENCED_TEST_PEERS") == "" {
		t.Skip("set PRESENCED_TEST_PEERS=1 with Debian's prosody and ejabberd installed (bench/xmpp-side-by-side.sh installs them) to run")
	}
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var out, errs bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, append([]string{"bench", "xmpp-compare", "--servers", "presenced,prosody,ejabberd", "--server", bin}, tinyCompare...)...)
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out.String(), errs.String())
	}
	for _, want := range []string{"| login storm: errors | 0 | 0 | 0 |", "| reconnect storm: errors | 0 | 0 | 0 |", "| presenced ÷ peer (same round) | prosody | ejabberd |", "| prosody | ", "| ejabberd | "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s\n%s", want, out.String(), errs.String())
		}
	}
}

// TestBenchClusterSmoke runs the cluster benchmark briefly: two nodes on a
// fresh PostgreSQL database and an embedded NATS server, idle sessions
// from two load-generator processes, a cross-node fan-out. Like
// TestBenchSmoke it checks what was delivered, never a figure. Skipped
// unless PRESENCED_TEST_POSTGRES is set.
func TestBenchClusterSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dsn := pgtest.DSN(t)
	ns := natstest.Run(t, &natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out, errs bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "bench", "cluster", "--server", bin, "--store", dsn, "--nats", ns.ClientURL(),
		"--nodes", "2", "--workers", "2", "--sessions", "40", "--watchers", "10", "--updates", "20")
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s\n%s", err, out.String(), errs.String())
	}
	for _, want := range []string{"updates delivered:    200 of 200", "node bench-1  RSS:", "node bench-2  RSS:", "with 20 sessions"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s\n%s", want, out.String(), errs.String())
		}
	}
}
