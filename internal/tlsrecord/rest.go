package tlsrecord

import (
	"sync"
	"time"
)

// The rester drops the writing AEADs of connections that stopped writing
// (Conn.RestWrite): every tick it looks at each queued connection and drops
// the AEAD of one that wrote nothing since its last look, so an AEAD
// outlives its connection's last write by one to two ticks. A connection
// is queued once at a time (half.queued), so the queue is bounded by the
// connections. The rester's goroutine runs only while some are queued.

// restEvery is how often the rester looks: short beside an idle stream's
// life, long beside the bursts of a login or a fan-out.
const restEvery = 200 * time.Millisecond

type rester struct {
	every   time.Duration
	mu      sync.Mutex
	queue   []*Conn
	running bool // a goroutine runs run
}

// resting rests the writing AEADs of every Conn of the process.
var resting = rester{every: restEvery}

// add queues c; the caller holds c.wmu (the rester takes it only with
// r.mu released).
func (r *rester) add(c *Conn) {
	r.mu.Lock()
	r.queue = append(r.queue, c)
	if !r.running {
		r.running = true
		go r.run()
	}
	r.mu.Unlock()
}

// run looks at the queue every tick until it is empty.
func (r *rester) run() {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for range t.C {
		if !r.look() {
			return
		}
	}
}

// look takes each queued connection's AEAD or keeps it queued (restTick),
// and reports whether any stay queued; when none does, the rester stops.
func (r *rester) look() bool {
	r.mu.Lock()
	looked := r.queue
	r.queue = nil // what a storm queued is not kept
	r.mu.Unlock()
	var again []*Conn
	for _, c := range looked {
		if c.restTick() {
			again = append(again, c)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.queue = append(r.queue, again...)
	r.running = len(r.queue) > 0
	return r.running
}
