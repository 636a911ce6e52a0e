package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
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
	Deliveries int // presence frames the watchers received about the publishers
	Covered    int // updates delivered, counting those a newer frame covered (watchers × publishers × updates when nothing is lost)
	// CoalescedSeen: updates a watcher never saw alone, a newer state
	// arriving first; Coalesced: the server's own count over the run.
	CoalescedSeen int
	Coalesced     float64
	Writes        float64 // the server's writes of events to WebSockets over the run (0: a server without the metric)
	PublishedRate float64 // updates per second each publisher reached (open loop)
	Elapsed       time.Duration
	P50, P99      time.Duration
	Max           time.Duration
	ServerCPU     time.Duration // CPU the server used while publishing
	LoadGenCPU    time.Duration // CPU this process (the load generator: watchers and publishers) used meanwhile
	// PublisherServerCPU and PublisherServerWrites: the CPU and write(2)
	// calls of the publishers' server, when it is another (federation).
	PublisherServerCPU    time.Duration
	PublisherServerWrites int64
	// S2SStanzas and S2SWrites: stanzas the publishers' server wrote to
	// the watchers' over s2s, and in how many writes.
	S2SStanzas, S2SWrites float64
}

// PerSecond is deliveries (frames) per second.
func (r FanoutResult) PerSecond() float64 { return float64(r.Deliveries) / r.Elapsed.Seconds() }

// CoveredPerSecond is updates delivered per second, those a newer frame
// covered included.
func (r FanoutResult) CoveredPerSecond() float64 { return float64(r.Covered) / r.Elapsed.Seconds() }

// Fanout has p users, each watched by the same k sessions (one account
// each, approved by every publisher), change presence m times each, all at
// once and as fast as the server answers, and measures how fast and how
// late the changes reach the watchers. Several publishers show whether
// fan-outs of different users run in parallel.
//
// rate limits each publisher to that many updates per second (0: as fast
// as the server answers).
func Fanout(ctx context.Context, bin string, p, k, m int, rate float64, log io.Writer) (FanoutResult, error) {
	var res FanoutResult
	err := withFanoutRig(ctx, bin, p, k, log, func(rig *Rig, pubs, watchers []Account) (err error) {
		res, err = fanoutRound(ctx, rig, pubs, watchers, m, rate, connectWS, log)
		return err
	})
	return res, err
}

// withFanoutRig prepares p publishers and k watchers (every publisher
// approved every watcher), starts the server and runs f on it.
func withFanoutRig(ctx context.Context, bin string, p, k int, log io.Writer, f func(rig *Rig, pubs, watchers []Account) error) error {
	dir, err := os.MkdirTemp("", "presenced-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintf(log, "preparing %d publishers and %d watchers…\n", p, k)
	accts, st, err := Prepare(ctx, dir, "fan", k+p)
	if err != nil {
		return err
	}
	pubs, watchers := accts[:p], accts[p:]
	for _, pub := range pubs {
		for _, w := range watchers {
			if err := st.PutRelation(ctx, store.Relation{Subject: pub.Address, Viewer: w.Address, State: store.Approved}); err != nil {
				st.Close()
				return err
			}
		}
	}
	st.Close()
	rig, err := Start(ctx, bin, dir)
	if err != nil {
		return err
	}
	defer rig.Stop()
	return f(rig, pubs, watchers)
}

// connectWS opens a watcher's session over WebSocket.
func connectWS(ctx context.Context, rig *Rig, a Account) (*client.Session, error) {
	return client.New(rig.URL, a.Token).Connect(ctx, client.ConnectOptions{Device: "watch"})
}

// fanoutRound connects the watchers with connect and the publishers over
// WebSocket, has every publisher change presence m times, measures, and
// ends every session it opened (bye, so none lingers in its grace period
// to receive a later round's updates).
func fanoutRound(ctx context.Context, rig *Rig, pubs, watchers []Account, m int, rate float64,
	connect func(context.Context, *Rig, Account) (*client.Session, error), log io.Writer) (FanoutResult, error) {
	return fanoutAcross(ctx, rig, rig, pubs, watchers, m, rate, connect, log)
}

// fanoutAcross is fanoutRound with the publishers on pubRig and the
// watchers on rig (another server: federation); the server's CPU is rig's,
// and pubRig's too (PublisherServerCPU) when it is another.
func fanoutAcross(ctx context.Context, pubRig, rig *Rig, pubs, watchers []Account, m int, rate float64,
	connect func(context.Context, *Rig, Account) (*client.Session, error), log io.Writer) (FanoutResult, error) {
	return fanoutSettled(ctx, pubRig, rig, pubs, watchers, m, rate, connect, nil, log)
}

// fanoutSettled is fanoutAcross that, once every session is connected and
// before publishing, runs settle (if set) on the publishers' and the
// watchers' sessions: a cluster waits there until the publisher's node
// knows where the watchers are.
func fanoutSettled(ctx context.Context, pubRig, rig *Rig, pubs, watchers []Account, m int, rate float64,
	connect func(context.Context, *Rig, Account) (*client.Session, error),
	settle func(ctx context.Context, pubs, watchers []*client.Session) error, log io.Writer) (FanoutResult, error) {
	p, k := len(pubs), len(watchers)
	sessions := make([]*client.Session, 0, k)
	pss := make([]*client.Session, 0, p)
	defer func() { closeAll(append(sessions, pss...)) }()
	for i, w := range watchers {
		s, err := connect(ctx, rig, w)
		if err != nil {
			return FanoutResult{}, fmt.Errorf("watcher %d: %w", i, err)
		}
		sessions = append(sessions, s)
	}
	for _, pub := range pubs {
		ps, err := client.New(pubRig.URL, pub.Token).Connect(ctx, client.ConnectOptions{Device: "pub"})
		if err != nil {
			return FanoutResult{}, err
		}
		pss = append(pss, ps)
	}
	if settle != nil {
		if err := settle(ctx, pss, sessions); err != nil {
			return FanoutResult{}, err
		}
	}
	fmt.Fprintf(log, "%d watchers connected; %d publishers publishing %d updates each (server pprof: %s/debug/pprof/)…\n", k, p, m, rig.Admin)

	// sent[p][i]: when publisher p sent update i (unix ns), for the
	// latency of updates a watcher never saw alone (coalesced into a newer one)
	sent := make([][]atomic.Int64, p)
	for i := range sent {
		sent[i] = make([]atomic.Int64, m)
	}
	addrFields := make([][]byte, p)
	for i, pub := range pubs {
		addrFields[i] = []byte(`"address":"` + pub.Address + `"`)
	}
	var mu sync.Mutex
	var lat []time.Duration
	var frames, coalesced int
	var lastAt time.Time
	var wg sync.WaitGroup
	for _, s := range sessions {
		wg.Add(1)
		w := &watch{sent: sent, next: make([]int, p), m: m, from: addrFields, lat: make([]time.Duration, 0, p*m)}
		// Each frame is read on the connection's reader, which the
		// client hands it to without copying, queueing or waking another
		// goroutine: the load generator shares the server's cores.
		w.done = func() {
			mu.Lock()
			lat = append(lat, w.lat...)
			frames += w.frames
			coalesced += w.coalesced
			if w.lastAt.After(lastAt) {
				lastAt = w.lastAt
			}
			mu.Unlock()
			wg.Done()
		}
		if w.left(p) == 0 { // nothing to wait for (no updates)
			w.finished = true
			w.done()
		}
		s.OnEvent(w.frame)
	}
	coalesced0 := rig.Metric("presenced_presence_coalesced_total")
	writes0 := rig.Metric("presenced_ws_event_writes_total")
	cpu0, _ := rig.CPU()
	pubCPU0, _ := pubRig.CPU()
	pubWrites0, _ := pubRig.Writes()
	s2sOut0, s2sWrites0 := pubRig.Metric("presenced_s2s_stanzas_out_total"), pubRig.Metric("presenced_s2s_writes_total")
	self0 := selfCPU()
	rig.ProfileCPU(5 * time.Second)          // PRESENCED_BENCH_CPU names the file, if set
	stopSelf := profileSelf(5 * time.Second) // PRESENCED_BENCH_SELF_CPU: the load generator's own profile
	defer stopSelf()
	start := time.Now()
	pubErrs := make(chan error, p)
	var lastSent atomic.Int64
	for pi, ps := range pss {
		go func(pi int, ps *client.Session) {
			pubErrs <- publish(ctx, ps, pi, m, rate, start, sent, &lastSent)
		}(pi, ps)
	}
	for range pss {
		if err := <-pubErrs; err != nil {
			return FanoutResult{}, err
		}
	}
	if err := waitGroup(ctx, &wg); err != nil {
		return FanoutResult{}, err
	}
	cpu1, _ := rig.CPU()
	res := FanoutResult{Rate: rate, Publishers: p, ServerCPU: cpu1 - cpu0, LoadGenCPU: selfCPU() - self0, Watchers: k, Updates: m,
		Deliveries: frames, Covered: len(lat), CoalescedSeen: coalesced, Elapsed: lastAt.Sub(start),
		Coalesced: rig.Metric("presenced_presence_coalesced_total") - coalesced0,
		Writes:    rig.Metric("presenced_ws_event_writes_total") - writes0}
	if pubRig != rig {
		pubCPU1, _ := pubRig.CPU()
		pubWrites1, _ := pubRig.Writes()
		res.PublisherServerCPU, res.PublisherServerWrites = pubCPU1-pubCPU0, pubWrites1-pubWrites0
		res.S2SStanzas = pubRig.Metric("presenced_s2s_stanzas_out_total") - s2sOut0
		res.S2SWrites = pubRig.Metric("presenced_s2s_writes_total") - s2sWrites0
	}
	if d := time.Duration(lastSent.Load() - start.UnixNano()); d > 0 && m > 1 {
		res.PublishedRate = float64(m-1) / d.Seconds()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		res.P50, res.P99, res.Max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	}
	return res, nil
}

// closeAll says bye on every session, 64 at a time; a session that fails
// to say it is dropped (it ends after its grace period).
func closeAll(sessions []*client.Session) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < len(sessions); i = int(next.Add(1) - 1) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if sessions[i].Close(ctx) != nil {
					sessions[i].Drop()
				}
				cancel()
			}
		}()
	}
	wg.Wait()
}

// waitGroup waits for wg, or for ctx to end.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	select {
	case <-all:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// watch follows one watcher: for each publisher the next update it has
// not seen. A frame showing update n delivers every update up to n, those
// coalesced away included, each with its own latency from when it was sent.
type watch struct {
	sent      [][]atomic.Int64
	next      []int
	m         int
	from      [][]byte // each publisher's `"address":"…"`
	lat       []time.Duration
	frames    int // presence frames about publishers received
	coalesced int // updates never seen alone: a newer state arrived first
	lastAt    time.Time
	done      func() // called once every publisher's last update arrived
	finished  bool
}

// frame takes one event of the watcher's session (client.Session.OnEvent).
func (w *watch) frame(f client.Frame) {
	if w.finished || f.Type != "presence" {
		return
	}
	from := -1
	for i, a := range w.from {
		if bytes.Contains(f.Raw, a) {
			from = i
		}
	}
	if n, ok := parseUpdate(f.Raw); ok && from >= 0 {
		w.saw(from, n, time.Now())
	}
	if w.left(len(w.next)) == 0 {
		w.finished = true
		w.done()
	}
}

func (w *watch) left(p int) int {
	n := 0
	for i := 0; i < p; i++ {
		if w.next[i] < w.m {
			n++
		}
	}
	return n
}

func (w *watch) saw(from, n int, at time.Time) {
	if n < 0 || n >= w.m {
		return
	}
	w.frames++
	for i := w.next[from]; i <= n; i++ {
		w.lat = append(w.lat, at.Sub(time.Unix(0, w.sent[from][i].Load())))
		if i < n {
			w.coalesced++
		}
	}
	if n >= w.next[from] {
		w.next[from] = n + 1
		w.lastAt = at
	}
}

// publish sends m presence updates from ps. With a rate it is open-loop:
// each update leaves at its scheduled time (or at once, if the publisher
// fell behind) without waiting for the previous one's reply, so a slow
// server cannot slow the offered load down; the rate reached is reported.
// Without one it sends each after the previous one's reply.
func publish(ctx context.Context, ps *client.Session, pi, m int, rate float64, start time.Time, sent [][]atomic.Int64, lastSent *atomic.Int64) error {
	if rate > 0 {
		go drainReplies(ctx, ps)
	}
	for i := 0; i < m; i++ {
		if rate > 0 {
			if d := time.Until(start.Add(time.Duration(float64(i) / rate * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		now := time.Now().UnixNano()
		sent[pi][i].Store(now)
		status := fmt.Sprintf("%d %d", i, now)
		var err error
		if rate > 0 {
			err = ps.Send(ctx, map[string]any{"type": "presence", "id": "u" + strconv.Itoa(i), "availability": "available", "status": status})
		} else {
			err = ps.SetPresence(ctx, client.Presence{Availability: "available", Status: status})
		}
		if err != nil {
			return fmt.Errorf("update %d: %w", i, err)
		}
		for {
			if l := lastSent.Load(); l >= now || lastSent.CompareAndSwap(l, now) {
				break
			}
		}
	}
	return nil
}

// drainReplies reads an open-loop publisher's replies, which no request
// waits for; an error reply ends the run loudly rather than skewing it.
func drainReplies(ctx context.Context, ps *client.Session) {
	for {
		f, err := ps.NextRaw(ctx)
		if err != nil {
			return
		}
		if f.Type == "error" {
			fmt.Fprintf(os.Stderr, "publisher got an error reply: %s\n", f.Raw)
		}
	}
}

// parseUpdate reads the update number n of a status "<n> <unix
// nanoseconds>" from a raw presence frame, without decoding the frame or
// allocating.
func parseUpdate(raw []byte) (n int, ok bool) {
	_, rest, ok := bytes.Cut(raw, []byte(`"status":"`))
	if !ok {
		return 0, false
	}
	i := 0
	for ; i < len(rest) && i < 9 && rest[i] >= '0' && rest[i] <= '9'; i++ {
		n = n*10 + int(rest[i]-'0')
	}
	if i == 0 || i == len(rest) || rest[i] != ' ' {
		return 0, false
	}
	return n, true
}
