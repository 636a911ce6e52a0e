package ws

import (
	"net"
	"sync"
	"syscall"
)

// flusher runs the flushes of woken connections on one long-lived worker
// per core. A fan-out wakes hundreds of connections within a millisecond;
// each wake-up only appends its connection to a queue, and wakes a sleeping
// worker only when no worker is awake (a worker that finds more queued
// than it takes wakes the next one). So a fan-out to 1,000 connections
// costs a wake-up or two, not a hand-off per connection, and connections
// are written in the order they were woken, which is the hub's fan-out
// order.
//
// A worker never blocks on a socket: it writes without waiting
// (netpoll.Conn.WriteNow), and a connection whose socket is full (a slow reader) gets
// a goroutine of its own for the rest of its flush (finishWrite). Workers
// are then only ever busy on the CPU, so one per core is enough.
//
// The queue holds each connection at most once (conn.writing), so it is
// bounded by the number of connections.
type flusher struct {
	mu    sync.Mutex
	queue []*conn         // woken connections not yet taken, in order
	next  int             // queue[next:] are not taken yet
	idle  []chan struct{} // sleeping workers' wake-up channels
	awake int             // workers not sleeping
}

// flushTake is how many connections a worker takes from the queue at
// once: one lock of the queue per few flushes, while a second worker still
// finds work during a fan-out.
const flushTake = 8

// newFlusher starts n workers.
func newFlusher(n int) *flusher {
	f := &flusher{awake: n}
	for i := 0; i < n; i++ {
		go f.work()
	}
	return f
}

// add queues c, whose writing flag the caller took, for a worker.
func (f *flusher) add(c *conn) {
	f.mu.Lock()
	f.queue = append(f.queue, c)
	if f.awake == 0 {
		f.wakeLocked()
	}
	f.mu.Unlock()
}

// wakeLocked wakes a sleeping worker, if there is one.
func (f *flusher) wakeLocked() {
	if n := len(f.idle); n > 0 {
		ch := f.idle[n-1]
		f.idle[n-1] = nil
		f.idle = f.idle[:n-1]
		f.awake++
		ch <- struct{}{} // buffered: never blocks
	}
}

// takeLocked moves up to len(dst) queued connections into dst.
func (f *flusher) takeLocked(dst []*conn) int {
	n := copy(dst, f.queue[f.next:])
	f.next += n
	if f.next == len(f.queue) { // all taken: reuse the queue from its start
		clear(f.queue)
		f.queue, f.next = f.queue[:0], 0
	}
	return n
}

func (f *flusher) work() {
	wake := make(chan struct{}, 1)
	fb := new(flushBuf) // the worker's own: no pool round trip per flush
	var taken [flushTake]*conn
	f.mu.Lock()
	for {
		n := f.takeLocked(taken[:])
		if n == 0 {
			f.awake--
			f.idle = append(f.idle, wake)
			f.mu.Unlock()
			<-wake
			f.mu.Lock()
			continue
		}
		if f.next < len(f.queue) {
			f.wakeLocked() // more than we took: a second worker helps
		}
		f.mu.Unlock()
		for i, c := range taken[:n] {
			c.flushWith(fb, nil)
			taken[i] = nil
		}
		fb.shrink()
		f.mu.Lock()
	}
}

// rawConn returns nc's raw connection when it can be written without
// waiting (a TCP connection); nil for one that cannot (TLS, whose writes
// go through its own state): those are flushed by the pool that may wait.
func rawConn(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}
