package cluster

import (
	"encoding/json"
	"testing"

	"github.com/presenced/presenced/internal/core"
)

// takesCalls are the kinds a session that takes calls accepts.
var takesCalls = []string{core.KindMessage, core.KindSignal, core.KindCall}

// connectAs opens a session of account on n with its own device name, taking calls.
func (n *node) connectAs(t *testing.T, account, device string) *client {
	return n.open(t, account, core.SessionOptions{Device: device, Presence: avail, Accepts: takesCalls})
}

// open opens a session of account on n with opts.
func (n *node) open(t *testing.T, account string, opts core.SessionOptions) *client {
	c := &client{t: t}
	opts.Transport = "test"
	s, err := n.hub.Connect(ctx, account, opts, c)
	if err != nil {
		t.Fatal(err)
	}
	c.s = s
	return c
}

// callEvent matches the call event ev of call id (from, if given).
func callEvent(id, ev, from string) func(core.Event) bool {
	return func(e core.Event) bool {
		c, ok := e.(core.CallEvent)
		return ok && c.Call == id && c.Event == ev && (from == "" || c.From == from)
	}
}

// ended matches the end of call id with reason.
func ended(id, reason string) func(core.Event) bool {
	return func(e core.Event) bool {
		c, ok := e.(core.CallEvent)
		return ok && c.Call == id && c.Event == core.CallEnded && c.Reason == reason
	}
}

// TestCallAcrossNodes: alice on node A calls bob, who has two sessions on
// node B and one on A. All three ring; the caller hears the ringing of
// one on B, which answers: the two others are told the call was answered
// elsewhere; signals cross both ways between the two parties alone; the
// callee's hang-up ends the call for the caller.
func TestCallAcrossNodes(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "bob@x")
	d.befriend("alice@x", "bob@x")
	a, b := d.start(url, "a", nil), d.start(url, "b", nil)

	alice := a.connectAs(t, "alice@x", "laptop")
	phone, tablet := b.connectAs(t, "bob@x", "phone"), b.connectAs(t, "bob@x", "tablet")
	eventually(t, "node a to learn that b holds bob", func() bool { return a.Holds("bob@x") })
	desk := a.connectAs(t, "bob@x", "desk")

	id, rung, err := alice.s.Call("bob@x", json.RawMessage(`{"video":true}`))
	if err != nil || rung != 3 {
		t.Fatalf("call: %q rang %d, %v; want 3 sessions (one on a, two on b)", id, rung, err)
	}
	for _, c := range []*client{phone, tablet, desk} {
		in := c.await("the ring on "+c.s.Address(), callEvent(id, core.CallIncoming, alice.s.Address())).(core.CallEvent)
		if string(in.Data) != `{"video":true}` {
			t.Fatalf("%s was rung with %s", c.s.Address(), in.Data)
		}
	}
	must(t, phone.s.CallRinging(id))
	alice.await("the phone ringing", callEvent(id, core.CallRinging, phone.s.Address()))

	must(t, phone.s.Answer(id, json.RawMessage(`{"ok":1}`)))
	got := alice.await("the phone's answer", callEvent(id, core.CallAnswered, phone.s.Address())).(core.CallEvent)
	if string(got.Data) != `{"ok":1}` {
		t.Fatalf("the answer carried %s", got.Data)
	}
	tablet.await("the tablet told the call was taken", ended(id, core.EndAnsweredElsewhere))
	desk.await("the desk told the call was taken", ended(id, core.EndAnsweredElsewhere))
	if err := tablet.s.Answer(id, nil); err == nil {
		t.Fatal("a second device answered a call taken elsewhere")
	}

	must(t, alice.s.CallSignal(id, json.RawMessage(`{"sdp":"offer"}`)))
	sig := phone.await("the offer on the phone", callEvent(id, core.CallSignal, alice.s.Address())).(core.CallEvent)
	if string(sig.Data) != `{"sdp":"offer"}` {
		t.Fatalf("the phone got %s", sig.Data)
	}
	must(t, phone.s.CallSignal(id, json.RawMessage(`{"sdp":"answer"}`)))
	sig = alice.await("the answer at the caller", callEvent(id, core.CallSignal, phone.s.Address())).(core.CallEvent)
	if string(sig.Data) != `{"sdp":"answer"}` {
		t.Fatalf("alice got %s", sig.Data)
	}
	if err := tablet.s.CallSignal(id, json.RawMessage(`{}`)); err == nil {
		t.Fatal("a device that did not answer signalled in the call")
	}

	must(t, phone.s.Hangup(id))
	got = alice.await("the phone's hang-up", ended(id, core.EndHangup)).(core.CallEvent)
	if got.From != phone.s.Address() {
		t.Fatalf("hang-up from %q", got.From)
	}
	if err := alice.s.CallSignal(id, json.RawMessage(`{}`)); core.CodeOf(err) != core.CodeNotFound {
		t.Fatalf("a signal in an ended call: %v", err)
	}
	if err := phone.s.Hangup(id); core.CodeOf(err) != core.CodeNotFound {
		t.Fatalf("a second hang-up: %v", err)
	}
	for _, c := range []*client{tablet, desk, phone} {
		for _, ev := range c.events() {
			if ce, ok := ev.(core.CallEvent); ok && ce.Event == core.CallSignal {
				t.Fatalf("%s got a signal of the call: %+v", c.s.Address(), ce)
			}
		}
	}
}

// TestCallAcrossNodesRefusedDeclinedCancelled: the callee's node decides:
// a stranger is told unavailable, as on one node, and bob's session is not
// rung; a session that declines ends the call for the caller and bob's
// other session; a caller that cancels stops the ringing elsewhere.
func TestCallAcrossNodesRefusedDeclinedCancelled(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "bob@x", "carol@x")
	d.befriend("alice@x", "bob@x")
	a, b := d.start(url, "a", nil), d.start(url, "b", nil)

	alice, carol := a.connectAs(t, "alice@x", "laptop"), a.connectAs(t, "carol@x", "laptop")
	phone, tablet := b.connectAs(t, "bob@x", "phone"), b.connectAs(t, "bob@x", "tablet")
	eventually(t, "node a to learn that b holds bob", func() bool { return a.Holds("bob@x") })

	if _, _, err := carol.s.Call("bob@x", nil); core.CodeOf(err) != core.CodeUnavailable {
		t.Fatalf("a stranger's call: %v, want unavailable", err)
	}

	id, rung, err := alice.s.Call("bob@x", nil)
	if err != nil || rung != 2 {
		t.Fatalf("call: rang %d, %v", rung, err)
	}
	phone.await("the ring on the phone", func(ev core.Event) bool {
		if ce, ok := ev.(core.CallEvent); ok && ce.From == carol.s.Address() {
			t.Fatalf("the stranger's call rang bob: %+v", ce) // it came before alice's, if at all
		}
		return callEvent(id, core.CallIncoming, "")(ev)
	})
	must(t, phone.s.Reject(id, true))
	got := alice.await("busy", ended(id, core.EndBusy)).(core.CallEvent)
	if got.From != phone.s.Address() {
		t.Fatalf("busy from %q", got.From)
	}
	tablet.await("the tablet told the call is over", ended(id, core.EndBusy))

	id, _, err = alice.s.Call(phone.s.Address(), nil) // one session alone
	must(t, err)
	phone.await("the ring on the phone alone", callEvent(id, core.CallIncoming, ""))
	must(t, alice.s.Cancel(id))
	phone.await("the phone told the caller gave up", ended(id, core.EndCancelled))
	if err := phone.s.Answer(id, nil); core.CodeOf(err) != core.CodeNotFound {
		t.Fatalf("answering a cancelled call: %v", err)
	}
	for _, ev := range tablet.events() {
		if ce, ok := ev.(core.CallEvent); ok && ce.Call == id {
			t.Fatalf("the tablet was told of a call to the phone alone: %+v", ce)
		}
	}
}

// TestCallEndsWhenANodeDies: alice on node A is in a call with bob on B,
// which she placed, and carol on C in one with alice, which carol placed.
// When A dies without a word, both bob (the callee, whose caller's node
// died) and carol (the caller, whose callee's node died) are told the
// call ended, as for a session gone.
func TestCallEndsWhenANodeDies(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "bob@x", "carol@x")
	d.befriend("alice@x", "bob@x")
	d.befriend("alice@x", "carol@x")
	a, b, c := d.start(url, "a", nil), d.start(url, "b", nil), d.start(url, "c", nil)

	alice := a.connectAs(t, "alice@x", "laptop")
	bob := b.connectAs(t, "bob@x", "phone")
	carol := c.connectAs(t, "carol@x", "phone")
	eventually(t, "the nodes to learn who holds whom", func() bool {
		return a.Holds("bob@x") && c.Holds("alice@x") && b.Holds("alice@x")
	})

	toBob, _, err := alice.s.Call("bob@x", nil)
	must(t, err)
	bob.await("alice's ring", callEvent(toBob, core.CallIncoming, ""))
	must(t, bob.s.Answer(toBob, nil))
	alice.await("bob's answer", callEvent(toBob, core.CallAnswered, bob.s.Address()))

	toAlice, _, err := carol.s.Call("alice@x", nil)
	must(t, err)
	alice.await("carol's ring", callEvent(toAlice, core.CallIncoming, ""))
	must(t, alice.s.Answer(toAlice, nil))
	carol.await("alice's answer", callEvent(toAlice, core.CallAnswered, alice.s.Address()))

	a.Kill()
	bob.await("the call with alice over once her node died", ended(toBob, core.EndGone))
	carol.await("the call to alice over once her node died", ended(toAlice, core.EndGone))
	if err := bob.s.CallSignal(toBob, json.RawMessage(`{}`)); core.CodeOf(err) != core.CodeNotFound {
		t.Fatalf("a signal in a call whose caller's node died: %v", err)
	}
	if err := carol.s.CallSignal(toAlice, json.RawMessage(`{}`)); core.CodeOf(err) != core.CodeNotFound {
		t.Fatalf("a signal in a call whose callee's node died: %v", err)
	}
}
