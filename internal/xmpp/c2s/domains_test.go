package c2s

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	msasl "mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/presenced/presenced/internal/clock"
)

// TestSeveralDomains: a server hosting localhost and b.test takes the
// stream's domain from its header: bob signs in on b.test (the
// certificate names both), his stream is answered from b.test, SASL
// finds bob@b.test, and the server's address, its rooms service and the
// replies follow the stream's domain. A stream to a domain not served,
// or restarted towards another served domain, ends with host-unknown.
func TestSeveralDomains(t *testing.T) {
	r := startDomains(t, true, clock.Real{}, nil, []string{"localhost", "b.test"})
	ctx := context.Background()
	if _, err := r.auth.CreateAccount(ctx, "bob@b.test", "bob-password"); err != nil {
		t.Fatal(err)
	}

	t.Run("mellium over STARTTLS", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		conn, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		s, err := xmpp.NewClientSession(cctx, jid.MustParse("bob@b.test/phone"), conn,
			xmpp.StartTLS(&tls.Config{ServerName: "b.test", RootCAs: r.roots}),
			xmpp.SASL("", "bob-password", msasl.ScramSha256Plus, msasl.Plain), xmpp.BindResource())
		if err != nil {
			t.Fatalf("bob on b.test: %v", err)
		}
		if a := s.LocalAddr(); a.Bare().String() != "bob@b.test" {
			t.Fatalf("bound %s", a)
		}
		if a := s.RemoteAddr(); a.String() != "b.test" {
			t.Fatalf("the server answered as %s", a)
		}
	})

	t.Run("the stream's domain", func(t *testing.T) {
		x := r.signInOn(t, "bob", "b.test")
		x.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>desk</resource></bind></iq>`)
		if j := x.expect("iq").String(""); !strings.Contains(j, "bob@b.test/desk") {
			t.Fatalf("bind: %s", j)
		}
		x.send(`<iq type='get' id='d1' to='b.test'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
		items := x.expect("iq")
		if items.AttrValue("from") != "b.test" || !strings.Contains(items.String(""), "conference.b.test") || strings.Contains(items.String(""), "conference.localhost") {
			t.Fatalf("disco#items of b.test: %s", items.String(""))
		}
		x.send(`<iq type='get' id='p1' to='b.test'><ping xmlns='urn:xmpp:ping'/></iq>`)
		if pong := x.expect("iq"); pong.AttrValue("type") != "result" || pong.AttrValue("from") != "b.test" {
			t.Fatalf("ping b.test: %s", pong.String(""))
		}
	})

	t.Run("alice is not on b.test", func(t *testing.T) {
		conn, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if _, err := xmpp.NewClientSession(cctx, jid.MustParse("alice@b.test/phone"), conn,
			xmpp.StartTLS(&tls.Config{ServerName: "b.test", RootCAs: r.roots}),
			xmpp.SASL("", "alice-password", msasl.ScramSha256), xmpp.BindResource()); err == nil {
			t.Fatal("alice@localhost's password signed in alice@b.test")
		}
	})

	t.Run("host-unknown", func(t *testing.T) {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Minute))
		io.WriteString(c, `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='c.test' version='1.0'>`)
		got, _ := io.ReadAll(c)
		if !strings.Contains(string(got), "<host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>") {
			t.Fatalf("a stream to c.test: %s", got)
		}
	})

	t.Run("a restart keeps the domain", func(t *testing.T) {
		x := r.authenticate(t, "bob", "b.test")
		x.send(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`)
		got, _ := io.ReadAll(x.conn)
		if !strings.Contains(string(got), "<host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>") {
			t.Fatalf("a restart towards localhost: %s", got)
		}
	})

	t.Run("BOSH", func(t *testing.T) {
		hs := httptest.NewServer(http.HandlerFunc(r.srv.ServeBOSH))
		defer hs.Close()
		b := &boshClient{t: t, url: hs.URL, rid: 2000}
		if body, raw := b.post(`to='b.test' wait='5' hold='1' ver='1.6' xmpp:version='1.0'`, ""); body.AttrValue("from") != "b.test" || body.AttrValue("sid") == "" {
			t.Fatalf("BOSH session on b.test: %s", raw)
		}
		b = &boshClient{t: t, url: hs.URL, rid: 3000}
		if body, raw := b.post(`to='c.test' wait='5' hold='1' ver='1.6' xmpp:version='1.0'`, ""); body.AttrValue("condition") != "host-unknown" {
			t.Fatalf("BOSH session on c.test: %s", raw)
		}
	})
}
