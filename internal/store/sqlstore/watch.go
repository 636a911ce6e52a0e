package sqlstore

import (
	"bytes"
	"context"
	"time"

	"github.com/presenced/presenced/internal/store"
)

// Watch is how a backend learns that the database may have changed
// without reading the lifecycle log (store.LifecycleWatcher). With
// neither, the log is read every interval, as a poll.
type Watch struct {
	// Stamp appends to dst a value that changes whenever any process
	// commits (SQLite: its shared-memory header), nil when it cannot tell
	// now. It is read every interval; reading it must cost next to
	// nothing.
	Stamp func(dst []byte) []byte
	// Listen runs for the watch's life and calls changed when the
	// database says the log grew (PostgreSQL: LISTEN/NOTIFY); it returns
	// when ctx ends.
	Listen func(ctx context.Context, changed func())
}

// SetWatch tells the store how its backend learns of changes; before the
// store is used.
func (s *DB) SetWatch(w Watch) { s.watch = w }

var _ store.LifecycleWatcher = (*DB)(nil)

// WatchLifecycle (store.LifecycleWatcher) signals after a change the
// backend's Watch saw, or after every interval when it has none, and at
// least every fallback.
func (s *DB) WatchLifecycle(ctx context.Context, interval, fallback time.Duration) <-chan struct{} {
	ch := make(chan struct{}, 1)
	changed := func() {
		select {
		case ch <- struct{}{}:
		default: // one waits already
		}
	}
	w := s.watch
	if w.Listen != nil {
		go w.Listen(ctx, changed)
	}
	every := interval
	if w.Stamp == nil && w.Listen != nil {
		every = fallback // the notifications do the rest
	}
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		var last, now []byte
		lastSignal := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case tick := <-t.C:
				if w.Stamp == nil { // a poll, or Listen's fallback (then every is fallback)
					changed()
					continue
				}
				now = w.Stamp(now[:0])
				if now == nil || !bytes.Equal(now, last) || tick.Sub(lastSignal) >= fallback {
					last = append(last[:0], now...)
					lastSignal = tick
					changed()
				}
			}
		}
	}()
	return ch
}
