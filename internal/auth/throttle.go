package auth

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/clock"
)

// ErrThrottled means too many failed sign-ins for this account or address;
// the caller should wait. It says nothing about whether the password was
// right, and is given for unknown accounts too.
var ErrThrottled = errors.New("too many failed sign-ins; try again later")

// Throttle slows down password guessing: every key (an account, a client
// IP) may fail Free times per Window; after that its sign-ins are refused
// until the window has passed. Attempts still in progress are capped too
// (MaxInFlight per key), so guesses made in parallel cannot overshoot the
// limit by much, while many successful sign-ins from one address (a NAT, a
// reconnect storm) are never mistaken for failures. It remembers at most
// MaxKeys keys, forgetting the oldest first.
type Throttle struct {
	Clock       clock.Clock
	Free        int
	Window      time.Duration
	MaxInFlight int
	MaxKeys     int

	mu    sync.Mutex
	fails map[string]*failures
	order []string // keys in insertion order, for eviction
}

type failures struct {
	n        int // failures in the window
	inFlight int
	since    time.Time
}

// NewThrottle returns a throttle allowing free failures per window.
func NewThrottle(c clock.Clock, free int, window time.Duration) *Throttle {
	return &Throttle{Clock: c, Free: free, Window: window, MaxInFlight: 64, MaxKeys: 100000, fails: map[string]*failures{}}
}

// entry returns the key's record, starting a new window when the old one
// passed; the caller holds mu.
func (t *Throttle) entry(k string, now time.Time) *failures {
	f := t.fails[k]
	if f == nil {
		t.evict()
		t.order = append(t.order, k)
		f = &failures{since: now}
		t.fails[k] = f
	} else if now.Sub(f.since) >= t.Window {
		f.n, f.since = 0, now
	}
	return f
}

// Begin admits a sign-in attempt for keys (an account, a client) or refuses
// it with ErrThrottled. Every admitted attempt must end with Failed or
// Succeeded on the same keys.
func (t *Throttle) Begin(keys ...string) error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Clock.Now()
	for _, k := range keys {
		if f := t.fails[k]; f != nil && (now.Sub(f.since) < t.Window && f.n >= t.Free || f.inFlight >= t.MaxInFlight) {
			return ErrThrottled
		}
	}
	for _, k := range keys {
		t.entry(k, now).inFlight++
	}
	return nil
}

// Failed ends an admitted attempt that failed.
func (t *Throttle) Failed(keys ...string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.Clock.Now()
	for _, k := range keys {
		f := t.entry(k, now)
		f.n++
		if f.inFlight > 0 {
			f.inFlight--
		}
	}
}

// Succeeded ends an admitted attempt that succeeded: the account's
// failures are forgotten; the other keys keep theirs.
func (t *Throttle) Succeeded(account string, others ...string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, account)
	for _, k := range others {
		if f := t.fails[k]; f != nil && f.inFlight > 0 {
			f.inFlight--
		}
	}
}

// evict drops the oldest keys beyond MaxKeys-1; the caller holds mu.
func (t *Throttle) evict() {
	for len(t.order) >= t.MaxKeys {
		delete(t.fails, t.order[0])
		t.order = t.order[1:]
	}
	if len(t.order) > 2*len(t.fails)+64 { // compact keys that were forgotten
		kept := t.order[:0]
		for _, k := range t.order {
			if _, ok := t.fails[k]; ok {
				kept = append(kept, k)
			}
		}
		t.order = kept
	}
}

// ClientIP is the address throttling counts a request's failures against:
// the connection's peer. X-Forwarded-For is not trusted.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
