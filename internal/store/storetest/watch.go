package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// RunWatch checks a backend's store.LifecycleWatcher: open returns two
// handles on one database (as two processes would hold), the first a
// watcher. Every change the second logs is signalled to a watch on the
// first, round after round. The fallback is an hour, so a signal must
// come from the backend's own watching, not from the fallback; a watch
// that polls (signals every interval) passes too, as it should.
func RunWatch(t *testing.T, open func(t *testing.T) (watched, other store.Store)) {
	a, b := open(t)
	w, ok := a.(store.LifecycleWatcher)
	if !ok {
		t.Fatalf("%T is no store.LifecycleWatcher", a)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	signals := w.WatchLifecycle(wctx, 10*time.Millisecond, time.Hour)
	last, err := a.LastLifecycleID(ctx)
	must(t, err)
	hangGuard := time.After(60 * time.Second)
	for round := 0; round < 5; round++ {
		account := fmt.Sprintf("watch%d@x", round)
		addAccount(t, b, account)
		must(t, b.SetCredentials(ctx, account, "new", nil)) // logged
		for seen := false; !seen; {
			select {
			case <-signals:
			case <-hangGuard:
				t.Fatalf("round %d: no signal of the change", round)
			}
			evs, err := a.LifecycleSince(ctx, last, 10)
			must(t, err)
			for _, ev := range evs {
				last = ev.ID
				seen = seen || ev.Account == account
			}
		}
	}
}
