package auth

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/clock"
)

func TestThrottle(t *testing.T) {
	c := clock.NewFake(time.Unix(0, 0))
	th := NewThrottle(c, 3, time.Minute)
	for i := 0; i < 3; i++ { // three failed attempts
		if err := th.Begin("acct:a", "ip:1"); err != nil {
			t.Fatalf("attempt %d refused", i)
		}
		th.Failed("acct:a", "ip:1")
	}
	if err := th.Begin("acct:a", "ip:2"); !errors.Is(err, ErrThrottled) {
		t.Fatal("account not throttled after 3 failures")
	}
	if err := th.Begin("acct:b", "ip:1"); !errors.Is(err, ErrThrottled) {
		t.Fatal("IP not throttled after 3 failures")
	}
	if err := th.Begin("acct:b", "ip:2"); err != nil {
		t.Fatal("unrelated keys throttled")
	}
	c.Advance(time.Minute)
	for i := 0; i < 10; i++ { // successes are refunded: a legitimate user is never throttled
		if err := th.Begin("acct:a", "ip:1"); err != nil {
			t.Fatalf("successful sign-in %d throttled", i)
		}
		th.Succeeded("acct:a", "ip:1")
	}
}

func TestThrottleIsBounded(t *testing.T) {
	th := NewThrottle(clock.NewFake(time.Unix(0, 0)), 1, time.Hour)
	th.MaxKeys = 100
	for i := 0; i < 10000; i++ {
		th.Begin(fmt.Sprint("ip:", i))
		th.Failed(fmt.Sprint("ip:", i))
	}
	if len(th.fails) > 100 || len(th.order) > 300 {
		t.Fatalf("throttle grew to %d keys, %d in order", len(th.fails), len(th.order))
	}
	if err := th.Begin("ip:9999"); !errors.Is(err, ErrThrottled) {
		t.Fatal("the newest key must still be remembered")
	}
}

func TestThrottleInFlight(t *testing.T) {
	th := NewThrottle(clock.NewFake(time.Unix(0, 0)), 3, time.Minute)
	th.MaxInFlight = 5
	for i := 0; i < 5; i++ { // many sign-ins at once from one address are fine…
		if err := th.Begin("acct:"+fmt.Sprint(i), "ip:nat"); err != nil {
			t.Fatalf("concurrent sign-in %d refused", i)
		}
	}
	if err := th.Begin("acct:x", "ip:nat"); !errors.Is(err, ErrThrottled) {
		t.Fatal("…up to MaxInFlight")
	}
	for i := 0; i < 5; i++ {
		th.Succeeded("acct:"+fmt.Sprint(i), "ip:nat")
	}
	for i := 0; i < 20; i++ { // and successes never add up to a throttle
		if err := th.Begin("acct:y", "ip:nat"); err != nil {
			t.Fatalf("sign-in %d after successes refused", i)
		}
		th.Succeeded("acct:y", "ip:nat")
	}
}
