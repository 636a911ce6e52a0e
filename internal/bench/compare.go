package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// CompareOptions configures XMPPCompare.
type CompareOptions struct {
	Servers       []string // in the first round's order; later rounds rotate it
	Bin           string   // the presenced binary
	Sessions      int
	Contacts      int
	Rounds        int
	Concurrency   int           // logins under way at once in the storms
	IdleFor       time.Duration // how long idle CPU is measured
	ChurnFraction float64       // of the sessions, those that change presence
	ChurnRate     float64       // presence changes per second, all of them together
	ChurnFor      time.Duration
	Log           io.Writer
}

// ServerInfo describes one server under test for the report.
type ServerInfo struct {
	Name, Version, Settings string
	Provisioned             time.Duration // writing the population into its storage
}

// CompareRun is what one server measured in one round.
type CompareRun struct {
	Server string
	Round  int // from 1
	Place  int // its place in the round's order, from 1

	RSSBase     int64   // started, no session
	IdleCPUBase float64 // fraction of one core, no session

	Logins          int // sessions logged in by the login storm
	LoginErrors     int
	LoginsPerSecond float64
	CPUPerLogin     time.Duration // server CPU over the storm until presence traffic stopped, per login
	LoginP50        time.Duration
	LoginP99        time.Duration

	RSSAfterLogin int64
	RSSIdle       int64   // after the sessions idled
	IdleCPU       float64 // fraction of one core with every session idle

	ChurnChanges    int
	ChurnRate       float64 // changes per second reached (open loop)
	ChurnExpected   int64   // presence stanzas the contacts should receive
	ChurnDelivered  int64
	CPUPerDelivered time.Duration

	Relogins        int
	ReloginErrors   int
	ReconnectAll    time.Duration // from the drop until every session was back
	ReloginP50      time.Duration
	ReloginP99      time.Duration
	CPUPerRelogin   time.Duration
	BackToIdle      time.Duration // after every session dropped, until the CPU stayed idle; -1: not within 90 s
	CPUAfterClose   float64       // fraction of one core over the idle streak that followed
	RSSAfterClose   int64
	ScramCacheMiss  int64  // logins that computed PBKDF2 (0 when the cache was filled)
	TLS             string // what the client's TLS handshakes agreed on
	FirstLoginError string
}

// PerSession is the resident memory one idle session costs.
func (r CompareRun) PerSession() float64 {
	if r.Logins == 0 {
		return 0
	}
	return float64(r.RSSIdle-r.RSSBase) / float64(r.Logins)
}

// Comparison is the outcome of XMPPCompare.
type Comparison struct {
	Options    CompareOptions
	Iterations int // the accounts' PBKDF2 iterations
	Servers    []ServerInfo
	Orders     [][]string // each round's order
	Runs       []CompareRun
}

// XMPPCompare runs the same XMPP scenarios against each server, in
// rounds, interleaved (each round rotates the order): a login storm, idle
// sessions, presence churn, a reconnect storm and a disconnect. Every
// server is given the same Population; the clients' SCRAM cache is filled
// from it beforehand, as clients that logged in once keep their
// SaltedPassword, so no login computes PBKDF2 on the client.
func XMPPCompare(ctx context.Context, o CompareOptions) (*Comparison, error) {
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	if o.Concurrency < 1 {
		o.Concurrency = 64
	}
	if o.Rounds < 1 {
		o.Rounds = 1
	}
	servers := make([]XMPPServer, len(o.Servers))
	for i, name := range o.Servers {
		s, err := NewXMPPServer(name, o.Bin)
		if err != nil {
			return nil, err
		}
		servers[i] = s
	}
	fmt.Fprintf(log, "deriving %d accounts (distinct passwords and salts, PBKDF2 %s)…\n", o.Sessions, scramMechanism)
	pop, err := NewPopulation("u", o.Sessions, o.Contacts)
	if err != nil {
		return nil, err
	}
	cache := NewScramCache()
	pop.FillCache(cache)
	base, err := os.MkdirTemp(scratchRoot(), "presenced-compare-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(base)
	c := &Comparison{Options: o, Iterations: pop.Iterations}
	dirs := make([]string, len(servers))
	for i, s := range servers {
		dirs[i] = filepath.Join(base, s.Name())
		if err := os.MkdirAll(dirs[i], 0o755); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "%s: provisioning %d accounts, %d contacts each…\n", s.Name(), o.Sessions, o.Contacts)
		start := time.Now()
		if err := s.Provision(ctx, pop, dirs[i], log); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name(), err)
		}
		c.Servers = append(c.Servers, ServerInfo{Name: s.Name(), Version: s.Version(), Settings: s.Settings(), Provisioned: time.Since(start)})
	}
	for r := 0; r < o.Rounds; r++ {
		var order []string
		for k := range servers {
			i := (k + r) % len(servers)
			order = append(order, servers[i].Name())
			fmt.Fprintf(log, "round %d, %s…\n", r+1, servers[i].Name())
			run, err := compareOne(ctx, servers[i], dirs[i], pop, cache, o, log)
			run.Round, run.Place = r+1, k+1
			if err != nil {
				return c, fmt.Errorf("round %d, %s: %w", r+1, servers[i].Name(), err)
			}
			c.Runs = append(c.Runs, run)
		}
		c.Orders = append(c.Orders, order)
	}
	return c, nil
}

// scratchRoot is where the servers' data directories go: a RAM file
// system when there is one, so that no server waits on the disk (fsync
// included) and none is slowed by another's writes.
func scratchRoot() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return ""
}

// warmLogins is how many logins warm a server up before it is measured.
const warmLogins = 8

// compareOne starts srv on dir and runs every scenario once.
func compareOne(ctx context.Context, srv XMPPServer, dir string, pop *Population, cache *ScramCache, o CompareOptions, log io.Writer) (CompareRun, error) {
	run := CompareRun{Server: srv.Name()}
	p, err := srv.Start(ctx, dir, log)
	if err != nil {
		return run, err
	}
	defer p.Stop()
	missesBefore := cache.Misses()
	clients := newXMPPClients(p.Addr, pop, cache)
	n := len(pop.Users)
	// warm-up: a few logins, one after the other, then dropped, so that
	// no server's first logins of the storm pay for loading code (ejabberd
	// loads Erlang modules on first use: ~0.5 s for its first login)
	for i := 0; i < min(n, warmLogins); i++ {
		c, err := clients.login(ctx, i)
		if err != nil {
			return run, fmt.Errorf("warm-up login: %w", err)
		}
		c.Close()
	}
	time.Sleep(3 * time.Second) // let start-up and warm-up work finish
	run.RSSBase, _ = p.RSS()
	run.IdleCPUBase = cpuOver(p, 3*time.Second)
	conns := make([]*xmppConn, n)

	// login storm
	cpu0, _ := p.CPU()
	st := parallelRuns(ctx, n, o.Concurrency, func(i int) error {
		c, err := clients.login(ctx, i)
		conns[i] = c
		return err
	})
	waitQuiet(&clients.presences, 500*time.Millisecond, 30*time.Second)
	cpu1, _ := p.CPU()
	run.Logins, run.LoginErrors, run.FirstLoginError = n-st.errors, st.errors, st.firstError
	run.LoginsPerSecond = float64(run.Logins) / st.elapsed.Seconds()
	run.LoginP50, run.LoginP99 = st.percentile(0.5), st.percentile(0.99)
	if run.Logins > 0 {
		run.CPUPerLogin = (cpu1 - cpu0) / time.Duration(run.Logins)
	}
	run.RSSAfterLogin, _ = p.RSS()
	fmt.Fprintf(log, "  %d logins in %.1fs (%d errors)\n", run.Logins, st.elapsed.Seconds(), run.LoginErrors)

	// idle
	time.Sleep(5 * time.Second)
	run.IdleCPU = cpuOver(p, o.IdleFor)
	run.RSSIdle, _ = p.RSS()

	// presence churn
	churn(ctx, p, pop, conns, clients, o, &run)
	fmt.Fprintf(log, "  churn: %d changes at %.0f/s, %d of %d presences delivered\n", run.ChurnChanges, run.ChurnRate, run.ChurnDelivered, run.ChurnExpected)

	// reconnect storm: every session drops at once and logs in again
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	cpu0, _ = p.CPU()
	st = parallelRuns(ctx, n, o.Concurrency, func(i int) error {
		c, err := clients.login(ctx, i)
		conns[i] = c
		return err
	})
	run.ReconnectAll = st.elapsed
	waitQuiet(&clients.presences, 500*time.Millisecond, 30*time.Second)
	cpu1, _ = p.CPU()
	run.Relogins, run.ReloginErrors = n-st.errors, st.errors
	if run.FirstLoginError == "" {
		run.FirstLoginError = st.firstError
	}
	run.ReloginP50, run.ReloginP99 = st.percentile(0.5), st.percentile(0.99)
	if run.Relogins > 0 {
		run.CPUPerRelogin = (cpu1 - cpu0) / time.Duration(run.Relogins)
	}
	fmt.Fprintf(log, "  reconnect storm: %d back in %.1fs (%d errors)\n", run.Relogins, st.elapsed.Seconds(), run.ReloginErrors)

	// disconnect: every session drops; does the server return to idle?
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	run.BackToIdle, run.CPUAfterClose = backToIdle(p, run.IdleCPUBase, 90*time.Second)
	run.RSSAfterClose, _ = p.RSS()
	run.ScramCacheMiss = cache.Misses() - missesBefore
	run.TLS = clients.tlsInfo
	return run, nil
}

// churn has a fraction of the sessions change presence at a fixed rate
// (open loop: each change leaves at its time whatever the server does) and
// counts the presence stanzas their contacts receive.
func churn(ctx context.Context, p *ServerProcess, pop *Population, conns []*xmppConn, clients *xmppClients, o CompareOptions, run *CompareRun) {
	n := len(conns)
	k := int(o.ChurnFraction * float64(n))
	if k < 1 {
		k = 1
	}
	var churners []int
	for j := 0; j < k; j++ {
		if i := j * n / k; conns[i] != nil {
			churners = append(churners, i)
		}
	}
	total := int(o.ChurnRate * o.ChurnFor.Seconds())
	if len(churners) == 0 || total < 1 || o.ChurnRate <= 0 {
		return
	}
	var expected int64
	online := func(i int) int64 {
		var c int64
		for _, j := range pop.Neighbours(i) {
			if conns[j] != nil {
				c++
			}
		}
		return c
	}
	for m := 0; m < total; m++ {
		expected += online(churners[m%len(churners)])
	}
	before := clients.presences.Load()
	cpu0, _ := p.CPU()
	start := time.Now()
	var wg sync.WaitGroup
	for m := 0; m < total; m++ {
		if d := time.Until(start.Add(time.Duration(float64(m) / o.ChurnRate * float64(time.Second)))); d > 0 {
			time.Sleep(d)
		}
		c, away := conns[churners[m%len(churners)]], (m/len(churners))%2 == 0
		wg.Add(1)
		go func() { defer wg.Done(); c.changePresence(ctx, away) }()
	}
	wg.Wait()
	sent := time.Since(start)
	// wait for the deliveries: until all arrived or none for 3 s
	last, lastChange := clients.presences.Load(), time.Now()
	for clients.presences.Load()-before < expected && time.Since(lastChange) < 3*time.Second {
		time.Sleep(50 * time.Millisecond)
		if v := clients.presences.Load(); v != last {
			last, lastChange = v, time.Now()
		}
	}
	cpu1, _ := p.CPU()
	run.ChurnChanges, run.ChurnRate = total, float64(total)/sent.Seconds()
	run.ChurnExpected, run.ChurnDelivered = expected, clients.presences.Load()-before
	if run.ChurnDelivered > 0 {
		run.CPUPerDelivered = (cpu1 - cpu0) / time.Duration(run.ChurnDelivered)
	}
}

// stormResult is what a storm of logins measured.
type stormResult struct {
	elapsed    time.Duration
	errors     int
	firstError string
	times      []time.Duration // of the successful ones, sorted
}

func (s stormResult) percentile(q float64) time.Duration {
	if len(s.times) == 0 {
		return 0
	}
	return s.times[int(q*float64(len(s.times)-1))]
}

// parallelRuns runs f(0…n-1) with workers at a time, as fast as they go.
func parallelRuns(ctx context.Context, n, workers int, f func(i int) error) stormResult {
	var next atomic.Int64
	var mu sync.Mutex
	var res stormResult
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t := time.Now()
				err := f(i)
				d := time.Since(t)
				mu.Lock()
				if err != nil {
					if res.errors == 0 {
						res.firstError = fmt.Sprintf("account %d: %v", i, err)
					}
					res.errors++
				} else {
					res.times = append(res.times, d)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	sort.Slice(res.times, func(i, j int) bool { return res.times[i] < res.times[j] })
	return res
}

// waitQuiet waits until counter has not moved for quiet (at most limit).
func waitQuiet(counter *atomic.Int64, quiet, limit time.Duration) {
	end := time.Now().Add(limit)
	last, since := counter.Load(), time.Now()
	for time.Now().Before(end) && time.Since(since) < quiet {
		time.Sleep(50 * time.Millisecond)
		if v := counter.Load(); v != last {
			last, since = v, time.Now()
		}
	}
}

// cpuOver is the fraction of one core p used over the next d.
func cpuOver(p interface{ CPU() (time.Duration, error) }, d time.Duration) float64 {
	c0, _ := p.CPU()
	time.Sleep(d)
	c1, _ := p.CPU()
	return (c1 - c0).Seconds() / d.Seconds()
}

// backToIdle measures p's CPU in one-second windows after a disconnect
// until ten windows in a row were idle (at most idle plus 5 % of a core: a
// window is counted in 10 ms ticks, and a runtime's housekeeping shows as
// a tick or two), so that work a server defers (a grace period before
// sessions go offline) is waited for. It returns when
// that idle streak began, or -1 when limit passed first, and the CPU over
// the streak (the last ten windows when limit passed).
func backToIdle(p interface{ CPU() (time.Duration, error) }, idle float64, limit time.Duration) (time.Duration, float64) {
	const streak = 10
	threshold := idle + 0.05
	start := time.Now()
	var windows []float64
	since := time.Duration(0)
	for time.Since(start) < limit {
		v := cpuOver(p, time.Second)
		windows = append(windows, v)
		if v > threshold {
			since = time.Since(start)
		}
		if n := len(windows); n >= streak && time.Since(start)-since >= streak*time.Second {
			return since, mean(windows[n-streak:])
		}
	}
	return -1, mean(windows[max(0, len(windows)-streak):])
}

func mean(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	var sum float64
	for _, v := range vs {
		sum += v
	}
	return sum / float64(len(vs))
}
