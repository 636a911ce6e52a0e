package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/client"
)

// IdleResult is what the idle benchmark measured.
type IdleResult struct {
	Sessions  int
	RSSBefore int64
	RSSAfter  int64 // right after connecting and a GC
	RSSIdle   int64 // after the sessions idled for IdleFor, and a GC
	// The same without forcing a garbage collection first (every other
	// figure here is taken after one): before connecting, after idling.
	// Both are read the same way, IdleFor after the last forced GC and
	// admin requests (the metrics, the heap profile), so that what those
	// requests leave resident counts on both sides.
	RSSBeforeNoGC int64
	RSSIdleNoGC   int64
	IdleFor       time.Duration
	HeapBefore    float64
	HeapAfter     float64
	StackBefore   float64
	StackAfter    float64
	Goroutines    float64
	IdleCPUBase   float64 // fraction of one core before any session, over a window as long as IdleFor
	IdleCPU       float64 // fraction of one core while idle
	// After every session dropped: how long until the server's CPU was back
	// to idle for good (-1: not within a minute), and its CPU then.
	BackToIdle       time.Duration
	CPUAfterClose    float64
	ConnectPerSecond float64
	// ServerCPUPerConnect is the server's CPU time per session opened,
	// measured over the connect phase: what a login costs the server alone
	// (the load generator shares the machine).
	ServerCPUPerConnect time.Duration
	// AllocsPerConnect and AllocBytesPerConnect are the heap objects and
	// bytes the server allocated per session opened over the connect phase
	// (0: not read).
	AllocsPerConnect, AllocBytesPerConnect float64
}

// DefaultIdleFor is how long the sessions idle while CPU is measured.
const DefaultIdleFor = 30 * time.Second

// PerSession is the resident memory one idle session costs, once the
// sessions have idled (measured after a forced GC).
func (r IdleResult) PerSession() float64 {
	return float64(r.RSSIdle-r.RSSBefore) / float64(r.Sessions)
}

// IdleCPUPer1000 is the server's CPU while every session idles, in
// fractions of one core per 1,000 sessions: the whole process's, and the
// sessions' own (the server's idle before connecting taken off).
func (r IdleResult) IdleCPUPer1000() (whole, sessions float64) {
	k := float64(r.Sessions) / 1000
	return r.IdleCPU / k, (r.IdleCPU - r.IdleCPUBase) / k
}

// PerSessionNoGC is PerSession without forcing a GC before reading RSS.
func (r IdleResult) PerSessionNoGC() float64 {
	return float64(r.RSSIdleNoGC-r.RSSBeforeNoGC) / float64(r.Sessions)
}

// Idle opens n authenticated WebSocket sessions (one account each) that
// then stay idle, and measures the server's memory and CPU.
func Idle(ctx context.Context, bin string, n int, idleFor time.Duration, log io.Writer) (IdleResult, error) {
	return idle(ctx, bin, n, idleFor, log, nil, func(rig *Rig, a Account) (io.Closer, error) {
		return openIdle(ctx, rig.URL, a)
	})
}

// openIdle opens a's idle WebSocket session (available, no contacts) on
// the server at url; closing it drops the connection.
func openIdle(ctx context.Context, url string, a Account) (io.Closer, error) {
	s, err := client.New(url, a.Token).Connect(ctx, client.ConnectOptions{Device: "bench", Presence: &client.Presence{Availability: "available"}})
	if err != nil {
		return nil, err
	}
	return dropper{s}, nil
}

type dropper struct{ s *client.Session }

func (d dropper) Close() error { d.s.Drop(); return nil }

// idle is the measurement shared by the transports: prepare accounts
// (then prepare, if set, may add to the data directory and return extra
// server flags), start the server, connect n sessions with connect, let
// them idle, measure.
func idle(ctx context.Context, bin string, n int, idleFor time.Duration, log io.Writer,
	prepare func(dir string, accts []Account) ([]string, error),
	connect func(*Rig, Account) (io.Closer, error)) (IdleResult, error) {
	dir, err := os.MkdirTemp("", "presenced-bench-")
	if err != nil {
		return IdleResult{}, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(log, "preparing %d accounts…\n", n)
	accts, st, err := Prepare(ctx, dir, "idle", n)
	if err != nil {
		return IdleResult{}, err
	}
	st.Close()
	var flags []string
	if prepare != nil {
		if flags, err = prepare(dir, accts); err != nil {
			return IdleResult{}, err
		}
	}
	rig, err := Start(ctx, bin, dir, flags...)
	if err != nil {
		return IdleResult{}, err
	}
	defer rig.Stop()
	res := IdleResult{Sessions: n}
	settle := func() {
		rig.GC()
		time.Sleep(2 * time.Second)
		rig.GC()
		time.Sleep(time.Second)
	}
	time.Sleep(3 * time.Second)
	settle()
	res.RSSBefore, _ = rig.RSS()
	res.HeapBefore = rig.Metric("presenced_heap_bytes")
	res.StackBefore = rig.Metric("presenced_stack_bytes")
	rig.Metric("presenced_goroutines") // as after connecting
	rig.SaveHeapProfile()
	res.IdleCPUBase = cpuOver(rig, idleFor)
	res.RSSBeforeNoGC, _ = rig.RSS()

	fmt.Fprintf(log, "connecting %d sessions…\n", n)
	sessions := make([]io.Closer, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	start := time.Now()
	cpuStart, _ := rig.CPU()
	objStart, bytesStart, allocErr := rig.Allocs()
	rig.ProfileCPU(5 * time.Second)
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				s, err := connect(rig, accts[i])
				if err != nil {
					select {
					case errs <- fmt.Errorf("session %d: %w", i, err):
					default:
					}
					return
				}
				sessions[i] = s
			}
		}()
	}
	wg.Wait()
	res.ConnectPerSecond = float64(n) / time.Since(start).Seconds()
	if cpuEnd, err := rig.CPU(); err == nil {
		res.ServerCPUPerConnect = (cpuEnd - cpuStart) / time.Duration(n)
	}
	if objEnd, bytesEnd, err := rig.Allocs(); err == nil && allocErr == nil {
		res.AllocsPerConnect = float64(objEnd-objStart) / float64(n)
		res.AllocBytesPerConnect = float64(bytesEnd-bytesStart) / float64(n)
	}
	select {
	case err := <-errs:
		return res, err
	default:
	}
	fmt.Fprintf(log, "connected in %.1fs; letting them idle…\n", time.Since(start).Seconds())
	time.Sleep(3 * time.Second)
	settle()
	res.RSSAfter, _ = rig.RSS()
	res.HeapAfter = rig.Metric("presenced_heap_bytes")
	res.StackAfter = rig.Metric("presenced_stack_bytes")
	res.Goroutines = rig.Metric("presenced_goroutines")
	rig.SaveHeapProfile()
	cpu0, _ := rig.CPU()
	time.Sleep(idleFor)
	cpu1, _ := rig.CPU()
	res.IdleCPU = (cpu1 - cpu0).Seconds() / idleFor.Seconds()
	res.IdleFor = idleFor
	res.RSSIdleNoGC, _ = rig.RSS()
	rig.GC()
	res.RSSIdle, _ = rig.RSS()
	for _, s := range sessions {
		s.Close()
	}
	res.BackToIdle, res.CPUAfterClose = backToIdle(rig, res.IdleCPUBase, time.Minute)
	return res, nil
}
