package s2s_test

import (
	"net"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/s2s"
)

// TestDomainLists: an operator's s2s_block and s2s_allow hold both ways.
// b.test allows only a.test; a.test blocks c.test, whose static route
// leads to a listener that must never see a connection.
func TestDomainLists(t *testing.T) {
	trap := listen(t)
	a, b := &domain{name: "a.test", ln: listen(t)}, &domain{name: "b.test", ln: listen(t)}
	a.tweak = func(c *s2s.Config) { c.Block = []string{"C.test"} }
	b.tweak = func(c *s2s.Config) { c.Allow = []string{"a.test"} }
	routes := map[string]string{"a.test": a.ln.Addr().String(), "b.test": b.ln.Addr().String(), "c.test": trap.Addr().String()}
	a.start(t, "secret-a", true, routes, "alice@a.test")
	b.start(t, "secret-b", true, routes, "bob@b.test")

	// what is allowed federates
	alice := a.connect(t, "alice@a.test", &core.Presence{Availability: core.Available})
	bob := b.connect(t, "bob@b.test", &core.Presence{Availability: core.Available})
	befriend(t, a, b, alice, bob)

	// inbound: a stream from a blocked domain, or one not on the allow
	// list, ends with policy-violation (RFC 6120 § 4.9.3.12)
	for _, tc := range []struct {
		d    *domain
		from string
	}{{a, "c.test"}, {b, "c.test"}, {a, "C.TEST"}} {
		g := dialRogue(t, tc.d)
		if el := g.open(tc.from, tc.d.name); el.Name.Local != "error" || el.Child("urn:ietf:params:xml:ns:xmpp-streams", "policy-violation") == nil {
			t.Fatalf("stream from %s to %s answered %s", tc.from, tc.d.name, el.String(""))
		}
	}
	// a refused domain multiplexed on an allowed one's stream is refused
	// alone (and never asked: no verification stream is opened to it)
	g := asA(t, b)
	g.send(`<db:result from='c.test' to='b.test'>0123</db:result>`)
	for {
		el := g.next()
		if el.Name.Local != "result" {
			continue
		}
		if el.AttrValue("type") != "error" || el.Child("jabber:server", "error") == nil ||
			el.Child("jabber:server", "error").Child("urn:ietf:params:xml:ns:xmpp-stanzas", "forbidden") == nil {
			t.Fatalf("dialback for c.test answered %s", el.String(""))
		}
		break
	}
	g.send(`<message from='x@a.test/r' to='bob@b.test' type='chat'><body>still open</body></message>`)
	g.send(`<message from='dave@c.test' to='bob@b.test'><body>x</body></message>`)
	g.streamError("invalid-from")

	// outbound: alice's subscription to dave@c.test and, with an approval
	// c.test gave before the block, her message do not leave: the message
	// is refused at once, and no stream to c.test is asked for
	if err := a.hub.Subscribe(ctx, "alice@a.test", "dave@c.test"); err != nil {
		t.Fatal(err)
	}
	if err := a.hub.RemoteSubscription(ctx, "dave@c.test", "alice@a.test", core.SubSubscribed); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.s.Send(core.Message{Kind: core.KindMessage, To: "dave@c.test", Body: "hi"}); core.CodeOf(err) != core.CodeUnavailable {
		t.Fatalf("message to a blocked domain: %v", err)
	}
	if a.fed.HasPeer("c.test") {
		t.Fatal("a stream to the blocked c.test was asked for")
	}
	// the stanza a.test would send first went nowhere either
	trap.(*net.TCPListener).SetDeadline(time.Now())
	if nc, err := trap.Accept(); err == nil {
		nc.Close()
		t.Fatal("a.test connected to the blocked c.test")
	}
}
