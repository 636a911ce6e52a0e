package c2s

// Flushes run on goroutines that are kept a moment after their flush, for
// the next: a login storm wakes a flush per contact presence and per
// answer, and a new goroutine for each paid for its creation and for
// growing its stack anew every time.

import (
	"sync/atomic"
	"time"
)

// flusherIdle is how long a flusher with nothing to do waits for more
// work before it ends: idle streams hold no goroutine once it has passed.
const flusherIdle = 200 * time.Millisecond

// flushers runs the flushes of every stream.
var flushers = newFlusherPool(flusherIdle)

// flusherPool runs functions on goroutines that wait up to idle for the
// next one. There are never more of them than ran at once at the busiest
// moment of the last idle period, and none stays past it.
type flusherPool struct {
	work    chan func() // unbuffered: a flusher claimed in waiting takes it
	idle    time.Duration
	waiting atomic.Int64 // flushers waiting for work that no run has claimed
	running atomic.Int64 // goroutines alive, waiting or working
	started atomic.Int64 // goroutines ever started
}

func newFlusherPool(idle time.Duration) *flusherPool {
	return &flusherPool{work: make(chan func()), idle: idle}
}

// run runs f on a waiting flusher, or on a new one if none waits. A
// claimed flusher always takes what is sent to it (loop), so the send
// does not block for long.
func (p *flusherPool) run(f func()) {
	for {
		w := p.waiting.Load()
		if w == 0 {
			p.running.Add(1)
			p.started.Add(1)
			go p.loop(f)
			return
		}
		if p.waiting.CompareAndSwap(w, w-1) {
			p.work <- f
			return
		}
	}
}

// loop runs f, then what run hands it, until none comes for p.idle.
func (p *flusherPool) loop(f func()) {
	defer p.running.Add(-1)
	timer := time.NewTimer(p.idle)
	defer timer.Stop()
	for {
		f()
		f = nil // nothing of the last stream kept while waiting
		timer.Reset(p.idle)
		p.waiting.Add(1)
		select {
		case f = <-p.work: // its run claimed a waiting flusher: this one or another
		case <-timer.C:
			if !p.withdraw() {
				f = <-p.work // every waiting flusher is claimed, this one too: take its work
				continue
			}
			return
		}
	}
}

// withdraw takes a waiting flusher off the count, unless runs claimed
// them all: then each claimed one, the caller too, has a send coming.
func (p *flusherPool) withdraw() bool {
	for {
		w := p.waiting.Load()
		if w == 0 {
			return false
		}
		if p.waiting.CompareAndSwap(w, w-1) {
			return true
		}
	}
}
