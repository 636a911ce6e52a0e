package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// metric is one row of a summary table: its label, its value in a round's
// result, and how to print it.
type metric struct {
	label string
	value func(roundResult) float64
	unit  string // printed after the range
	prec  int
}

func report(w io.Writer, o options, results []roundResult) {
	servers := []string{"presenced"}
	if o.centrifugo != "" {
		servers = append(servers, "centrifugo")
	}
	fmt.Fprintf(w, "Measured %s by `bench/centrifugo` (`centrifugo-compare --sessions %d --idle-for %s --heartbeat %s --watchers %d --updates %d --rate %g --saturation-updates %d --rounds %d`), %s.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), o.sessions, o.idleFor, o.heartbeat, o.watchers, o.updates, o.rate, o.saturation, o.rounds, machine())
	fmt.Fprintf(w, "* Servers: %s; %s. Runs interleaved: each round runs presenced then Centrifugo, each scenario on a freshly started process.\n", version(o.presenced), orNone(version(o.centrifugo)))
	fmt.Fprintf(w, "* Heartbeats: presenced `--heartbeat %s` (the client sends a ping or an ack each period, the server answers a ping); Centrifugo `client.ping_interval: %s`, `pong_timeout: %s` (the server sends a ping, the client answers). Centrifugo also has `websocket.use_write_buffer_pool: true`; otherwise both run their defaults.\n", o.heartbeat, o.heartbeat, pongTimeout(o.heartbeat))
	fmt.Fprintf(w, "* The same load generator for both (raw gorilla/websocket + JSON, one reader goroutine per connection, 64 connecting at a time) on the same machine. Memory: VmRSS of `/proc/PID/status`, CPU: utime+stime of `/proc/PID/stat`, read the same way for both; the forced GC is `/debug/pprof/heap?gc=1` on each server.\n")
	fmt.Fprintf(w, "* Fan-out: presenced's publisher changes its presence over its WebSocket session (1 account approved by %d watchers); Centrifugo's publishes to one channel through its HTTP API (`/api/publish`), %d subscribers. A delivery is an update a watcher saw, alone or covered by a newer state (presenced coalesces; Centrifugo sends every publication, but the open loop's concurrent API requests may reach it out of order). Latency from the publisher's send to the watcher's read.\n", o.watchers, o.watchers)
	fmt.Fprintf(w, "* 1-minute load average before/after each server's run: %s.\n\n", loads(results))

	fmt.Fprintf(w, "**Idle: %d sessions, one identity each, %s window**\n\n", o.sessions, o.idleFor)
	table(w, servers, results, []metric{
		{"RSS per idle session, no forced GC", func(r roundResult) float64 { return r.idle.PerSessionNoGC() / 1024 }, "KiB", 2},
		{"RSS per idle session, after a forced GC", func(r roundResult) float64 { return r.idle.PerSessionGC() / 1024 }, "KiB", 2},
		{"idle CPU per 1,000 sessions (% of a core, own idle subtracted)", func(r roundResult) float64 { return r.idle.CPUPer1000() }, "%", 3},
		{"idle CPU of the server, all sessions (% of a core)", func(r roundResult) float64 { return r.idle.CPUIdle * 100 }, "%", 2},
		{"server CPU per connect", func(r roundResult) float64 { return float64(r.idle.CPUPerConnect) / 1e6 }, "ms", 3},
		{"connects/s (load generator on the same cores)", func(r roundResult) float64 { return r.idle.ConnectPerSecond }, "", 0},
	})
	for _, run := range []struct {
		title string
		get   func(roundResult) FanoutResult
		m     int
	}{
		{fmt.Sprintf("Fan-out, open loop: %d updates offered at %g/s to %d watchers (%g deliveries/s offered)", o.updates, o.rate, o.watchers, o.rate*float64(o.watchers)),
			func(r roundResult) FanoutResult { return r.open }, o.updates},
		{fmt.Sprintf("Fan-out, saturation: %d updates, each sent when the server answered the previous one, %d watchers", o.saturation, o.watchers),
			func(r roundResult) FanoutResult { return r.closed }, o.saturation},
	} {
		get := run.get
		fmt.Fprintf(w, "\n**%s**\n\n", run.title)
		table(w, servers, results, []metric{
			{fmt.Sprintf("deliveries (of %d)", o.watchers*run.m), func(r roundResult) float64 { return float64(get(r).Covered) }, "", 0},
			{"publisher's reached rate (updates/s)", func(r roundResult) float64 { return get(r).ReachedRate }, "", 0},
			{"deliveries/s", func(r roundResult) float64 { return get(r).DeliveriesPerSecond() }, "", 0},
			{"frames received", func(r roundResult) float64 { return float64(get(r).Frames) }, "", 0},
			{"covered by a newer update before seen (coalesced, or reordered)", func(r roundResult) float64 { return float64(get(r).Coalesced) }, "", 0},
			{"frames that came after a newer one", func(r roundResult) float64 { return float64(get(r).Late) }, "", 0},
			{"latency p50", func(r roundResult) float64 { return ms(get(r).P50) }, "ms", 1},
			{"latency p99", func(r roundResult) float64 { return ms(get(r).P99) }, "ms", 1},
			{"latency max", func(r roundResult) float64 { return ms(get(r).Max) }, "ms", 1},
			{"server CPU per delivery", func(r roundResult) float64 { return float64(get(r).CPUPerDelivery()) / 1e3 }, "µs", 2},
		})
	}
	fmt.Fprintf(w, "\nEvery run:\n\n| round | server | load before/after | RSS/session no GC / GC (KiB) | idle CPU per 1,000 | open loop: deliveries/s, p99, CPU/delivery | saturation: deliveries/s, p99, CPU/delivery |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for i, r := range results {
		fmt.Fprintf(w, "| %d | %s | %s / %s | %.2f / %.2f | %.3f %% | %.0f, %.1f ms, %.2f µs | %.0f, %.1f ms, %.2f µs |\n",
			i/len(servers)+1, r.server, r.load[0], r.load[1], r.idle.PerSessionNoGC()/1024, r.idle.PerSessionGC()/1024, r.idle.CPUPer1000(),
			r.open.DeliveriesPerSecond(), ms(r.open.P99), float64(r.open.CPUPerDelivery())/1e3,
			r.closed.DeliveriesPerSecond(), ms(r.closed.P99), float64(r.closed.CPUPerDelivery())/1e3)
	}
}

// table prints each metric's range over the rounds for every server and,
// with two servers, the range of Centrifugo ÷ presenced taken round by round.
func table(w io.Writer, servers []string, results []roundResult, metrics []metric) {
	fmt.Fprintf(w, "| | %s |", strings.Join(servers, " | "))
	sep := "| --- |" + strings.Repeat(" --- |", len(servers))
	if len(servers) == 2 {
		fmt.Fprint(w, " centrifugo ÷ presenced (per round) |")
		sep += " --- |"
	}
	fmt.Fprintf(w, "\n%s\n", sep)
	for _, m := range metrics {
		fmt.Fprintf(w, "| %s |", m.label)
		for _, s := range servers {
			var vs []float64
			for _, r := range results {
				if r.server == s {
					vs = append(vs, m.value(r))
				}
			}
			fmt.Fprintf(w, " %s |", span(vs, m.prec, m.unit))
		}
		if len(servers) == 2 {
			var ratios []float64
			for i := 0; i+1 < len(results); i += 2 {
				if p := m.value(results[i]); p != 0 {
					ratios = append(ratios, m.value(results[i+1])/p)
				}
			}
			fmt.Fprintf(w, " %s |", span(ratios, 2, "×"))
		}
		fmt.Fprintln(w)
	}
}

// span prints the range of vs ("a – b unit", or one value).
func span(vs []float64, prec int, unit string) string {
	if len(vs) == 0 {
		return "–"
	}
	lo, hi := vs[0], vs[0]
	for _, v := range vs {
		lo, hi = min(lo, v), max(hi, v)
	}
	f := func(v float64) string { return fmt.Sprintf("%.*f", prec, v) }
	s := f(lo)
	if f(hi) != s {
		s += " – " + f(hi)
	}
	if unit != "" {
		s += " " + unit
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func orNone(s string) string {
	if s == "" {
		return "Centrifugo not run (no --centrifugo)"
	}
	return s
}

func loads(results []roundResult) string {
	var parts []string
	for _, r := range results {
		parts = append(parts, r.server+" "+r.load[0]+"/"+r.load[1])
	}
	return strings.Join(parts, ", ")
}

// machine describes the host: cores, memory, kernel, Go.
func machine() string {
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"), "%d", &kb)
		mem = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
	}
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%d cores, %s, Linux %s, load generator built with %s; load generator and servers on the same cores", runtime.NumCPU(), mem, kernel, runtime.Version())
}
