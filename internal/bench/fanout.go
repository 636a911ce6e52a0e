package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/store"
)

// FanoutResult is what the fan-out benchmark measured.
type FanoutResult struct {
	Rate       float64
	Watchers   int
	Updates    int
	Deliveries int
	Coalesced  float64
	Elapsed    time.Duration
	P50, P99   time.Duration
	Max        time.Duration
	ServerCPU  time.Duration // CPU the server used while publishing
}

// PerSecond is deliveries per second.
func (r FanoutResult) PerSecond() float64 { return float64(r.Deliveries) / r.Elapsed.Seconds() }

// Fanout has one user, watched by k sessions (one account each, all
// approved), change presence m times as fast as the server answers, and
// measures how fast and how late the changes reach the watchers.
//
// rate limits the publisher to that many updates per second (0: as fast as
// the server answers).
func Fanout(ctx context.Context, bin string, k, m int, rate float64, log io.Writer) (FanoutResult, error) {
	dir, err := os.MkdirTemp("", "presenced-bench-")
	if err != nil {
		return FanoutResult{}, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(log, "preparing 1 publisher and %d watchers…\n", k)
	accts, st, err := Prepare(ctx, dir, "fan", k+1)
	if err != nil {
		return FanoutResult{}, err
	}
	pub, watchers := accts[0], accts[1:]
	for _, w := range watchers {
		if err := st.PutRelation(ctx, store.Relation{Subject: pub.Address, Viewer: w.Address, State: store.Approved}); err != nil {
			st.Close()
			return FanoutResult{}, err
		}
	}
	st.Close()
	rig, err := Start(ctx, bin, dir)
	if err != nil {
		return FanoutResult{}, err
	}
	defer rig.Stop()

	sessions := make([]*client.Session, k)
	for i, w := range watchers {
		s, err := client.New(rig.URL, w.Token).Connect(ctx, client.ConnectOptions{Device: "watch"})
		if err != nil {
			return FanoutResult{}, fmt.Errorf("watcher %d: %w", i, err)
		}
		sessions[i] = s
	}
	ps, err := client.New(rig.URL, pub.Token).Connect(ctx, client.ConnectOptions{Device: "pub"})
	if err != nil {
		return FanoutResult{}, err
	}
	fmt.Fprintf(log, "%d watchers connected; publishing %d updates (server pprof: %s/debug/pprof/)…\n", k, m, rig.Admin)

	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	last := strconv.Itoa(m - 1)
	addrField := []byte(`"address":"` + pub.Address + `"`)
	var lastAt time.Time
	for _, s := range sessions {
		wg.Add(1)
		go func(s *client.Session) {
			defer wg.Done()
			var mine []time.Duration
			for {
				f, err := s.NextRaw(ctx)
				if err != nil {
					return
				}
				if f.Type != "presence" || !bytes.Contains(f.Raw, addrField) {
					continue
				}
				now := time.Now()
				n, sent, ok := parseStatus(f.Raw)
				if !ok {
					continue
				}
				mine = append(mine, now.Sub(time.Unix(0, sent)))
				if n == last {
					mu.Lock()
					lat = append(lat, mine...)
					if now.After(lastAt) {
						lastAt = now
					}
					mu.Unlock()
					return
				}
			}
		}(s)
	}
	coalesced0 := rig.Metric("presenced_presence_coalesced_total")
	cpu0, _ := rig.CPU()
	start := time.Now()
	for i := 0; i < m; i++ {
		if rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		status := fmt.Sprintf("%d %d", i, time.Now().UnixNano())
		if err := ps.SetPresence(ctx, client.Presence{Availability: "available", Status: status}); err != nil {
			return FanoutResult{}, fmt.Errorf("update %d: %w", i, err)
		}
	}
	wg.Wait()
	if ctx.Err() != nil {
		return FanoutResult{}, ctx.Err()
	}
	cpu1, _ := rig.CPU()
	res := FanoutResult{Rate: rate, ServerCPU: cpu1 - cpu0, Watchers: k, Updates: m, Deliveries: len(lat), Elapsed: lastAt.Sub(start),
		Coalesced: rig.Metric("presenced_presence_coalesced_total") - coalesced0}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		res.P50, res.P99, res.Max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	for _, s := range sessions {
		s.Drop()
	}
	ps.Drop()
	return res, nil
}

// parseStatus reads "<n> <unix nanoseconds>" from a raw presence frame's
// status without decoding the frame.
func parseStatus(raw []byte) (n string, sent int64, ok bool) {
	_, rest, ok := bytes.Cut(raw, []byte(`"status":"`))
	if !ok {
		return "", 0, false
	}
	status, _, _ := bytes.Cut(rest, []byte(`"`))
	a, b, ok := strings.Cut(string(status), " ")
	if !ok {
		return "", 0, false
	}
	t, err := strconv.ParseInt(b, 10, 64)
	return a, t, err == nil
}
