package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/client"
)

// TransportRound is one fan-out round with the watchers on one transport.
type TransportRound struct {
	Transport string // "websocket" or "long-polling"
	Polls     int64  // long-polling: the watchers' requests in the round but their hello and bye
	FanoutResult
}

// CPUPerDelivery is the server's CPU time per presence frame the watchers
// received.
func (r TransportRound) CPUPerDelivery() time.Duration {
	if r.Deliveries == 0 {
		return 0
	}
	return r.ServerCPU / time.Duration(r.Deliveries)
}

// Longpoll runs the fan-out benchmark (p publishers on WebSocket, k
// watchers, m updates each) on one server, rounds times with the watchers
// on WebSocket and rounds times with them long-polling, interleaved
// (WebSocket first), so both transports meet the same server, the same
// accounts and the same machine load. Every session of a round ends
// (bye) and the server is seen to hold no session before the next one.
func Longpoll(ctx context.Context, bin string, p, k, m int, rate float64, rounds int, log io.Writer) ([]TransportRound, error) {
	var out []TransportRound
	err := withFanoutRig(ctx, bin, p, k, log, func(rig *Rig, pubs, watchers []Account) error {
		// One connection pool for all long-polling watchers, keeping a
		// connection per watcher alive between polls as a browser does
		// (Go's default pool keeps 2 per host: every other poll would
		// open a new TCP connection).
		polls := &countingTransport{next: &http.Transport{
			MaxIdleConns: 2*k + 16, MaxIdleConnsPerHost: 2*k + 16, IdleConnTimeout: 90 * time.Second}}
		pool := &http.Client{Timeout: 70 * time.Second, Transport: polls}
		defer pool.CloseIdleConnections()
		connectLP := func(ctx context.Context, rig *Rig, a Account) (*client.Session, error) {
			c := client.New(rig.URL, a.Token)
			c.HTTP = pool
			return c.ConnectPoll(ctx, client.ConnectOptions{Device: "watch"})
		}
		for i := 0; i < rounds; i++ {
			for _, t := range []struct {
				name    string
				connect func(context.Context, *Rig, Account) (*client.Session, error)
			}{{"websocket", connectWS}, {"long-polling", connectLP}} {
				fmt.Fprintf(log, "round %d, watchers on %s:\n", i+1, t.name)
				polls0 := polls.n.Load()
				r, err := fanoutRound(ctx, rig, pubs, watchers, m, rate, t.connect, log)
				if err != nil {
					return fmt.Errorf("%s round %d: %w", t.name, i+1, err)
				}
				n := polls.n.Load() - polls0
				if n > 0 {
					n -= 2 * int64(k)
				}
				out = append(out, TransportRound{t.name, n, r})
				if err := waitNoSessions(ctx, rig); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return out, err
}

// countingTransport counts the requests it carries.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// waitNoSessions waits until the server holds no session (grace periods
// included), so that a round does not deliver to the last one's.
func waitNoSessions(ctx context.Context, rig *Rig) error {
	deadline := time.Now().Add(30 * time.Second)
	for rig.Metric("presenced_sessions_total") != 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("the server still holds %.0f sessions 30 s after the round ended", rig.Metric("presenced_sessions_total"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// ReportLongpoll prints the rounds side by side.
func ReportLongpoll(w io.Writer, rounds []TransportRound) {
	if len(rounds) == 0 {
		return
	}
	r0 := rounds[0]
	fmt.Fprintf(w, "publishers, watchers: %d, %d (publishers on WebSocket; watchers on the transport named)\n", r0.Publishers, r0.Watchers)
	fmt.Fprintf(w, "updates published:    %d per publisher per round (rate: %s)\n", r0.Updates, rateText(r0.Rate))
	for _, r := range rounds {
		fmt.Fprintf(w, "%-13s updates delivered %d of %d (%.0f/s) in %d frames (%.0f/s; %d updates coalesced into newer ones, server count %.0f)",
			r.Transport+":", r.Covered, r.Publishers*r.Watchers*r.Updates, float64(r.Covered)/r.Elapsed.Seconds(), r.Deliveries, r.PerSecond(), r.CoalescedSeen, r.Coalesced)
		if r.Rate > 0 {
			fmt.Fprintf(w, " (rate reached %.1f/s)", r.PublishedRate)
		}
		fmt.Fprintf(w, "; server CPU %s = %.0f%% of one core, %.1f µs per frame delivered, %.1f µs per update delivered; latency p50/p99/max %s / %s / %s\n",
			r.ServerCPU.Round(time.Millisecond), 100*r.ServerCPU.Seconds()/r.Elapsed.Seconds(),
			float64(r.CPUPerDelivery())/float64(time.Microsecond), float64(r.ServerCPU)/float64(time.Microsecond)/float64(max(r.Covered, 1)),
			r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond), r.Max.Round(10*time.Microsecond))
		if r.Polls > 0 {
			fmt.Fprintf(w, "%-13s %d polls (requests but the hello and the bye): %.2f frames and %.1f µs of server CPU per poll\n", "", r.Polls,
				float64(r.Deliveries)/float64(r.Polls), float64(r.ServerCPU)/float64(time.Microsecond)/float64(r.Polls))
		}
	}
}

// rateText names a publisher's rate.
func rateText(r float64) string {
	if r == 0 {
		return "as fast as answered"
	}
	return fmt.Sprintf("%.0f/s", r)
}
