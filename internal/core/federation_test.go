package core

import (
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
)

// remoteRecorder is a federation Router for tests: what goes to another
// domain is recorded, the rest is routed locally.
type remoteRecorder struct {
	local Router
	mu    sync.Mutex
	sent  []Event  // to targets of other domains
	to    []Target // sent[i]'s target
}

func (r *remoteRecorder) Route(ev Event, to []Target) Routed {
	var local []Target
	var out Routed
	for _, t := range to {
		if strings.HasSuffix(t.Account, "@a.test") {
			local = append(local, t)
			continue
		}
		r.mu.Lock()
		r.sent, r.to = append(r.sent, ev), append(r.to, t)
		r.mu.Unlock()
		out.Online++
		out.Sessions++
	}
	if len(local) > 0 {
		out.add(r.local.Route(ev, local))
	}
	return out
}

func (r *remoteRecorder) take() []Event {
	evs, _ := r.takeTo()
	return evs
}

// takeTo is take with each event's target.
func (r *remoteRecorder) takeTo() ([]Event, []Target) {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs, to := r.sent, r.to
	r.sent, r.to = nil, nil
	return evs, to
}

// fedEnv is a hub serving a.test with alice and carol, whose remote
// deliveries are recorded.
func fedEnv(t *testing.T) (*env, *remoteRecorder) { return fedEnvWith(t, Config{}) }

// fedEnvWith is fedEnv with cfg (its domain and grace set here).
func fedEnvWith(t *testing.T, cfg Config) (*env, *remoteRecorder) {
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "f.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, a := range []string{"alice@a.test", "carol@a.test"} {
		if err := st.CreateAccount(ctx, store.Account{Address: a, PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	rec := &remoteRecorder{}
	cfg.Domain, cfg.Grace = "a.test", 5*time.Second
	h := New(cfg, st, clk, rec, slog.Default())
	rec.local = h.LocalRouter()
	return &env{t: t, hub: h, clk: clk, st: st}, rec
}

// TestRemoteStrangerLearnsWhatALocalOneDoes: probes, messages and
// requests of an account of another domain are answered exactly as a local
// stranger's, whether the local account exists, blocks it or ignores it.
func TestRemoteStrangerLearnsWhatALocalOneDoes(t *testing.T) {
	e, rec := fedEnv(t)
	alice := e.connect("alice@a.test", &Presence{Availability: Available, Status: "secret"})
	alice.take()
	if err := e.hub.Block(ctx, "alice@a.test", "eve@b.test"); err != nil {
		t.Fatal(err)
	}
	rec.take()
	for _, stranger := range []string{"mallory@b.test", "eve@b.test"} {
		for _, to := range []string{"alice@a.test", "nobody@a.test"} {
			if err := e.hub.RemoteProbe(ctx, stranger+"/x", to); err != nil {
				t.Fatal(err)
			}
			_, err := e.hub.RemoteMessage(ctx, Message{Kind: KindMessage, From: stranger + "/x", To: to, Body: "hi"})
			if CodeOf(err) != CodeUnavailable || err.Error() != errUnavailable.Error() {
				t.Fatalf("%s to %s: %v", stranger, to, err)
			}
			if got := rec.take(); len(got) != 0 {
				t.Fatalf("%s's probe of %s answered with %+v", stranger, to, got)
			}
		}
	}
	// a request: shown to alice unless she blocks its sender; the
	// requester is told nothing either way
	for _, r := range []string{"mallory@b.test", "eve@b.test"} {
		if err := e.hub.RemoteSubscription(ctx, r, "alice@a.test", SubSubscribe); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range rec.take() {
		if s, ok := ev.(SubscriptionEvent); ok && (s.View.To || s.View.From) {
			t.Fatalf("a requester was told %+v", s)
		}
	}
	var shown []string
	for _, ev := range alice.take() {
		if s, ok := ev.(SubscriptionEvent); ok && s.View.PendingIn {
			shown = append(shown, s.View.Address)
		}
	}
	if len(shown) != 1 || shown[0] != "mallory@b.test" {
		t.Fatalf("alice was shown requests from %v", shown)
	}
}

// TestRemoteContact: alice approves bob@b.test and bob's server approves
// alice: presence flows out to bob's server, bob's presence reaches alice
// only once his server approved her, and a block holds against him.
func TestRemoteContact(t *testing.T) {
	e, rec := fedEnv(t)
	alice := e.connect("alice@a.test", &Presence{Availability: Available, Status: "here"})
	alice.take()
	// bob's presence before any approval: not for alice
	if err := e.hub.RemotePresence(ctx, "bob@b.test/phone", "alice@a.test", &Presence{Availability: Available}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range alice.take() {
		if p, ok := ev.(PresenceEvent); ok && p.View.Address == "bob@b.test" {
			t.Fatalf("alice saw bob unapproved: %+v", p.View)
		}
	}
	// alice asks (a subscribe leaves), bob's server approves
	if err := e.hub.Subscribe(ctx, "alice@a.test", "bob@b.test"); err != nil {
		t.Fatal(err)
	}
	if !sentSubscription(rec.take(), func(v SubscriptionView) bool { return v.PendingIn }) {
		t.Fatal("no request for bob's server")
	}
	if err := e.hub.RemoteSubscription(ctx, "bob@b.test", "alice@a.test", SubSubscribed); err != nil {
		t.Fatal(err)
	}
	if err := e.hub.RemotePresence(ctx, "bob@b.test/phone", "alice@a.test", &Presence{Availability: Away, Status: "out"}); err != nil {
		t.Fatal(err)
	}
	if !sawPresence(alice.take(), "bob@b.test", Away) {
		t.Fatal("alice did not see bob after his server approved her")
	}
	// bob asks alice, she approves: her presence goes to his server
	if err := e.hub.RemoteSubscription(ctx, "bob@b.test", "alice@a.test", SubSubscribe); err != nil {
		t.Fatal(err)
	}
	rec.take()
	if err := e.hub.Approve(ctx, "alice@a.test", "bob@b.test"); err != nil {
		t.Fatal(err)
	}
	out := rec.take()
	if !sentSubscription(out, func(v SubscriptionView) bool { return v.To }) || !sawPresence(out, "alice@a.test", Available) {
		t.Fatalf("bob's server was not told of the approval and alice's presence: %+v", out)
	}
	if err := e.hub.RemoteProbe(ctx, "bob@b.test", "alice@a.test"); err != nil {
		t.Fatal(err)
	}
	if !sawPresence(rec.take(), "alice@a.test", Available) {
		t.Fatal("bob's probe unanswered")
	}
	// alice blocks bob: his server sees her go, then nothing, and his
	// message bounces as to nobody
	if err := e.hub.Block(ctx, "alice@a.test", "bob@b.test"); err != nil {
		t.Fatal(err)
	}
	if !sawPresence(rec.take(), "alice@a.test", Unavailable) {
		t.Fatal("the block did not withdraw alice's presence from bob")
	}
	if err := alice.s.SetPresence(Presence{Availability: Available, Status: "after"}); err != nil {
		t.Fatal(err)
	}
	if err := e.hub.RemoteProbe(ctx, "bob@b.test", "alice@a.test"); err != nil {
		t.Fatal(err)
	}
	if got := rec.take(); len(got) != 0 {
		t.Fatalf("bob's server got %+v after the block", got)
	}
	if _, err := e.hub.RemoteMessage(ctx, Message{Kind: KindMessage, From: "bob@b.test/phone", To: "alice@a.test", Body: "?"}); err == nil || err.Error() != errUnavailable.Error() {
		t.Fatalf("bob's message after the block: %v", err)
	}
	// his server unreachable: bob shown offline
	e.hub.RemoteDomainGone("b.test")
	if !sawPresence(alice.take(), "bob@b.test", Unavailable) || e.hub.RemoteOnline("b.test") {
		t.Fatal("bob still shown online with his server gone")
	}
}

func sentSubscription(evs []Event, ok func(SubscriptionView) bool) bool {
	for _, ev := range evs {
		if s, is := ev.(SubscriptionEvent); is && ok(s.View) {
			return true
		}
	}
	return false
}

func sawPresence(evs []Event, address string, a Availability) bool {
	for _, ev := range evs {
		if p, ok := ev.(PresenceEvent); ok && p.View.Address == address && p.View.Availability == a {
			return true
		}
	}
	return false
}
