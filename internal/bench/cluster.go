package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/store/postgres"
)

// MaxSessionsPerProcess bounds the sessions one process of the cluster
// benchmark (a node or a load generator) holds: each is an open file, and
// a process may have 20,000 here; the rest is kept for the process's own.
const MaxSessionsPerProcess = 19000

// workerConcurrency is how many logins one load generator has in flight;
// several generators run at once, so fewer than the one-process tools'.
const workerConcurrency = 16

// connectTries is how many times a load generator tries one login.
const connectTries = 5

// ClusterOptions configures the cluster benchmark.
type ClusterOptions struct {
	Bin      string // the presenced binary: the nodes, and the load generators (bench cluster-worker)
	Store    string // postgres:// URL of an empty database the nodes share
	NATS     string // NATS URL; empty: start nats-server from PATH with JetStream
	Nodes    int
	Sessions int // idle sessions, round-robin across the nodes
	Workers  int // load-generator processes holding the idle sessions
	Watchers int // fan-out: sessions on nodes 2…N watching one publisher on node 1
	Updates  int // fan-out: presence changes the publisher makes
	Rate     float64
	Log      io.Writer
}

// ClusterNode is what one node measured.
type ClusterNode struct {
	ID        string
	Sessions  float64 // as the node counts them (presenced_sessions_total)
	RSSBefore int64   // before any session, after a forced GC
	RSSAfter  int64   // with the idle sessions, after a forced GC
}

// PerSession is the resident memory one idle session costs on the node.
func (n ClusterNode) PerSession() float64 {
	return float64(n.RSSAfter-n.RSSBefore) / max(n.Sessions, 1)
}

// Measured reports whether the idle sessions were measured (the fan-out
// that follows may still have failed).
func (r ClusterResult) Measured() bool { return len(r.Nodes) > 0 && r.Nodes[0].RSSAfter > 0 }

// ClusterResult is what the cluster benchmark measured.
type ClusterResult struct {
	Nodes       []ClusterNode
	Sessions    int
	Workers     int
	ConnectTime time.Duration // from starting the load generators until every session was open (their accounts' preparation included)
	Fanout      FanoutResult
}

// Cluster starts o.Nodes presenced processes sharing o.Store and a NATS
// server, opens o.Sessions idle WebSocket sessions (one account each)
// from o.Workers load-generator processes, round-robin across the nodes,
// and reads each node's memory; then one publisher on node 1 changes
// presence o.Updates times, watched by o.Watchers sessions spread over the
// other nodes, while the idle sessions stay connected.
func Cluster(ctx context.Context, o ClusterOptions) (ClusterResult, error) {
	if err := o.check(); err != nil {
		return ClusterResult{}, err
	}
	natsURL := o.NATS
	if natsURL == "" {
		url, stop, err := startNATS(ctx, o.Log)
		if err != nil {
			return ClusterResult{}, err
		}
		defer stop()
		natsURL = url
	}
	st, err := postgres.Open(ctx, o.Store) // migrates, before the nodes start
	if err != nil {
		return ClusterResult{}, err
	}
	defer st.Close()
	fmt.Fprintf(o.Log, "preparing a publisher and %d watchers…\n", o.Watchers)
	pubs, err := prepareAccounts(ctx, st, "cpub", "bench.test", 0, 1, 1)
	if err != nil {
		return ClusterResult{}, err
	}
	watchers, err := prepareAccounts(ctx, st, "cwatch", "bench.test", 0, o.Watchers, 16)
	if err != nil {
		return ClusterResult{}, err
	}
	if err := approveAll(ctx, pubs[0].Address, watchers, st); err != nil {
		return ClusterResult{}, err
	}
	rigs, stop, err := startNodes(ctx, o, natsURL)
	defer stop()
	if err != nil {
		return ClusterResult{}, err
	}
	res := ClusterResult{Sessions: o.Sessions, Workers: o.Workers, Nodes: make([]ClusterNode, len(rigs))}
	settleAll(rigs)
	for i, r := range rigs {
		res.Nodes[i].ID = nodeID(i)
		res.Nodes[i].RSSBefore, _ = r.RSS()
	}
	urls := make([]string, len(rigs))
	for i, r := range rigs {
		urls[i] = r.URL
	}
	start := time.Now()
	stopWorkers, err := startWorkers(ctx, o, urls)
	defer stopWorkers()
	if err != nil {
		return res, err
	}
	res.ConnectTime = time.Since(start)
	fmt.Fprintf(o.Log, "%d idle sessions open after %.1fs; measuring the nodes…\n", o.Sessions, res.ConnectTime.Seconds())
	time.Sleep(3 * time.Second)
	settleAll(rigs)
	for i, r := range rigs {
		res.Nodes[i].RSSAfter, _ = r.RSS()
		res.Nodes[i].Sessions = r.Metric("presenced_sessions_total")
	}
	var next atomic.Int64
	spread := func(ctx context.Context, _ *Rig, a Account) (*client.Session, error) {
		return connectWS(ctx, rigs[1+int(next.Add(1)-1)%(len(rigs)-1)], a)
	}
	warm := func(ctx context.Context, ps, ws []*client.Session) error {
		return warmUp(ctx, ps[0], pubs[0].Address, ws, o.Log)
	}
	res.Fanout, err = fanoutSettled(ctx, rigs[0], rigs[1], pubs, watchers, o.Updates, o.Rate, spread, warm, o.Log)
	return res, err
}

// check refuses options the benchmark cannot run with.
func (o ClusterOptions) check() error {
	switch {
	case !postgres.IsURL(o.Store):
		return errors.New("bench cluster: --store must be a postgres:// URL of an empty database")
	case o.Nodes < 2:
		return errors.New("bench cluster: --nodes must be at least 2 (the fan-out crosses nodes)")
	case o.Workers < 1 || o.Sessions < 0 || o.Watchers < 1 || o.Updates < 1:
		return errors.New("bench cluster: --workers, --watchers and --updates must be at least 1")
	case ceilDiv(o.Sessions, o.Nodes)+o.Watchers+1 > MaxSessionsPerProcess:
		return fmt.Errorf("bench cluster: %d sessions on %d nodes is more than %d per node: add nodes", o.Sessions, o.Nodes, MaxSessionsPerProcess)
	case ceilDiv(o.Sessions, o.Workers) > MaxSessionsPerProcess:
		return fmt.Errorf("bench cluster: %d sessions from %d load generators is more than %d each: add workers", o.Sessions, o.Workers, MaxSessionsPerProcess)
	}
	return nil
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

func nodeID(i int) string { return "bench-" + strconv.Itoa(i+1) }

// startNodes starts the nodes, each on its own data directory, and
// returns a function stopping them all and removing their directories.
func startNodes(ctx context.Context, o ClusterOptions, natsURL string) ([]*Rig, func(), error) {
	var rigs []*Rig
	var dirs []string
	stop := func() {
		for _, r := range rigs {
			r.Stop()
		}
		for _, d := range dirs {
			os.RemoveAll(d)
		}
	}
	for i := range o.Nodes {
		dir, err := os.MkdirTemp("", "presenced-bench-")
		if err != nil {
			return rigs, stop, err
		}
		dirs = append(dirs, dir)
		fmt.Fprintf(o.Log, "starting node %s…\n", nodeID(i))
		r, err := Start(ctx, o.Bin, dir, "--store", o.Store, "--nats", natsURL, "--node-id", nodeID(i))
		if err != nil {
			return rigs, stop, fmt.Errorf("node %s: %w", nodeID(i), err)
		}
		rigs = append(rigs, r)
	}
	return rigs, stop, nil
}

// settleAll has every node collect its garbage, twice, a moment apart.
func settleAll(rigs []*Rig) {
	for range 2 {
		for _, r := range rigs {
			r.GC()
		}
		time.Sleep(2 * time.Second)
	}
}

// startNATS runs nats-server (from PATH) with JetStream on a free
// loopback port, for when no --nats is given.
func startNATS(ctx context.Context, log io.Writer) (string, func(), error) {
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		return "", nil, errors.New("bench cluster: no --nats given and no nats-server in PATH (apt-get install nats-server)")
	}
	addr, err := freeAddr()
	if err != nil {
		return "", nil, err
	}
	host, port, _ := net.SplitHostPort(addr)
	dir, err := os.MkdirTemp("", "presenced-bench-nats-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "-a", host, "-p", port, "-js", "-sd", dir)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard // its banner; a failure shows as no listener
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	stop := func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		os.RemoveAll(dir)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", nil, errors.New("bench cluster: nats-server did not listen within a minute")
		}
	}
	fmt.Fprintf(log, "started %s on %s\n", bin, addr)
	return "nats://" + addr, stop, nil
}

// startWorkers starts o.Workers load generators (this binary's bench
// cluster-worker), each preparing and opening its share of the idle
// sessions, and waits until all say they are connected. The function it
// returns ends them (their stdin closes: they drop their sessions).
func startWorkers(ctx context.Context, o ClusterOptions, urls []string) (func(), error) {
	type worker struct {
		cmd   *exec.Cmd
		stdin io.Closer
	}
	var workers []worker
	stop := func() {
		for _, w := range workers {
			w.stdin.Close()
		}
		for _, w := range workers {
			done := make(chan struct{})
			go func() { w.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(time.Minute):
				w.cmd.Process.Kill()
				<-done
			}
		}
	}
	per := ceilDiv(o.Sessions, o.Workers)
	results := make(chan error, o.Workers)
	for i := range o.Workers {
		from, n := i*per, min(per, o.Sessions-i*per)
		cmd := exec.CommandContext(ctx, o.Bin, "bench", "cluster-worker", "--store", o.Store,
			"--nodes-urls", strings.Join(urls, ","), "--from", strconv.Itoa(max(from, 0)), "--sessions", strconv.Itoa(max(n, 0)))
		cmd.Stderr = o.Log
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return stop, err
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return stop, err
		}
		if err := cmd.Start(); err != nil {
			return stop, err
		}
		workers = append(workers, worker{cmd, stdin})
		go func(i int) { results <- awaitWorker(stdout, i, o.Log) }(i)
	}
	for range o.Workers {
		if err := <-results; err != nil {
			return stop, err
		}
	}
	return stop, nil
}

// awaitWorker reads a load generator's output until it says "connected",
// passing its progress on to log.
func awaitWorker(stdout io.Reader, i int, log io.Writer) error {
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		fmt.Fprintf(log, "load generator %d: %s\n", i+1, sc.Text())
		if strings.HasPrefix(sc.Text(), "connected") {
			go io.Copy(io.Discard, stdout)
			return nil
		}
	}
	return fmt.Errorf("bench cluster: load generator %d ended before connecting its sessions (its errors are above)", i+1)
}

// ClusterWorker is one load generator of the cluster benchmark: it
// creates accounts idle{from}…idle{from+n-1}@bench.test with tokens in
// the shared store, opens one idle session for each, session i on node
// urls[i mod len(urls)], says "connected" on out, and holds them until
// stdin ends.
func ClusterWorker(ctx context.Context, storeURL string, urls []string, from, n int, stdin io.Reader, out io.Writer) error {
	if len(urls) == 0 || n > MaxSessionsPerProcess {
		return fmt.Errorf("bench cluster-worker: need --nodes and at most %d sessions", MaxSessionsPerProcess)
	}
	st, err := postgres.Open(ctx, storeURL)
	if err != nil {
		return err
	}
	accts, err := prepareAccounts(ctx, st, "idle", "bench.test", from, n, 16)
	st.Close()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "prepared %d accounts\n", n)
	start := time.Now()
	sessions := make([]io.Closer, n)
	defer func() {
		for _, s := range sessions {
			if s != nil {
				s.Close()
			}
		}
	}()
	var retries atomic.Int64
	err = parallel(n, workerConcurrency, func(i int) error {
		s, err := openIdle(ctx, urls[(from+i)%len(urls)], accts[i])
		// a login that timed out on a starved node is tried again, a few
		// times, and counted
		for try := 1; err != nil && try < connectTries && ctx.Err() == nil; try++ {
			retries.Add(1)
			time.Sleep(time.Second)
			s, err = openIdle(ctx, urls[(from+i)%len(urls)], accts[i])
		}
		if err != nil {
			return fmt.Errorf("session %d: %w", from+i, err)
		}
		sessions[i] = s
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "connected %d sessions in %.1fs (%d logins tried again)\n", n, time.Since(start).Seconds(), retries.Load())
	io.Copy(io.Discard, stdin)
	return nil
}

// warmUp has the publisher repeat a presence until every watcher has seen
// it: until then its node may not yet know from the session registry which
// nodes hold the watchers. Its status ("warm-up N") is not one the
// measurement counts.
func warmUp(ctx context.Context, pub *client.Session, address string, watchers []*client.Session, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	from := []byte(`"address":"` + address + `"`)
	isWarm := func(f client.Frame) bool {
		return f.Type == "presence" && bytes.Contains(f.Raw, from) && bytes.Contains(f.Raw, []byte(`"status":"warm-up `))
	}
	var seen atomic.Int64
	var wg sync.WaitGroup
	for _, w := range watchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := w.WaitFor(ctx, isWarm); err == nil {
				seen.Add(1)
			}
		}()
	}
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	for i := 0; ; i++ {
		if err := pub.SetPresence(ctx, client.Presence{Availability: "available", Status: fmt.Sprintf("warm-up %d", i)}); err != nil && ctx.Err() == nil {
			return fmt.Errorf("warm-up: %w", err)
		}
		select {
		case <-all:
			if n := int(seen.Load()); n < len(watchers) {
				return fmt.Errorf("warm-up: after 2 minutes, %d of %d watchers had not seen the publisher's presence", len(watchers)-n, len(watchers))
			}
			fmt.Fprintf(log, "every watcher saw the publisher after %d warm-up presences\n", i+1)
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}
