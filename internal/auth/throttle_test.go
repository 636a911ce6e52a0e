package auth

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/clock"
)

func newTestThrottle() (*Throttle, *clock.Fake) {
	c := clock.NewFake(time.Unix(0, 0))
	return NewThrottle(c), c
}

// try runs one attempt to its end: it reports the refusal, or ends the
// admitted attempt as failed or succeeded.
func try(th *Throttle, a Attempt, ok bool) error {
	tk, err := th.Begin(a)
	if err != nil {
		return err
	}
	if ok {
		tk.Succeeded()
	} else {
		tk.Failed()
	}
	return nil
}

func wait(err error) time.Duration {
	var te *ThrottledError
	if errors.As(err, &te) {
		return te.Wait
	}
	return 0
}

// TestThrottleGrowingDelays: a pair gets PairFree failures, then waits a
// delay that doubles after each failure, up to MaxDelay; the error says
// how long (HTTP Retry-After) and is ErrThrottled.
func TestThrottleGrowingDelays(t *testing.T) {
	th, c := newTestThrottle()
	a := Attempt{Account: "alice@x", IP: "1"}
	for i := 0; i < DefaultPairFree; i++ {
		if err := try(th, a, false); err != nil {
			t.Fatalf("free failure %d refused: %v", i, err)
		}
	}
	want := time.Second
	for i := 0; i < 12; i++ {
		err := try(th, a, false)
		if !errors.Is(err, ErrThrottled) || wait(err) != want {
			t.Fatalf("after %d failures: %v (wait %v), want a wait of %v", DefaultPairFree+i, err, wait(err), want)
		}
		c.Advance(want - time.Millisecond)
		if err := try(th, a, true); wait(err) != time.Millisecond {
			t.Fatalf("a millisecond early: %v", err)
		}
		c.Advance(time.Millisecond)
		if err := try(th, a, false); err != nil { // the next guess is admitted, fails
			t.Fatalf("after the delay: %v", err)
		}
		want = min(2*want, DefaultMaxDelay)
	}
	// the owner's right password counts once the delay is over, and ends it
	c.Advance(DefaultMaxDelay)
	if err := try(th, a, true); err != nil {
		t.Fatal(err)
	}
	if err := try(th, a, false); err != nil {
		t.Fatalf("failures not forgotten after a success: %v", err)
	}
}

// TestThrottleTyposDoNotLockOutOtherAccounts: a whole office behind one
// address: many typos on one account leave every other account's sign-in
// from that address alone.
func TestThrottleTyposDoNotLockOutOtherAccounts(t *testing.T) {
	th, _ := newTestThrottle()
	for i := 0; i < 30; i++ {
		try(th, Attempt{Account: "alice@x", IP: "office"}, false)
	}
	for _, acct := range []string{"bob@x", "carol@x", "dave@x"} {
		if err := try(th, Attempt{Account: acct, IP: "office"}, true); err != nil {
			t.Fatalf("%s locked out by alice's typos: %v", acct, err)
		}
	}
	// and a few typos each on many accounts stay far below the IP's limit
	for i := 0; i < 20; i++ {
		for j := 0; j < 3; j++ {
			if err := try(th, Attempt{Account: fmt.Sprint("user", i, "@x"), IP: "office"}, false); err != nil {
				t.Fatalf("typo %d of user%d refused: %v", j, i, err)
			}
		}
	}
}

// TestThrottleStrangerCannotLockOwnerOut: whoever knows an address can
// fail on purpose as much as he likes; the owner, from an address with no
// failures, with a token, or from where she signed in before, still signs
// in at once.
func TestThrottleStrangerCannotLockOwnerOut(t *testing.T) {
	th, c := newTestThrottle()
	home := Attempt{Account: "alice@x", IP: "home"}
	if err := try(th, home, true); err != nil { // she signed in from home before
		t.Fatal(err)
	}
	for minute := 0; minute < 30; minute++ { // attackers on many addresses, hammering
		for ip := 0; ip < 50; ip++ {
			for k := 0; k < 10; k++ {
				try(th, Attempt{Account: "alice@x", IP: fmt.Sprint("attacker", ip)}, false)
			}
		}
		c.Advance(time.Minute)
	}
	if err := try(th, home, true); err != nil {
		t.Fatalf("owner at home: %v", err)
	}
	if err := try(th, Attempt{Account: "alice@x", IP: "café"}, true); err != nil {
		t.Fatalf("owner on a new network: %v", err)
	}
	// even from an attacker's own address, when she holds a token
	if err := try(th, Attempt{Account: "alice@x", IP: "attacker7", Token: "t1"}, true); err != nil {
		t.Fatalf("owner with a token: %v", err)
	}
	// while the attack goes on, a new address gets one free failure, not
	// five: many addresses cannot each try five guesses
	fresh := Attempt{Account: "alice@x", IP: "fresh"}
	if err := try(th, fresh, false); err != nil {
		t.Fatalf("first attempt from a fresh address: %v", err)
	}
	if err := try(th, fresh, false); !errors.Is(err, ErrThrottled) {
		t.Fatalf("second failure from a fresh address during an attack: %v", err)
	}
}

// TestThrottlePerIP: one address trying a few passwords on each of many
// accounts meets the per-IP limit; the accounts' owners signing in from
// that address where they did before do not.
func TestThrottlePerIP(t *testing.T) {
	th, _ := newTestThrottle()
	if err := try(th, Attempt{Account: "owner@x", IP: "1"}, true); err != nil {
		t.Fatal(err)
	}
	refused := 0
	for i := 0; i < 2*DefaultIPFree; i++ {
		if err := try(th, Attempt{Account: fmt.Sprint("victim", i, "@x"), IP: "1"}, false); err != nil {
			refused++
		}
	}
	if refused < DefaultIPFree-1 {
		t.Fatalf("only %d of %d guesses on different accounts refused", refused, 2*DefaultIPFree)
	}
	if err := try(th, Attempt{Account: "someone@x", IP: "1"}, true); !errors.Is(err, ErrThrottled) {
		t.Fatalf("untrusted attempt from a guessing address: %v", err)
	}
	if err := try(th, Attempt{Account: "owner@x", IP: "1"}, true); err != nil {
		t.Fatalf("trusted owner on the guessing address: %v", err)
	}
}

// TestThrottleInFlight: guesses in parallel cannot overshoot a limit, and
// many successful sign-ins at once from one address are fine.
func TestThrottleInFlight(t *testing.T) {
	th, _ := newTestThrottle()
	th.MaxInFlight = 5
	a := Attempt{Account: "alice@x", IP: "1"}
	var open []*Ticket
	for i := 0; ; i++ {
		tk, err := th.Begin(a)
		if err != nil {
			break
		}
		open = append(open, tk)
	}
	if len(open) != DefaultPairFree {
		t.Fatalf("%d parallel guesses admitted, want %d", len(open), DefaultPairFree)
	}
	for _, tk := range open {
		tk.Failed()
	}
	open = nil
	for i := 0; i < 5; i++ { // many sign-ins at once from one address…
		tk, err := th.Begin(Attempt{Account: fmt.Sprint("u", i, "@x"), IP: "nat"})
		if err != nil {
			t.Fatalf("concurrent sign-in %d refused", i)
		}
		open = append(open, tk)
	}
	if _, err := th.Begin(Attempt{Account: "x@x", IP: "nat"}); !errors.Is(err, ErrThrottled) {
		t.Fatal("…up to MaxInFlight")
	}
	for _, tk := range open {
		tk.Succeeded()
		tk.Failed() // a second end is ignored
	}
	for i := 0; i < 20; i++ { // and successes never add up to a throttle
		if err := try(th, Attempt{Account: "y@x", IP: "nat"}, true); err != nil {
			t.Fatalf("sign-in %d after successes refused", i)
		}
	}
}

// TestThrottleForgets: failures are forgotten after Forget without any.
func TestThrottleForgets(t *testing.T) {
	th, c := newTestThrottle()
	a := Attempt{Account: "alice@x", IP: "1"}
	for i := 0; i < DefaultPairFree; i++ {
		try(th, a, false)
	}
	c.Advance(DefaultForget)
	for i := 0; i < DefaultPairFree; i++ {
		if err := try(th, a, false); err != nil {
			t.Fatalf("failure %d after an hour's quiet refused: %v", i, err)
		}
	}
}

func TestThrottleIsBounded(t *testing.T) {
	th, _ := newTestThrottle()
	th.MaxKeys = 100
	for i := 0; i < 10000; i++ {
		try(th, Attempt{Account: fmt.Sprint("a", i), IP: fmt.Sprint(i)}, i%2 == 0)
	}
	if len(th.recs) > 100 || len(th.order) > 300 || len(th.trusted) > 100 || len(th.torder) > 100 {
		t.Fatalf("throttle grew to %d keys, %d in order, %d trusted", len(th.recs), len(th.order), len(th.trusted))
	}
}

// TestThrottleEvictsTheOldestRecord: a record forgotten and made again is
// new; its old place in the eviction order does not drop it.
func TestThrottleEvictsTheOldestRecord(t *testing.T) {
	th, c := newTestThrottle()
	th.MaxKeys = 4
	a := Attempt{Account: "a@x", IP: "1", Token: "ta"}
	try(th, a, false)
	c.Advance(DefaultForget)
	try(th, Attempt{Account: "b@x", IP: "1", Token: "tb"}, false)
	try(th, a, false) // a anew, the newest
	try(th, Attempt{Account: "c@x", IP: "1", Token: "tc"}, false)
	try(th, Attempt{Account: "d@x", IP: "1", Token: "td"}, false)
	try(th, Attempt{Account: "e@x", IP: "1", Token: "te"}, false) // evicts b, the oldest
	if _, ok := th.recs["tok:ta"]; !ok {
		t.Fatal("the new record of a was evicted by its old place in the order")
	}
	if _, ok := th.recs["tok:tb"]; ok {
		t.Fatal("b, the oldest, was kept")
	}
}

// TestThrottleKeysAreBounded: what an attempt is counted on cannot be made
// large or numerous by the client: every invalid address is one account
// (not a key as long as the text sent), an IPv6 client is its /64, and an
// attempt that ends abandoned leaves nothing behind.
func TestThrottleKeysAreBounded(t *testing.T) {
	long := string(make([]byte, 60000))
	a, b := Client{IP: "192.0.2.1"}.Attempt(long+"@x"), Client{IP: "192.0.2.1"}.Attempt("no at sign")
	if a != b || len(a.Account) > 64 {
		t.Fatalf("invalid addresses: %q and %q", a.Account[:min(len(a.Account), 40)], b.Account)
	}
	v1, v2 := Client{IP: "2001:db8:1:2:aaaa::1"}.Attempt("alice@x"), Client{IP: "2001:db8:1:2:bbbb::2"}.Attempt("alice@x")
	if v1.IP != v2.IP || v1.IP != "2001:db8:1:2::/64" {
		t.Fatalf("one /64, two keys: %q %q", v1.IP, v2.IP)
	}
	if v4 := (Client{IP: "192.0.2.7"}).Attempt("alice@x"); v4.IP != "192.0.2.7" {
		t.Fatalf("IPv4: %q", v4.IP)
	}

	th, _ := newTestThrottle()
	for i := 0; i < 1000; i++ {
		tk, err := th.Begin(Attempt{Account: fmt.Sprintf("u%d@x", i), IP: "192.0.2.9"})
		if err != nil {
			t.Fatal(err)
		}
		tk.Abandoned() // the hasher was busy, say: nothing was learnt
	}
	th.mu.Lock()
	n := len(th.recs)
	th.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d records kept for abandoned attempts", n)
	}
}

// TestThrottleTrustIsThePairs: a sign-in trusts its pair (the account as
// typed, in any case, from that IP) until TrustFor has passed, and no
// other pair: not the account from elsewhere, not another account from
// there (trusted pairs are kept by hash).
func TestThrottleTrustIsThePairs(t *testing.T) {
	th, c := newTestThrottle()
	exhaust := func(ip string) { // the IP's limit, by guesses on other accounts
		for i := 0; i < 2*DefaultIPFree; i++ {
			try(th, Attempt{Account: fmt.Sprint("victim", i, "@x"), IP: ip}, false)
		}
	}
	if err := try(th, Attempt{Account: "alice@x", IP: "1"}, true); err != nil {
		t.Fatal(err)
	}
	exhaust("1")
	exhaust("2")
	if err := try(th, Attempt{Account: "Alice@X", IP: "1"}, true); err != nil {
		t.Fatalf("trusted pair refused: %v", err)
	}
	for _, a := range []Attempt{{Account: "bob@x", IP: "1"}, {Account: "alice@x", IP: "2"}} {
		if err := try(th, a, true); !errors.Is(err, ErrThrottled) {
			t.Fatalf("%v admitted on another pair's trust: %v", a, err)
		}
	}
	c.Advance(DefaultTrustFor + time.Second)
	exhaust("1")
	if err := try(th, Attempt{Account: "alice@x", IP: "1"}, true); !errors.Is(err, ErrThrottled) {
		t.Fatalf("trust outlived TrustFor: %v", err)
	}
}
