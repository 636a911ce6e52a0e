package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/bench"
)

func benchCmd(args []string, stdout io.Writer) error {
	const synopsis = "presenced bench idle|xmpp-idle [--sessions N] [--contacts C] | fanout [--publishers P] [--watchers K] [--updates M] [--rate R]" +
		" | login-storm|reconnect-storm [--sessions N] [--contacts C] [--concurrency K] [--source-addrs A] [--grace S] | longpoll [--publishers P] [--watchers K] [--updates M] [--rate R] [--rounds R]" +
		" | xmpp-compare [--servers presenced,prosody,ejabberd] [--sessions N] [--contacts C] [--rounds R]" +
		" | room-storm [--members N] [--messages M] [--concurrency K] | s2s-fanout [--watchers K] [--updates M] [--rate R]" +
		" | cluster --store postgres://… [--nats URL] [--nodes N] [--workers W] [--sessions N] [--watchers K] [--updates M] [--rate R]"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(stdout, "usage: "+synopsis+"\n\nSee docs/benchmarks.md.")
		return nil
	}
	if len(args) == 0 || !slices.Contains([]string{"idle", "xmpp-idle", "fanout", "login-storm", "reconnect-storm", "longpoll", "xmpp-compare", "room-storm", "s2s-fanout", "cluster", "cluster-worker"}, args[0]) {
		return usageError("usage: " + synopsis)
	}
	fs := flag.NewFlagSet("bench "+args[0], flag.ContinueOnError)
	self, _ := os.Executable()
	bin := fs.String("server", self, "presenced binary to start and measure")
	n := fs.Int("sessions", 10000, "idle, xmpp-idle, login-storm, reconnect-storm: sessions to open")
	contacts := fs.Int("contacts", 20, "xmpp-idle, login-storm, reconnect-storm: mutual contacts per account (its roster; ring neighbours, so an even number)")
	concurrency := fs.Int("concurrency", 64, "login-storm, reconnect-storm, xmpp-compare, room-storm: sessions connecting (resuming, joining) at a time")
	sources := fs.Int("source-addrs", bench.DefaultSourceAddrs, "login-storm, reconnect-storm: loopback source addresses the dials rotate through (127.0.0.2 and up), as many clients' would; 0: the one the system picks")
	grace := fs.Int("grace", 30, "reconnect-storm: grace period the sessions ask for in their hello, seconds")
	rounds := fs.Int("rounds", 0, "longpoll: rounds on each transport, interleaved (default 1); xmpp-compare: rounds, each running every server once in a rotated order (default 3)")
	idleFor := fs.Duration("idle-for", bench.DefaultIdleFor, "idle, xmpp-idle: how long the sessions idle while CPU is measured")
	pubs := fs.Int("publishers", 1, "fanout, longpoll: users changing presence at once, each watched by every watcher")
	k := fs.Int("watchers", 1000, "fanout, longpoll, s2s-fanout: sessions watching the publishers (s2s-fanout: on the other domain)")
	m := fs.Int("updates", 500, "fanout, longpoll, s2s-fanout: presence changes each publisher makes")
	rate := fs.Float64("rate", 0, "fanout, longpoll, s2s-fanout: updates per second per publisher (0: as fast as the server answers)")
	members := fs.Int("members", 10000, "room-storm: sessions joining one room")
	messages := fs.Int("messages", 50, "room-storm: messages one member then sends to the room (the fan-out)")
	servers := fs.String("servers", "presenced,prosody,ejabberd", "xmpp-compare: servers to compare (presenced, prosody, ejabberd), the first round's order")
	churnFraction := fs.Float64("churn-fraction", 0.1, "xmpp-compare: fraction of the sessions that change presence")
	churnRate := fs.Float64("churn-rate", 200, "xmpp-compare: presence changes per second, all churning sessions together")
	churnFor := fs.Duration("churn-for", 10*time.Second, "xmpp-compare: how long presence changes")
	storeURL := fs.String("store", "", "cluster: postgres:// URL of an empty database the nodes share")
	natsURL := fs.String("nats", "", "cluster: NATS server URL (with JetStream); empty: start nats-server from PATH")
	nodes := fs.Int("nodes", 2, "cluster: presenced nodes; each holds sessions/nodes idle sessions (at most 19,000)")
	workers := fs.Int("workers", 1, "cluster: load-generator processes opening the idle sessions (at most 19,000 each)")
	nodeURLs := fs.String("nodes-urls", "", "cluster-worker (started by cluster): the nodes' URLs, comma-separated")
	from := fs.Int("from", 0, "cluster-worker (started by cluster): the first idle account's number")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long (0: never; the default of xmpp-compare)")
	if err := parseFlags(fs, args[1:], synopsis, stdout); err != nil {
		return err
	}
	if *rounds <= 0 {
		*rounds = 1
		if args[0] == "xmpp-compare" {
			*rounds = 3
		}
	}
	timeoutSet := false
	fs.Visit(func(f *flag.Flag) { timeoutSet = timeoutSet || f.Name == "timeout" })
	if args[0] == "xmpp-compare" && !timeoutSet {
		*timeout = 0 // rounds × servers × scenarios: as long as they take
	}
	ctx, cancel := context.WithCancel(context.Background())
	if *timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, *timeout)
	}
	defer cancel()
	switch args[0] {
	case "login-storm", "reconnect-storm":
		storm := func() (bench.StormResult, error) {
			return bench.LoginStorm(ctx, *bin, *n, *contacts, *concurrency, *sources, os.Stderr)
		}
		if args[0] == "reconnect-storm" {
			storm = func() (bench.StormResult, error) {
				return bench.ReconnectStorm(ctx, *bin, *n, *contacts, *concurrency, *sources, *grace, os.Stderr)
			}
		}
		r, err := storm()
		if err != nil {
			return err
		}
		r.Report(stdout)
	case "room-storm":
		r, err := bench.RoomStorm(ctx, *bin, *members, *concurrency, *messages, os.Stderr)
		if err != nil {
			return err
		}
		r.Report(stdout)
	case "longpoll":
		r, err := bench.Longpoll(ctx, *bin, *pubs, *k, *m, *rate, *rounds, os.Stderr)
		if err != nil {
			return err
		}
		bench.ReportLongpoll(stdout, r)
	case "xmpp-compare":
		c, err := bench.XMPPCompare(ctx, bench.CompareOptions{
			Servers: strings.Split(*servers, ","), Bin: *bin, Sessions: *n, Contacts: *contacts, Rounds: *rounds,
			Concurrency: *concurrency, IdleFor: *idleFor, ChurnFraction: *churnFraction, ChurnRate: *churnRate, ChurnFor: *churnFor,
			Log: os.Stderr,
		})
		if c != nil && len(c.Runs) > 0 {
			c.Markdown(stdout)
		}
		return err
	case "idle", "xmpp-idle":
		measure, kind, traffic, login := func(ctx context.Context, bin string, n int, log io.Writer) (bench.IdleResult, error) {
			return bench.Idle(ctx, bin, n, *idleFor, log)
		}, "WebSocket, authenticated, one account each", "clients send one frame per 30 s heartbeat", "hello + snapshot + presence"
		if args[0] == "xmpp-idle" {
			measure = func(ctx context.Context, bin string, n int, log io.Writer) (bench.IdleResult, error) {
				return bench.XMPPIdle(ctx, bin, n, *contacts, *idleFor, log)
			}
			kind = fmt.Sprintf("XMPP: STARTTLS (TLS 1.3), SCRAM-SHA-256, bound, roster of %d, initial presence", *contacts)
			traffic, login = "clients send nothing", "TLS + SCRAM + bind + roster + presence, clients' SaltedPassword cached"
		}
		r, err := measure(ctx, *bin, *n, os.Stderr)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "idle sessions:        %d (%s)\n", r.Sessions, kind)
		fmt.Fprintf(stdout, "server RSS:           %.1f MiB before, %.1f MiB just after connecting, %.1f MiB after %s idle\n",
			mib(r.RSSBefore), mib(r.RSSAfter), mib(r.RSSIdle), r.IdleFor)
		fmt.Fprintf(stdout, "RSS per idle session: %.2f KiB after a forced GC, %.2f KiB without (%.2f KiB just after connecting)\n",
			r.PerSession()/1024, r.PerSessionNoGC()/1024, float64(r.RSSAfter-r.RSSBefore)/float64(r.Sessions)/1024)
		fmt.Fprintf(stdout, "raw RSS readings:     %.1f MiB before, %.1f MiB after idling, each after a forced GC; %.1f MiB and %.1f MiB without, each read %s after the last GC\n",
			mib(r.RSSBefore), mib(r.RSSIdle), mib(r.RSSBeforeNoGC), mib(r.RSSIdleNoGC), r.IdleFor)
		fmt.Fprintf(stdout, "Go heap per session:  %.2f KiB\n", (r.HeapAfter-r.HeapBefore)/float64(r.Sessions)/1024)
		fmt.Fprintf(stdout, "stack per session:    %.2f KiB\n", (r.StackAfter-r.StackBefore)/float64(r.Sessions)/1024)
		fmt.Fprintf(stdout, "server goroutines:    %.0f\n", r.Goroutines)
		fmt.Fprintf(stdout, "idle server CPU:      %.2f%% of one core (%s)\n", r.IdleCPU*100, traffic)
		whole, own := r.IdleCPUPer1000()
		fmt.Fprintf(stdout, "idle CPU per 1,000:   %.3f%% of one core (%.3f%% without the server's own idle, %.3f%% over %s before connecting)\n",
			whole*100, own*100, r.IdleCPUBase*100, max(r.IdleFor, 3*time.Second))
		fmt.Fprintf(stdout, "connect rate:         %.0f sessions/s (%s)\n", r.ConnectPerSecond, login)
		back := "not within a minute"
		if r.BackToIdle >= 0 {
			back = fmt.Sprintf("after %.0f s", r.BackToIdle.Seconds())
		}
		fmt.Fprintf(stdout, "after disconnect:     CPU back to idle for good %s (%.2f%% of one core over the next 10 s; %.2f%% before connecting)\n", back, r.CPUAfterClose*100, r.IdleCPUBase*100)
		if r.ServerCPUPerConnect > 0 {
			fmt.Fprintf(stdout, "server CPU per login: %.2f ms (so one core of the server alone: %.0f logins/s)\n",
				float64(r.ServerCPUPerConnect)/float64(time.Millisecond), float64(time.Second)/float64(r.ServerCPUPerConnect))
		}
		if r.AllocsPerConnect > 0 {
			fmt.Fprintf(stdout, "server heap allocations per login: %.0f objects, %.1f KB (over the connect phase)\n",
				r.AllocsPerConnect, r.AllocBytesPerConnect/1000)
		}
	case "s2s-fanout":
		r, err := bench.S2SFanout(ctx, *bin, *k, *m, *rate, os.Stderr)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "federation:           publisher on a.test, watchers on b.test (two presenced processes, s2s over loopback, STARTTLS + dialback)")
		reportFanout(stdout, r)
		fmt.Fprintf(stdout, "a.test server CPU:    %s (%.2f µs per frame delivered on b.test)\n", r.PublisherServerCPU.Round(time.Millisecond), perFrame(r.PublisherServerCPU, r.Deliveries))
		fmt.Fprintf(stdout, "s2s a.test → b.test:  %.0f stanzas in %.0f writes (%.1f stanzas per write); a.test made %d write(2) calls in all (TLS records, the publisher's replies)\n",
			r.S2SStanzas, r.S2SWrites, r.S2SStanzas/max(r.S2SWrites, 1), r.PublisherServerWrites)
	case "cluster-worker":
		return bench.ClusterWorker(ctx, *storeURL, strings.Split(*nodeURLs, ","), *from, *n, os.Stdin, stdout)
	case "cluster":
		r, err := bench.Cluster(ctx, bench.ClusterOptions{Bin: *bin, Store: *storeURL, NATS: *natsURL, Nodes: *nodes, Sessions: *n,
			Workers: *workers, Watchers: *k, Updates: *m, Rate: *rate, Log: os.Stderr})
		if err != nil {
			if r.Measured() { // the fan-out failed: what was measured before it still stands
				reportClusterMemory(stdout, r)
			}
			return err
		}
		reportCluster(stdout, r)
	case "fanout":
		r, err := bench.Fanout(ctx, *bin, *pubs, *k, *m, *rate, os.Stderr)
		if err != nil {
			return err
		}
		reportFanout(stdout, r)
	}
	return nil
}

// perFrame is cpu per frame in microseconds.
func perFrame(cpu time.Duration, frames int) float64 {
	return float64(cpu.Nanoseconds()) / 1e3 / float64(max(frames, 1))
}

// reportFanout prints what a fan-out measured.
func reportFanout(stdout io.Writer, r bench.FanoutResult) {
	fmt.Fprintf(stdout, "publishers, watchers: %d, %d\n", r.Publishers, r.Watchers)
	fmt.Fprintf(stdout, "updates published:    %d per publisher (rate: %s)\n", r.Updates, rateText(r.Rate))
	if r.Rate > 0 {
		fmt.Fprintf(stdout, "rate reached:         %.1f updates/s per publisher (open loop)\n", r.PublishedRate)
	}
	fmt.Fprintf(stdout, "updates delivered:    %d of %d (a newer state delivers the older ones)\n", r.Covered, r.Publishers*r.Watchers*r.Updates)
	fmt.Fprintf(stdout, "deliveries:           %d frames; %d updates coalesced into newer ones (server count %.0f)\n", r.Deliveries, r.CoalescedSeen, r.Coalesced)
	if r.Writes > 0 {
		fmt.Fprintf(stdout, "server writes:        %.0f of events to WebSockets (%.2f frames per write; the publishers' replies not counted)\n", r.Writes, float64(r.Deliveries)/r.Writes)
	}
	fmt.Fprintf(stdout, "elapsed:              %s\n", r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(stdout, "deliveries/s:         %.0f\n", r.PerSecond())
	fmt.Fprintf(stdout, "updates delivered/s:  %.0f (frames and the updates they covered: the saturation figure)\n", r.CoveredPerSecond())
	fmt.Fprintf(stdout, "server CPU:           %s (%.0f%% of one core; the load generator shares the machine)\n", r.ServerCPU.Round(time.Millisecond), 100*r.ServerCPU.Seconds()/r.Elapsed.Seconds())
	if r.Deliveries > 0 && r.Covered > 0 {
		fmt.Fprintf(stdout, "server CPU per frame:  %.2f µs (per update delivered: %.2f µs)\n", float64(r.ServerCPU.Nanoseconds())/1e3/float64(r.Deliveries), float64(r.ServerCPU.Nanoseconds())/1e3/float64(r.Covered))
		fmt.Fprintf(stdout, "load generator CPU:   %s (%.0f%% of one core; %.2f µs per frame)\n", r.LoadGenCPU.Round(time.Millisecond), 100*r.LoadGenCPU.Seconds()/r.Elapsed.Seconds(), float64(r.LoadGenCPU.Nanoseconds())/1e3/float64(r.Deliveries))
	}
	fmt.Fprintf(stdout, "latency p50/p99/max:  %s / %s / %s (every update, coalesced ones until a newer state arrived)\n", r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Max.Round(10*time.Microsecond))
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func rateText(r float64) string {
	if r == 0 {
		return "as fast as answered"
	}
	return fmt.Sprintf("%.0f/s", r)
}

// reportCluster prints what the cluster benchmark measured.
func reportCluster(stdout io.Writer, r bench.ClusterResult) {
	reportClusterMemory(stdout, r)
	f := r.Fanout
	fmt.Fprintf(stdout, "cross-node fan-out:   1 publisher on node %s, %d watchers on the other nodes, %d updates (rate: %s), the idle sessions still open\n",
		r.Nodes[0].ID, f.Watchers, f.Updates, rateText(f.Rate))
	fmt.Fprintf(stdout, "updates delivered:    %d of %d (a newer state delivers the older ones)\n", f.Covered, f.Publishers*f.Watchers*f.Updates)
	fmt.Fprintf(stdout, "deliveries:           %d frames in %s: %.0f deliveries/s\n", f.Deliveries, f.Elapsed.Round(time.Millisecond), f.PerSecond())
	fmt.Fprintf(stdout, "publisher's node CPU: %s\n", f.PublisherServerCPU.Round(time.Millisecond))
	fmt.Fprintf(stdout, "latency p50/p99/max:  %s / %s / %s (every update, coalesced ones until a newer state arrived)\n", f.P50.Round(10*time.Microsecond), f.P99.Round(10*time.Microsecond), f.Max.Round(10*time.Microsecond))
}

// reportClusterMemory prints the idle sessions' part of the cluster benchmark.
func reportClusterMemory(stdout io.Writer, r bench.ClusterResult) {
	fmt.Fprintf(stdout, "cluster:              %d nodes (PostgreSQL store, NATS), %d idle sessions (WebSocket, one account each) from %d load-generator processes, round-robin\n",
		len(r.Nodes), r.Sessions, r.Workers)
	fmt.Fprintf(stdout, "sessions open after:  %.1f s (accounts prepared by the load generators included)\n", r.ConnectTime.Seconds())
	for _, n := range r.Nodes {
		fmt.Fprintf(stdout, "node %-8s RSS:     %.1f MiB before, %.1f MiB with %.0f sessions: %.2f KiB per idle session (after a forced GC)\n",
			n.ID, mib(n.RSSBefore), mib(n.RSSAfter), n.Sessions, n.PerSession()/1024)
	}
}
