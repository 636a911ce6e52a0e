// Package ratelimit is a token bucket that also counts strikes, so a
// connection that keeps breaking the rules can be told to go away.
package ratelimit

import (
	"sync"
	"time"
)

// StrikeLimit is how many net violations make a client abusive.
const StrikeLimit = 20

// Bucket allows Rate events per second with bursts of Burst.
type Bucket struct {
	mu    sync.Mutex
	rate  float64
	burst int
	st    State
}

// New returns a full bucket.
func New(rate float64, burst int) *Bucket {
	return &Bucket{rate: rate, burst: burst}
}

// Take spends one token at now. ok is false when none is left; abusive turns
// true once violations outnumber good behaviour by StrikeLimit.
func (b *Bucket) Take(now time.Time) (ok, abusive bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st.Take(now, b.rate, b.burst)
}

// Strike records a violation other than rate (a malformed frame, say) and
// reports whether the client is now abusive.
func (b *Bucket) Strike() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st.Strike()
}

// State is a bucket without its settings and its lock, for a holder of
// many (one per session) that keeps the rate and burst once and already
// has a lock: 16 bytes in the holder, where a *Bucket costs 8 there and 64
// on the heap. Its zero value is a full bucket. The caller serializes
// calls and passes the same rate and burst each time.
type State struct {
	last    int64   // UnixNano of the last Take (0: none yet)
	spent   float32 // tokens below a full bucket, so that zero is full
	strikes int32
}

// Take is Bucket.Take for a bucket of rate and burst.
func (st *State) Take(now time.Time, rate float64, burst int) (ok, abusive bool) {
	t := now.UnixNano()
	if elapsed := t - st.last; elapsed > 0 {
		st.spent = float32(max(0, float64(st.spent)-float64(elapsed)/1e9*rate))
	}
	st.last = t
	if float64(burst)-float64(st.spent) >= 1 {
		st.spent++
		if st.strikes > 0 {
			st.strikes--
		}
		return true, false
	}
	st.strikes++
	return false, st.strikes >= StrikeLimit
}

// Strike is Bucket.Strike.
func (st *State) Strike() bool {
	st.strikes++
	return st.strikes >= StrikeLimit
}
