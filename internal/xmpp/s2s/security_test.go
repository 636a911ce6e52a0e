package s2s_test

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/selfsigned"
	"github.com/presenced/presenced/internal/xmpp/s2s"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// rogue is a hand-driven server stream to a domain's listener.
type rogue struct {
	t  *testing.T
	nc net.Conn
	r  *xmlstream.Reader
	id string
}

func dialRogue(t *testing.T, d *domain) *rogue {
	t.Helper()
	nc, err := net.Dial("tcp", d.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(wait))
	t.Cleanup(func() { nc.Close() })
	return &rogue{t: t, nc: nc}
}

func (g *rogue) send(s string) {
	g.t.Helper()
	if _, err := g.nc.Write([]byte(s)); err != nil {
		g.t.Fatal(err)
	}
}

// open sends a header from→to and returns the features (or the stream
// error) that answer it.
func (g *rogue) open(from, to string) *xmlstream.Element {
	g.t.Helper()
	g.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='` +
		from + `' to='` + to + `' version='1.0'>`)
	g.r = xmlstream.NewReader(g.nc, xmlstream.DefaultLimits)
	st, err := g.r.Open()
	if err != nil {
		g.t.Fatal(err)
	}
	for _, a := range st.Attr {
		if a.Name.Local == "id" {
			g.id = a.Value
		}
	}
	return g.next()
}

func (g *rogue) next() *xmlstream.Element {
	g.t.Helper()
	el, err := g.r.Next()
	if err != nil {
		g.t.Fatalf("reading: %v", err)
	}
	return el
}

// secure runs STARTTLS and opens the stream again.
func (g *rogue) secure(from, to string) *xmlstream.Element {
	return g.secureWith(from, to, nil)
}

// secureWith is secure presenting certificate cert.
func (g *rogue) secureWith(from, to string, cert *tls.Certificate) *xmlstream.Element {
	g.t.Helper()
	if f := g.open(from, to); f.Child("urn:ietf:params:xml:ns:xmpp-tls", "starttls") == nil {
		g.t.Fatalf("no starttls offered: %s", f.String(""))
	}
	g.send(`<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	if el := g.next(); el.Name.Local != "proceed" {
		g.t.Fatalf("starttls answered %s", el.Name.Local)
	}
	cfg := &tls.Config{InsecureSkipVerify: true}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	tc := tls.Client(g.nc, cfg)
	if err := tc.Handshake(); err != nil {
		g.t.Fatal(err)
	}
	g.nc = tc
	return g.open(from, to)
}

// streamError expects a stream error with condition.
func (g *rogue) streamError(condition string) {
	g.t.Helper()
	for {
		el, err := g.r.Next()
		if err != nil {
			g.t.Fatalf("stream ended without the error %s: %v", condition, err)
		}
		if el.Name.Space == xmlstream.NSStream && el.Name.Local == "error" {
			if el.Child("urn:ietf:params:xml:ns:xmpp-streams", condition) == nil {
				g.t.Fatalf("stream error %s, want %s", el.String(""), condition)
			}
			return
		}
	}
}

// dialbackResult sends a db:result and returns the answer's type.
func (g *rogue) dialbackResult(from, to, key string) string {
	g.t.Helper()
	g.send(`<db:result from='` + from + `' to='` + to + `'>` + key + `</db:result>`)
	for {
		el := g.next()
		if el.Name.Space == "jabber:server:dialback" && el.Name.Local == "result" {
			return el.AttrValue("type")
		}
	}
}

// asA is a stream to b authenticated for a.test with the key a.test's own
// server gives (its authoritative server confirms it).
func asA(t *testing.T, b *domain) *rogue {
	t.Helper()
	g := dialRogue(t, b)
	g.secure("a.test", "b.test")
	if typ := g.dialbackResult("a.test", "b.test", s2s.Key([]byte("secret-a"), "b.test", "a.test", g.id)); typ != "valid" {
		t.Fatalf("a.test's own key was answered %q", typ)
	}
	return g
}

func TestStreamErrors(t *testing.T) {
	a, b := pair(t)
	_ = a
	t.Run("host-unknown", func(t *testing.T) {
		g := dialRogue(t, b)
		g.send(`<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' from='a.test' to='elsewhere.test' version='1.0'>`)
		g.r = xmlstream.NewReader(g.nc, xmlstream.DefaultLimits)
		if _, err := g.r.Open(); err != nil {
			t.Fatal(err)
		}
		g.streamError("host-unknown")
	})
	t.Run("invalid-namespace", func(t *testing.T) {
		g := dialRogue(t, b)
		g.send(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='a.test' to='b.test' version='1.0'>`)
		g.r = xmlstream.NewReader(g.nc, xmlstream.DefaultLimits)
		if _, err := g.r.Open(); err != nil {
			t.Fatal(err)
		}
		g.streamError("invalid-namespace")
	})
	t.Run("tls required", func(t *testing.T) {
		g := dialRogue(t, b)
		g.open("a.test", "b.test")
		g.send(`<message from='alice@a.test' to='bob@b.test'><body>x</body></message>`)
		g.streamError("policy-violation")
	})
	t.Run("unauthenticated stanza", func(t *testing.T) {
		g := dialRogue(t, b)
		g.secure("a.test", "b.test")
		g.send(`<message from='alice@a.test' to='bob@b.test'><body>x</body></message>`)
		g.streamError("invalid-from")
	})
	t.Run("dialback forgery", func(t *testing.T) {
		// a key not made with a.test's secret: b.test asks a.test, which
		// says invalid; the stream stays unauthenticated for a.test
		g := dialRogue(t, b)
		g.secure("a.test", "b.test")
		if typ := g.dialbackResult("a.test", "b.test", s2s.Key([]byte("guessed"), "b.test", "a.test", g.id)); typ != "invalid" {
			t.Fatalf("a forged key was answered %q", typ)
		}
		g.send(`<message from='alice@a.test' to='bob@b.test'><body>forged</body></message>`)
		g.streamError("invalid-from")
	})
	t.Run("spoofed from", func(t *testing.T) {
		// authenticated for a.test (the key a.test's own server would
		// give), the stream may not speak for c.test
		g := asA(t, b)
		g.send(`<presence from='carol@a.test/x' to='bob@b.test' type='probe'/>`)
		g.send(`<message from='mallory@c.test' to='bob@b.test'><body>spoofed</body></message>`)
		g.streamError("invalid-from")
	})
	t.Run("no to", func(t *testing.T) {
		// a stanza elsewhere on our side is refused alone; one with no
		// recipient ends the stream
		g := asA(t, b)
		g.send(`<message from='alice@a.test' to='room@conference.b.test' type='groupchat'><body>x</body></message>`)
		g.send(`<message from='alice@a.test'><body>x</body></message>`)
		g.streamError("improper-addressing")
	})
	t.Run("oversized stanza", func(t *testing.T) {
		g := asA(t, b)
		g.send(`<message from='alice@a.test' to='bob@b.test'><body>` + strings.Repeat("x", xmlstream.DefaultLimits.MaxStanza+1) + `</body></message>`)
		g.streamError("policy-violation")
	})
	t.Run("key for another stream", func(t *testing.T) {
		// a valid key of another stream ID is no key for this one
		g := dialRogue(t, b)
		g.secure("a.test", "b.test")
		if typ := g.dialbackResult("a.test", "b.test", s2s.Key([]byte("secret-a"), "b.test", "a.test", "other-id")); typ != "invalid" {
			t.Fatalf("a replayed key was answered %q", typ)
		}
	})
}

// TestDialbackSwitch: without s2s_dialback a server neither federates nor
// accepts dialback.
func TestDialbackSwitch(t *testing.T) {
	a, b := &domain{name: "a.test", ln: listen(t)}, &domain{name: "b.test", ln: listen(t)}
	routes := map[string]string{"a.test": a.ln.Addr().String(), "b.test": b.ln.Addr().String()}
	a.start(t, "secret-a", true, routes, "alice@a.test")
	b.start(t, "secret-b", false, routes, "bob@b.test")
	g := dialRogue(t, b)
	if f := g.secure("a.test", "b.test"); f.Child("urn:xmpp:features:dialback", "dialback") != nil {
		t.Fatal("dialback offered with the switch off")
	}
	if typ := g.dialbackResult("a.test", "b.test", s2s.Key([]byte("secret-a"), "b.test", "a.test", g.id)); typ != "error" {
		t.Fatalf("dialback with the switch off answered %q", typ)
	}
}

// TestKey checks XEP-0185's key generation against its own example
// (§ 3: secret "s3cr3tf0rd14lb4ck", receiving xmpp.example.com,
// originating example.org, stream ID D60000229F).
func TestKey(t *testing.T) {
	got := s2s.Key([]byte("s3cr3tf0rd14lb4ck"), "xmpp.example.com", "example.org", "D60000229F")
	const want = "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643"
	if got != want {
		t.Fatalf("key %s, want XEP-0185's %s", got, want)
	}
}

// TestExternalNeedsTheDomainsCertificate: a certificate the receiving
// server trusts, but for another domain, neither gets EXTERNAL offered nor
// authenticates the domain the stream claims.
func TestExternalNeedsTheDomainsCertificate(t *testing.T) {
	evil, _, err := selfsigned.ForTest("c.test")
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(evil.Certificate[0])
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	b := &domain{name: "b.test", ln: listen(t), tweak: func(c *s2s.Config) { c.RootCAs = roots }}
	b.start(t, "secret-b", false, nil, "bob@b.test")
	g := dialRogue(t, b)
	if f := g.secureWith("a.test", "b.test", &evil); f.Child("urn:ietf:params:xml:ns:xmpp-sasl", "mechanisms") != nil {
		t.Fatalf("EXTERNAL offered to a.test on c.test's certificate: %s", f.String(""))
	}
	g.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>`)
	if el := g.next(); el.Name.Local != "failure" || el.Child("urn:ietf:params:xml:ns:xmpp-sasl", "not-authorized") == nil {
		t.Fatalf("EXTERNAL for a.test on c.test's certificate answered %s", el.String(""))
	}
	g.send(`<message from='alice@a.test' to='bob@b.test'><body>x</body></message>`)
	g.streamError("invalid-from")

	// the same certificate does prove c.test
	g = dialRogue(t, b)
	if f := g.secureWith("c.test", "b.test", &evil); f.Child("urn:ietf:params:xml:ns:xmpp-sasl", "mechanisms") == nil {
		t.Fatalf("EXTERNAL not offered to c.test on its own certificate: %s", f.String(""))
	}
	g.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>` + "Yy50ZXN0" + `</auth>`)
	if el := g.next(); el.Name.Local != "success" {
		t.Fatalf("EXTERNAL for c.test answered %s", el.String(""))
	}
}
