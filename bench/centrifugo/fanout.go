package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/internal/bench"
)

// watchState follows one watcher through one run (tag): update n seen
// delivers every update up to n not seen before (a newer state covers the
// older ones that presenced coalesced away), each with its own latency.
type watchState struct {
	mu        sync.Mutex
	run       *run
	next      int
	lat       []time.Duration
	frames    int
	coalesced int
	late      int
}

// run is one publishing run: m updates tagged tag.
type run struct {
	tag      string
	m        int
	sent     []atomic.Int64 // unix ns each update left the publisher
	finished atomic.Int64   // watchers that saw the last update
	progress atomic.Int64   // unix ns of the last delivery seen by anyone
}

// reset starts following run r.
func (w *watchState) reset(r *run) {
	w.mu.Lock()
	w.run, w.next, w.lat, w.frames, w.coalesced, w.late = r, 0, nil, 0, 0, 0
	w.mu.Unlock()
}

func (w *watchState) saw(tag string, n int, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.run
	if r == nil || tag != r.tag || n >= r.m {
		return
	}
	w.frames++
	if n < w.next {
		w.late++ // already covered by a newer one (reordered on the way)
		return
	}
	for i := w.next; i <= n; i++ {
		w.lat = append(w.lat, at.Sub(time.Unix(0, r.sent[i].Load())))
		if i < n {
			w.coalesced++
		}
	}
	w.next = n + 1
	r.progress.Store(at.UnixNano())
	if w.next == r.m {
		r.finished.Add(1)
	}
}

// FanoutResult is one publishing run's figures.
type FanoutResult struct {
	Rate        float64 // offered updates/s (0: closed loop)
	ReachedRate float64 // updates/s the publisher actually sent
	Watchers, M int
	Covered     int // updates delivered, coalesced ones included
	Frames      int // frames about the publisher the watchers got
	// Coalesced: updates covered by a newer one before they were seen
	// (presenced coalesces; Centrifugo's concurrent API requests reorder);
	// Late: frames that came after a newer one (they deliver nothing).
	Coalesced, Late int
	Elapsed         time.Duration
	P50, P99, Max   time.Duration
	ServerCPU       time.Duration
}

// DeliveriesPerSecond counts covered updates (watchers × updates when none is lost).
func (r FanoutResult) DeliveriesPerSecond() float64 {
	return float64(r.Covered) / r.Elapsed.Seconds()
}

// CPUPerDelivery is the server's CPU per covered update.
func (r FanoutResult) CPUPerDelivery() time.Duration {
	if r.Covered == 0 {
		return 0
	}
	return r.ServerCPU / time.Duration(r.Covered)
}

// Lost is what never reached a watcher.
func (r FanoutResult) Lost() int { return r.Watchers*r.M - r.Covered }

// fanout connects k watchers of identity 0 on srv, then runs an open-loop
// run of m updates at rate per second and a closed-loop one (saturation)
// of sat updates, on the same watchers.
func fanout(ctx context.Context, srv server, k, m int, rate float64, sat int, log io.Writer) (open, closed FanoutResult, err error) {
	watchers := make([]*session, k)
	defer func() {
		for _, s := range watchers {
			if s != nil {
				s.close()
			}
		}
	}()
	if err := bench.Parallel(k, 64, func(i int) error {
		s, err := srv.dial(ctx, i+1, true, false)
		if err != nil {
			return fmt.Errorf("watcher %d: %w", i, err)
		}
		watchers[i] = s
		return nil
	}); err != nil {
		return open, closed, err
	}
	pub, err := srv.publisher(ctx)
	if err != nil {
		return open, closed, err
	}
	defer pub.close()
	// a first update, unmeasured: presenced shows the publisher online
	// (the watchers' first frame about it), both servers warm up
	if _, err := publishRun(ctx, srv, pub, watchers, "w", 1, 0, log); err != nil {
		return open, closed, err
	}
	fmt.Fprintf(log, "  %s: %d watchers; %d updates at %g/s…\n", srv.name(), k, m, rate)
	if open, err = publishRun(ctx, srv, pub, watchers, "o", m, rate, log); err != nil {
		return open, closed, err
	}
	fmt.Fprintf(log, "  %s: %d updates, closed loop…\n", srv.name(), sat)
	closed, err = publishRun(ctx, srv, pub, watchers, "c", sat, 0, log)
	return open, closed, err
}

// quiet is how long a run waits with no delivery before it counts what
// has not arrived as lost.
const quiet = 10 * time.Second

// publishRun publishes m updates tagged tag (open loop at rate, or closed
// loop when rate is 0) and waits until every watcher saw the last one, or
// nothing arrived for quiet.
func publishRun(ctx context.Context, srv server, pub publisher, watchers []*session, tag string, m int, rate float64, log io.Writer) (FanoutResult, error) {
	r := &run{tag: tag, m: m, sent: make([]atomic.Int64, m)}
	for _, s := range watchers {
		s.watch.reset(r)
	}
	cpu0, _ := bench.ProcCPU(srv.pid())
	start := time.Now()
	r.progress.Store(start.UnixNano())
	var inflight sync.WaitGroup
	sem := make(chan struct{}, 256)
	sendErr := make(chan error, 1)
	lastSent := start
	for i := 0; i < m; i++ {
		if rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		now := time.Now()
		r.sent[i].Store(now.UnixNano())
		lastSent = now
		if rate == 0 {
			if err := pub.send(ctx, tag, i, true); err != nil {
				return FanoutResult{}, err
			}
			continue
		}
		// open loop: no update waits for the previous one's answer.
		// presenced's publisher writes to its WebSocket without waiting, in
		// order (a presence is a state: the last one sent must be the last
		// one set); Centrifugo's HTTP API answers each request, so requests
		// go out concurrently, at most 256 in flight.
		if !pub.concurrent() {
			if err := pub.send(ctx, tag, i, false); err != nil {
				return FanoutResult{}, err
			}
			continue
		}
		inflight.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; inflight.Done() }()
			if err := pub.send(ctx, tag, i, false); err != nil {
				select {
				case sendErr <- err:
				default:
				}
			}
		}(i)
	}
	inflight.Wait()
	select {
	case err := <-sendErr:
		return FanoutResult{}, err
	default:
	}
	for int(r.finished.Load()) < len(watchers) && ctx.Err() == nil &&
		time.Since(time.Unix(0, r.progress.Load())) < quiet {
		time.Sleep(5 * time.Millisecond)
	}
	cpu1, _ := bench.ProcCPU(srv.pid())
	res := FanoutResult{Rate: rate, Watchers: len(watchers), M: m, ServerCPU: cpu1 - cpu0,
		Elapsed: time.Unix(0, r.progress.Load()).Sub(start)}
	if m > 1 {
		res.ReachedRate = float64(m-1) / lastSent.Sub(start).Seconds()
	}
	var lat []time.Duration
	for _, s := range watchers {
		w := s.watch
		w.mu.Lock()
		lat = append(lat, w.lat...)
		res.Frames += w.frames
		res.Coalesced += w.coalesced
		res.Late += w.late
		w.run = nil
		w.mu.Unlock()
	}
	res.Covered = len(lat)
	slices.Sort(lat)
	if len(lat) > 0 {
		res.P50, res.P99, res.Max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	return res, ctx.Err()
}
