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
	}
	if len(th.fails) > 100 || len(th.order) > 300 {
		t.Fatalf("throttle grew to %d keys, %d in order", len(th.fails), len(th.order))
	}
	if err := th.Begin("ip:9999"); !errors.Is(err, ErrThrottled) {
		t.Fatal("the newest key must still be remembered")
	}
}
