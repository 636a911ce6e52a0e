package bench

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// compareMetric is one row of the report.
type compareMetric struct {
	name  string
	get   func(CompareRun) float64
	fmt   string // for one value
	ratio bool   // also in the presenced ÷ peer table
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

func compareMetrics(o CompareOptions) []compareMetric {
	return []compareMetric{
		{fmt.Sprintf("login storm: logins/s (%d at a time)", o.Concurrency), func(r CompareRun) float64 { return r.LoginsPerSecond }, "%.0f", true},
		{"login storm: server CPU per login, ms", func(r CompareRun) float64 { return ms(r.CPUPerLogin) }, "%.2f", true},
		{"login storm: login time p50, ms", func(r CompareRun) float64 { return ms(r.LoginP50) }, "%.1f", false},
		{"login storm: login time p99, ms", func(r CompareRun) float64 { return ms(r.LoginP99) }, "%.1f", true},
		{"login storm: errors", func(r CompareRun) float64 { return float64(r.LoginErrors) }, "%.0f", false},
		{"idle: RSS per idle session, KiB", func(r CompareRun) float64 { return r.PerSession() / 1024 }, "%.1f", true},
		{"idle: server RSS without sessions, MiB", func(r CompareRun) float64 { return float64(r.RSSBase) / (1 << 20) }, "%.1f", false},
		{"idle: server RSS with every session idle, MiB", func(r CompareRun) float64 { return float64(r.RSSIdle) / (1 << 20) }, "%.1f", false},
		{"idle: server CPU, no session, % of a core", func(r CompareRun) float64 { return 100 * r.IdleCPUBase }, "%.2f", false},
		{"idle: server CPU, every session idle, % of a core", func(r CompareRun) float64 { return 100 * r.IdleCPU }, "%.2f", true},
		{"churn: presence changes/s reached", func(r CompareRun) float64 { return r.ChurnRate }, "%.0f", false},
		{"churn: presences delivered, % of expected", func(r CompareRun) float64 { return pct(r.ChurnDelivered, r.ChurnExpected) }, "%.1f", false},
		{"churn: server CPU per presence delivered, µs", func(r CompareRun) float64 { return us(r.CPUPerDelivered) }, "%.1f", true},
		{"reconnect storm: every session back after, s", func(r CompareRun) float64 { return r.ReconnectAll.Seconds() }, "%.2f", true},
		{"reconnect storm: re-login p99, ms", func(r CompareRun) float64 { return ms(r.ReloginP99) }, "%.1f", true},
		{"reconnect storm: server CPU per re-login, ms", func(r CompareRun) float64 { return ms(r.CPUPerRelogin) }, "%.2f", true},
		{"reconnect storm: errors", func(r CompareRun) float64 { return float64(r.ReloginErrors) }, "%.0f", false},
		{"disconnect: CPU back to idle for good after, s (-1: not in 90 s)", func(r CompareRun) float64 { return durOrNeg(r.BackToIdle) }, "%.0f", false},
		{"disconnect: server CPU over the next 10 s, % of a core", func(r CompareRun) float64 { return 100 * r.CPUAfterClose }, "%.2f", false},
		{"disconnect: RSS kept over start, MiB", func(r CompareRun) float64 { return float64(r.RSSAfterClose-r.RSSBase) / (1 << 20) }, "%.1f", false},
	}
}

func pct(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

func durOrNeg(d time.Duration) float64 {
	if d < 0 {
		return -1
	}
	return d.Seconds()
}

// spread formats values as "v" or "min – max".
func spread(format string, vs []float64) string {
	if len(vs) == 0 {
		return "–"
	}
	lo, hi := vs[0], vs[0]
	for _, v := range vs {
		lo, hi = min(lo, v), max(hi, v)
	}
	a, b := fmt.Sprintf(format, lo), fmt.Sprintf(format, hi)
	if a == b {
		return a
	}
	return a + " – " + b
}

// values is metric m of server's runs, in round order.
func (c *Comparison) values(server string, m compareMetric) map[int]float64 {
	out := map[int]float64{}
	for _, r := range c.Runs {
		if r.Server == server {
			out[r.Round] = m.get(r)
		}
	}
	return out
}

func sortedValues(m map[int]float64) []float64 {
	var out []float64
	for round := 1; len(out) < len(m); round++ {
		if v, ok := m[round]; ok {
			out = append(out, v)
		}
	}
	return out
}

// Markdown writes the report: machine, versions, settings, one table of
// every figure's range across rounds, and one of presenced ÷ peer ratios
// (taken within each round, then their range).
func (c *Comparison) Markdown(w io.Writer) {
	o := c.Options
	fmt.Fprintf(w, "Measured %s. Machine: %s.\n\n", time.Now().UTC().Format("2006-01-02"), MachineDescription())
	fmt.Fprintf(w, "%d accounts, each with %d mutual contacts (its neighbours in a ring, subscription both); %d round(s), interleaved:", o.Sessions, o.Contacts, len(c.Orders))
	for i, order := range c.Orders {
		fmt.Fprintf(w, " round %d %s;", i+1, strings.Join(order, ", "))
	}
	fmt.Fprintf(w, " every figure is the range over the rounds.\n\n")
	fmt.Fprintf(w, "| server | version | provisioning | TLS negotiated | settings |\n| --- | --- | --- | --- | --- |\n")
	for _, s := range c.Servers {
		negotiated := ""
		for _, r := range c.Runs {
			if r.Server == s.Name && r.TLS != "" {
				negotiated = r.TLS
			}
		}
		fmt.Fprintf(w, "| %s | %s | %.1f s | %s | %s |\n", s.Name, s.Version, s.Provisioned.Seconds(), negotiated, s.Settings)
	}
	var miss int64
	for _, r := range c.Runs {
		miss += r.ScramCacheMiss
	}
	fmt.Fprintf(w, "\nSame for every server: the accounts (distinct password and salt each), SCRAM-SHA-256 credentials stored hashed "+
		"(salt, %d iterations, StoredKey, ServerKey), the rosters, one self-signed ECDSA P-256 certificate; the client "+
		"(mellium.im/xmpp in one load-generator process on the same cores): TCP, STARTTLS with TLS 1.3 only (X25519, no "+
		"resumption), SCRAM-SHA-256 with the SaltedPassword cached per account as clients keep it (cache filled before the "+
		"run; client PBKDF2 computations during the run: %d), bind, roster get, initial presence. Logins: %d at a time. "+
		"Idle CPU measured over %s with clients sending nothing. Churn: %.0f%% of the sessions change presence (away, "+
		"available, …) at %.0f changes/s in total for %s, open loop; each change is due to every contact. Reconnect storm: "+
		"every session's TCP connection dropped at once, then all log in again, %d at a time. Disconnect: every connection "+
		"dropped; idle means 1-s windows of at most the CPU before the first login plus 5%% of a core, ten "+
		"in a row (the time given is when they began). Memory is VmRSS of "+
		"the server process (beam.smp for ejabberd) from /proc, no forced garbage collection; CPU is utime+stime from "+
		"/proc/PID/stat.\n\n",
		c.Iterations, miss, o.Concurrency, o.IdleFor, 100*o.ChurnFraction, o.ChurnRate, o.ChurnFor, o.Concurrency)

	metrics := compareMetrics(o)
	fmt.Fprintf(w, "| |")
	for _, s := range c.Servers {
		fmt.Fprintf(w, " %s |", s.Name)
	}
	fmt.Fprintf(w, "\n| --- |%s\n", strings.Repeat(" --- |", len(c.Servers)))
	for _, m := range metrics {
		fmt.Fprintf(w, "| %s |", m.name)
		for _, s := range c.Servers {
			fmt.Fprintf(w, " %s |", spread(m.fmt, sortedValues(c.values(s.Name, m))))
		}
		fmt.Fprintln(w)
	}
	var peers []string
	for _, s := range c.Servers {
		if s.Name != "presenced" {
			peers = append(peers, s.Name)
		}
	}
	if len(peers) == 0 || len(peers) == len(c.Servers) {
		return
	}
	fmt.Fprintf(w, "\n| presenced ÷ peer (same round) |")
	for _, p := range peers {
		fmt.Fprintf(w, " %s |", p)
	}
	fmt.Fprintf(w, "\n| --- |%s\n", strings.Repeat(" --- |", len(peers)))
	for _, m := range metrics {
		if !m.ratio {
			continue
		}
		fmt.Fprintf(w, "| %s |", m.name)
		ours := c.values("presenced", m)
		for _, p := range peers {
			var ratios []float64
			for round, v := range c.values(p, m) {
				if o, ok := ours[round]; ok && v != 0 {
					ratios = append(ratios, o/v)
				}
			}
			fmt.Fprintf(w, " %s |", spread("%.2f", ratios))
		}
		fmt.Fprintln(w)
	}
	for _, r := range c.Runs {
		if r.FirstLoginError != "" {
			fmt.Fprintf(w, "\nRound %d, %s, first login error: %s\n", r.Round, r.Server, r.FirstLoginError)
		}
	}
}

// MachineDescription is cores, CPU model, memory and kernel, as /proc says.
func MachineDescription() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseFloat(f[1], 64); err == nil {
					mem = fmt.Sprintf("%.0f GiB", kb/(1<<20))
				}
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%d cores (%s), %s RAM, Linux %s, %s; the load generator shares the cores with the server",
		runtime.NumCPU(), model, mem, strings.TrimSpace(string(kernel)), runtime.Version())
}
