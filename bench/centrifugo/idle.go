package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/presenced/presenced/internal/bench"
)

// IdleResult is what the idle scenario measured on one server.
type IdleResult struct {
	Sessions int
	// VmRSS from /proc/PID/status, before any session and after they idled
	// for IdleFor, read without a forced GC and then after one (both
	// servers are Go programs; each is asked through net/http/pprof).
	RSSBeforeNoGC, RSSIdleNoGC int64
	RSSBeforeGC, RSSIdleGC     int64
	IdleFor                    time.Duration
	CPUBase                    float64 // fraction of a core with no session, over 5 s
	CPUIdle                    float64 // fraction of a core over IdleFor with every session open
	ConnectPerSecond           float64
	CPUPerConnect              time.Duration
}

// PerSessionNoGC and PerSessionGC are bytes of RSS per idle session.
func (r IdleResult) PerSessionNoGC() float64 {
	return float64(r.RSSIdleNoGC-r.RSSBeforeNoGC) / float64(r.Sessions)
}

func (r IdleResult) PerSessionGC() float64 {
	return float64(r.RSSIdleGC-r.RSSBeforeGC) / float64(r.Sessions)
}

// CPUPer1000 is the idle CPU (percent of one core) per 1,000 sessions,
// the server's own idle CPU with no session subtracted.
func (r IdleResult) CPUPer1000() float64 {
	return (r.CPUIdle - r.CPUBase) * 100 / (float64(r.Sessions) / 1000)
}

// idle opens n sessions on srv (64 connecting at a time), lets them idle
// for idleFor and measures the server's memory and CPU. Every identity has
// its own account or token; presenced's sessions say they are available
// (as `presenced bench idle`'s do), Centrifugo's are connected and
// subscribe to nothing.
func idle(ctx context.Context, srv server, n int, idleFor time.Duration, log io.Writer) (IdleResult, error) {
	res := IdleResult{Sessions: n, IdleFor: idleFor}
	pid := srv.pid()
	time.Sleep(2 * time.Second)
	res.CPUBase = cpuOver(pid, 5*time.Second)
	res.RSSBeforeNoGC, _ = bench.ProcRSS(pid)
	settle(srv)
	res.RSSBeforeGC, _ = bench.ProcRSS(pid)

	sessions := make([]*session, n)
	defer func() {
		for _, s := range sessions {
			if s != nil {
				s.close()
			}
		}
	}()
	fmt.Fprintf(log, "  %s: connecting %d sessions…\n", srv.name(), n)
	cpu0, _ := bench.ProcCPU(pid)
	start := time.Now()
	if err := bench.Parallel(n, 64, func(i int) error {
		s, err := srv.dial(ctx, i, false, true)
		if err != nil {
			return fmt.Errorf("session %d: %w", i, err)
		}
		sessions[i] = s
		return nil
	}); err != nil {
		return res, err
	}
	res.ConnectPerSecond = float64(n) / time.Since(start).Seconds()
	cpu1, _ := bench.ProcCPU(pid)
	res.CPUPerConnect = (cpu1 - cpu0) / time.Duration(n)
	fmt.Fprintf(log, "  %s: connected in %.1fs; idling %s…\n", srv.name(), time.Since(start).Seconds(), idleFor)
	time.Sleep(3 * time.Second)
	res.CPUIdle = cpuOver(pid, idleFor)
	res.RSSIdleNoGC, _ = bench.ProcRSS(pid)
	settle(srv)
	res.RSSIdleGC, _ = bench.ProcRSS(pid)
	return res, ctx.Err()
}

// settle forces two collections a few seconds apart, so that what the
// first freed can be returned to the system, the same for both servers.
func settle(srv server) {
	srv.gc()
	time.Sleep(2 * time.Second)
	srv.gc()
	time.Sleep(time.Second)
}

// cpuOver is the fraction of one core process pid used over d.
func cpuOver(pid int, d time.Duration) float64 {
	c0, _ := bench.ProcCPU(pid)
	time.Sleep(d)
	c1, _ := bench.ProcCPU(pid)
	return (c1 - c0).Seconds() / d.Seconds()
}
