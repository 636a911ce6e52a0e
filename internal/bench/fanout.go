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
	Publishers int
	Watchers   int
	Updates    int // per publisher
	Deliveries int
	Coalesced  float64
	Elapsed    time.Duration
	P50, P99   time.Duration
	Max        time.Duration
	ServerCPU  time.Duration // CPU the server used while publishing
}

// PerSecond is deliveries per second.
func (r FanoutResult) PerSecond() float64 { return float64(r.Deliveries) / r.Elapsed.Seconds() }

// Fanout has p users, each watched by the same k sessions (one account
// each, approved by every publisher), change presence m times each, all at
// once and as fast as the server answers, and measures how fast and how
// late the changes reach the watchers. Several publishers show whether
// fan-outs of different users run in parallel.
//
// rate limits each publisher to that many updates per second (0: as fast
// as the server answers).
func Fanout(ctx context.Context, bin string, p, k, m int, rate float64, log io.Writer) (FanoutResult, error) {
	dir, err := os.MkdirTemp("", "presenced-bench-")
	if err != nil {
		return FanoutResult{}, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(log, "preparing %d publishers and %d watchers…\n", p, k)
	accts, st, err := Prepare(ctx, dir, "fan", k+p)
	if err != nil {
		return FanoutResult{}, err
	}
	pubs, watchers := accts[:p], accts[p:]
	for _, pub := range pubs {
		for _, w := range watchers {
			if err := st.PutRelation(ctx, store.Relation{Subject: pub.Address, Viewer: w.Address, State: store.Approved}); err != nil {
				st.Close()
				return FanoutResult{}, err
			}
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
	pss := make([]*client.Session, p)
	for i, pub := range pubs {
		if pss[i], err = client.New(rig.URL, pub.Token).Connect(ctx, client.ConnectOptions{Device: "pub"}); err != nil {
			return FanoutResult{}, err
		}
	}
	fmt.Fprintf(log, "%d watchers connected; %d publishers publishing %d updates each (server pprof: %s/debug/pprof/)…\n", k, p, m, rig.Admin)

	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	last := strconv.Itoa(m - 1)
	addrFields := make([][]byte, p)
	for i, pub := range pubs {
		addrFields[i] = []byte(`"address":"` + pub.Address + `"`)
	}
	var lastAt time.Time
	for _, s := range sessions {
		wg.Add(1)
		go func(s *client.Session) {
			defer wg.Done()
			var mine []time.Duration
			done := make([]bool, p)
			left := p
			for {
				f, err := s.NextRaw(ctx)
				if err != nil {
					return
				}
				if f.Type != "presence" {
					continue
				}
				from := -1
				for i, a := range addrFields {
					if bytes.Contains(f.Raw, a) {
						from = i
					}
				}
				if from < 0 {
					continue
				}
				now := time.Now()
				n, sent, ok := parseStatus(f.Raw)
				if !ok {
					continue
				}
				mine = append(mine, now.Sub(time.Unix(0, sent)))
				if n == last && !done[from] {
					done[from] = true
					left--
				}
				if left == 0 {
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
	pubErrs := make(chan error, p)
	for _, ps := range pss {
		go func(ps *client.Session) {
			for i := 0; i < m; i++ {
				if rate > 0 {
					if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
						time.Sleep(d)
					}
				}
				status := fmt.Sprintf("%d %d", i, time.Now().UnixNano())
				if err := ps.SetPresence(ctx, client.Presence{Availability: "available", Status: status}); err != nil {
					pubErrs <- fmt.Errorf("update %d: %w", i, err)
					return
				}
			}
			pubErrs <- nil
		}(ps)
	}
	for range pss {
		if err := <-pubErrs; err != nil {
			return FanoutResult{}, err
		}
	}
	wg.Wait()
	if ctx.Err() != nil {
		return FanoutResult{}, ctx.Err()
	}
	cpu1, _ := rig.CPU()
	res := FanoutResult{Rate: rate, Publishers: p, ServerCPU: cpu1 - cpu0, Watchers: k, Updates: m, Deliveries: len(lat), Elapsed: lastAt.Sub(start),
		Coalesced: rig.Metric("presenced_presence_coalesced_total") - coalesced0}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		res.P50, res.P99, res.Max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	for _, s := range sessions {
		s.Drop()
	}
	for _, ps := range pss {
		ps.Drop()
	}
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
