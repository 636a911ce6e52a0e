package core

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
)

// wireRouter stands for a router to another process: every event and
// target is serialised and decoded again before the local router delivers
// the copy, so anything that is not plain data fails here; and it counts
// what it delivered, so a test can prove that sessions got nothing else.
type wireRouter struct {
	t     *testing.T
	local Router
	mu    sync.Mutex
	sent  int
	kinds map[string]int
}

var eventTypes = map[string]reflect.Type{}

func init() {
	for _, ev := range []Event{Snapshot{}, PresenceEvent{}, SubscriptionEvent{}, PrivacyEvent{}, MessageEvent{}, ContactEvent{}, PersonalEvent{}, Goaway{}, CallEvent{},
		RoomSnapshot{}, RoomDiff{}, RoomMessageEvent{}, RoomSubjectEvent{}, RoomLeft{}, RoomInvite{}} {
		eventTypes[reflect.TypeOf(ev).Name()] = reflect.TypeOf(ev)
	}
}

func (r *wireRouter) Route(ev Event, to []Target) Routed {
	name := reflect.TypeOf(ev).Name()
	b, err := json.Marshal(struct {
		Kind string
		Ev   Event
		To   []Target
	}{name, ev, to})
	if err != nil {
		r.t.Errorf("event %T does not serialise: %v", ev, err)
		return Routed{}
	}
	var back struct {
		Kind string
		Ev   json.RawMessage
		To   []Target
	}
	if err := json.Unmarshal(b, &back); err != nil {
		r.t.Errorf("decode: %v", err)
		return Routed{}
	}
	copyEv := reflect.New(eventTypes[back.Kind])
	if err := json.Unmarshal(back.Ev, copyEv.Interface()); err != nil {
		r.t.Errorf("decode %s: %v", back.Kind, err)
		return Routed{}
	}
	orig, _ := json.Marshal(ev)
	if again, _ := json.Marshal(copyEv.Elem().Interface()); string(again) != string(orig) {
		r.t.Errorf("%s does not survive a round trip:\n%s\n%s", name, orig, again)
	}
	routed := r.local.Route(copyEv.Elem().Interface().(Event), back.To)
	r.mu.Lock()
	r.sent += routed.Sessions
	r.kinds[name] += routed.Sessions
	r.mu.Unlock()
	return routed
}

// TestEverythingGoesThroughTheRouter runs every kind of traffic and checks
// that each event in any session's outbox was handed over by the router, as
// serialised data.
func TestEverythingGoesThroughTheRouter(t *testing.T) {
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, a := range []string{"alice@x", "bob@x", "carol@x"} {
		if err := st.CreateAccount(ctx, store.Account{Address: a, PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := &wireRouter{t: t, kinds: map[string]int{}}
	h := New(Config{Grace: 5 * time.Second}, st, clk, r, slog.Default())
	r.local = h.LocalRouter()
	e := &env{t: t, hub: h, clk: clk, st: st}

	a, b := e.connect("alice@x", avail), e.connect("bob@x", avail)
	xk := e.open("alice@x", SessionOptions{Device: "xmpp", Payloads: true})
	x := xk.s
	x.SetCarbons(true)
	e.befriend("alice@x", "bob@x")
	e.must(a.s.SetPresence(Presence{Availability: Away, Status: "lunch"}))
	_, err = a.s.Publish(ctx, TopicMood, "", json.RawMessage(`{"mood":"happy"}`))
	e.must(err)
	_, err = b.s.Send(Message{Kind: KindMessage, To: "alice@x", Body: "hi"})
	e.must(err)
	_, err = a.s.Send(Message{Kind: KindMessage, To: "bob@x/" + b.s.Resource, Body: "hello"})
	e.must(err)
	_, err = a.s.Send(Message{Kind: KindSignal, To: "bob@x", Data: json.RawMessage(`{"sdp":"x"}`)})
	e.must(err)
	_, err = b.s.Send(Message{Kind: KindIQ, Type: "get", To: x.Address(), Payload: "<ping xmlns='urn:xmpp:ping'/>"})
	e.must(err)
	_, err = h.CreateContacts(ctx, "alice@x", []store.Contact{{Name: "Bob", Address: "bob@x"}})
	e.must(err)
	e.must(a.s.Direct("carol@x", true))
	bc := e.open("bob@x", SessionOptions{Device: "calls", Accepts: []string{KindCall}})
	id, _, err := a.s.Call("bob@x", json.RawMessage(`{"video":true}`))
	e.must(err)
	e.must(bc.s.CallRinging(id))
	e.must(bc.s.Answer(id, nil))
	e.must(a.s.CallSignal(id, json.RawMessage(`{"sdp":"x"}`)))
	e.must(bc.s.Hangup(id))
	e.must(h.Hide(ctx, "alice@x", "bob@x"))
	e.must(h.Unhide(ctx, "alice@x", "bob@x"))
	e.must(h.SetInvisible(ctx, "alice@x", true))
	e.must(h.SetInvisible(ctx, "alice@x", false))
	e.join(a, "r", "al")
	e.join(b, "r", "bo")
	e.window()
	_, err = b.s.RoomSend(ctx, "r", "m1", "hi room")
	e.must(err)
	e.must(a.s.SetSubject(ctx, "r", "today"))
	_, err = a.s.Invite(ctx, "r", "bob@x", "")
	e.must(err)
	e.must(a.s.Kick(ctx, "r", "bo", ""))
	e.window() // the room's diffs
	got := len(b.take())
	b.s.Close()
	got += len(bc.take())

	// the outbox merges an unsent presence event into the next one about
	// the same subject: those count as delivered too
	got += len(a.take()) + len(xk.take()) + int(h.Metrics().Coalesced.Load())
	if got != r.sent {
		t.Fatalf("sessions got %d events, the router delivered %d", got, r.sent)
	}
	for _, k := range []string{"Snapshot", "PresenceEvent", "SubscriptionEvent", "PrivacyEvent", "MessageEvent", "ContactEvent", "PersonalEvent", "CallEvent",
		"RoomSnapshot", "RoomDiff", "RoomMessageEvent", "RoomSubjectEvent", "RoomLeft", "RoomInvite"} {
		if r.kinds[k] == 0 {
			t.Errorf("no %s went through the router", k)
		}
	}
}

// TestRightsEndWithTheirLifecycleEvent: deleting an account, changing its
// password and revoking a token end exactly the sessions that lost their
// right, and a deleted address registered anew inherits nothing.
func TestRightsEndWithTheirLifecycleEvent(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	mk := func(account, cred string) *sink {
		return e.open(account, SessionOptions{Device: "t", Presence: avail, Credential: cred})
	}
	b1, b2, bp := mk("bob@x", "tok1"), mk("bob@x", "tok2"), mk("bob@x", CredentialPassword)
	a.take()

	e.hub.Apply(store.LifecycleEvent{Kind: store.LifecycleTokenRevoked, Account: "bob@x", TokenID: "tok1"})
	if b1.closed == nil || b1.closed.Reason != GoawayRevoked || b1.closed.Reconnect {
		t.Fatalf("session of the revoked token: closed %+v", b1.closed)
	}
	if b2.closed != nil || bp.closed != nil {
		t.Fatal("a revocation ended other sessions")
	}
	// a token issued after the change (the tokens of before are gone with
	// the password, in the same transaction): its session signed in anew
	e.must(e.st.CreateToken(ctx, store.Token{ID: "new", Hash: []byte("h"), Account: "bob@x", Label: "web", CreatedAt: e.clk.Now()}))
	bn := mk("bob@x", "new")
	e.hub.Apply(store.LifecycleEvent{Kind: store.LifecyclePassword, Account: "bob@x"})
	if b2.closed == nil || bp.closed == nil || bp.closed.Reason != GoawayPassword {
		t.Fatalf("password change left sessions running: %+v %+v", b2.closed, bp.closed)
	}
	if bn.closed != nil {
		t.Fatalf("the password change ended a session signed in after it: %+v", bn.closed)
	}
	bn.s.Close()
	if v, _ := presenceOf(a.take(), "bob@x"); v.Availability != Unavailable {
		t.Fatalf("alice sees bob %+v after his sessions ended", v)
	}

	b := mk("bob@x", "tok3")
	e.must(e.st.DeleteAccount(ctx, "bob@x"))
	e.hub.Apply(store.LifecycleEvent{Kind: store.LifecycleDeleted, Account: "bob@x"})
	if b.closed == nil || b.closed.Reason != GoawayDeleted {
		t.Fatalf("deleted account's session: closed %+v", b.closed)
	}
	if v, _ := presenceOf(a.take(), "bob@x"); v.Availability != Unavailable {
		t.Fatalf("alice sees the deleted bob %+v", v)
	}
	e.must(e.st.CreateAccount(ctx, store.Account{Address: "bob@x", PasswordHash: "y", CreatedAt: e.clk.Now().Add(time.Hour)}))
	nb := e.connect("bob@x", avail)
	if _, ok := presenceOf(nb.take(), "alice@x"); ok {
		t.Fatal("the new bob sees the old bob's contact")
	}
	e.must(a.s.SetPresence(Presence{Availability: DND}))
	if mentions(t, nb.take(), "alice@x") {
		t.Fatal("the new bob got the old bob's contact's presence")
	}
	if _, err := nb.s.Send(Message{Kind: KindMessage, To: "alice@x", Body: "it's me"}); CodeOf(err) != CodeUnavailable {
		t.Fatalf("the new bob messaged the old bob's contact: %v", err)
	}
	if evs := a.take(); mentions(t, evs, "bob@x") {
		t.Fatalf("alice was shown the new bob: %+v", evs)
	}
}

// TestDeletedAccountsContactsAreTold: when an account is deleted, each
// counterpart with sessions is told, through the delivery path, that its
// relationship ended (from what it was to nothing), and sees the account go
// offline; the counterparts without sessions and the strangers hear nothing.
func TestDeletedAccountsContactsAreTold(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x", "carol@x", "dave@x", "erin@x")
	start, err := e.st.LastLifecycleID(ctx)
	e.must(err)
	e.befriend("alice@x", "bob@x")
	e.must(e.hub.Subscribe(ctx, "carol@x", "bob@x")) // carol asked, bob never answered
	e.must(e.hub.Subscribe(ctx, "bob@x", "erin@x"))  // bob asked erin, who is offline
	a, c, d := e.connect("alice@x", avail), e.connect("carol@x", avail), e.connect("dave@x", avail)
	b := e.connect("bob@x", avail)
	a.take()
	c.take()
	d.take()

	e.must(e.st.DeleteAccount(ctx, "bob@x"))
	evs, err := e.st.LifecycleSince(ctx, start, 10)
	e.must(err)
	for _, ev := range evs {
		e.hub.Apply(ev)
	}
	if b.closed == nil || b.closed.Reason != GoawayDeleted {
		t.Fatalf("bob's session: closed %+v", b.closed)
	}
	told := func(evs []Event) []SubscriptionEvent {
		var out []SubscriptionEvent
		for _, ev := range evs {
			if se, ok := ev.(SubscriptionEvent); ok {
				out = append(out, se)
			}
		}
		return out
	}
	aevs := a.take()
	if v, ok := presenceOf(aevs, "bob@x"); !ok || v.Availability != Unavailable {
		t.Fatalf("alice sees the deleted bob %+v (%v)", v, ok)
	}
	want := SubscriptionEvent{Before: SubscriptionView{Address: "bob@x", To: true, From: true}, View: SubscriptionView{Address: "bob@x"}}
	if got := told(aevs); len(got) != 1 || got[0] != want {
		t.Fatalf("alice was told %+v, want %+v", got, want)
	}
	want = SubscriptionEvent{Before: SubscriptionView{Address: "bob@x", PendingOut: true}, View: SubscriptionView{Address: "bob@x"}}
	if got := told(c.take()); len(got) != 1 || got[0] != want {
		t.Fatalf("carol was told %+v, want %+v", got, want)
	}
	if evs := d.take(); mentions(t, evs, "bob@x") {
		t.Fatalf("a stranger was told %+v", evs)
	}
	ek := e.connect("erin@x", avail) // offline then: her snapshot says it all
	if mentions(t, ek.take(), "bob@x") {
		t.Fatal("erin still has bob's request")
	}
}

// TestReRegisteredBeforeTheEventArrives: a session of an address that was
// deleted and registered again finds the old in-memory state stale (its
// creation time differs) and drops it, even before the log is read.
func TestReRegisteredBeforeTheEventArrives(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	old := e.connect("bob@x", avail)
	e.must(e.st.DeleteAccount(ctx, "bob@x"))
	e.must(e.st.CreateAccount(ctx, store.Account{Address: "bob@x", PasswordHash: "y", CreatedAt: e.clk.Now().Add(time.Minute)}))
	a.take()
	nb := e.connect("bob@x", avail)
	if old.closed == nil || old.closed.Reason != GoawayDeleted {
		t.Fatalf("the old incarnation's session: closed %+v", old.closed)
	}
	if mentions(t, nb.take(), "alice@x") {
		t.Fatal("the new bob inherited the old one's contact")
	}
	if v, ok := presenceOf(a.take(), "bob@x"); ok && v.Availability != Unavailable {
		t.Fatalf("alice sees the new bob: %+v", v)
	}
}

// TestDirectedPresenceEndsWithBlockHideInvisible: directed presence is
// withdrawn at once by a block, a hide or invisibility, and the viewer is not
// told again later (RFC 6121 § 4.6 meets the privacy rule).
func TestDirectedPresenceEndsWithBlockHideInvisible(t *testing.T) {
	for _, how := range []string{"block", "hide", "invisible"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, "alice@x", "bob@x")
			// bob lets alice see him, so alice may direct presence at bob
			e.must(e.hub.Subscribe(ctx, "alice@x", "bob@x"))
			e.must(e.hub.Approve(ctx, "bob@x", "alice@x"))
			a := e.connect("alice@x", avail)
			b := e.connect("bob@x", avail)
			e.must(a.s.Direct("bob@x", true))
			if v, _ := presenceOf(b.take(), "alice@x"); v.Availability != Available {
				t.Fatalf("directed presence not shown: %+v", v)
			}
			switch how {
			case "block":
				e.must(e.hub.Block(ctx, "alice@x", "bob@x"))
			case "hide":
				e.must(e.hub.Hide(ctx, "alice@x", "bob@x"))
			case "invisible":
				e.must(e.hub.SetInvisible(ctx, "alice@x", true))
			}
			if v, ok := presenceOf(b.take(), "alice@x"); !ok || v.Availability != Unavailable {
				t.Fatalf("after %s bob still sees alice: %+v (%v)", how, v, ok)
			}
			a.s.Unavailable()
			a.s.Close()
			if mentions(t, b.take(), "alice@x") {
				t.Fatalf("after %s bob was told again about alice", how)
			}
		})
	}
}

// TestItemsPublishedWhileInvisible are not shown with their publication
// time: viewers get them when the user shows up again, stamped then.
func TestItemsPublishedWhileInvisible(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	e.must(e.hub.SetInvisible(ctx, "alice@x", true))
	_, err := a.s.Publish(ctx, TopicMood, "", json.RawMessage(`{"mood":"sad"}`))
	e.must(err)
	e.clk.Advance(time.Hour)
	b := e.connect("bob@x", avail)
	if mentions(t, b.take(), `sad`) {
		t.Fatal("bob saw an item published while alice was invisible")
	}
	e.clk.Advance(time.Hour)
	shown := e.clk.Now()
	e.must(e.hub.SetInvisible(ctx, "alice@x", false))
	c := e.connect("bob@x", avail)
	snap := c.take()[0].(Snapshot)
	if len(snap.Items) != 1 || !snap.Items[0].Published.Equal(shown) {
		t.Fatalf("items after showing up: %+v, want one stamped %v", snap.Items, shown)
	}
}

// TestConcurrentTrafficStaysConsistent runs fan-outs, edits and sessions of
// many users at once (for the race detector and for deadlocks), then checks
// that every viewer's last view of every subject is what the subject shows.
func TestConcurrentTrafficStaysConsistent(t *testing.T) {
	const n = 8
	var names []string
	for i := 0; i < n; i++ {
		names = append(names, fmt.Sprintf("u%d@x", i))
	}
	e := newEnv(t, names...)
	for i := 0; i < n; i++ {
		e.befriend(names[i], names[(i+1)%n])
	}
	sinks := make([]*sink, n)
	for i := range names {
		sinks[i] = e.connect(names[i], avail)
	}
	check := func(err error) {
		if err != nil {
			t.Error(err)
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			me, next := names[i], names[(i+2)%n]
			for j := 0; j < 30; j++ {
				status := fmt.Sprintf("%d", j)
				check(sinks[i].s.SetPresence(Presence{Availability: Available, Status: status}))
				switch j % 5 {
				case 0:
					check(e.hub.Subscribe(ctx, me, next))
				case 1:
					check(e.hub.Approve(ctx, next, me))
				case 2:
					check(e.hub.Hide(ctx, me, next))
				case 3:
					check(e.hub.Unhide(ctx, me, next))
				case 4:
					s, err := e.hub.Connect(ctx, me, SessionOptions{Device: "extra"}, &sink{})
					check(err)
					if err == nil {
						s.Close()
					}
				}
			}
		}(i)
	}
	wg.Wait()
	// what each viewer last heard of each subject is what it may see now
	for i, v := range names {
		want, err := e.hub.Presence(ctx, v, nil)
		e.must(err)
		evs := sinks[i].take()
		for _, w := range want {
			got, ok := presenceOf(evs, w.Address)
			if !ok {
				continue // nothing new since the snapshot: checked below by status
			}
			if got.Availability != w.Availability || got.Status != w.Status {
				t.Errorf("%s last heard of %s %s/%q, but sees %s/%q", v, w.Address, got.Availability, got.Status, w.Availability, w.Status)
			}
		}
	}
}

// TestRequestsAreBounded: requests to any address, existing or not, and
// requests received, stop at the limit with a typed error instead of
// growing the store without bound.
func TestRequestsAreBounded(t *testing.T) {
	e := newEnv(t, "alice@x")
	e.hub.cfg.Limits.PendingPerAccount = 3
	for i := 0; i < 3; i++ {
		e.must(e.hub.Subscribe(ctx, "alice@x", fmt.Sprintf("nobody%d@x", i)))
	}
	if err := e.hub.Subscribe(ctx, "alice@x", "nobody9@x"); CodeOf(err) != CodeLimit {
		t.Fatalf("request beyond the limit: %v", err)
	}
	for i := 0; i < 3; i++ {
		e.must(e.hub.Subscribe(ctx, fmt.Sprintf("spammer%d@x", i), "victim@x"))
	}
	if err := e.hub.Subscribe(ctx, "spammer9@x", "victim@x"); CodeOf(err) != CodeLimit {
		t.Fatalf("request to a full inbox: %v", err)
	}
}

// TestBlockAndHideLookLikeASignOut: a blocked or hidden-from viewer sees
// what a plain sign-out at that moment would show — unavailable, with that
// moment as last-seen — and goes on seeing exactly that, while the subject
// comes and goes, across a restart, until the entry is lifted.
func TestBlockAndHideLookLikeASignOut(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x", "carol@x")
	e.befriend("alice@x", "bob@x")
	e.befriend("alice@x", "carol@x")
	seen := func(k *sink, what string) time.Time {
		t.Helper()
		var v PresenceView
		var ok bool
		for _, ev := range k.take() {
			switch ev := ev.(type) {
			case PresenceEvent:
				if ev.View.Address == "alice@x" {
					v, ok = ev.View, true
				}
			case Snapshot:
				for _, p := range ev.Presence {
					if p.Address == "alice@x" {
						v, ok = p, true
					}
				}
			}
		}
		if !ok || v.Availability != Unavailable {
			t.Fatalf("%s: %+v (found %v), want alice unavailable", what, v, ok)
		}
		return v.LastSeen
	}
	a := e.connect("alice@x", avail)
	b := e.connect("bob@x", avail)
	b.take()

	e.clk.Advance(time.Hour)
	hiddenAt := e.clk.Now() // alice is online to bob: he sees her sign out now
	e.must(e.hub.Hide(ctx, "alice@x", "bob@x"))
	if got := seen(b, "hidden"); !got.Equal(hiddenAt) {
		t.Fatalf("hidden: last seen %v, want %v", got, hiddenAt)
	}

	e.clk.Advance(time.Hour)
	a.s.Close()
	signedOut := e.clk.Now()
	e.clk.Advance(time.Hour)
	// carol, not hidden from, sees the real sign-out; alice blocks her now,
	// while offline: carol goes on seeing that sign-out
	e.must(e.hub.Block(ctx, "alice@x", "carol@x"))
	e.must(e.hub.Hide(ctx, "alice@x", "carol@x")) // the block's moment wins
	e.clk.Advance(time.Hour)
	a = e.connect("alice@x", avail)
	e.clk.Advance(time.Hour)
	a.s.Close()
	for _, viewer := range []string{"bob@x", "carol@x"} {
		want := map[string]time.Time{"bob@x": hiddenAt, "carol@x": signedOut}[viewer]
		if got := seen(e.connect(viewer, nil), viewer+" reconnected"); !got.Equal(want) {
			t.Fatalf("%s: last seen %v, want %v", viewer, got, want)
		}
	}

	// a restart: the same from the store, with alice offline and online
	e2 := &env{t: t, st: e.st, clk: e.clk, hub: New(Config{Grace: 5 * time.Second}, e.st, e.clk, nil, slog.Default())}
	if got := seen(e2.connect("bob@x", nil), "after a restart"); !got.Equal(hiddenAt) {
		t.Fatalf("after a restart: last seen %v, want %v", got, hiddenAt)
	}
	e2.connect("alice@x", avail)
	if got := seen(e2.connect("carol@x", nil), "after a restart, alice online"); !got.Equal(signedOut) {
		t.Fatalf("after a restart, alice online: last seen %v, want %v", got, signedOut)
	}

	// lifted: bob sees her as she is
	b2 := e2.connect("bob@x", nil)
	b2.take()
	e2.must(e2.hub.Unhide(ctx, "alice@x", "bob@x"))
	if v, ok := presenceOf(b2.take(), "alice@x"); !ok || v.Availability != Available {
		t.Fatalf("unhidden: %+v %v", v, ok)
	}
}

// TestRightsLostWhileSigningIn: a lifecycle event applied between a
// transport's credential check (its Checkpoint) and the session's start
// refuses the session, which Apply could not end: it did not exist yet.
func TestRightsLostWhileSigningIn(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	open := func(credential string, checked Checkpoint) error {
		_, err := e.hub.Connect(ctx, "alice@x", SessionOptions{Device: "t", Credential: credential, Checked: checked}, &sink{})
		return err
	}
	checked := e.hub.Checkpoint()
	e.hub.Apply(store.LifecycleEvent{Kind: store.LifecycleTokenRevoked, Account: "alice@x", TokenID: "t1"})
	if err := open("t1", checked); CodeOf(err) != CodeUnauthorized {
		t.Fatalf("revoked token, checked before: %v", err)
	}
	e.must(open("t2", checked))            // another token
	e.must(open("t1", 0))                  // no checkpoint given: nothing checked
	e.must(open("t1", e.hub.Checkpoint())) // checked after: the store said no already
	if _, err := e.hub.Connect(ctx, "bob@x", SessionOptions{Device: "t", Credential: "t1", Checked: checked}, &sink{}); err != nil {
		t.Fatalf("another account's event: %v", err)
	}

	checked = e.hub.Checkpoint()
	e.hub.Apply(store.LifecycleEvent{Kind: store.LifecyclePassword, Account: "alice@x"})
	if err := open(CredentialPassword, checked); CodeOf(err) != CodeUnauthorized || !contains(err.Error(), GoawayPassword) {
		t.Fatalf("the old password after a password change: %v", err)
	}
	// a token session ends by its token's revocation, which the change logs
	// for each token; a token issued since is no old credential
	e.must(open("t3", checked))

	// a resume with a credential revoked meanwhile ends the session
	k := e.open("alice@x", SessionOptions{Device: "r", Credential: "t4"})
	k.s.Detach(k)
	checked = e.hub.Checkpoint()
	e.hub.Apply(store.LifecycleEvent{Kind: store.LifecycleTokenRevoked, Account: "alice@x", TokenID: "t5"})
	s, _, err := e.hub.Resume(ctx, "alice@x", k.s.Resource, 0, &sink{})
	e.must(err)
	if err := s.SetCredential("t5", checked); CodeOf(err) != CodeUnauthorized || !s.ended.Load() {
		t.Fatalf("resumed with a revoked token: %v, ended %v", err, s.ended.Load())
	}

	// a checkpoint older than what the hub remembers is checked against
	// what is left: a mass expiry elsewhere refuses nobody, a revocation
	// among the events still kept is still seen
	checked = e.hub.Checkpoint()
	e.hub.Apply(store.LifecycleEvent{Kind: store.LifecycleTokenRevoked, Account: "alice@x", TokenID: "t7"})
	for i := 0; i < 5000; i++ {
		e.hub.Apply(store.LifecycleEvent{Kind: store.LifecycleTokenRevoked, Account: "bob@x", TokenID: fmt.Sprint(i)})
	}
	e.must(open("t6", checked))
	e.hub.Apply(store.LifecycleEvent{Kind: store.LifecycleTokenRevoked, Account: "alice@x", TokenID: "t8"})
	if err := open("t8", checked); CodeOf(err) != CodeUnauthorized {
		t.Fatalf("a revocation among the kept events, old checkpoint: %v", err)
	}
}

// A fan-out's pooled targets keep no account or user alive once given
// back, and a buffer grown past maxPooledTargets is not kept at all.
func TestPooledTargetsKeepNothing(t *testing.T) {
	tb := &targetBuf{}
	for i := 0; i < 3; i++ {
		tb.t = append(tb.t, Target{Account: "v@x", Resource: "r"})
		tb.u = append(tb.u, &user{address: "v@x"})
	}
	putTargets(tb)
	if len(tb.t) != 0 || len(tb.u) != 0 {
		t.Fatalf("pooled with %d targets, %d users", len(tb.t), len(tb.u))
	}
	for i, x := range tb.t[:cap(tb.t)] {
		if x != (Target{}) {
			t.Fatalf("target %d still names %q", i, x.Account)
		}
	}
	for i, u := range tb.u[:cap(tb.u)] {
		if u != nil {
			t.Fatalf("user %d still referenced", i)
		}
	}
	big := &targetBuf{t: make([]Target, 1, maxPooledTargets+1)}
	big.t[0] = Target{Account: "v@x"}
	putTargets(big)
	if big.t[0].Account != "v@x" {
		t.Fatal("a buffer too big for the pool was emptied as if pooled")
	}
}
