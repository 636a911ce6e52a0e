package auth

import (
	"errors"
	"fmt"
	"hash/maphash"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/clock"
)

// ErrThrottled means too many failed sign-ins for this client on this
// account, or from this client; the caller should wait. It says nothing
// about whether the password was right, and is given for unknown accounts
// too. The error returned is a *ThrottledError, which says how long.
var ErrThrottled = errors.New("too many failed sign-ins; try again later")

// ThrottledError is ErrThrottled with the time left until the next attempt
// is admitted (the HTTP Retry-After).
type ThrottledError struct{ Wait time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed sign-ins; try again in %s", (e.Wait + time.Second - 1).Truncate(time.Second))
}
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// Attempt names a sign-in attempt for the throttle.
type Attempt struct {
	Account string // the address signed in to, as given (normalized when it is one)
	IP      string // the client's address (ClientIP)
	// Token is the id of a valid token of Account that the client holds
	// (a signed-in page or app signing in again), or "". Such a client is
	// the owner, or has the owner's token: it is throttled only by its own
	// failures, never by anybody else's.
	Token string
}

// Throttle bounds password guessing without handing anybody a way to lock
// others out. Failures are counted on three keys:
//
//   - the pair (account, client IP): PairFree failures, then each further
//     attempt waits a delay that doubles from BaseDelay up to MaxDelay
//     after every failure. This is the limit guessing meets, and only
//     failures from the same IP on the same account build it up, so a
//     stranger cannot aim it at an owner elsewhere.
//   - the client IP: IPFree failures on any accounts, then growing delays
//     for that IP's untrusted attempts: one address cannot try a few
//     passwords on each of many accounts. The limit is high because a
//     whole office can share one address (NAT).
//   - the account: its failures from all IPs. Past AccountAlarm, the
//     account is under attack from many addresses, and an untrusted pair
//     gets one free failure instead of PairFree. An IP with no failures
//     on the account still always gets its attempt.
//
// An attempt is trusted when the client holds one of the account's tokens
// (Attempt.Token), or signed in to the account successfully from the same
// IP within TrustFor: trusted attempts meet only their own failures (the
// pair's, or the token's), not the IP's or the account's. An owner who
// holds a token or a live session is thus never kept out by others, and
// an owner signing in from an IP with no failures always gets to try.
//
// Nothing depends on whether the account exists: the keys are built from
// the address as given, and unknown accounts are answered exactly like
// wrong passwords. Attempts in progress count as failures until they end,
// so parallel guesses cannot overshoot a limit. Records with no failure
// for Forget are forgotten, and at most MaxKeys records and MaxKeys
// trusted pairs are kept, the oldest forgotten first.
//
// Trusted pairs are kept by a 64-bit hash of the pair, under a seed drawn
// at random for each throttle: every account signed in holds one for
// TrustFor, and a string key cost about 0.1 KiB each (issue 9). A
// collision could only make an untrusted pair count as trusted, and a
// trusted pair still meets its own failures (PairFree, then the growing
// delays): what it escapes is the IP's and the account's limits, as an
// owner's pair does. Finding one takes pairs whose hash equals one of at
// most MaxKeys trusted ones, blindly (the seed and the hashes never leave
// the process), each try a throttled sign-in attempt: about 2^64/MaxKeys
// attempts, far beyond what the pair and IP limits admit.
type Throttle struct {
	Clock        clock.Clock
	PairFree     int
	IPFree       int
	AccountAlarm int
	BaseDelay    time.Duration
	MaxDelay     time.Duration
	Forget       time.Duration
	TrustFor     time.Duration
	MaxInFlight  int // attempts in progress per IP, successful ones included
	MaxKeys      int

	mu      sync.Mutex
	recs    map[string]*record
	order   []held // records in creation order, for eviction
	seed    maphash.Seed
	trusted map[uint64]int64 // pairHash → until, in Unix nanoseconds
	torder  []uint64         // trusted pairs in the order they were trusted, for eviction
}

// held is a record in the eviction order: a key forgotten and made again
// is a new record, so its old place in the order must not evict it.
type held struct {
	key string
	rec *record
}

type record struct {
	fails    int
	inFlight int
	last     time.Time // of the last failure
	next     time.Time // no attempt before this
}

// Default sign-in limits; docs/operations.md explains them.
const (
	DefaultPairFree     = 5
	DefaultIPFree       = 100
	DefaultAccountAlarm = 20
	DefaultBaseDelay    = time.Second
	DefaultMaxDelay     = 5 * time.Minute
	DefaultForget       = time.Hour
	DefaultTrustFor     = 30 * 24 * time.Hour
)

// NewThrottle returns a throttle with the default limits.
func NewThrottle(c clock.Clock) *Throttle {
	return &Throttle{Clock: c, PairFree: DefaultPairFree, IPFree: DefaultIPFree, AccountAlarm: DefaultAccountAlarm,
		BaseDelay: DefaultBaseDelay, MaxDelay: DefaultMaxDelay, Forget: DefaultForget, TrustFor: DefaultTrustFor,
		MaxInFlight: 64, MaxKeys: 100000}
}

func pairKey(a Attempt) string { return "pair:" + strings.ToLower(a.Account) + "|" + a.IP }

// trustKey is the key of a pair (pairKey) among the trusted ones; the
// caller holds mu (after init).
func (t *Throttle) trustKey(pair string) uint64 { return maphash.String(t.seed, pair) }

// keys are the records an attempt is counted on, with the free failures
// of each; the caller holds mu.
func (t *Throttle) keys(a Attempt, now time.Time) (keys []string, free []int) {
	if a.Token != "" {
		return []string{"tok:" + a.Token}, []int{t.PairFree}
	}
	pair := pairKey(a)
	if until, ok := t.trusted[t.trustKey(pair)]; ok && now.UnixNano() < until {
		return []string{pair}, []int{t.PairFree}
	}
	pairFree := t.PairFree
	if r := t.live("acct:"+strings.ToLower(a.Account), now); r != nil && r.fails >= t.AccountAlarm {
		pairFree = 1
	}
	return []string{pair, "ip:" + a.IP, "acct:" + strings.ToLower(a.Account)}, []int{pairFree, t.IPFree, 0}
}

// live returns key's record, forgetting it when its failures are old; the
// caller holds mu.
func (t *Throttle) live(k string, now time.Time) *record {
	r := t.recs[k]
	if r != nil && r.inFlight == 0 && now.Sub(r.last) >= t.Forget && !now.Before(r.next) {
		delete(t.recs, k)
		return nil
	}
	return r
}

// entry returns key's record, creating it; the caller holds mu.
func (t *Throttle) entry(k string, now time.Time) *record {
	r := t.live(k, now)
	if r == nil {
		t.evict()
		r = &record{}
		t.recs[k] = r
		t.order = append(t.order, held{k, r})
	}
	return r
}

// Ticket is an admitted attempt; end it with exactly one of Failed,
// Succeeded or Abandoned. It remembers the keys it was admitted on, so it
// ends on the same ones however trust changed meanwhile.
type Ticket struct {
	t    *Throttle
	a    Attempt
	keys []string
	free []int
}

// Begin admits a sign-in attempt or refuses it with a *ThrottledError.
func (t *Throttle) Begin(a Attempt) (*Ticket, error) {
	if t == nil {
		return &Ticket{}, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.init()
	now := t.Clock.Now()
	keys, free := t.keys(a, now)
	var wait time.Duration
	for i, k := range keys {
		r := t.live(k, now)
		switch {
		case r == nil:
		case now.Before(r.next):
			wait = max(wait, r.next.Sub(now))
		case free[i] > 0 && r.fails+r.inFlight >= free[i] && r.inFlight > 0,
			strings.HasPrefix(k, "ip:") && r.inFlight >= t.MaxInFlight:
			// past the free failures one attempt at a time: parallel
			// guesses wait for the one in progress
			wait = max(wait, t.BaseDelay)
		}
	}
	if wait > 0 {
		return nil, &ThrottledError{Wait: wait}
	}
	for _, k := range keys {
		t.entry(k, now).inFlight++
	}
	return &Ticket{t: t, a: a, keys: keys, free: free}, nil
}

// end takes the ticket's throttle, locked, once: a second end of the same
// ticket (or one of a nil throttle) gets nil and does nothing.
func (k *Ticket) end() *Throttle {
	t := k.t
	if t == nil {
		return nil
	}
	k.t = nil
	t.mu.Lock()
	return t
}

// Failed ends an attempt that failed: it counts on every key, and a key
// past its free failures must wait before its next attempt.
func (k *Ticket) Failed() {
	t := k.end()
	if t == nil {
		return
	}
	defer t.mu.Unlock()
	now := t.Clock.Now()
	for i, key := range k.keys {
		r := t.entry(key, now)
		r.fails++
		r.last = now
		if r.inFlight > 0 {
			r.inFlight--
		}
		if k.free[i] > 0 && r.fails >= k.free[i] {
			r.next = now.Add(t.delay(r.fails - k.free[i]))
		}
	}
}

// Succeeded ends an attempt that succeeded: the pair's (or the token's)
// failures are forgotten and the pair is trusted from now on; the IP and
// the account keep theirs, so that nobody wipes his record by signing in
// to an account of his own between guesses.
func (k *Ticket) Succeeded() {
	t := k.end()
	if t == nil {
		return
	}
	defer t.mu.Unlock()
	now := t.Clock.Now()
	delete(t.recs, k.keys[0])
	t.release(k.keys[1:])
	if k.a.Token == "" {
		pair := t.trustKey(pairKey(k.a))
		if _, ok := t.trusted[pair]; !ok {
			for len(t.torder) >= t.MaxKeys {
				delete(t.trusted, t.torder[0])
				t.torder = t.torder[1:]
			}
			t.torder = append(t.torder, pair)
		}
		t.trusted[pair] = now.Add(t.TrustFor).UnixNano()
	}
}

// Abandoned ends an attempt that neither failed nor succeeded (the store
// failed, the client went away): nothing is counted.
func (k *Ticket) Abandoned() {
	t := k.end()
	if t == nil {
		return
	}
	defer t.mu.Unlock()
	t.release(k.keys)
}

// release ends the attempt in progress on keys; the caller holds mu.
func (t *Throttle) release(keys []string) {
	for _, key := range keys {
		r := t.recs[key]
		if r == nil {
			continue
		}
		if r.inFlight > 0 {
			r.inFlight--
		}
		if r.inFlight == 0 && r.fails == 0 {
			delete(t.recs, key) // it holds nothing to remember
		}
	}
}

// delay is the wait after the k+1st failure past the free ones.
func (t *Throttle) delay(k int) time.Duration {
	d := t.BaseDelay
	for ; k > 0 && d < t.MaxDelay; k-- {
		d *= 2
	}
	return min(d, t.MaxDelay)
}

// init makes the maps; the caller holds mu.
func (t *Throttle) init() {
	if t.recs == nil {
		t.recs = map[string]*record{}
		t.trusted = map[uint64]int64{}
		t.seed = maphash.MakeSeed()
	}
}

// evict drops the oldest keys beyond MaxKeys-1; the caller holds mu.
func (t *Throttle) evict() {
	for len(t.recs) >= t.MaxKeys && len(t.order) > 0 {
		if h := t.order[0]; t.recs[h.key] == h.rec {
			delete(t.recs, h.key)
		}
		t.order = t.order[1:]
	}
	if len(t.order) > 2*len(t.recs)+64 { // compact records that were forgotten
		kept := t.order[:0]
		for _, h := range t.order {
			if t.recs[h.key] == h.rec {
				kept = append(kept, h)
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
