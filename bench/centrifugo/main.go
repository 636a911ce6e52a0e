// Command centrifugo-compare runs presenced and Centrifugo side by side
// (issue 9): the same load generator, JSON over WebSocket on loopback, the
// same scenarios, in interleaved runs (presenced, Centrifugo, presenced, …),
// and prints a markdown report with each figure's range over the rounds
// and the ratios taken within each round. See bench/README.md.
//
// It is its own Go module so that Centrifugo and its client never enter
// presenced's go.mod; Centrifugo is a binary built by
// bench/centrifugo-side-by-side.sh and given with --centrifugo. Without it,
// only presenced's side runs (the CI smoke, which has no network to build
// Centrifugo).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"time"
)

type options struct {
	presenced, centrifugo string
	sessions              int
	idleFor, heartbeat    time.Duration
	watchers, updates     int
	rate                  float64
	saturation            int
	rounds                int
}

// roundResult is one server's figures in one round.
type roundResult struct {
	server       string
	idle         IdleResult
	open, closed FanoutResult
	load         [2]string // /proc/loadavg's 1-minute figure before and after
}

func main() {
	var o options
	flag.StringVar(&o.presenced, "presenced", "", "the presenced binary (required)")
	flag.StringVar(&o.centrifugo, "centrifugo", "", "the centrifugo binary (none: presenced only)")
	flag.IntVar(&o.sessions, "sessions", 15000, "idle sessions (one process holds ~20,000 open files: keep below 19,000)")
	flag.DurationVar(&o.idleFor, "idle-for", 60*time.Second, "window over which idle CPU is measured")
	flag.DurationVar(&o.heartbeat, "heartbeat", 30*time.Second, "presenced's --heartbeat and Centrifugo's client.ping_interval")
	flag.IntVar(&o.watchers, "watchers", 1000, "fan-out: watchers of the one publisher")
	flag.IntVar(&o.updates, "updates", 2000, "fan-out: updates of the open-loop run")
	flag.Float64Var(&o.rate, "rate", 100, "fan-out: offered updates per second of the open-loop run")
	flag.IntVar(&o.saturation, "saturation-updates", 500, "fan-out: updates of the closed-loop run (as fast as the server answers)")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every server once, in turn")
	flag.Parse()
	if o.presenced == "" || o.sessions < 1 || o.sessions > 19000 || o.watchers < 1 || o.updates < 2 || o.saturation < 2 || o.rounds < 1 || o.rate <= 0 {
		fmt.Fprintln(os.Stderr, "usage: centrifugo-compare --presenced BIN [--centrifugo BIN] [flags]; 1 ≤ sessions ≤ 19000, updates ≥ 2, rate > 0")
		flag.PrintDefaults()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	results, err := compare(ctx, o, os.Stderr)
	report(os.Stdout, o, results)
	if err != nil {
		fmt.Fprintln(os.Stderr, "centrifugo-compare:", err)
		os.Exit(1)
	}
}

// compare runs the rounds: in each, every server in turn (presenced
// first), each scenario on a freshly started process.
func compare(ctx context.Context, o options, log io.Writer) ([]roundResult, error) {
	names := []string{"presenced"}
	if o.centrifugo != "" {
		names = append(names, "centrifugo")
	}
	var out []roundResult
	for round := 1; round <= o.rounds; round++ {
		for _, name := range names {
			fmt.Fprintf(log, "round %d: %s (load average %s)\n", round, name, loadavg())
			r, err := runServer(ctx, o, name, log)
			if err != nil {
				return out, fmt.Errorf("round %d, %s: %w", round, name, err)
			}
			out = append(out, r)
		}
	}
	return out, nil
}

func start(ctx context.Context, o options, name string, n int, fanout bool) (server, error) {
	if name == "presenced" {
		return startPresenced(ctx, o.presenced, n, fanout, o.heartbeat)
	}
	return startCentrifugo(ctx, o.centrifugo, n, o.heartbeat)
}

func runServer(ctx context.Context, o options, name string, log io.Writer) (roundResult, error) {
	r := roundResult{server: name}
	r.load[0] = loadavg()
	srv, err := start(ctx, o, name, o.sessions, false)
	if err != nil {
		return r, err
	}
	r.idle, err = idle(ctx, srv, o.sessions, o.idleFor, log)
	srv.stop()
	if err != nil {
		return r, err
	}
	if srv, err = start(ctx, o, name, o.watchers+1, true); err != nil {
		return r, err
	}
	r.open, r.closed, err = fanout(ctx, srv, o.watchers, o.updates, o.rate, o.saturation, log)
	srv.stop()
	r.load[1] = loadavg()
	return r, err
}

// loadavg is the 1-minute load average (the machine is shared).
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// version asks a server binary for its version's first line.
func version(bin string) string {
	if bin == "" {
		return ""
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}
