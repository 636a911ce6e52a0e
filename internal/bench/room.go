package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/client"
)

// RoomResult is what the room storm and the room fan-out measured.
type RoomResult struct {
	Members, Concurrency, Messages int

	// The join storm: every member joins one room at once (Concurrency at
	// a time), after every session connected.
	Joined, JoinErrors int
	JoinTime           time.Duration // from the first join until the last ok
	ConvergeTime       time.Duration // from the first join until every member saw the room's full count
	Converged          int           // members that saw it
	StormCPU           time.Duration // server CPU over ConvergeTime
	// Room events the members received during the storm (snapshots and
	// diffs), in all and the most one member got; bytes of them.
	Events, MaxEvents int
	EventBytes        int64

	// The fan-out: Messages messages sent to the room by one member, as
	// fast as answered; each reaches every member.
	Delivered       int // room_message frames received, over all members
	FanoutTime      time.Duration
	FanoutCPU       time.Duration
	P50, P99, PMax  time.Duration // from send to receipt, over every delivery
	Errors          []string
	errMu           sync.Mutex
	firstJoin, last atomic.Int64
}

func (r *RoomResult) fail(format string, args ...any) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if len(r.Errors) < 5 {
		r.Errors = append(r.Errors, fmt.Sprintf(format, args...))
	}
}

// roomMember is one member's session and what it saw.
type roomMember struct {
	s        *client.Session
	count    atomic.Int64 // the room's count as last seen
	events   atomic.Int64 // room snapshots and diffs
	bytes    atomic.Int64
	messages atomic.Int64
	mu       sync.Mutex
	lat      []time.Duration
}

// RoomStorm connects n sessions (one account each), has every one join the
// same room at once (concurrency at a time) and waits until every member
// has seen the room hold n members, counting the room events it took; then
// one member sends messages, as fast as answered, which every member
// receives (the room fan-out).
func RoomStorm(ctx context.Context, bin string, n, concurrency, messages int, log io.Writer) (*RoomResult, error) {
	res := &RoomResult{Members: n, Concurrency: concurrency, Messages: messages}
	dir, err := os.MkdirTemp("", "presenced-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(log, "preparing %d accounts…\n", n)
	accts, st, err := Prepare(ctx, dir, "room", n)
	if err != nil {
		return nil, err
	}
	st.Close()
	rig, err := Start(ctx, bin, dir)
	if err != nil {
		return nil, err
	}
	defer rig.Stop()

	members := make([]*roomMember, n)
	if err := parallel(n, concurrency, func(i int) error {
		s, err := client.New(rig.URL, accts[i].Token).Connect(ctx, client.ConnectOptions{Device: "room",
			Presence: &client.Presence{Availability: "available"}})
		if err != nil {
			return err
		}
		members[i] = &roomMember{s: s}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	sessions := make([]*client.Session, n)
	for i, m := range members {
		sessions[i] = m.s
	}
	defer closeAll(sessions)
	fmt.Fprintf(log, "%d sessions connected; joining one room, %d at a time (server pprof: %s/debug/pprof/)…\n", n, concurrency, rig.Admin)

	var converged atomic.Int64
	allIn := make(chan struct{})
	var readers sync.WaitGroup
	for _, m := range members {
		readers.Add(1)
		go func(m *roomMember) {
			defer readers.Done()
			in := false
			for {
				f, err := m.s.NextRaw(ctx)
				if err != nil {
					return
				}
				switch f.Type {
				case "room_snapshot", "room_diff":
					var ev struct {
						Count int `json:"count"`
					}
					if json.Unmarshal(f.Raw, &ev) != nil {
						continue
					}
					m.events.Add(1)
					m.bytes.Add(int64(len(f.Raw)))
					m.count.Store(int64(ev.Count))
					if !in && ev.Count == n {
						in = true
						res.last.Store(time.Now().UnixNano())
						if converged.Add(1) == int64(n) {
							close(allIn)
						}
					}
				case "room_message":
					var ev struct {
						Body string `json:"body"`
					}
					if json.Unmarshal(f.Raw, &ev) != nil {
						continue
					}
					if sent, err := strconv.ParseInt(ev.Body, 10, 64); err == nil {
						m.mu.Lock()
						m.lat = append(m.lat, time.Since(time.Unix(0, sent)))
						m.mu.Unlock()
					}
					if m.messages.Add(1) == int64(messages) {
						return
					}
				}
			}
		}(m)
	}

	cpu0, _ := rig.CPU()
	rig.ProfileCPU(5 * time.Second)
	start := time.Now()
	var joinErrs atomic.Int64
	parallel(n, concurrency, func(i int) error {
		_, err := members[i].s.Request(ctx, "join", map[string]any{"room": "storm", "nick": "m" + strconv.Itoa(i), "history": 0})
		if err != nil {
			joinErrs.Add(1)
			res.fail("join %d: %v", i, err)
		}
		return nil
	})
	res.JoinTime = time.Since(start)
	res.JoinErrors = int(joinErrs.Load())
	res.Joined = n - res.JoinErrors
	wait := time.NewTimer(60 * time.Second)
	select {
	case <-allIn:
	case <-wait.C:
		res.fail("not every member saw %d members within 60 s", n)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	wait.Stop()
	cpu1, _ := rig.CPU()
	res.StormCPU = cpu1 - cpu0
	res.Converged = int(converged.Load())
	res.ConvergeTime = time.Duration(res.last.Load() - start.UnixNano())
	time.Sleep(time.Second) // the last diff windows close
	for _, m := range members {
		ev := int(m.events.Load())
		res.Events += ev
		res.MaxEvents = max(res.MaxEvents, ev)
		res.EventBytes += m.bytes.Load()
	}

	if messages > 0 {
		fmt.Fprintf(log, "sending %d messages to %d members…\n", messages, n)
		cpu0, _ = rig.CPU()
		start = time.Now()
		for i := 0; i < messages; i++ {
			if _, err := members[0].s.Request(ctx, "room_message", map[string]any{"room": "storm", "body": strconv.FormatInt(time.Now().UnixNano(), 10)}); err != nil {
				return nil, fmt.Errorf("message %d: %w", i, err)
			}
		}
		done := make(chan struct{})
		go func() { readers.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			res.fail("not every message reached every member within 60 s")
		}
		res.FanoutTime = time.Since(start)
		cpu1, _ = rig.CPU()
		res.FanoutCPU = cpu1 - cpu0
		var lat []time.Duration
		for _, m := range members {
			res.Delivered += int(m.messages.Load())
			m.mu.Lock()
			lat = append(lat, m.lat...)
			m.mu.Unlock()
		}
		res.P50, res.P99, res.PMax = percentiles(lat)
	}
	return res, nil
}

// Parallel runs f(0) … f(n-1), k at a time, and returns the first error
// (bench/centrifugo uses it too).
func Parallel(n, k int, f func(int) error) error { return parallel(n, k, f) }

// parallel runs f(0) … f(n-1), k at a time, and returns the first error.
func parallel(n, k int, f func(int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < k; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// Report prints the result.
func (r *RoomResult) Report(w io.Writer) {
	n := float64(r.Members)
	fmt.Fprintf(w, "members:              %d (one room; WebSocket; %d joining at a time)\n", r.Members, r.Concurrency)
	fmt.Fprintf(w, "joined:               %d of %d (join errors: %d) in %.2f s: %.0f joins/s\n", r.Joined, r.Members, r.JoinErrors,
		r.JoinTime.Seconds(), float64(r.Joined)/r.JoinTime.Seconds())
	fmt.Fprintf(w, "converged:            %d of %d members saw the room hold %d, %.2f s after the first join\n", r.Converged, r.Members, r.Members, r.ConvergeTime.Seconds())
	fmt.Fprintf(w, "room events:          %d in all (snapshots and diffs): %.1f per member on average, %d at most; %.1f MiB (n² would be %.0f)\n",
		r.Events, float64(r.Events)/n, r.MaxEvents, float64(r.EventBytes)/(1<<20), n*n)
	fmt.Fprintf(w, "server CPU per join:  %.3f ms (%.2f s over the storm)\n", float64(r.StormCPU)/float64(time.Millisecond)/n, r.StormCPU.Seconds())
	if r.Messages > 0 {
		fmt.Fprintf(w, "fan-out:              %d of %d messages delivered in %.2f s: %.0f deliveries/s; server CPU %.2f µs per delivery\n",
			r.Delivered, r.Messages*r.Members, r.FanoutTime.Seconds(), float64(r.Delivered)/r.FanoutTime.Seconds(),
			float64(r.FanoutCPU)/float64(time.Microsecond)/float64(max(r.Delivered, 1)))
		fmt.Fprintf(w, "message latency:      p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", ms(r.P50), ms(r.P99), ms(r.PMax))
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error:                %s\n", e)
	}
}
