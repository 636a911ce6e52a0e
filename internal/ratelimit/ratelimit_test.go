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

// TestStateZeroIsFull: a State kept by value (a session's) starts full and
// refills at its rate, as a Bucket does, whatever the clock's epoch.
func TestStateZeroIsFull(t *testing.T) {
	for _, start := range []time.Time{time.Unix(0, 0), time.Date(2026, 12, 2, 14, 0, 0, 0, time.UTC)} {
		var st State
		now := start
		for i := 0; i < 5; i++ {
			if ok, _ := st.Take(now, 10, 5); !ok {
				t.Fatalf("%v: burst token %d refused", start, i)
			}
		}
		if ok, abusive := st.Take(now, 10, 5); ok || abusive {
			t.Fatalf("%v: a sixth take at once must be refused, not yet abusive", start)
		}
		now = now.Add(250 * time.Millisecond) // 2.5 tokens back
		for i := 0; i < 2; i++ {
			if ok, _ := st.Take(now, 10, 5); !ok {
				t.Fatalf("%v: refilled token %d refused", start, i)
			}
		}
		if ok, _ := st.Take(now, 10, 5); ok {
			t.Fatalf("%v: half a token must not be spent", start)
		}
		now = now.Add(time.Hour) // full again, never more than the burst
		for i := 0; i < 5; i++ {
			if ok, _ := st.Take(now, 10, 5); !ok {
				t.Fatalf("%v: token %d after a long pause refused", start, i)
			}
		}
		if ok, _ := st.Take(now, 10, 5); ok {
			t.Fatalf("%v: a long pause must not fill past the burst", start)
		}
	}
}

func TestStateStrikes(t *testing.T) {
	var st State
	for i := 1; i < StrikeLimit; i++ {
		if st.Strike() {
			t.Fatalf("abusive after %d strikes", i)
		}
	}
	if !st.Strike() {
		t.Fatal("not abusive after StrikeLimit strikes")
	}
	// good behaviour pays strikes back, one per request allowed
	if ok, abusive := st.Take(time.Unix(100, 0), 10, 5); !ok || abusive {
		t.Fatal("an allowed request must not be abusive once a strike is paid back")
	}
}
