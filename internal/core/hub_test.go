package core

import (
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
)

var ctx = context.Background()

type env struct {
	t   *testing.T
	hub *Hub
	clk *clock.Fake
	st  store.Store
}

func newEnv(t *testing.T, accounts ...string) *env {
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, a := range accounts {
		if err := st.CreateAccount(ctx, store.Account{Address: a, PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	return &env{t: t, hub: New(Config{Grace: 5 * time.Second}, st, clk, nil, slog.Default()), clk: clk, st: st}
}

// sink records what the hub sends a session, pulling like a transport does.
type sink struct {
	mu     sync.Mutex
	s      *Session
	closed *Goaway
}

func (k *sink) Wake() {}
func (k *sink) Close(g Goaway) {
	k.mu.Lock()
	k.closed = &g
	k.mu.Unlock()
}

// take returns the events delivered since the last take.
func (k *sink) take() []Event {
	var out []Event
	for _, d := range k.s.Pull(k, 1<<20) {
		out = append(out, d.Event)
	}
	return out
}

func (e *env) connect(account string, p *Presence) *sink {
	e.t.Helper()
	return e.open(account, SessionOptions{Device: "t", Presence: p})
}

// open connects a session with the given options.
func (e *env) open(account string, opts SessionOptions) *sink {
	e.t.Helper()
	k := &sink{}
	s, err := e.hub.Connect(ctx, account, opts, k)
	if err != nil {
		e.t.Fatal(err)
	}
	k.s = s
	return k
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

var avail = &Presence{Availability: Available, Status: "hi"}

// presenceOf returns the last presence event about subject in evs.
func presenceOf(evs []Event, subject string) (PresenceView, bool) {
	var v PresenceView
	found := false
	for _, ev := range evs {
		switch ev := ev.(type) {
		case PresenceEvent:
			if ev.View.Address == subject {
				v, found = ev.View, true
			}
		case Snapshot:
			for _, p := range ev.Presence {
				if p.Address == subject {
					v, found = p, true
				}
			}
		}
	}
	return v, found
}

// mentions reports whether any event says anything about subject.
func mentions(t *testing.T, evs []Event, subject string) bool {
	b, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	return json.Valid(b) && contains(string(b), subject)
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func (e *env) befriend(a, b string) {
	e.must(e.hub.Subscribe(ctx, a, b))
	e.must(e.hub.Approve(ctx, b, a))
	e.must(e.hub.Subscribe(ctx, b, a))
	e.must(e.hub.Approve(ctx, a, b))
}

func TestSubscriptionFlowAndLivePresence(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	b := e.connect("bob@x", avail)
	a.take()
	b.take()

	e.must(e.hub.Subscribe(ctx, "alice@x", "bob@x"))
	if evs := a.take(); len(evs) != 1 || evs[0].(SubscriptionEvent).View != (SubscriptionView{Address: "bob@x", PendingOut: true}) {
		t.Fatalf("alice after request: %+v", evs)
	}
	if evs := b.take(); len(evs) != 1 || evs[0].(SubscriptionEvent).View != (SubscriptionView{Address: "alice@x", PendingIn: true}) {
		t.Fatalf("bob after request: %+v", evs)
	}

	e.must(e.hub.Approve(ctx, "bob@x", "alice@x"))
	evs := a.take()
	v, ok := presenceOf(evs, "bob@x")
	if !ok || v.Availability != Available || v.Status != "hi" || len(v.Sessions) != 1 {
		t.Fatalf("alice must see bob after approval: %+v", evs)
	}
	if _, ok := presenceOf(b.take(), "alice@x"); ok {
		t.Fatal("bob must not see alice: she did not approve him")
	}

	// live updates, aggregated over bob's sessions
	b2 := e.connect("bob@x", &Presence{Availability: DND, Priority: 5, Activity: &Activity{Kind: "call"}})
	v, _ = presenceOf(a.take(), "bob@x")
	if v.Availability != DND || v.Activity.Kind != "call" || len(v.Sessions) != 2 {
		t.Fatalf("aggregate: %+v", v)
	}
	b2.s.Close()
	v, _ = presenceOf(a.take(), "bob@x")
	if v.Availability != Available || len(v.Sessions) != 1 {
		t.Fatalf("after second session left: %+v", v)
	}
	b.s.Close()
	v, _ = presenceOf(a.take(), "bob@x")
	if v.Availability != Unavailable || !v.LastSeen.Equal(e.clk.Now()) {
		t.Fatalf("bob offline: %+v", v)
	}

	subs, err := e.hub.Subscriptions(ctx, "alice@x")
	e.must(err)
	if len(subs) != 1 || subs[0].State() != "to" {
		t.Fatalf("subscriptions: %+v", subs)
	}
}

func TestNoLeakToNonApprovedViewer(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x", "carol@x")
	a := e.connect("alice@x", avail)
	c := e.connect("carol@x", avail)
	e.befriend("alice@x", "bob@x")
	e.connect("bob@x", &Presence{Availability: Away, Status: "secret"})
	a.s.SetPresence(Presence{Availability: DND})
	e.must(e.hub.Subscribe(ctx, "carol@x", "ghost@x")) // does not exist
	e.must(e.hub.Subscribe(ctx, "carol@x", "bob@x"))   // exists, never answers
	evs := c.take()
	if mentions(t, evs, "alice@x") || mentions(t, evs, "secret") {
		t.Fatalf("carol learned about others: %+v", evs)
	}
	var views []SubscriptionView
	for _, ev := range evs {
		if se, ok := ev.(SubscriptionEvent); ok {
			se.View.Address = ""
			views = append(views, se.View)
		}
	}
	if len(views) != 2 || views[0] != views[1] {
		t.Fatalf("a request to a ghost and to a real user must look alike: %+v", views)
	}
	got, err := e.hub.Presence(ctx, "carol@x", []string{"bob@x", "ghost@x", "alice@x"})
	e.must(err)
	if len(got) != 0 {
		t.Fatalf("presence query leaked: %+v", got)
	}
	if _, err := c.s.Send(Message{Kind: KindMessage, To: "bob@x", Body: "hi"}); CodeOf(err) != CodeUnavailable {
		t.Fatalf("message to non-approving user: %v", err)
	}
	if _, err := c.s.Send(Message{Kind: KindMessage, To: "ghost@x", Body: "hi"}); CodeOf(err) != CodeUnavailable || err.Error() != errUnavailable.Error() {
		t.Fatalf("message to ghost: %v", err)
	}
	// denial is silent: carol's request just stays pending
	e.must(e.hub.Deny(ctx, "bob@x", "carol@x"))
	if evs := c.take(); len(evs) != 0 {
		t.Fatalf("denial told carol: %+v", evs)
	}
	subs, _ := e.hub.Subscriptions(ctx, "carol@x")
	for _, s := range subs {
		if !s.PendingOut || s.To {
			t.Fatalf("carol's view after denial: %+v", s)
		}
	}
}

func TestBlockHideInvisible(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x", "dave@x")
	e.befriend("alice@x", "bob@x")
	e.befriend("alice@x", "dave@x")
	a := e.connect("alice@x", avail)
	b := e.connect("bob@x", avail)
	d := e.connect("dave@x", avail)
	b.take()
	d.take()

	check := func(k *sink, want Availability, what string) PresenceView {
		t.Helper()
		v, ok := presenceOf(k.take(), "alice@x")
		if !ok || v.Availability != want {
			t.Fatalf("%s: got %+v (found %v), want %s", what, v, ok, want)
		}
		if want == Unavailable && (v.Status != "" || v.Sessions != nil || v.Activity != nil) {
			t.Fatalf("%s: hidden presence leaks details: %+v", what, v)
		}
		return v
	}
	e.must(e.hub.Block(ctx, "alice@x", "bob@x"))
	check(b, Unavailable, "blocked")
	a.s.SetPresence(Presence{Availability: Away})
	if _, ok := presenceOf(b.take(), "alice@x"); ok {
		t.Fatal("blocked viewer got an update")
	}
	if _, err := b.s.Send(Message{Kind: KindMessage, To: "alice@x", Body: "x"}); CodeOf(err) != CodeUnavailable {
		t.Fatalf("blocked user messaged: %v", err)
	}
	e.must(e.hub.Unblock(ctx, "alice@x", "bob@x"))
	check(b, Away, "unblocked")

	e.must(e.hub.Hide(ctx, "alice@x", "dave@x"))
	check(d, Unavailable, "hidden")
	a.s.SetPresence(Presence{Availability: Available})
	check(b, Available, "bob is not hidden from")
	if _, ok := presenceOf(d.take(), "alice@x"); ok {
		t.Fatal("hidden-from viewer got an update")
	}
	e.must(e.hub.Unhide(ctx, "alice@x", "dave@x"))
	check(d, Available, "unhidden")

	e.must(e.hub.SetInvisible(ctx, "alice@x", true))
	// to her contacts she just went offline: the last-seen of a plain
	// sign-out, frozen while she is invisible
	wentAt := e.clk.Now()
	if v := check(b, Unavailable, "invisible"); !v.LastSeen.Equal(wentAt) {
		t.Fatalf("invisible: last seen %v, want %v as for a sign-out", v.LastSeen, wentAt)
	}
	check(d, Unavailable, "invisible")
	if v, _ := presenceOf(a.take(), "alice@x"); v.Availability != Available {
		t.Fatalf("alice's own sessions still see her: %+v", v)
	}
	// an invisible user still sees and reaches her contacts
	if _, err := a.s.Send(Message{Kind: KindMessage, To: "bob@x", Body: "psst"}); err != nil {
		t.Fatal(err)
	}
	e.must(e.hub.SetInvisible(ctx, "alice@x", false))
	check(b, Available, "visible again")

	p, err := e.hub.Privacy(ctx, "alice@x")
	e.must(err)
	if p.Invisible || len(p.Blocks) != 0 || len(p.Hidden) != 0 {
		t.Fatalf("privacy %+v", p)
	}
}

func TestRequestFromBlockedUserIsNotShown(t *testing.T) {
	e := newEnv(t, "alice@x", "mallory@x")
	a := e.connect("alice@x", avail)
	e.must(e.hub.Block(ctx, "alice@x", "mallory@x"))
	a.take()
	e.must(e.hub.Subscribe(ctx, "mallory@x", "alice@x"))
	if evs := a.take(); len(evs) != 0 {
		t.Fatalf("alice was told of a blocked request: %+v", evs)
	}
	subs, _ := e.hub.Subscriptions(ctx, "alice@x")
	if len(subs) != 0 {
		t.Fatalf("blocked request listed: %+v", subs)
	}
}

func TestPreApproval(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.must(e.hub.Approve(ctx, "bob@x", "alice@x")) // before any request
	subs, _ := e.hub.Subscriptions(ctx, "bob@x")
	if len(subs) != 1 || !subs[0].PreApproved {
		t.Fatalf("pre-approval not recorded: %+v", subs)
	}
	e.must(e.hub.Subscribe(ctx, "alice@x", "bob@x"))
	subs, _ = e.hub.Subscriptions(ctx, "alice@x")
	if len(subs) != 1 || subs[0].State() != "to" || subs[0].PendingOut {
		t.Fatalf("pre-approved request must be granted at once: %+v", subs)
	}
	e.must(e.hub.Remove(ctx, "alice@x", "bob@x"))
	subs, _ = e.hub.Subscriptions(ctx, "bob@x")
	if len(subs) != 0 {
		t.Fatalf("remove leaves %+v", subs)
	}
}

func TestGraceResumeAndExpiry(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	b := e.connect("bob@x", avail)
	a.take()
	b.s.Ack(b.s.Seq())

	b.s.Detach(b)
	e.clk.Advance(4 * time.Second)
	if evs := a.take(); len(evs) != 0 {
		t.Fatalf("alice saw bob flap within the grace period: %+v", evs)
	}
	a.s.SetPresence(Presence{Availability: Away}) // bob misses this while away
	a.take()
	last := b.s.Seq() - 1
	nb := &sink{}
	s, replayed, err := e.hub.Resume(ctx, "bob@x", b.s.Resource, last, nb)
	e.must(err)
	nb.s = s
	if !replayed {
		t.Fatal("resume within the outbox must replay")
	}
	if v, ok := presenceOf(nb.take(), "alice@x"); !ok || v.Availability != Away {
		t.Fatalf("missed event not replayed: %+v", v)
	}
	e.clk.Advance(10 * time.Second)
	if evs := a.take(); len(evs) != 0 {
		t.Fatalf("a resumed session must not expire: %+v", evs)
	}

	s.Detach(nb)
	e.clk.Advance(5 * time.Second)
	if v, ok := presenceOf(a.take(), "bob@x"); !ok || v.Availability != Unavailable {
		t.Fatalf("bob must go offline after the grace period: %+v", v)
	}
	if _, _, err := e.hub.Resume(ctx, "bob@x", b.s.Resource, 0, &sink{}); CodeOf(err) != CodeSessionGone {
		t.Fatalf("resume after expiry: %v", err)
	}
}

// TestSetGrace: a session's own grace period replaces the hub's.
func TestSetGrace(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	b := e.connect("bob@x", avail)
	b.s.SetGrace(time.Minute)
	a.take()
	b.s.Detach(b)
	e.clk.Advance(59 * time.Second) // well past the hub's 5 s
	if evs := a.take(); len(evs) != 0 {
		t.Fatalf("bob went before his own grace period ended: %+v", evs)
	}
	e.clk.Advance(time.Second)
	if v, ok := presenceOf(a.take(), "bob@x"); !ok || v.Availability != Unavailable {
		t.Fatalf("bob must go offline after his grace period: %+v", v)
	}
}

func TestResumeTooFarBackResyncs(t *testing.T) {
	e := newEnv(t, "alice@x")
	a := e.connect("alice@x", avail)
	a.take()
	a.s.Ack(a.s.Seq())
	a.s.Detach(a)
	nb := &sink{}
	s, replayed, err := e.hub.Resume(ctx, "alice@x", a.s.Resource, 0, nb) // acked events are gone
	e.must(err)
	nb.s = s
	if replayed {
		t.Fatal("cannot replay acknowledged events")
	}
	if evs := nb.take(); len(evs) != 1 {
		t.Fatalf("want one snapshot, got %+v", evs)
	} else if _, ok := evs[0].(Snapshot); !ok {
		t.Fatalf("want a snapshot, got %T", evs[0])
	}
}

// TestFailedResumeLeavesTheSinkOut: when Resume fails after attaching the
// new sink (here the store is gone when the snapshot is read), the session
// is detached again, so the core never wakes a sink that was told "no".
func TestFailedResumeLeavesTheSinkOut(t *testing.T) {
	e := newEnv(t, "alice@x")
	a := e.connect("alice@x", avail)
	a.take()
	a.s.Ack(a.s.Seq())
	a.s.Detach(a)
	e.st.Close()
	nb := &sink{}
	if _, _, err := e.hub.Resume(ctx, "alice@x", a.s.Resource, 0, nb); err == nil {
		t.Fatal("resume without a store succeeded")
	}
	a.s.mu.Lock()
	attached := a.s.sink
	a.s.mu.Unlock()
	if attached != nil {
		t.Fatalf("failed resume left %T attached", attached)
	}
}

func TestSlowReaderCoalescesThenOverflows(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.hub.cfg.Limits.OutboxUnsent = 8
	e.hub.cfg.Limits.CoalesceAfter = 64
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	b := e.connect("bob@x", avail)
	b.take()
	for i := 0; i < 100; i++ {
		a.s.SetPresence(Presence{Availability: Available, Status: string(rune('a' + i%26))})
	}
	evs := b.take()
	// queued until the reader is CoalesceAfter (here capped at half of
	// OutboxUnsent: 4) behind, then the latest replaces the last unsent one
	if len(evs) != 4 {
		t.Fatalf("100 updates of one contact must coalesce into 4, got %d", len(evs))
	}
	for i, want := range []int{0, 1, 2, 99} {
		if pe, ok := evs[i].(PresenceEvent); !ok || pe.View.Status != string(rune('a'+want%26)) {
			t.Fatalf("event %d: want update %d, got %+v", i, want, evs[i])
		}
	}
	if v, _ := presenceOf(evs, "alice@x"); v.Status != string(rune('a'+99%26)) {
		t.Fatalf("latest must win: %+v", v)
	}
	for i := 0; i < 20; i++ { // distinct events cannot coalesce
		e.must(e.hub.Hide(ctx, "bob@x", "alice@x"))
		e.must(e.hub.Unhide(ctx, "bob@x", "alice@x"))
	}
	if b.closed == nil || b.closed.Reason != "slow_consumer" || !b.closed.Reconnect {
		t.Fatalf("overflow must disconnect: %+v", b.closed)
	}
	if e.hub.Metrics().QueueDrops.Load() != 1 {
		t.Fatal("overflow not counted")
	}
}

// A reader less than CoalesceAfter behind gets every presence update, in
// order; with CoalesceAfter 0 an unsent update is replaced at once.
func TestCoalesceOnlyWhenBehind(t *testing.T) {
	for _, tc := range []struct {
		after, updates int
		want           []int
	}{
		{after: 64, updates: 50, want: seqTo(50)},
		{after: 8, updates: 50, want: append(seqTo(7), 49)},
		{after: 0, updates: 50, want: []int{49}},
	} {
		e := newEnv(t, "alice@x", "bob@x")
		e.hub.cfg.Limits.CoalesceAfter = tc.after
		e.befriend("alice@x", "bob@x")
		a := e.connect("alice@x", avail)
		b := e.connect("bob@x", avail)
		b.take()
		for i := 0; i < tc.updates; i++ {
			a.s.SetPresence(Presence{Availability: Available, Status: strconv.Itoa(i)})
		}
		evs := b.take()
		var got []int
		for _, d := range evs {
			if pe, ok := d.(PresenceEvent); ok {
				n, _ := strconv.Atoi(pe.View.Status)
				got = append(got, n)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Fatalf("CoalesceAfter %d: got updates %v, want %v", tc.after, got, tc.want)
		}
		if c := e.hub.Metrics().Coalesced.Load(); tc.after >= tc.updates && c != 0 {
			t.Fatalf("CoalesceAfter %d: %d counted coalesced, want none", tc.after, c)
		}
	}
}

// An update the transport was handed and Rewind made unsent again (the
// client may have seen it under its sequence number) is sent again as it
// was: a newer update queues behind it instead of replacing it.
func TestRewoundUpdateIsNotCoalesced(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x") // CoalesceAfter 0: an unsent update is replaced at once
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	b := e.connect("bob@x", avail)
	b.take()
	a.s.SetPresence(Presence{Availability: Available, Status: "seen"})
	if evs := b.take(); len(evs) != 1 {
		t.Fatalf("want the one update, got %+v", evs)
	}
	if !b.s.Rewind(b.s.Seq() - 1) {
		t.Fatal("rewind refused")
	}
	a.s.SetPresence(Presence{Availability: Available, Status: "newer"})
	a.s.SetPresence(Presence{Availability: Available, Status: "newest"})
	var got []string
	for _, ev := range b.take() {
		if pe, ok := ev.(PresenceEvent); ok {
			got = append(got, pe.View.Status)
		}
	}
	if want := []string{"seen", "newest"}; !slices.Equal(got, want) {
		t.Fatalf("after a rewind got updates %q, want %q (the rewound one again, then the latest)", got, want)
	}
}

func seqTo(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestMessagesAndSignals(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	b1 := e.connect("bob@x", avail)
	k := &sink{}
	b2s, err := e.hub.Connect(ctx, "bob@x", SessionOptions{Device: "tv", Accepts: []string{KindSignal}, Presence: avail}, k)
	e.must(err)
	k.s = b2s
	b1.take()
	k.take()

	n, err := a.s.Send(Message{Kind: KindMessage, To: "bob@x", Body: "hello", ID: "m1"})
	if err != nil || n != 1 {
		t.Fatalf("message to bare address: %d %v", n, err)
	}
	evs := b1.take()
	if len(evs) != 1 || evs[0].(MessageEvent).Message.Body != "hello" || evs[0].(MessageEvent).Message.From != a.s.Address() {
		t.Fatalf("bob got %+v", evs)
	}
	if evs := k.take(); len(evs) != 0 {
		t.Fatalf("signal-only session got a message: %+v", evs)
	}
	if _, err := a.s.Send(Message{Kind: KindMessage, To: b2s.Address(), Body: "x"}); CodeOf(err) != CodeNotAccepted {
		t.Fatalf("message to a signal-only session: %v", err)
	}
	n, err = a.s.Send(Message{Kind: KindSignal, To: b2s.Address(), Data: json.RawMessage(`{"sdp":"offer"}`)})
	if err != nil || n != 1 {
		t.Fatalf("signal to one device: %d %v", n, err)
	}
	if evs := k.take(); len(evs) != 1 || string(evs[0].(MessageEvent).Message.Data) != `{"sdp":"offer"}` {
		t.Fatalf("tv got %+v", evs)
	}
	if _, err := a.s.Send(Message{Kind: KindMessage, To: "bob@x/nope", Body: "x"}); CodeOf(err) != CodeUnavailable {
		t.Fatalf("unknown resource of an account online: %v", err)
	}
	for _, bad := range []Message{{Kind: "x", To: "bob@x"}, {Kind: KindMessage, To: "bob@x"}, {Kind: KindSignal, To: "bob@x", Data: json.RawMessage(`{`)}, {Kind: KindMessage, To: "not an address", Body: "x"}} {
		if _, err := a.s.Send(bad); CodeOf(err) != CodeInvalid {
			t.Fatalf("%+v: %v", bad, err)
		}
	}
	b1.s.Close()
	b2s.Close()
	if sent, err := a.s.SendMessage(Message{Kind: KindMessage, To: "bob@x", Body: "x"}); err != nil || !sent.Stored {
		t.Fatalf("offline: a text message is stored: %+v %v", sent, err)
	}
	if _, err := a.s.Send(Message{Kind: KindSignal, To: "bob@x", Data: json.RawMessage(`{}`)}); CodeOf(err) != CodeUnavailable {
		t.Fatalf("offline: a signal is not stored: %v", err)
	}
}

func TestSnapshotShowsLastSeenOfOfflineContacts(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	b := e.connect("bob@x", avail)
	e.clk.Advance(time.Minute)
	b.s.Close()
	seen := e.clk.Now()
	a := e.connect("alice@x", nil)
	v, ok := presenceOf(a.take(), "bob@x")
	if !ok || v.Availability != Unavailable || !v.LastSeen.Equal(seen) {
		t.Fatalf("snapshot: %+v", v)
	}
}

func TestSessionLimit(t *testing.T) {
	e := newEnv(t, "alice@x")
	e.hub.cfg.Limits.SessionsPerAccount = 2
	e.connect("alice@x", nil)
	e.connect("alice@x", nil)
	if _, err := e.hub.Connect(ctx, "alice@x", SessionOptions{}, &sink{}); CodeOf(err) != CodeLimit {
		t.Fatalf("third session: %v", err)
	}
	if _, err := e.hub.Connect(ctx, "nobody@x", SessionOptions{}, &sink{}); CodeOf(err) != CodeUnauthorized {
		t.Fatalf("unknown account: %v", err)
	}
}

// TestMessageRouting: RFC 6121 § 8.5 rules the core applies for every
// transport: no bare-address message to a negative priority, payload-only
// messages only to sessions that take payloads, types checked.
func TestMessageRouting(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	low := e.connect("bob@x", &Presence{Availability: Available, Priority: -1})
	low.take()
	if sent, err := a.s.SendMessage(Message{Kind: KindMessage, To: "bob@x", Body: "hi"}); err != nil || !sent.Stored {
		t.Fatalf("bare address, only a negative priority online: stored for later (XEP-0160): %+v %v", sent, err)
	}
	if evs := low.take(); len(evs) != 0 {
		t.Fatalf("a negative priority session was offered a stored message: %+v", evs)
	}
	if n, err := a.s.Send(Message{Kind: KindMessage, To: low.s.Address(), Body: "hi"}); err != nil || n != 1 {
		t.Fatalf("full address of a negative priority: %d %v", n, err)
	}
	low.take()
	xml := &sink{}
	xs, err := e.hub.Connect(ctx, "bob@x", SessionOptions{Device: "xmpp", Payloads: true, Presence: avail}, xml)
	e.must(err)
	xml.s = xs
	xml.take()
	plain := e.connect("bob@x", avail)
	plain.take()
	state := Message{Kind: KindMessage, Type: TypeChat, To: "bob@x", Payload: "<active xmlns='http://jabber.org/protocol/chatstates'/>"}
	if n, err := a.s.Send(state); err != nil || n != 1 {
		t.Fatalf("payload-only message: %d %v", n, err)
	}
	if evs := messagesIn(xml.take()); len(evs) != 1 || evs[0].Payload != state.Payload {
		t.Fatalf("payload session got %+v", evs)
	}
	if evs := messagesIn(plain.take()); len(evs) != 0 {
		t.Fatalf("a session without payloads got a bodiless message: %+v", evs)
	}
	for _, bad := range []Message{{Kind: KindMessage, Type: "groupchat", To: "bob@x", Body: "x"}, {Kind: KindSignal, Type: TypeChat, To: "bob@x", Data: json.RawMessage(`{}`)},
		{Kind: KindMessage, To: "bob@x", Body: "x", Payload: strings.Repeat("x", MaxPayload+1)}} {
		if _, err := a.s.Send(bad); CodeOf(err) != CodeInvalid {
			t.Fatalf("%+v: %v", bad.Type, err)
		}
	}
}

// TestSubscriptionEventsSayWhoChangedWhat: each side's event carries its
// view before and after and whether it made the change, so a transport can
// tell an approval received from one given.
func TestSubscriptionEventsSayWhoChangedWhat(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	a, b := e.connect("alice@x", avail), e.connect("bob@x", avail)
	a.take()
	b.take()
	e.must(e.hub.Subscribe(ctx, "alice@x", "bob@x"))
	e.must(e.hub.Approve(ctx, "bob@x", "alice@x"))
	var got []SubscriptionEvent
	for _, ev := range a.take() {
		if s, ok := ev.(SubscriptionEvent); ok {
			got = append(got, s)
		}
	}
	if len(got) != 2 || !got[0].Mine || !got[0].View.PendingOut || got[1].Mine || got[1].Before.To || !got[1].View.To {
		t.Fatalf("alice's events: %+v", got)
	}
}

func messagesIn(evs []Event) []Message {
	var out []Message
	for _, ev := range evs {
		if m, ok := ev.(MessageEvent); ok {
			out = append(out, m.Message)
		}
	}
	return out
}

// TestDirectedPresence: RFC 6121 § 4.6 on the core's policy. Alice sees
// bob but does not share with him; her directed presence reaches him, its
// end too, and a stranger's directed presence reaches nobody.
func TestDirectedPresence(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x", "carol@x")
	e.must(e.hub.Subscribe(ctx, "alice@x", "bob@x"))
	e.must(e.hub.Approve(ctx, "bob@x", "alice@x"))
	a, b, c := e.connect("alice@x", avail), e.connect("bob@x", avail), e.connect("carol@x", avail)
	b.take()
	e.must(a.s.Direct("bob@x", true))
	if v, ok := presenceOf(b.take(), "alice@x"); !ok || v.Availability != Available || len(v.Sessions) != 1 {
		t.Fatalf("bob did not get alice's directed presence: %+v %v", v, ok)
	}
	e.must(c.s.Direct("bob@x", true))
	if mentions(t, b.take(), "carol@x") {
		t.Fatal("a stranger's directed presence reached bob")
	}
	a.s.Unavailable()
	if v, ok := presenceOf(b.take(), "alice@x"); !ok || v.Availability != Unavailable || !v.LastSeen.IsZero() {
		t.Fatalf("bob was not told alice's directed presence ended: %+v %v", v, ok)
	}
	e.must(a.s.SetPresence(Presence{Availability: Available}))
	if mentions(t, b.take(), "alice@x") {
		t.Fatal("a broadcast after unavailable reached the former directed recipient")
	}
}

func personalIn(evs []Event) []PersonalEvent { return eventsOf[PersonalEvent](evs) }

// TestPersonalEvents: items reach the user's sessions and allowed viewers
// that take the topic, never strangers; the last item follows interest, a
// new approval and a snapshot; retraction is delivered.
func TestPersonalEvents(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x", "carol@x", "dave@x")
	e.befriend("alice@x", "bob@x")
	a1, a2 := e.connect("alice@x", avail), e.connect("alice@x", avail)
	b, c := e.connect("bob@x", avail), e.connect("carol@x", avail)
	tuneOnly := &sink{}
	bt, err := e.hub.Connect(ctx, "bob@x", SessionOptions{Device: "car", Topics: []string{TopicTune}}, tuneOnly)
	e.must(err)
	tuneOnly.s = bt
	for _, k := range []*sink{a1, a2, b, c, tuneOnly} {
		k.take()
	}
	if _, err := a1.s.Publish(ctx, TopicMood, "", json.RawMessage(`{"mood":"happy","colour":"red"}`)); CodeOf(err) != CodeInvalid {
		t.Fatalf("unknown field: %v", err)
	}
	it, err := a1.s.Publish(ctx, TopicMood, "m1", json.RawMessage(`{"text":"sunny","mood":"happy"}`))
	e.must(err)
	if it.Data != `{"mood":"happy","text":"sunny"}` {
		t.Fatalf("canonical form: %s", it.Data)
	}
	for name, k := range map[string]*sink{"alice's own session": a1, "alice's other session": a2, "bob": b} {
		if p := personalIn(k.take()); len(p) != 1 || p[0].Item.Data != it.Data || p[0].Item.Account != "alice@x" {
			t.Fatalf("%s got %+v", name, p)
		}
	}
	if p := personalIn(c.take()); len(p) != 0 {
		t.Fatalf("a stranger got %+v", p)
	}
	if p := personalIn(tuneOnly.take()); len(p) != 0 {
		t.Fatalf("a tune-only session got %+v", p)
	}
	e.must(bt.SetInterests(ctx, []string{TopicTune, TopicMood}))
	if p := personalIn(tuneOnly.take()); len(p) != 1 || p[0].Item.ItemID != "m1" {
		t.Fatalf("last item on new interest: %+v", p)
	}
	d := e.connect("dave@x", avail)
	d.take()
	e.must(e.hub.Subscribe(ctx, "dave@x", "alice@x"))
	e.must(e.hub.Approve(ctx, "alice@x", "dave@x"))
	if p := personalIn(d.take()); len(p) != 1 || p[0].Item.ItemID != "m1" {
		t.Fatalf("last item on approval: %+v", p)
	}
	late := e.connect("bob@x", nil)
	var snap Snapshot
	for _, ev := range late.take() {
		if s, ok := ev.(Snapshot); ok {
			snap = s
		}
	}
	if len(snap.Items) != 1 || snap.Items[0].ItemID != "m1" {
		t.Fatalf("snapshot items: %+v", snap.Items)
	}
	if items, err := e.hub.PersonalItems(ctx, "carol@x", "alice@x"); err != nil || len(items) != 0 {
		t.Fatalf("a stranger asked for items: %+v %v", items, err)
	}
	e.must(e.hub.Hide(ctx, "alice@x", "bob@x"))
	if items, err := e.hub.PersonalItems(ctx, "bob@x", "alice@x"); err != nil || len(items) != 0 {
		t.Fatalf("hidden from: %+v %v", items, err)
	}
	e.must(e.hub.Unhide(ctx, "alice@x", "bob@x"))
	b.take()
	e.must(a1.s.Retract(ctx, TopicMood))
	if p := personalIn(b.take()); len(p) != 1 || !p[0].Retracted || p[0].Item.Topic != TopicMood {
		t.Fatalf("retraction: %+v", p)
	}
}

// TestCarbons: sessions that ask for copies see what the user's other
// sessions send and receive in chat (XEP-0280); private messages and other
// types are not copied.
func TestCarbons(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	a1, a2, plain := e.connect("alice@x", avail), e.connect("alice@x", avail), e.connect("alice@x", avail)
	b := e.connect("bob@x", avail)
	a2.s.SetCarbons(true)
	for _, k := range []*sink{a1, a2, plain, b} {
		k.take()
	}
	copies := func(k *sink) []MessageEvent {
		var out []MessageEvent
		for _, ev := range k.take() {
			if m, ok := ev.(MessageEvent); ok && m.Carbon != "" {
				out = append(out, m)
			}
		}
		return out
	}
	_, err := a1.s.Send(Message{Kind: KindMessage, Type: TypeChat, To: "bob@x", Body: "hi bob"})
	e.must(err)
	if c := copies(a2); len(c) != 1 || c[0].Carbon != CarbonSent || c[0].Message.Body != "hi bob" {
		t.Fatalf("sent copy: %+v", c)
	}
	if c := copies(plain); len(c) != 0 {
		t.Fatalf("a session without carbons got %+v", c)
	}
	_, err = b.s.Send(Message{Kind: KindMessage, To: a1.s.Address(), Body: "hi alice"})
	e.must(err)
	if c := copies(a2); len(c) != 1 || c[0].Carbon != CarbonReceived || c[0].Message.Body != "hi alice" {
		t.Fatalf("received copy: %+v", c)
	}
	for _, m := range []Message{{Kind: KindMessage, Type: TypeChat, To: "bob@x", Body: "secret", Private: true},
		{Kind: KindMessage, Type: TypeHeadline, To: "bob@x", Body: "news"}} {
		_, err = a1.s.Send(m)
		e.must(err)
	}
	if c := copies(a2); len(c) != 0 {
		t.Fatalf("private or headline copied: %+v", c)
	}
}

// TestIQRouting: an iq reaches one session that takes payloads (XMPP),
// available or not, under the message rule; JSON sessions and strangers
// never get one.
func TestIQRouting(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x", "carol@x")
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	xk := &sink{}
	bx, err := e.hub.Connect(ctx, "bob@x", SessionOptions{Device: "xmpp", Payloads: true}, xk) // connected, not available
	e.must(err)
	xk.s = bx
	plain := e.connect("bob@x", avail)
	c := e.connect("carol@x", avail)
	xk.take()
	iq := Message{Kind: KindIQ, Type: "get", ID: "q1", To: bx.Address(), Payload: "<query xmlns='http://jabber.org/protocol/disco#info'/>"}
	if n, err := a.s.Send(iq); err != nil || n != 1 {
		t.Fatalf("iq to a connected XMPP session: %d %v", n, err)
	}
	if m := messagesIn(xk.take()); len(m) != 1 || m[0].Kind != KindIQ || m[0].ID != "q1" {
		t.Fatalf("got %+v", m)
	}
	iq.To = plain.s.Address()
	if _, err := a.s.Send(iq); CodeOf(err) != CodeNotAccepted {
		t.Fatalf("iq to a JSON session: %v", err)
	}
	iq.To = bx.Address()
	if _, err := c.s.Send(iq); CodeOf(err) != CodeUnavailable {
		t.Fatalf("a stranger's iq: %v", err)
	}
	for _, bad := range []Message{{Kind: KindIQ, Type: "get", To: "bob@x"}, {Kind: KindIQ, Type: "poke", To: bx.Address()}} {
		if _, err := a.s.Send(bad); CodeOf(err) != CodeInvalid {
			t.Fatalf("%+v: %v", bad, err)
		}
	}
}

// TestShutdownWritesLastSeen: a restart tells contacts nothing, so the
// last-seen time of everyone online is written as the node goes, in one
// write; an invisible user's is not (it would tell when they were last on).
func TestShutdownWritesLastSeen(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x", "carol@x", "dave@x")
	e.connect("alice@x", &Presence{Availability: Available})
	e.connect("bob@x", &Presence{Availability: Away})
	e.must(e.hub.SetInvisible(ctx, "carol@x", true))
	e.connect("carol@x", &Presence{Availability: Available})
	e.clk.Advance(time.Minute)
	e.hub.Shutdown(ctx)
	for account, want := range map[string]time.Time{"alice@x": e.clk.Now(), "bob@x": e.clk.Now(), "carol@x": {}, "dave@x": {}} {
		a, err := e.st.GetAccount(ctx, account)
		e.must(err)
		if !a.LastSeen.Equal(want) {
			t.Errorf("%s: last seen %v, want %v", account, a.LastSeen, want)
		}
	}
}
