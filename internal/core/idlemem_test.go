package core

import (
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/presenced/presenced/internal/ratelimit"
)

// TestIdleSessionSizes guards what every idle session holds in the core
// (docs/benchmarks.md, idle sessions): a field added to these structs
// costs every session of a server; move what few sessions use into
// sessionRare (or standIn, remoteUser) instead, or raise the bound here
// knowingly. The bounds are Go's size classes on 64-bit platforms.
func TestIdleSessionSizes(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are those of 64-bit platforms")
	}
	for _, c := range []struct {
		name       string
		size, most uintptr
	}{
		{"Session", unsafe.Sizeof(Session{}), 320},
		{"user", unsafe.Sizeof(user{}), 128},
		{"sessionList", unsafe.Sizeof(sessionList{}), 64},
	} {
		if c.size > c.most {
			t.Errorf("%s is %d bytes, more than the %d every idle session pays for", c.name, c.size, c.most)
		}
	}
}

// TestIdleSessionHoldsNothingRare: what a session needs only while
// detached or for a feature (directed presence) is made when needed and
// let go after, so an idle session holds none of it.
func TestIdleSessionHoldsNothingRare(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.must(e.hub.Subscribe(ctx, "alice@x", "bob@x"))
	e.must(e.hub.Approve(ctx, "bob@x", "alice@x"))
	a := e.connect("alice@x", avail)
	e.connect("bob@x", avail)
	rare := func() *sessionRare {
		defer e.hub.lock("alice@x")()
		return a.s.rare
	}
	if rare() != nil {
		t.Fatal("a new session holds a sessionRare")
	}
	e.must(a.s.Direct("bob@x", true))
	if r := rare(); r == nil || len(r.directed) != 1 {
		t.Fatalf("directed presence not kept: %+v", r)
	}
	e.must(a.s.Direct("bob@x", false))
	if r := rare(); r != nil {
		t.Fatalf("directed presence withdrawn, yet the session holds %+v", r)
	}

	a.s.Detach(a)
	if r := rare(); r == nil || r.grace == nil {
		t.Fatalf("a detached session has no grace timer: %+v", r)
	}
	k := &sink{}
	s, replayed, err := e.hub.Resume(ctx, "alice@x", a.s.Resource, a.s.Seq(), k)
	e.must(err)
	if s != a.s || !replayed {
		t.Fatalf("resume gave %p (replayed %v), want %p", s, replayed, a.s)
	}
	if r := rare(); r != nil {
		t.Fatalf("a resumed session still holds %+v", r)
	}
	a.s.Detach(k)
	e.clk.Advance(6 * time.Second) // past the grace period: the session ends
	if !a.s.ended.Load() {
		t.Fatal("the grace period passed and the session did not end")
	}
	if r := rare(); r != nil {
		t.Fatalf("an ended session still holds %+v", r)
	}
}

// TestSessionRateLimit: a session's requests are limited by the hub's
// RequestsPerSecond and RequestBurst, refilled by the hub's clock, and
// refusals add up to abuse (the limit a session keeps by value).
func TestSessionRateLimit(t *testing.T) {
	e := newEnv(t, "alice@x")
	e.hub.cfg.Limits.RequestsPerSecond, e.hub.cfg.Limits.RequestBurst = 10, 3
	a := e.connect("alice@x", nil)
	for i := 0; i < 3; i++ {
		if ok, _ := a.s.Spend(); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if ok, abusive := a.s.Spend(); ok || abusive {
		t.Fatalf("a request past the burst: ok %v abusive %v, want refused, not abusive", ok, abusive)
	}
	e.clk.Advance(100 * time.Millisecond) // one request's worth at 10/s
	if ok, _ := a.s.Spend(); !ok {
		t.Fatal("the bucket did not refill by the hub's clock")
	}
	abusive := false
	for i := 0; i < ratelimit.StrikeLimit && !abusive; i++ {
		_, abusive = a.s.Spend()
	}
	if !abusive {
		t.Fatal("a session hammering past its limit never became abusive")
	}
	b := e.connect("alice@x", nil) // another session has its own budget
	if ok, _ := b.s.Spend(); !ok {
		t.Fatal("a second session of the account shares the first one's budget")
	}
}

// TestOneSessionListHasNoArray: an account's one session is listed in
// its sessionList itself, and the list of several still lists them all.
func TestOneSessionListHasNoArray(t *testing.T) {
	e := newEnv(t, "alice@x")
	var ks []*sink
	for i := 0; i < 3; i++ {
		ks = append(ks, e.open("alice@x", SessionOptions{Device: "d" + strconv.Itoa(i)}))
		u := e.hub.live("alice@x")
		sl := u.sessions.Load()
		if len(sl.all) != i+1 {
			t.Fatalf("%d sessions listed, want %d", len(sl.all), i+1)
		}
		if i == 0 && &sl.all[0] != &sl.one[0] {
			t.Fatal("one session's list has an array of its own")
		}
	}
	for i := 2; i >= 1; i-- {
		ks[i].s.Close()
	}
	sl := e.hub.live("alice@x").sessions.Load()
	if len(sl.all) != 1 || sl.all[0] != ks[0].s || &sl.all[0] != &sl.one[0] {
		t.Fatalf("after two of three closed the list is %v", sl.all)
	}
}
