package c2s

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestFlusherReused: a flush handed over while a flusher waits runs on
// that flusher, not on a new goroutine, and a waiting flusher ends once
// nothing came for its idle time.
func TestFlusherReused(t *testing.T) {
	p := newFlusherPool(time.Hour) // never ends by itself during the first part
	ran := make(chan int, 2)
	p.run(func() { ran <- 1 })
	<-ran
	eventually(t, "a flusher waiting", func() bool { return p.waiting.Load() == 1 })
	p.run(func() { ran <- 2 })
	if got := <-ran; got != 2 {
		t.Fatalf("ran %d", got)
	}
	if n := p.started.Load(); n != 1 {
		t.Fatalf("%d goroutines started for two flushes one after the other", n)
	}

	p = newFlusherPool(time.Millisecond)
	p.run(func() {})
	eventually(t, "the idle flusher ended", func() bool { return p.running.Load() == 0 })
}

// TestFlushersRunAtOnce: flushes handed over while every flusher works
// each get a goroutine of their own (one stream's flush never waits for
// another's).
func TestFlushersRunAtOnce(t *testing.T) {
	p := newFlusherPool(time.Hour)
	release := make(chan struct{})
	const n = 4
	entered := make(chan struct{}, n)
	for range n {
		p.run(func() { entered <- struct{}{}; <-release })
	}
	for range n {
		<-entered // all n run together, or this hangs
	}
	close(release)
	if s := p.started.Load(); s != n {
		t.Fatalf("%d goroutines for %d concurrent flushes", s, n)
	}
}

// eventually waits for cond, failing after a generous hang guard.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
	}
}

// TestFlushersUnderChurn: with flushers ending as soon as they wait, runs
// handed over from many goroutines all run once, none lost between a
// claim and a flusher ending (-race).
func TestFlushersUnderChurn(t *testing.T) {
	p := newFlusherPool(time.Microsecond)
	const senders, each = 8, 500
	var wg sync.WaitGroup
	wg.Add(senders * each)
	var ran atomic.Int64
	for range senders {
		go func() {
			for range each {
				p.run(func() { ran.Add(1); wg.Done() })
			}
		}()
	}
	wg.Wait() // hangs if a run is lost
	if n := ran.Load(); n != senders*each {
		t.Fatalf("%d runs", n)
	}
	eventually(t, "every flusher ended", func() bool { return p.running.Load() == 0 })
}
