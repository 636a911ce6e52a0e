package ratelimit

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	b := New(10, 5)
	now := time.Unix(0, 0)
	for i := 0; i < 5; i++ {
		if ok, _ := b.Take(now); !ok {
			t.Fatalf("burst token %d refused", i)
		}
	}
	if ok, abusive := b.Take(now); ok || abusive {
		t.Fatal("sixth take at once must be refused, not yet abusive")
	}
	now = now.Add(100 * time.Millisecond) // one token back
	if ok, _ := b.Take(now); !ok {
		t.Fatal("refill")
	}
	abusive := false
	for i := 0; i < StrikeLimit; i++ {
		_, abusive = b.Take(now)
	}
	if !abusive {
		t.Fatal("a client hammering past the limit must become abusive")
	}
}
