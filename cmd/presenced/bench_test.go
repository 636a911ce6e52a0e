package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
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
