package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/store"
)

// StormResult is what a login storm, and the reconnect storm after it,
// measured. Errors are counted, never retried or hidden.
type StormResult struct {
	Sessions, Contacts, Concurrency int
	SourceAddrs                     int // loopback source addresses the dials rotate through (0: the system's choice)

	// The login storm: every session connects at once (Concurrency at a
	// time) and says it is available in its hello.
	Connected     int           // sessions that got a welcome
	ConnectErrors int           // sessions that did not
	ConnectTime   time.Duration // from the first dial until the last welcome
	// ConvergeTime runs from the first dial until every session had seen
	// every contact available; Converged counts the sessions that had
	// when the wait ended (Sessions when it converged).
	ConvergeTime time.Duration
	Converged    int
	LoginCPU     time.Duration // server CPU over ConvergeTime (or the wait, if it did not converge)
	LoginFlaps   int           // a contact seen available, then not, during the login storm

	// The reconnect storm (Reconnect set): every connected session drops
	// its connection at once (no bye) and resumes (Concurrency at a time).
	Reconnect    bool
	Grace        int // seconds, as the welcome granted it
	Resumed      int
	ResumeErrors int
	// Resume: from a session's dial to its welcome; SinceDrop: from the
	// moment every connection was cut to the session's welcome (the
	// load generator's queue included).
	ResumeP50, ResumeP99, ResumeMax          time.Duration
	SinceDropP50, SinceDropP99, SinceDropMax time.Duration
	StormTime                                time.Duration // from the cut until the last resume answered
	StormCPU                                 time.Duration // server CPU over StormTime
	StormSelfCPU                             time.Duration // the load generator's own CPU over StormTime
	Cores                                    int           // CPUs the server and the load generator share
	Watched                                  time.Duration // from the cut until the flaps were counted (the grace period and 2 s more, at least)
	Flaps                                    int           // presence frames (or snapshot entries) showing a contact not available
	FlapPairs                                int           // distinct (viewer, contact) pairs that saw a flap
	Resyncs                                  int           // fresh snapshots after a resume (the events could not be replayed)
	Goaways                                  int           // goaway frames received during the storm
	Lost                                     int           // sessions that, at the end, did not see every contact available
	// the server's presenced_sessions_total and presenced_websockets,
	// sampled every 100 ms from the cut until the flaps were counted
	ServerSessionsMin, ServerSessionsMax float64
	ServerWebsocketsMin                  float64

	Errors []string // the first few error messages, verbatim
}

// LoginStorm prepares n accounts, each with contacts mutual contacts (its
// neighbours in a ring), connects them all at once (concurrency at a time,
// each available in its hello) and measures how long until every session
// has seen every contact available. The dials come from sources loopback
// addresses in turn (spread_linux.go; 0: from the one the system picks).
func LoginStorm(ctx context.Context, bin string, n, contacts, concurrency, sources int, log io.Writer) (StormResult, error) {
	return runStorm(ctx, bin, n, contacts, concurrency, sources, 0, false, log)
}

// ReconnectStorm is LoginStorm with sessions asking for grace seconds of
// grace period, followed by the storm: every session drops its connection
// at once, then resumes, and every contact's view is watched for flaps.
func ReconnectStorm(ctx context.Context, bin string, n, contacts, concurrency, sources, grace int, log io.Writer) (StormResult, error) {
	return runStorm(ctx, bin, n, contacts, concurrency, sources, grace, true, log)
}

// ringOf gives each of n accounts its neighbours in a ring, up to c/2 on
// each side (fewer when the ring is small): a symmetric relation.
func ringOf(n, c int) [][]int {
	out := make([][]int, n)
	for i := range out {
		for d := 1; d <= c/2; d++ {
			for _, j := range []int{(i + d) % n, ((i-d)%n + n) % n} {
				if j != i && !slices.Contains(out[i], j) {
					out[i] = append(out[i], j)
				}
			}
		}
	}
	return out
}

// stormPeer is one session and its view of its contacts.
type stormPeer struct {
	acct    Account
	s       *client.Session
	mu      sync.Mutex
	online  map[string]bool // contact → seen available now
	avail   int             // contacts seen available now
	done    bool            // saw every contact available once
	flapped map[string]bool
}

type storm struct {
	peers     []*stormPeer
	phase     atomic.Int32 // 0: login storm, 1: reconnect storm
	remaining atomic.Int64 // sessions yet to see every contact available
	lastDone  atomic.Int64 // unix ns at which the last one did
	flaps     [2]atomic.Int64
	pairs     atomic.Int64
	resyncs   atomic.Int64
	goaways   atomic.Int64
	errMu     sync.Mutex
	errs      []string
}

func (st *storm) fail(format string, args ...any) {
	st.errMu.Lock()
	if len(st.errs) < 8 {
		st.errs = append(st.errs, fmt.Sprintf(format, args...))
	}
	st.errMu.Unlock()
}

// see records that p was shown contact address as availability.
func (st *storm) see(p *stormPeer, address, availability string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if was, ok := p.online[address]; ok { // else not a contact (p itself)
		now := availability != "unavailable" && availability != ""
		switch {
		case now && !was:
			p.avail++
		case was && !now:
			p.avail--
			st.flaps[st.phase.Load()].Add(1)
			if !p.flapped[address] {
				p.flapped[address] = true
				st.pairs.Add(1)
			}
		}
		p.online[address] = now
	}
	if !p.done && p.avail == len(p.online) {
		p.done = true
		st.lastDone.Store(time.Now().UnixNano())
		st.remaining.Add(-1)
	}
}

// read follows p's events until ctx ends.
func (st *storm) read(ctx context.Context, p *stormPeer) {
	for {
		f, err := p.s.NextRaw(ctx)
		if err != nil {
			return
		}
		switch f.Type {
		case "snapshot":
			if st.phase.Load() == 1 {
				st.resyncs.Add(1)
			}
			var snap struct {
				Presence []struct{ Address, Availability string }
			}
			if err := json.Unmarshal(f.Raw, &snap); err != nil {
				st.fail("%s: bad snapshot: %v", p.acct.Address, err)
			}
			for _, c := range snap.Presence {
				st.see(p, c.Address, c.Availability)
			}
		case "presence":
			var pr struct{ Address, Availability string }
			if err := json.Unmarshal(f.Raw, &pr); err != nil {
				st.fail("%s: bad presence: %v", p.acct.Address, err)
			}
			st.see(p, pr.Address, pr.Availability)
		case "goaway":
			if st.phase.Load() == 1 {
				st.goaways.Add(1)
			}
			st.fail("%s: %s", p.acct.Address, f.Raw)
		}
	}
}

// each runs f(i) for i in [0, n), concurrency at a time.
func each(n, concurrency int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < max(concurrency, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		}()
	}
	wg.Wait()
}

func runStorm(ctx context.Context, bin string, n, contacts, concurrency, sources, grace int, reconnect bool, log io.Writer) (StormResult, error) {
	res := StormResult{Sessions: n, Concurrency: concurrency, SourceAddrs: sources, Reconnect: reconnect}
	dir, err := os.MkdirTemp("", "presenced-bench-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(log, "preparing %d accounts with %d mutual contacts each…\n", n, contacts)
	accts, db, err := Prepare(ctx, dir, "storm", n)
	if err != nil {
		return res, err
	}
	ring := ringOf(n, contacts)
	for i, cs := range ring {
		for _, j := range cs { // the ring is symmetric: both directions get written
			if err := db.PutRelation(ctx, store.Relation{Subject: accts[i].Address, Viewer: accts[j].Address, State: store.Approved}); err != nil {
				db.Close()
				return res, err
			}
		}
	}
	db.Close()
	if n > 0 {
		res.Contacts = len(ring[0])
	}
	rig, err := Start(ctx, bin, dir)
	if err != nil {
		return res, err
	}
	defer rig.Stop()

	st := &storm{peers: make([]*stormPeer, n)}
	for i, a := range accts {
		p := &stormPeer{acct: a, online: map[string]bool{}, flapped: map[string]bool{}}
		for _, j := range ring[i] {
			p.online[accts[j].Address] = false
		}
		st.peers[i] = p
	}
	st.remaining.Store(int64(n))
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	defer func() {
		for _, p := range st.peers {
			if p.s != nil {
				p.s.Drop()
			}
		}
	}()

	fmt.Fprintf(log, "login storm: %d sessions, %d at a time (server pprof: %s/debug/pprof/)…\n", n, concurrency, rig.Admin)
	if !reconnect { // a reconnect storm profiles its resumes instead (reconnect)
		rig.ProfileCPU(stormProfile) // PRESENCED_BENCH_CPU names the file, if set
	}
	cpu0, _ := rig.CPU()
	start := time.Now()
	var connected, failed atomic.Int64
	dial := spreadDial(sources) // from many source addresses, as many clients would (spread_linux.go)
	each(n, concurrency, func(i int) {
		p := st.peers[i]
		c := client.New(rig.URL, p.acct.Token)
		c.Dial = dial
		s, err := c.Connect(ctx, client.ConnectOptions{
			Device: "storm", Presence: &client.Presence{Availability: "available"}, Grace: grace})
		if err != nil {
			failed.Add(1)
			st.fail("connect %s: %v", p.acct.Address, err)
			return
		}
		connected.Add(1)
		p.s = s
		if len(p.online) == 0 {
			st.see(p, "", "") // no contact to wait for
		}
		go st.read(readCtx, p)
	})
	res.ConnectTime = time.Since(start)
	res.Connected, res.ConnectErrors = int(connected.Load()), int(failed.Load())
	if res.Connected > 0 {
		res.Grace = st.peers[slices.IndexFunc(st.peers, func(p *stormPeer) bool { return p.s != nil })].s.Welcome.Grace
	}
	fmt.Fprintf(log, "%d connected in %.1fs (%d errors); waiting for presence to converge…\n", res.Connected, res.ConnectTime.Seconds(), res.ConnectErrors)
	// converged, or no session got further for 20 s
	left, lastMove := st.remaining.Load(), time.Now()
	for left > 0 && time.Since(lastMove) < 20*time.Second && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
		if l := st.remaining.Load(); l != left {
			left, lastMove = l, time.Now()
		}
	}
	cpu1, _ := rig.CPU()
	res.LoginCPU = cpu1 - cpu0
	res.Converged = n - int(left)
	if left == 0 {
		res.ConvergeTime = time.Duration(st.lastDone.Load() - start.UnixNano())
	}
	res.LoginFlaps = int(st.flaps[0].Load())
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if reconnect {
		if err := st.reconnect(ctx, rig, &res, log); err != nil {
			return res, err
		}
	}
	st.errMu.Lock()
	res.Errors = st.errs
	st.errMu.Unlock()
	return res, nil
}

// reconnect cuts every connected session's connection at once, resumes
// them all, and watches for flaps until the grace period has passed.
func (st *storm) reconnect(ctx context.Context, rig *Rig, res *StormResult, log io.Writer) error {
	live := slices.DeleteFunc(slices.Clone(st.peers), func(p *stormPeer) bool { return p.s == nil })
	res.ServerSessionsMin, res.ServerSessionsMax = rig.Metric("presenced_sessions_total"), 0
	res.ServerWebsocketsMin = rig.Metric("presenced_websockets")
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	var once sync.Once
	stop := func() { once.Do(func() { close(stopSampling); <-sampled }) }
	defer stop()
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(100 * time.Millisecond):
			}
			s, w := rig.Metric("presenced_sessions_total"), rig.Metric("presenced_websockets")
			res.ServerSessionsMin, res.ServerSessionsMax = min(res.ServerSessionsMin, s), max(res.ServerSessionsMax, s)
			res.ServerWebsocketsMin = min(res.ServerWebsocketsMin, w)
		}
	}()
	fmt.Fprintf(log, "reconnect storm: cutting %d connections, then resuming them, %d at a time…\n", len(live), res.Concurrency)
	st.phase.Store(1)
	// PRESENCED_BENCH_CPU and PRESENCED_BENCH_SELF_CPU name files for the
	// server's and the load generator's CPU profiles of the storm.
	if os.Getenv("PRESENCED_BENCH_CPU") != "" {
		rig.ProfileCPU(stormProfile)
		time.Sleep(200 * time.Millisecond) // the server starts profiling when the request arrives
	}
	stopSelf := profileSelf(stormProfile)
	defer stopSelf()
	res.Cores = runtime.NumCPU()
	cpu0, _ := rig.CPU()
	self0 := selfCPU()
	cut := time.Now()
	for _, p := range live {
		p.s.Drop()
	}
	took := make([]time.Duration, len(live))
	since := make([]time.Duration, len(live))
	var resumed, failed atomic.Int64
	each(len(live), res.Concurrency, func(i int) {
		t := time.Now()
		err := live[i].s.Resume(ctx)
		took[i], since[i] = time.Since(t), time.Since(cut)
		if err != nil {
			took[i], since[i] = -1, -1
			failed.Add(1)
			st.fail("resume %s: %v", live[i].acct.Address, err)
			return
		}
		resumed.Add(1)
	})
	res.StormTime = time.Since(cut)
	cpu1, _ := rig.CPU()
	res.StormCPU, res.StormSelfCPU = cpu1-cpu0, selfCPU()-self0
	stopSelf()
	res.Resumed, res.ResumeErrors = int(resumed.Load()), int(failed.Load())
	failedOne := func(d time.Duration) bool { return d < 0 }
	res.ResumeP50, res.ResumeP99, res.ResumeMax = percentiles(slices.DeleteFunc(took, failedOne))
	res.SinceDropP50, res.SinceDropP99, res.SinceDropMax = percentiles(slices.DeleteFunc(since, failedOne))
	// A session the server lost would end when its grace period does:
	// watch until then, and 2 s more.
	watch := max(res.StormTime, time.Duration(res.Grace)*time.Second) + 2*time.Second
	fmt.Fprintf(log, "%d resumed in %.1fs (%d errors); watching contacts until %.0fs after the cut…\n", res.Resumed, res.StormTime.Seconds(), res.ResumeErrors, watch.Seconds())
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(cut.Add(watch))):
	}
	stop()
	res.Watched = time.Since(cut)
	res.Flaps, res.FlapPairs = int(st.flaps[1].Load()), int(st.pairs.Load())
	res.Resyncs, res.Goaways = int(st.resyncs.Load()), int(st.goaways.Load())
	for _, p := range st.peers {
		p.mu.Lock()
		if p.avail != len(p.online) {
			res.Lost++
		}
		p.mu.Unlock()
	}
	return nil
}

// stormProfile is how long the CPU profiles of a storm last, from its
// start (the first dial, or the cut).
const stormProfile = 5 * time.Second

// Floor is the shortest time the storm's CPU (the server's and the load
// generator's, which share the machine) could have taken on Cores fully
// used CPUs: how close "since the cut" came to the machine's limit.
func (r StormResult) Floor() time.Duration {
	return (r.StormCPU + r.StormSelfCPU) / time.Duration(max(r.Cores, 1))
}

// percentiles gives the median, 99th percentile and maximum of d (sorted
// in place).
func percentiles(d []time.Duration) (p50, p99, top time.Duration) {
	if len(d) == 0 {
		return 0, 0, 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2], d[len(d)*99/100], d[len(d)-1]
}

// Report prints the result.
func (r StormResult) Report(w io.Writer) {
	ms := func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
	fmt.Fprintf(w, "sessions:             %d, %d mutual contacts each (ring neighbours), %d connecting at a time, from %d loopback source addresses (0: the system's one)\n",
		r.Sessions, r.Contacts, r.Concurrency, r.SourceAddrs)
	fmt.Fprintf(w, "login errors:         %d (%d connected)\n", r.ConnectErrors, r.Connected)
	fmt.Fprintf(w, "logins:               %.0f/s (%d in %s: WebSocket, token hello with presence, welcome)\n", float64(r.Connected)/r.ConnectTime.Seconds(), r.Connected, ms(r.ConnectTime))
	if r.Converged == r.Sessions {
		fmt.Fprintf(w, "converged:            %d of %d sessions saw every contact available, %s after the first dial\n", r.Converged, r.Sessions, ms(r.ConvergeTime))
	} else {
		fmt.Fprintf(w, "NOT CONVERGED:        %d of %d sessions saw every contact available (nothing moved for 20 s)\n", r.Converged, r.Sessions)
	}
	fmt.Fprintf(w, "server CPU per login: %.2f ms (%s until converged, presence fan-out included)\n", float64(r.LoginCPU)/float64(time.Millisecond)/float64(max(r.Connected, 1)), ms(r.LoginCPU))
	fmt.Fprintf(w, "login flaps:          %d (a contact seen available, then not)\n", r.LoginFlaps)
	if r.Reconnect {
		fmt.Fprintf(w, "grace granted:        %d s\n", r.Grace)
		fmt.Fprintf(w, "resumed:              %d of %d (resume errors: %d)\n", r.Resumed, r.Connected, r.ResumeErrors)
		fmt.Fprintf(w, "resume p50/p99/max:   %s / %s / %s (dial to welcome, %d in flight)\n", ms(r.ResumeP50), ms(r.ResumeP99), ms(r.ResumeMax), r.Concurrency)
		fmt.Fprintf(w, "since cut p50/p99/max: %s / %s / %s (from cutting every connection to the welcome)\n", ms(r.SinceDropP50), ms(r.SinceDropP99), ms(r.SinceDropMax))
		perResume := func(d time.Duration) float64 {
			return float64(d) / float64(time.Millisecond) / float64(max(r.Resumed, 1))
		}
		fmt.Fprintf(w, "storm:                %s from the cut to the last welcome, %.0f resumes/s; server CPU %s, %.3f ms per resume\n",
			ms(r.StormTime), float64(r.Resumed)/r.StormTime.Seconds(), ms(r.StormCPU), perResume(r.StormCPU))
		fmt.Fprintf(w, "load generator CPU:   %s, %.3f ms per resume (dial, upgrade, hello, welcome; its readers; the metrics sampling)\n",
			ms(r.StormSelfCPU), perResume(r.StormSelfCPU))
		fmt.Fprintf(w, "CPU floor:            %s: (server + load generator CPU) / %d cores, the least the storm could take on this machine\n",
			ms(r.Floor()), r.Cores)
		fmt.Fprintf(w, "flaps:                %d seen by contacts (%d viewer-contact pairs), watched %s from the cut\n", r.Flaps, r.FlapPairs, ms(r.Watched))
		fmt.Fprintf(w, "resyncs, goaways:     %d fresh snapshots after a resume, %d goaways\n", r.Resyncs, r.Goaways)
		fmt.Fprintf(w, "lost presence:        %d sessions not seeing every contact available at the end\n", r.Lost)
		fmt.Fprintf(w, "server sessions:      %.0f–%.0f during the storm (presenced_sessions_total); WebSockets down to %.0f\n", r.ServerSessionsMin, r.ServerSessionsMax, r.ServerWebsocketsMin)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error:                %s\n", e)
	}
}
