package s2s_test

import (
	"crypto/tls"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/selfsigned"
	"github.com/presenced/presenced/internal/xmpp/s2s"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// countingListener counts the connections it accepted.
type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// TestBidirectional (XEP-0288): a.test opens the one stream, b.test
// offers bidi and a.test asks for it, so everything b.test sends to a.test
// goes back on that stream: b.test never opens one of its own. With
// certificates (SASL EXTERNAL) a.test's listener accepts no connection at
// all; with dialback it accepts only b.test's verification streams.
func TestBidirectional(t *testing.T) {
	for _, mech := range []string{"EXTERNAL", "dialback"} {
		t.Run(mech, func(t *testing.T) {
			lnA, lnB := &countingListener{Listener: listen(t)}, &countingListener{Listener: listen(t)}
			a, b := &domain{name: "a.test", ln: lnA}, &domain{name: "b.test", ln: lnB}
			var logA, logB syncBuffer
			ca := s2s.NewTestCA(t)
			for _, d := range []struct {
				*domain
				log *syncBuffer
			}{{a, &logA}, {b, &logB}} {
				if mech == "EXTERNAL" {
					cert, _, _ := ca.Issue(t, s2s.Identities{CommonName: d.name, DNS: []string{d.name}})
					d.cert = &cert
				}
				log := slog.New(slog.NewTextHandler(d.log, nil))
				d.tweak = func(c *s2s.Config) {
					if mech == "EXTERNAL" {
						c.RootCAs = ca.Pool()
					}
					c.Log = log
				}
			}
			routes := map[string]string{"a.test": lnA.Addr().String(), "b.test": lnB.Addr().String()}
			a.start(t, "secret-a", mech == "dialback", routes, "alice@a.test")
			b.start(t, "secret-b", mech == "dialback", routes, "bob@b.test")
			alice := a.connect(t, "alice@a.test", &core.Presence{Availability: core.Available})
			bob := b.connect(t, "bob@b.test", &core.Presence{Availability: core.Available})
			befriend(t, a, b, alice, bob)
			if _, err := bob.s.Send(core.Message{Kind: core.KindMessage, To: "alice@a.test", Body: "one stream"}); err != nil {
				t.Fatal(err)
			}
			alice.await("bob's message", message("bob@b.test/", "one stream"))
			if err := bob.s.SetPresence(core.Presence{Availability: core.DND, Status: "busy"}); err != nil {
				t.Fatal(err)
			}
			alice.await("bob busy", presenceOf("bob@b.test", core.DND, "busy"))

			if want := `msg="s2s: outbound stream authenticated" domain=b.test mechanism=` + mech + " bidi=true"; !strings.Contains(logA.String(), want) {
				t.Errorf("a.test's log lacks %q:\n%s", want, logA.String())
			}
			if want := `msg="s2s: bidirectional stream" domain=a.test`; !strings.Contains(logB.String(), want) {
				t.Errorf("b.test's log lacks %q:\n%s", want, logB.String())
			}
			if strings.Contains(logB.String(), "outbound stream authenticated") {
				t.Errorf("b.test opened a stream of its own:\n%s", logB.String())
			}
			if n := lnB.n.Load(); n != 1 {
				t.Errorf("b.test accepted %d connections, want a.test's one", n)
			}
			if n := lnA.n.Load(); mech == "EXTERNAL" && n != 0 {
				t.Errorf("a.test accepted %d connections, want none", n)
			}
		})
	}
}

// TestBidiFromOtherDomain: on a bidirectional stream a.test opened to
// b.test (here a hand-driven b.test that answers dialback itself), a.test
// takes what b.test sends back, as a ping it answers on the same stream,
// and ends the stream with invalid-from at a stanza from another domain.
func TestBidiFromOtherDomain(t *testing.T) {
	fake := listen(t)
	a := &domain{name: "a.test", ln: listen(t)}
	a.start(t, "secret-a", true, map[string]string{"b.test": fake.Addr().String()}, "alice@a.test")
	if err := a.hub.Subscribe(ctx, "alice@a.test", "bob@b.test"); err != nil { // a.test opens its stream
		t.Fatal(err)
	}
	nc, err := fake.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(wait))
	g := &rogue{t: t, nc: nc}
	g.answer(`<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`)
	if el := g.next(); el.Name.Local != "starttls" {
		t.Fatalf("a.test sent %s, not starttls", el.Name.Local)
	}
	g.send(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	cert, _, err := selfsigned.ForTest("b.test")
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Server(nc, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	g.nc = tc
	g.answer(`<stream:features><bidi xmlns='urn:xmpp:features:bidi'/><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>`)
	if el := g.next(); el.Name.Space != "urn:xmpp:bidi" || el.Name.Local != "bidi" {
		t.Fatalf("a.test did not ask for bidi first: %s", el.String(""))
	}
	if el := g.next(); el.Name.Local != "result" || el.AttrValue("from") != "a.test" {
		t.Fatalf("a.test sent %s, not its dialback request", el.String(""))
	}
	g.send(`<db:result from='b.test' to='a.test' type='valid'/>`)
	g.send(`<iq type='get' id='bidi-ping' from='b.test' to='a.test'><ping xmlns='urn:xmpp:ping'/></iq>`)
	for {
		el := g.next()
		if el.Name.Local == "iq" && el.AttrValue("id") == "bidi-ping" {
			if el.AttrValue("type") != "result" || el.AttrValue("to") != "b.test" {
				t.Fatalf("ping answered %s", el.String(""))
			}
			break
		}
	}
	g.send(`<message from='mallory@evil.test' to='alice@a.test'><body>spoofed</body></message>`)
	g.streamError("invalid-from")
}

// answer reads the peer's stream header and answers with b.test's header
// and features.
func (g *rogue) answer(features string) {
	g.t.Helper()
	g.r = xmlstream.NewReader(g.nc, xmlstream.DefaultLimits)
	if _, err := g.r.Open(); err != nil {
		g.t.Fatal(err)
	}
	g.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='b.test' to='a.test' id='fake-b' version='1.0'>` + features)
}
