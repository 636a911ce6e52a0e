package bench

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/presenced/presenced/internal/store"
)

// S2SFanout is Fanout across domains: one publisher on a.test watched by k
// sessions of k accounts of b.test (approved), each on its own presenced
// process federating over s2s on loopback (static routes, dialback over
// self-signed certificates). The publisher changes presence m times; the
// result's ServerCPU is b.test's, PublisherServerCPU a.test's, and
// PublisherServerWrites a.test's write(2) calls, which shows whether what
// goes to one domain is batched.
func S2SFanout(ctx context.Context, bin string, k, m int, rate float64, log io.Writer) (FanoutResult, error) {
	var dirs [2]string
	for i := range dirs {
		dir, err := os.MkdirTemp("", "presenced-bench-")
		if err != nil {
			return FanoutResult{}, err
		}
		defer os.RemoveAll(dir)
		dirs[i] = dir
	}
	fmt.Fprintf(log, "preparing a publisher on a.test and %d watchers on b.test…\n", k)
	pubs, stA, err := PrepareDomain(ctx, dirs[0], "pub", "a.test", 1)
	if err != nil {
		return FanoutResult{}, err
	}
	watchers, stB, err := PrepareDomain(ctx, dirs[1], "watch", "b.test", k)
	if err != nil {
		stA.Close()
		return FanoutResult{}, err
	}
	// each server holds the edge: a.test its own decision, b.test the
	// mirror of what a.test said
	err = approveAll(ctx, pubs[0].Address, watchers, stA, stB)
	stA.Close()
	stB.Close()
	if err != nil {
		return FanoutResult{}, err
	}
	s2sA, err := freeAddr()
	if err != nil {
		return FanoutResult{}, err
	}
	s2sB, err := freeAddr()
	if err != nil {
		return FanoutResult{}, err
	}
	fed := func(domain, s2s string) []string {
		return []string{"--domain", domain, "--s2s-addr", s2s, "--s2s-route", "a.test=" + s2sA, "--s2s-route", "b.test=" + s2sB, "--s2s-dialback"}
	}
	a, err := Start(ctx, bin, dirs[0], fed("a.test", s2sA)...)
	if err != nil {
		return FanoutResult{}, err
	}
	defer a.Stop()
	b, err := Start(ctx, bin, dirs[1], fed("b.test", s2sB)...)
	if err != nil {
		return FanoutResult{}, err
	}
	defer b.Stop()
	// a first round of one update opens the streams between the domains
	// (STARTTLS, dialback both ways), which the measured round then finds
	fmt.Fprintln(log, "warming up the s2s streams…")
	if _, err := fanoutAcross(ctx, a, b, pubs, watchers, 1, 0, connectWS, io.Discard); err != nil {
		return FanoutResult{}, fmt.Errorf("warm-up: %w", err)
	}
	return fanoutAcross(ctx, a, b, pubs, watchers, m, rate, connectWS, log)
}

// approveAll stores, in each store, that subject approved every watcher.
func approveAll(ctx context.Context, subject string, watchers []Account, stores ...store.Store) error {
	for _, st := range stores {
		for _, w := range watchers {
			if err := st.PutRelation(ctx, store.Relation{Subject: subject, Viewer: w.Address, State: store.Approved}); err != nil {
				return err
			}
		}
	}
	return nil
}
