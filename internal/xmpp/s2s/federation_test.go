package s2s_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/selfsigned"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
	"github.com/presenced/presenced/internal/xmpp/s2s"
)

var ctx = context.Background()

// wait bounds how long a test waits for something that must happen; it is
// never the measure of something that must not.
const wait = 60 * time.Second

// domain is one presenced deployment: a hub with its own store, and its
// federation listening on loopback.
type domain struct {
	name string
	hub  *core.Hub
	fed  *s2s.Server
	ln   net.Listener
	st   store.Store
	// tlsLn, if set, also serves streams that start with TLS (XEP-0368);
	// tweak changes the federation's configuration.
	tlsLn net.Listener
	tweak func(*s2s.Config)
	cert  *tls.Certificate // nil: a self-signed one is made
	also  []string         // more domains served besides name
	// wrap, if set, wraps the router the hub routes through.
	wrap func(core.Router) core.Router
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// start builds the domain with static routes to its peers and serves it.
func (d *domain) start(t *testing.T, secret string, dialback bool, routes map[string]string, accounts ...string) {
	t.Helper()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), d.name+".db"))
	if err != nil {
		t.Fatal(err)
	}
	d.st = st
	for _, a := range accounts {
		if err := st.CreateAccount(ctx, store.Account{Address: a, PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if d.cert == nil {
		cert, _, err := selfsigned.ForTest(d.name, d.also...)
		if err != nil {
			t.Fatal(err)
		}
		d.cert = &cert
	}
	cert := *d.cert
	log := slog.New(slog.DiscardHandler)
	cfg := s2s.Config{Domain: d.name, Domains: d.also, TLS: &tls.Config{Certificates: []tls.Certificate{cert}}, Secret: []byte(secret),
		Dialback: dialback, Routes: routes, Log: log}
	if d.tweak != nil {
		d.tweak(&cfg)
	}
	d.fed = s2s.New(cfg, nil)
	rt := d.fed.Router()
	if d.wrap != nil {
		rt = d.wrap(rt)
	}
	d.hub = core.New(core.Config{Domain: d.name, Domains: d.also, Grace: time.Second}, st, clock.Real{}, rt, log)
	d.fed.SetLocal(d.hub.LocalRouter())
	d.fed.SetCore(d.hub)
	go d.fed.Serve(d.ln)
	if d.tlsLn != nil {
		go d.fed.ServeDirectTLS(d.tlsLn)
	}
	t.Cleanup(func() {
		d.fed.Close()
		st.Close()
	})
}

// pair starts a.test and b.test, federating with dialback over
// self-signed certificates.
func pair(t *testing.T) (a, b *domain) {
	a, b = &domain{name: "a.test", ln: listen(t)}, &domain{name: "b.test", ln: listen(t)}
	routes := map[string]string{"a.test": a.ln.Addr().String(), "b.test": b.ln.Addr().String()}
	a.start(t, "secret-a", true, routes, "alice@a.test", "carol@a.test")
	b.start(t, "secret-b", true, routes, "bob@b.test", "mallory@b.test")
	return a, b
}

// client is a session whose events the test reads as a transport would.
type client struct {
	t    *testing.T
	s    *core.Session
	wake chan struct{}
	mu   sync.Mutex
	seen []core.Event
}

func (c *client) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}
func (c *client) Close(core.Goaway) {}

func (d *domain) connect(t *testing.T, account string, p *core.Presence) *client {
	t.Helper()
	c := &client{t: t, wake: make(chan struct{}, 1)}
	s, err := d.hub.Connect(ctx, account, core.SessionOptions{Device: "t", Presence: p, Payloads: true}, c)
	if err != nil {
		t.Fatal(err)
	}
	c.s = s
	return c
}

// await returns the first event (since the last await) for which ok holds.
func (c *client) await(what string, ok func(core.Event) bool) core.Event {
	c.t.Helper()
	deadline := time.After(wait)
	for {
		for _, d := range c.s.Pull(c, 1<<20) {
			c.seen = append(c.seen, d.Event)
		}
		for i, ev := range c.seen {
			if ok(ev) {
				c.seen = c.seen[i+1:]
				return ev
			}
		}
		select {
		case <-c.wake:
		case <-deadline:
			c.t.Fatalf("%s: not seen in %v; saw %#v", what, wait, c.seen)
		}
	}
}

// drain returns what arrived until now, without waiting.
func (c *client) drain() []core.Event {
	for _, d := range c.s.Pull(c, 1<<20) {
		c.seen = append(c.seen, d.Event)
	}
	out := c.seen
	c.seen = nil
	return out
}

func presenceOf(addr string, avail core.Availability, status string) func(core.Event) bool {
	return func(ev core.Event) bool {
		p, ok := ev.(core.PresenceEvent)
		return ok && p.View.Address == addr && p.View.Availability == avail && (status == "" || p.View.Status == status)
	}
}

func subscription(addr string, check func(core.SubscriptionView) bool) func(core.Event) bool {
	return func(ev core.Event) bool {
		s, ok := ev.(core.SubscriptionEvent)
		return ok && s.View.Address == addr && check(s.View)
	}
}

func message(from, body string) func(core.Event) bool {
	return func(ev core.Event) bool {
		m, ok := ev.(core.MessageEvent)
		return ok && strings.HasPrefix(m.Message.From, from) && m.Message.Body == body
	}
}

func errorFrom(from string) func(core.Event) bool {
	return func(ev core.Event) bool {
		m, ok := ev.(core.MessageEvent)
		return ok && strings.HasPrefix(m.Message.From, from) && m.Message.Type == core.TypeError &&
			strings.Contains(m.Message.Payload, "service-unavailable")
	}
}

// TestFederation: alice@a.test and bob@b.test, on two servers federating
// over TCP, STARTTLS and dialback, subscribe to each other, see each
// other's presence come and go, and exchange messages.
func TestFederation(t *testing.T) {
	a, b := pair(t)
	avail := &core.Presence{Availability: core.Available, Status: "here"}
	alice := a.connect(t, "alice@a.test", avail)
	bob := b.connect(t, "bob@b.test", avail)

	// alice asks; bob sees the request, approves, and asks back
	if err := a.hub.Subscribe(ctx, "alice@a.test", "bob@b.test"); err != nil {
		t.Fatal(err)
	}
	bob.await("alice's request", subscription("alice@a.test", func(v core.SubscriptionView) bool { return v.PendingIn }))
	if err := b.hub.Approve(ctx, "bob@b.test", "alice@a.test"); err != nil {
		t.Fatal(err)
	}
	alice.await("bob's approval", subscription("bob@b.test", func(v core.SubscriptionView) bool { return v.To }))
	alice.await("bob's presence", presenceOf("bob@b.test", core.Available, "here"))
	if err := b.hub.Subscribe(ctx, "bob@b.test", "alice@a.test"); err != nil {
		t.Fatal(err)
	}
	alice.await("bob's request", subscription("bob@b.test", func(v core.SubscriptionView) bool { return v.PendingIn }))
	if err := a.hub.Approve(ctx, "alice@a.test", "bob@b.test"); err != nil {
		t.Fatal(err)
	}
	bob.await("alice's approval", subscription("alice@a.test", func(v core.SubscriptionView) bool { return v.To && v.From }))
	bob.await("alice's presence", presenceOf("alice@a.test", core.Available, "here"))

	// presence changes and departures cross
	if err := alice.s.SetPresence(core.Presence{Availability: core.Away, Status: "lunch"}); err != nil {
		t.Fatal(err)
	}
	bob.await("alice away", presenceOf("alice@a.test", core.Away, "lunch"))
	bob.s.Close()
	alice.await("bob gone", presenceOf("bob@b.test", core.Unavailable, ""))
	bob = b.connect(t, "bob@b.test", &core.Presence{Availability: core.DND, Status: "busy"})
	alice.await("bob back", presenceOf("bob@b.test", core.DND, "busy"))

	// messages both ways
	if _, err := alice.s.Send(core.Message{Kind: core.KindMessage, To: "bob@b.test", Body: "hello bob"}); err != nil {
		t.Fatal(err)
	}
	bob.await("alice's message", message("alice@a.test/", "hello bob"))
	if _, err := bob.s.Send(core.Message{Kind: core.KindMessage, To: alice.s.Address(), Body: "hi alice"}); err != nil {
		t.Fatal(err)
	}
	alice.await("bob's message", message("bob@b.test/", "hi alice"))

	// a new session of bob's asks for alice's presence (a probe) and gets it
	bob2 := b.connect(t, "bob@b.test", nil)
	bob2.drain()
	if err := bob2.s.SetPresence(core.Presence{Availability: core.Available}); err != nil {
		t.Fatal(err)
	}
	a.hub.Metrics() // (nothing to do: alice's presence is already known at b.test)
	if err := bob2.s.Probe(ctx, nil); err != nil {
		t.Fatal(err)
	}
	bob2.await("alice's presence on probe", presenceOf("alice@a.test", core.Away, "lunch"))
}

// TestFederationPrivacy: the policy is applied at the subject's server. A
// block at alice's side holds against bob@b.test; a remote stranger gets
// the same answers as a local one.
func TestFederationPrivacy(t *testing.T) {
	a, b := pair(t)
	avail := &core.Presence{Availability: core.Available, Status: "here"}
	alice := a.connect(t, "alice@a.test", avail)
	carol := a.connect(t, "carol@a.test", avail)
	bob := b.connect(t, "bob@b.test", avail)
	mallory := b.connect(t, "mallory@b.test", avail)

	// bob sees alice and carol (both approve him)
	for _, who := range []string{"alice@a.test", "carol@a.test"} {
		if err := b.hub.Subscribe(ctx, "bob@b.test", who); err != nil {
			t.Fatal(err)
		}
		if err := a.hub.Approve(ctx, strings.Split(who, "/")[0], "bob@b.test"); err != nil {
			t.Fatal(err)
		}
		bob.await(who+"'s presence", presenceOf(who, core.Available, "here"))
	}

	// alice blocks bob: he sees her go, as if she signed out, and nothing
	// of her later; carol's change after hers shows that it was sent
	if err := a.hub.Block(ctx, "alice@a.test", "bob@b.test"); err != nil {
		t.Fatal(err)
	}
	bob.await("alice absent", presenceOf("alice@a.test", core.Unavailable, ""))
	if err := alice.s.SetPresence(core.Presence{Availability: core.Available, Status: "secret"}); err != nil {
		t.Fatal(err)
	}
	if err := carol.s.SetPresence(core.Presence{Availability: core.Available, Status: "barrier"}); err != nil {
		t.Fatal(err)
	}
	bob.await("carol's change", presenceOf("carol@a.test", core.Available, "barrier"))
	for _, ev := range bob.drain() {
		if p, ok := ev.(core.PresenceEvent); ok && p.View.Address == "alice@a.test" {
			t.Fatalf("bob saw alice after her block: %+v", p.View)
		}
	}
	// bob's server still holds alice's approval (a block is silent), so
	// his message leaves; alice's server refuses it, with the error a
	// message to nobody gets, and alice sees nothing of it
	if _, err := bob.s.Send(core.Message{Kind: core.KindMessage, To: "alice@a.test", Body: "?"}); err != nil {
		t.Fatalf("bob to alice: %v", err)
	}
	bob.await("the bounce of bob's message", errorFrom("alice@a.test"))
	if _, err := bob.s.Send(core.Message{Kind: core.KindMessage, To: "carol@a.test", Body: "barrier 1"}); err != nil {
		t.Fatal(err)
	}
	carol.await("bob's message to carol", message("bob@b.test/", "barrier 1"))
	for _, ev := range alice.drain() {
		if m, ok := ev.(core.MessageEvent); ok {
			t.Fatalf("alice got a message from whom she blocks: %+v", m)
		}
	}

	// mallory, a stranger, messages alice, carol and nobody@a.test: the
	// three bounces are alike, as for a local stranger; alice sees nothing
	for _, to := range []string{"alice@a.test", "nobody@a.test", "carol@a.test/t-123456"} {
		if err := mallory.s.SetPresence(core.Presence{Availability: core.Available}); err != nil {
			t.Fatal(err)
		}
		// mallory may not message those who did not approve her: the
		// local rule refuses it before it leaves (a mirror of no approval)
		if _, err := mallory.s.Send(core.Message{Kind: core.KindMessage, To: to, Body: "buy"}); core.CodeOf(err) != core.CodeUnavailable {
			t.Fatalf("mallory to %s: %v", to, err)
		}
	}
	// mallory's subscription request to alice: pending, as to anybody
	if err := b.hub.Subscribe(ctx, "mallory@b.test", "alice@a.test"); err != nil {
		t.Fatal(err)
	}
	alice.await("mallory's request", subscription("mallory@b.test", func(v core.SubscriptionView) bool { return v.PendingIn }))
	if err := a.hub.Deny(ctx, "alice@a.test", "mallory@b.test"); err != nil {
		t.Fatal(err)
	}
	// the refusal is silent: carol's next change reaches bob, yet mallory
	// still sees her request pending and was told nothing
	if err := carol.s.SetPresence(core.Presence{Availability: core.Away, Status: "barrier 2"}); err != nil {
		t.Fatal(err)
	}
	bob.await("carol's second change", presenceOf("carol@a.test", core.Away, "barrier 2"))
	for _, ev := range mallory.drain() {
		if s, ok := ev.(core.SubscriptionEvent); ok && s.View.Address == "alice@a.test" && !s.View.PendingOut {
			t.Fatalf("mallory learned of the refusal: %+v", s.View)
		}
		if p, ok := ev.(core.PresenceEvent); ok && p.View.Address == "alice@a.test" {
			t.Fatalf("mallory saw alice: %+v", p.View)
		}
	}
	v, err := b.hub.Subscription(ctx, "mallory@b.test", "alice@a.test")
	if err != nil || !v.PendingOut || v.To {
		t.Fatalf("mallory's view of alice: %+v %v", v, err)
	}
}

// TestDiscoveryAndDirectTLS: a.test has no route to b.test; DNS names
// b.test's direct TLS port (an _xmpps-server._tcp record, XEP-0368) on
// loopback, which the operator's switch allows; alice and bob federate.
func TestDiscoveryAndDirectTLS(t *testing.T) {
	a := &domain{name: "a.test", ln: listen(t)}
	b := &domain{name: "b.test", ln: listen(t), tlsLn: listen(t)}
	_, port, _ := net.SplitHostPort(b.tlsLn.Addr().String())
	p, _ := strconv.Atoi(port)
	resolver := s2s.FakeDNS{SRV: map[string][]*net.SRV{"_xmpps-server._tcp.b.test": {{Target: "xmpp.b.test.", Port: uint16(p)}}},
		Hosts: map[string][]string{"xmpp.b.test": {"127.0.0.1"}}}
	a.tweak = func(c *s2s.Config) { c.Resolver, c.AllowPrivate = resolver, true }
	a.start(t, "secret-a", true, nil, "alice@a.test")
	b.start(t, "secret-b", true, map[string]string{"a.test": a.ln.Addr().String()}, "bob@b.test")
	alice := a.connect(t, "alice@a.test", &core.Presence{Availability: core.Available})
	bob := b.connect(t, "bob@b.test", &core.Presence{Availability: core.Available})
	aliceSeesBob(t, a, b, alice, bob)
	if _, err := alice.s.Send(core.Message{Kind: core.KindMessage, To: "bob@b.test", Body: "over direct TLS"}); err != nil {
		t.Fatal(err)
	}
	bob.await("alice's message", message("alice@a.test/", "over direct TLS"))
}

// TestSASLExternal: with certificates each side trusts and dialback off
// on both, two domains federate by certificate (XEP-0178).
func TestSASLExternal(t *testing.T) {
	a, b := &domain{name: "a.test", ln: listen(t)}, &domain{name: "b.test", ln: listen(t)}
	roots := x509.NewCertPool()
	for _, d := range []*domain{a, b} {
		cert, _, err := selfsigned.ForTest(d.name)
		if err != nil {
			t.Fatal(err)
		}
		d.cert = &cert
		leaf, _ := x509.ParseCertificate(cert.Certificate[0])
		roots.AddCert(leaf)
		d.tweak = func(c *s2s.Config) { c.RootCAs = roots }
	}
	routes := map[string]string{"a.test": a.ln.Addr().String(), "b.test": b.ln.Addr().String()}
	a.start(t, "secret-a", false, routes, "alice@a.test")
	b.start(t, "secret-b", false, routes, "bob@b.test")
	alice := a.connect(t, "alice@a.test", &core.Presence{Availability: core.Available})
	bob := b.connect(t, "bob@b.test", &core.Presence{Availability: core.Available})
	aliceSeesBob(t, a, b, alice, bob)
}

// aliceSeesBob: alice@a.test asks, bob@b.test approves, alice sees him.
func aliceSeesBob(t *testing.T, a, b *domain, alice, bob *client) {
	t.Helper()
	sees(t, a, "alice@a.test", alice, b, "bob@b.test", bob)
}

// sees: viewer (of domain vd, with a session vc) asks subject (of sd,
// with a session sc), the subject approves, and the viewer sees it.
func sees(t *testing.T, vd *domain, viewer string, vc *client, sd *domain, subject string, sc *client) {
	t.Helper()
	if err := vd.hub.Subscribe(ctx, viewer, subject); err != nil {
		t.Fatal(err)
	}
	sc.await(viewer+"'s request", subscription(viewer, func(v core.SubscriptionView) bool { return v.PendingIn }))
	if err := sd.hub.Approve(ctx, subject, viewer); err != nil {
		t.Fatal(err)
	}
	vc.await(subject+"'s presence", presenceOf(subject, core.Available, ""))
}

// befriend makes alice@a.test and bob@b.test see each other.
func befriend(t *testing.T, a, b *domain, alice, bob *client) {
	t.Helper()
	sees(t, a, "alice@a.test", alice, b, "bob@b.test", bob)
	sees(t, b, "bob@b.test", bob, a, "alice@a.test", alice)
}

// friends starts a pair of domains where alice@a.test and bob@b.test,
// both online, see each other.
func friends(t *testing.T) (a, b *domain, alice, bob *client) {
	t.Helper()
	a, b = pair(t)
	alice = a.connect(t, "alice@a.test", &core.Presence{Availability: core.Available})
	bob = b.connect(t, "bob@b.test", &core.Presence{Availability: core.Available})
	befriend(t, a, b, alice, bob)
	return a, b, alice, bob
}

// TestRemoteServerGone: when b.test's server goes away without a word to
// its contacts (its listener and streams gone at once, as a killed
// process's), alice sees bob offline: a.test notices its stream end, cannot
// reconnect, and tells the core the domain is gone.
func TestRemoteServerGone(t *testing.T) {
	a, b, alice, _ := friends(t)
	b.fed.Close()
	alice.await("bob shown offline", presenceOf("bob@b.test", core.Unavailable, ""))
	if a.hub.RemoteOnline("b.test") {
		t.Fatal("b.test still has accounts shown online")
	}
}
