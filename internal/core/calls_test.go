package core

import (
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// waker records the notifications a hub asks for.
type waker struct {
	mu   sync.Mutex
	woke []string // account: notification kind from
	last Notification
}

func (w *waker) Wake(account string, n Notification) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.woke = append(w.woke, account+": "+n.Kind+" from "+n.From)
	w.last = n
}

func (w *waker) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.woke
	w.woke = nil
	return out
}

// callEnv is newEnv with a waker and call limits.
func callEnv(t *testing.T, lim CallLimits, accounts ...string) (*env, *waker) {
	e := newEnv(t, accounts...)
	w := &waker{}
	e.hub = New(Config{Grace: 5 * time.Second, Waker: w, Calls: lim}, e.st, e.clk, nil, slog.Default())
	return e, w
}

var takesCalls = SessionOptions{Device: "phone", Accepts: []string{KindMessage, KindSignal, KindCall}, Presence: avail}

// eventsOf returns the events of type T in evs.
func eventsOf[T Event](evs []Event) []T {
	var out []T
	for _, ev := range evs {
		if e, ok := ev.(T); ok {
			out = append(out, e)
		}
	}
	return out
}

func callEvents(evs []Event) []CallEvent { return eventsOf[CallEvent](evs) }

// one takes k's events and expects exactly one call event, of kind event.
func one(t *testing.T, k *sink, event string) CallEvent {
	t.Helper()
	evs := callEvents(k.take())
	if len(evs) != 1 || evs[0].Event != event {
		t.Fatalf("%s got %+v, want one %s", k.s.Address(), evs, event)
	}
	return evs[0]
}

func none(t *testing.T, ks ...*sink) {
	t.Helper()
	for _, k := range ks {
		if evs := callEvents(k.take()); len(evs) != 0 {
			t.Fatalf("%s got %+v, want nothing", k.s.Address(), evs)
		}
	}
}

func codeIs(t *testing.T, err error, code Code) {
	t.Helper()
	if CodeOf(err) != code || err == nil {
		t.Fatalf("got %v, want %s", err, code)
	}
}

// TestCallFirstAnswerWins: every session of the callee that takes calls
// rings, each acknowledges, the first answer wins, the others are told it
// was answered elsewhere, and signals then travel between the caller's
// session and the answering one only.
func TestCallFirstAnswerWins(t *testing.T) {
	e, _ := callEnv(t, CallLimits{}, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	b1, b2 := e.open("bob@x", takesCalls), e.open("bob@x", takesCalls)
	b3 := e.connect("bob@x", avail) // does not take calls
	for _, k := range []*sink{a, b1, b2, b3} {
		k.take()
	}
	id, n, err := a.s.Call("bob@x", json.RawMessage(`{"video":true}`))
	e.must(err)
	if n != 2 || id == "" {
		t.Fatalf("rang %d sessions, id %q", n, id)
	}
	for _, k := range []*sink{b1, b2} {
		ev := one(t, k, CallIncoming)
		if ev.Call != id || ev.From != a.s.Address() || string(ev.Data) != `{"video":true}` {
			t.Fatalf("incoming: %+v", ev)
		}
	}
	none(t, b3, a)

	e.must(b1.s.CallRinging(id))
	e.must(b1.s.CallRinging(id)) // once per session
	if ev := one(t, a, CallRinging); ev.From != b1.s.Address() {
		t.Fatalf("ringing: %+v", ev)
	}
	e.must(b2.s.CallRinging(id))
	one(t, a, CallRinging)
	codeIs(t, b3.s.CallRinging(id), CodeNotFound)
	codeIs(t, b1.s.CallSignal(id, json.RawMessage(`{}`)), CodeConflict) // not answered yet

	e.must(b2.s.Answer(id, nil))
	if ev := one(t, a, CallAnswered); ev.From != b2.s.Address() {
		t.Fatalf("answered: %+v", ev)
	}
	if ev := one(t, b1, CallEnded); ev.Reason != EndAnsweredElsewhere {
		t.Fatalf("the other device: %+v", ev)
	}
	codeIs(t, b1.s.Answer(id, nil), CodeConflict)
	codeIs(t, b3.s.Answer(id, nil), CodeConflict)
	none(t, b2)

	e.must(a.s.CallSignal(id, json.RawMessage(`{"sdp":"offer"}`)))
	if ev := one(t, b2, CallSignal); string(ev.Data) != `{"sdp":"offer"}` || ev.From != a.s.Address() {
		t.Fatalf("signal: %+v", ev)
	}
	e.must(b2.s.CallSignal(id, json.RawMessage(`{"sdp":"answer"}`)))
	if ev := one(t, a, CallSignal); string(ev.Data) != `{"sdp":"answer"}` {
		t.Fatalf("signal back: %+v", ev)
	}
	codeIs(t, b1.s.CallSignal(id, json.RawMessage(`{}`)), CodeNotFound)
	none(t, b1, b3)

	e.must(a.s.Hangup(id))
	if ev := one(t, b2, CallEnded); ev.Reason != EndHangup || ev.From != a.s.Address() {
		t.Fatalf("hang-up: %+v", ev)
	}
	none(t, a, b1, b3)
	codeIs(t, a.s.CallSignal(id, json.RawMessage(`{}`)), CodeNotFound)
	codeIs(t, b2.s.Hangup(id), CodeNotFound)
	if len(e.hub.calls.byID) != 0 || len(e.hub.calls.of) != 0 || len(e.hub.calls.accounts) != 0 {
		t.Fatalf("an ended call is still held: %d calls, %d sessions", len(e.hub.calls.byID), len(e.hub.calls.of))
	}
}

// TestCallEndings: cancel, decline, busy, the ring timeout (on the hub's
// clock), and sessions that end.
func TestCallEndings(t *testing.T) {
	e, _ := callEnv(t, CallLimits{RingTimeout: 30 * time.Second, PairBurst: 100}, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	b1, b2 := e.open("bob@x", takesCalls), e.open("bob@x", takesCalls)
	ring := func() string {
		t.Helper()
		id, _, err := a.s.Call("bob@x", nil)
		e.must(err)
		one(t, b1, CallIncoming)
		one(t, b2, CallIncoming)
		return id
	}
	a.take()

	id := ring()
	e.must(a.s.Cancel(id))
	for _, k := range []*sink{b1, b2} {
		if ev := one(t, k, CallEnded); ev.Reason != EndCancelled {
			t.Fatalf("cancel: %+v", ev)
		}
	}
	none(t, a)
	codeIs(t, b1.s.Answer(id, nil), CodeNotFound)

	id = ring()
	e.must(b1.s.Reject(id, true))
	if ev := one(t, a, CallEnded); ev.Reason != EndBusy || ev.From != b1.s.Address() {
		t.Fatalf("busy: %+v", ev)
	}
	if ev := one(t, b2, CallEnded); ev.Reason != EndBusy {
		t.Fatalf("busy, the other device: %+v", ev)
	}
	none(t, b1)

	id = ring()
	e.must(b2.s.Hangup(id)) // before answering: declines
	if ev := one(t, a, CallEnded); ev.Reason != EndDeclined {
		t.Fatalf("declined: %+v", ev)
	}
	one(t, b1, CallEnded)

	id = ring()
	e.clk.Advance(29 * time.Second)
	none(t, a, b1, b2)
	e.clk.Advance(time.Second)
	for _, k := range []*sink{a, b1, b2} {
		if ev := one(t, k, CallEnded); ev.Reason != EndTimeout || ev.Call != id {
			t.Fatalf("timeout: %+v", ev)
		}
	}

	// a rung session that goes away stops ringing; the last one ends the call
	id = ring()
	b1.s.Close()
	none(t, a, b2)
	e.must(b2.s.Answer(id, nil))
	one(t, a, CallAnswered)
	e.clk.Advance(time.Minute) // an answered call does not time out
	none(t, a, b2)
	b2.s.Close() // the answering session ends: the caller is told
	if ev := one(t, a, CallEnded); ev.Reason != EndGone {
		t.Fatalf("gone: %+v", ev)
	}

	// the caller goes away while ringing: cancelled
	b3 := e.open("bob@x", takesCalls)
	b3.take()
	_, _, err := a.s.Call("bob@x", nil)
	e.must(err)
	one(t, b3, CallIncoming)
	a.s.Close()
	if ev := one(t, b3, CallEnded); ev.Reason != EndCancelled {
		t.Fatalf("caller gone: %+v", ev)
	}
	if len(e.hub.calls.byID) != 0 || len(e.hub.calls.of) != 0 {
		t.Fatalf("ended calls are still held: %d calls, %d sessions", len(e.hub.calls.byID), len(e.hub.calls.of))
	}
}

// TestCallRefusedLooksOffline: a caller the policy refuses, an offline
// callee and an unknown one all get unavailable; a callee online without
// a session that takes calls, not_accepted. A session-less callee the
// caller may call is woken; nobody is woken for a refused caller.
func TestCallRefusedLooksOffline(t *testing.T) {
	e, w := callEnv(t, CallLimits{}, "alice@x", "bob@x", "carol@x", "dave@x")
	e.befriend("alice@x", "bob@x")
	e.befriend("alice@x", "dave@x")
	a := e.connect("alice@x", avail)
	c := e.connect("carol@x", avail)

	_, _, err := a.s.Call("bob@x", nil) // offline, allowed
	codeIs(t, err, CodeUnavailable)
	if got := w.take(); len(got) != 1 || got[0] != "bob@x: call from alice@x" || w.last.Urgency != "high" || w.last.TTL != DefaultCallLimits.RingTimeout || w.last.ID == "" {
		t.Fatalf("woken: %v %+v", got, w.last)
	}
	_, _, err2 := c.s.Call("bob@x", nil) // offline, refused
	codeIs(t, err2, CodeUnavailable)
	if err.Error() != err2.Error() {
		t.Fatalf("refused and offline differ: %v / %v", err, err2)
	}
	_, _, err = a.s.Call("nobody@x", nil)
	codeIs(t, err, CodeUnavailable)
	if got := w.take(); len(got) != 0 {
		t.Fatalf("woken for a refused caller or nobody: %v", got)
	}

	b := e.open("bob@x", takesCalls)
	b.take()
	_, _, err = c.s.Call("bob@x", nil) // online, refused
	codeIs(t, err, CodeUnavailable)
	none(t, b)
	e.must(e.hub.Block(ctx, "bob@x", "alice@x"))
	_, _, err = a.s.Call("bob@x", nil) // blocked
	codeIs(t, err, CodeUnavailable)
	none(t, b)
	if got := w.take(); len(got) != 0 {
		t.Fatalf("woken for a refused caller: %v", got)
	}

	d := e.connect("dave@x", avail) // online, but takes no calls
	d.take()
	_, _, err = a.s.Call("dave@x", nil)
	codeIs(t, err, CodeNotAccepted)
	if got := w.take(); len(got) != 1 || got[0] != "dave@x: call from alice@x" {
		t.Fatalf("woken: %v", got)
	}
	none(t, d)
}

// TestCallLimits: a flood of calls to one callee is rate limited, for an
// allowed and a refused caller alike; sessions and accounts hold a bounded
// number of calls; a callee in too many is busy.
func TestCallLimits(t *testing.T) {
	e, _ := callEnv(t, CallLimits{PairRate: 0.1, PairBurst: 3}, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	e.open("bob@x", takesCalls)
	for i := 0; i < 3; i++ {
		id, _, err := a.s.Call("bob@x", nil)
		e.must(err)
		e.must(a.s.Cancel(id))
	}
	_, _, err := a.s.Call("bob@x", nil)
	codeIs(t, err, CodeRateLimited)
	for i := 0; i < 3; i++ { // a refused caller is limited the same
		_, _, err = a.s.Call("nobody@x", nil)
		codeIs(t, err, CodeUnavailable)
	}
	_, _, err = a.s.Call("nobody@x", nil)
	codeIs(t, err, CodeRateLimited)
	e.clk.Advance(10 * time.Second) // one call back
	_, _, err = a.s.Call("bob@x", nil)
	e.must(err)

	e, _ = callEnv(t, CallLimits{PerSession: 2, PerAccount: 3}, "alice@x", "bob@x", "carol@x", "dave@x", "erin@x")
	for _, pair := range [][2]string{{"alice@x", "bob@x"}, {"alice@x", "dave@x"}, {"alice@x", "erin@x"}, {"carol@x", "bob@x"}, {"dave@x", "bob@x"}, {"erin@x", "bob@x"}} {
		e.befriend(pair[0], pair[1])
	}
	for _, u := range []string{"bob@x", "dave@x", "erin@x"} {
		e.open(u, takesCalls)
	}
	call := func(from *sink, to string) error {
		_, _, err := from.s.Call(to, nil)
		return err
	}
	a, a2 := e.connect("alice@x", avail), e.connect("alice@x", avail)
	e.must(call(a, "bob@x"))
	e.must(call(a, "dave@x"))
	codeIs(t, call(a, "erin@x"), CodeLimit) // a third call of this session
	e.must(call(a2, "erin@x"))
	codeIs(t, call(e.connect("alice@x", avail), "bob@x"), CodeLimit) // a fourth of the account
	e.must(call(e.connect("carol@x", avail), "bob@x"))
	e.must(call(e.connect("dave@x", avail), "bob@x"))
	codeIs(t, call(e.connect("erin@x", avail), "bob@x"), CodeBusy) // bob takes part in three
}

// TestCallBadInput: calls' data and signals are bounded JSON, and
// signals travel within a call only.
func TestCallBadInput(t *testing.T) {
	e, _ := callEnv(t, CallLimits{}, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	b := e.open("bob@x", takesCalls)
	big := json.RawMessage(`"` + string(make([]byte, MaxSignalData)) + `"`)
	for _, data := range []json.RawMessage{big, json.RawMessage(`{`)} {
		_, _, err := a.s.Call("bob@x", data)
		codeIs(t, err, CodeInvalid)
	}
	_, _, err := a.s.Call("", nil)
	codeIs(t, err, CodeInvalid)
	_, _, err = a.s.Call("not an address", nil)
	codeIs(t, err, CodeInvalid)
	codeIs(t, a.s.CallSignal("nosuchcall", json.RawMessage(`{}`)), CodeNotFound)
	id, _, err := a.s.Call("bob@x/"+b.s.Resource, nil)
	e.must(err)
	e.must(b.s.Answer(id, nil))
	codeIs(t, a.s.CallSignal(id, big), CodeInvalid)
	codeIs(t, a.s.CallSignal(id, nil), CodeInvalid)
	codeIs(t, b.s.Cancel(id), CodeNotFound) // only the caller cancels
	_, _, err = a.s.Call("bob@x/nosuchsession", nil)
	codeIs(t, err, CodeUnavailable)
}

// TestAppCalls: an app's session calls with the signal scope only, to
// the contacts its grant covers, by handle; the callee's app session is
// rung with the caller's handle, and everything after names handles.
func TestAppCalls(t *testing.T) {
	e, _ := callEnv(t, CallLimits{}, "alice@x", "bob@x", "carol@x")
	e.befriend("alice@x", "bob@x")
	e.befriend("alice@x", "carol@x")
	e.grant("alice@x", "ring", allReads, picked("bob@x"))
	e.grant("bob@x", "ring", allReads, picked("alice@x"))
	e.grant("carol@x", "ring", allReads, picked("alice@x"))
	noSignal := e.openApp("alice@x", "ring", []string{ScopePresenceRead, ScopeMessage}, nil)
	_, _, err := noSignal.s.Call(e.handle("ring", "alice@x", "bob@x"), nil)
	codeIs(t, err, CodeForbidden)

	a := e.openApp("alice@x", "ring", allReads, avail)
	bApp := e.open("bob@x", SessionOptions{Device: "ring", Channel: Channel{App: "ring"}, Scopes: allReads, Accepts: []string{KindCall}, Presence: avail})
	bMute := e.open("bob@x", SessionOptions{Device: "ring", Channel: Channel{App: "ring"}, Scopes: []string{ScopePresenceRead}, Accepts: []string{KindCall}})
	bWeb := e.open("bob@x", takesCalls)
	e.open("carol@x", takesCalls)
	for _, k := range []*sink{a, bApp, bMute, bWeb} {
		k.take()
	}
	_, _, err = a.s.Call("bob@x", nil) // an app without addresses writes handles
	codeIs(t, err, CodeInvalid)
	_, _, err = a.s.Call(e.handle("ring", "alice@x", "carol@x"), nil) // not granted: like nobody
	codeIs(t, err, CodeUnavailable)
	_, _, err = a.s.Call(e.handle("other", "alice@x", "bob@x"), nil)
	codeIs(t, err, CodeUnavailable)

	id, n, err := a.s.Call(e.handle("ring", "alice@x", "bob@x"), nil)
	e.must(err)
	if n != 2 {
		t.Fatalf("rang %d sessions, want bob's app with signal and his web page", n)
	}
	hAlice := e.handle("ring", "bob@x", "alice@x")
	if ev := one(t, bApp, CallIncoming); ev.From != hAlice {
		t.Fatalf("the app is rung by %q, want alice's handle %q", ev.From, hAlice)
	}
	if ev := one(t, bWeb, CallIncoming); ev.From != a.s.Address() {
		t.Fatalf("first-party is rung by %q", ev.From)
	}
	none(t, bMute)
	e.must(bApp.s.CallRinging(id))
	hBob := e.handle("ring", "alice@x", "bob@x")
	if ev := one(t, a, CallRinging); ev.From != hBob {
		t.Fatalf("the caller's app hears ringing from %q, want %q", ev.From, hBob)
	}
	e.must(bApp.s.Answer(id, nil))
	if ev := one(t, a, CallAnswered); ev.From != hBob {
		t.Fatalf("answered by %q", ev.From)
	}
	one(t, bWeb, CallEnded)
	e.must(a.s.CallSignal(id, json.RawMessage(`{"candidate":"x"}`)))
	if ev := one(t, bApp, CallSignal); ev.From != hAlice {
		t.Fatalf("signal from %q", ev.From)
	}
	e.must(bApp.s.Hangup(id))
	if ev := one(t, a, CallEnded); ev.Reason != EndHangup || ev.From != hBob {
		t.Fatalf("hang-up: %+v", ev)
	}
}
