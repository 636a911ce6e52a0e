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
	mu      sync.Mutex
	rate    float64
	burst   float64
	tokens  float64
	last    time.Time
	strikes int
}

// New returns a full bucket.
func New(rate float64, burst int) *Bucket {
	return &Bucket{rate: rate, burst: float64(burst), tokens: float64(burst)}
}

// Take spends one token at now. ok is false when none is left; abusive turns
// true once violations outnumber good behaviour by StrikeLimit.
func (b *Bucket) Take(now time.Time) (ok, abusive bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens += now.Sub(b.last).Seconds() * b.rate
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		if b.strikes > 0 {
			b.strikes--
		}
		return true, false
	}
	b.strikes++
	return false, b.strikes >= StrikeLimit
}

// Strike records a violation other than rate (a malformed frame, say) and
// reports whether the client is now abusive.
func (b *Bucket) Strike() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.strikes++
	return b.strikes >= StrikeLimit
}
