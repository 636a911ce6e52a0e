package server

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	msasl "mellium.im/sasl"
	"mellium.im/xmpp"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/config"
)

// federated starts a.test and b.test, each with an s2s listener and a
// static route to the other, federating with dialback over their
// generated self-signed certificates.
func federated(t *testing.T) (a, b *testServer) {
	t.Helper()
	return federatedWith(t, false)
}

// federatedWith is federated; with rooms, a.test has an XMPP listener too
// and each routes to the other's rooms service as well.
func federatedWith(t *testing.T, rooms bool) (a, b *testServer) {
	t.Helper()
	aS2S, bS2S := freeAddr(t), freeAddr(t)
	routes := map[string]string{"a.test": aS2S, "b.test": bS2S}
	if rooms {
		routes["conference.a.test"], routes["conference.b.test"] = aS2S, bS2S
	}
	a = startServer(t, func(c *config.Config) {
		c.Domain, c.S2SAddr, c.S2SRoutes, c.S2SDialback = "a.test", aS2S, routes, true
		if rooms {
			c.XMPPAddr = "127.0.0.1:0"
		}
	})
	b = startServer(t, func(c *config.Config) {
		c.Domain, c.S2SAddr, c.S2SRoutes, c.S2SDialback, c.XMPPAddr = "b.test", bS2S, routes, true, "127.0.0.1:0"
	})
	waitReady(t, a)
	waitReady(t, b)
	return a, b
}

// account creates address on ts and returns a client with its token.
func (ts *testServer) account(t *testing.T, address string) *client.Client {
	t.Helper()
	local, _, _ := strings.Cut(address, "@")
	_, err := ts.Auth.CreateAccount(context.Background(), address, "password-"+local)
	must(t, err)
	secret, _, err := ts.Auth.IssueToken(context.Background(), address, "test")
	must(t, err)
	return client.New(ts.URL, secret)
}

// xmppFederated signs address in on ts's XMPP listener (its domain's
// generated certificate trusted) and collects its stanzas.
func xmppFederated(t *testing.T, ts *testServer, address string) (*xmpp.Session, chan stanza) {
	t.Helper()
	local, _, _ := strings.Cut(address, "@")
	return xmppClientWith(t, ts, address, xmpp.SASL("", "password-"+local, msasl.ScramSha256))
}

// TestFederationJSONAndXMPP: a JSON-protocol user on a.test and an XMPP
// client on b.test, on two presenced servers federating over s2s,
// subscribe to each other, see presence and status changes, and exchange
// messages; a block on a.test holds against the remote XMPP user.
func TestFederationJSONAndXMPP(t *testing.T) {
	a, b := federated(t)
	alice := a.account(t, "alice@a.test")
	b.account(t, "bob@b.test")
	jsonMeetsXMPP(t, a, b, alice)
}

// jsonMeetsXMPP: alice@a.test (served by a, signed in as alice) on the
// JSON protocol and bob@b.test (an account on b) with an XMPP client
// subscribe to each other, see presence and status changes, exchange
// messages, and alice's block holds against bob. a and b are two
// federating servers, or one serving both domains.
func jsonMeetsXMPP(t *testing.T, a, b *testServer, alice *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	aws, err := alice.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available", Status: "on a"}})
	must(t, err)
	bx, in := xmppFederated(t, b, "bob@b.test/laptop")
	must(t, bx.Send(ctx, stanza2IQ(`<presence><status>on b</status></presence>`)))

	// bob asks to see alice (an XMPP subscription to a remote contact),
	// she approves; she asks back, his client approves
	p, f := befriendAcross(t, ctx, alice, aws, "alice@a.test", bx, in, "bob@b.test")
	if p.Status != "on a" {
		t.Fatalf("bob sees alice as %+v", p)
	}
	if f.Status != "on b" {
		t.Fatalf("alice sees bob as %s", f.Raw)
	}

	// status changes both ways
	must(t, aws.SetPresence(ctx, client.Presence{Availability: "away", Status: "lunch"}))
	waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && strings.HasPrefix(s.From, "alice@a.test/") && s.Show == "away" && s.Status == "lunch"
	})
	must(t, bx.Send(ctx, stanza2IQ(`<presence><show>dnd</show><status>meeting</status></presence>`)))
	_, err = aws.WaitFor(ctx, func(f client.Frame) bool {
		return f.Type == "presence" && f.Address == "bob@b.test" && f.Availability == "dnd" && f.Status == "meeting"
	})
	must(t, err)

	// messages both ways
	_, err = aws.Message(ctx, "bob@b.test", "hello from a")
	must(t, err)
	m := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.Body == "hello from a" })
	if !strings.HasPrefix(m.From, "alice@a.test/") {
		t.Fatalf("bob got %+v", m)
	}
	must(t, bx.Send(ctx, stanza2IQ(`<message to='alice@a.test' type='chat'><body>hello from b</body></message>`)))
	_, err = aws.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "message" && f.Body == "hello from b" })
	must(t, err)

	// bob's client asks about alice at her bare address: her server
	// answers for her, as to a local contact (XEP-0012, XEP-0030)
	must(t, bx.Send(ctx, stanza2IQ(`<iq to='alice@a.test' type='get' id='q1'><query xmlns='jabber:iq:last'/></iq>`)))
	q := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "iq" && s.ID == "q1" })
	if q.Type != "result" || q.From != "alice@a.test" || !strings.Contains(q.Inner, `seconds=`) {
		t.Fatalf("alice's last activity: %+v", q)
	}
	must(t, bx.Send(ctx, stanza2IQ(`<iq to='alice@a.test' type='get' id='q2'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)))
	q = waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "iq" && s.ID == "q2" })
	if q.Type != "result" || !strings.Contains(q.Inner, "registered") {
		t.Fatalf("alice's disco#info: %+v", q)
	}

	// alice blocks bob: his client sees her go, and his message bounces
	// with the error a message to nobody gets
	_, err = aws.Request(ctx, "block", map[string]any{"address": "bob@b.test"})
	must(t, err)
	waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.Type == "unavailable" && strings.HasPrefix(s.From, "alice@a.test/")
	})
	must(t, bx.Send(ctx, stanza2IQ(`<message to='alice@a.test' id='x1' type='chat'><body>still there?</body></message>`)))
	e := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.Type == "error" && s.ID == "x1" })
	if e.From != "alice@a.test" || !strings.Contains(e.Inner, "service-unavailable") {
		t.Fatalf("bounce %+v", e)
	}
	must(t, bx.Send(ctx, stanza2IQ(`<message to='ghost@a.test' id='x2' type='chat'><body>anyone?</body></message>`)))
	e2 := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.Type == "error" && s.ID == "x2" })
	if strings.ReplaceAll(e2.Inner, "ghost", "alice") != e.Inner {
		t.Fatalf("a blocked contact's bounce differs from nobody's: %q vs %q", e.Inner, e2.Inner)
	}
}

// befriendAcross: the XMPP user xmppUser (stream bx, its stanzas in) asks
// to see the JSON user account (client c, session js), who approves, then
// asks back, which the XMPP client approves. It returns the first
// presence of account that xmppUser got and the first of xmppUser that js
// got.
func befriendAcross(t *testing.T, ctx context.Context, c *client.Client, js *client.Session, account string,
	bx *xmpp.Session, in chan stanza, xmppUser string) (stanza, client.Frame) {
	t.Helper()
	must(t, bx.Send(ctx, stanza2IQ(`<presence to='`+account+`' type='subscribe'/>`)))
	_, err := js.WaitFor(ctx, func(f client.Frame) bool {
		return f.Type == "subscription" && strings.Contains(string(f.Raw), xmppUser)
	})
	must(t, err)
	_, err = c.SubscriptionAction(ctx, xmppUser, "approve")
	must(t, err)
	waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.Type == "subscribed" && s.From == account
	})
	p := waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.Type == "" && strings.HasPrefix(s.From, account+"/")
	})
	_, err = c.SubscriptionAction(ctx, xmppUser, "subscribe")
	must(t, err)
	waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.Type == "subscribe" && s.From == account
	})
	must(t, bx.Send(ctx, stanza2IQ(`<presence to='`+account+`' type='subscribed'/>`)))
	f, err := js.WaitFor(ctx, presenceIs(xmppUser, "available"))
	must(t, err)
	return p, f
}

// TestSeveralDomainsOneProcess: one server serving a.test (the primary)
// and b.test, with no federation configured: alice@a.test signs in by her
// bare name on the JSON protocol, bob@b.test by his full address with an
// XMPP client (the generated certificate names b.test too), and they
// subscribe, see each other, talk, and a block holds, as local users do.
// A bare name is the primary domain's; a stream to a domain not served
// gets host-unknown; rooms are shared by the domains' rooms services.
func TestSeveralDomainsOneProcess(t *testing.T) {
	ts := startServer(t, func(c *config.Config) {
		c.Domain, c.Domains, c.XMPPAddr = "a.test", []string{"a.test", "b.test"}, "127.0.0.1:0"
	})
	waitReady(t, ts)
	if ts.S2S != nil {
		t.Fatal("federation is on with no s2s setting")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ts.account(t, "alice@a.test")
	ts.account(t, "bob@b.test")
	alice, err := client.Login(ctx, ts.URL, "alice", "password-alice")
	must(t, err)
	if _, err := client.Login(ctx, ts.URL, "bob@b.test", "password-bob"); err != nil {
		t.Fatalf("REST sign-in of bob@b.test: %v", err)
	}
	if _, err := client.Login(ctx, ts.URL, "bob", "password-bob"); err == nil {
		t.Fatal("the bare name bob signed in, though bob@a.test does not exist")
	}
	web := newBrowserLike(t, ts)
	if r := web.post("/web/login", `{"address":"bob@b.test","password":"password-bob"}`, true); r.StatusCode != 204 {
		t.Fatalf("web sign-in of bob@b.test: %d", r.StatusCode)
	}

	c, err := net.Dial("tcp", ts.xmppAddrs[0])
	must(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	io.WriteString(c, `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='c.test' version='1.0'>`)
	if got, _ := io.ReadAll(c); !strings.Contains(string(got), "<host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>") {
		t.Fatalf("a stream to c.test: %s", got)
	}

	// rooms have no domain: bob joins through b.test's service the room
	// alice joined on the JSON protocol
	aws, err := alice.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	_, err = aws.Request(ctx, "join", map[string]any{"room": "lounge", "nick": "alice"})
	must(t, err)
	bx, in := xmppFederated(t, ts, "bob@b.test/desk")
	if items := sendIQ(t, ctx, bx, `<iq type='get' id='d1' to='b.test'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`); !strings.Contains(items.Inner, "conference.b.test") {
		t.Fatalf("b.test's items %s", items.Inner)
	}
	must(t, bx.Send(ctx, stanza2IQ(`<presence to='lounge@conference.b.test/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)))
	waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.From == "lounge@conference.b.test/alice"
	})
	if d := waitRoom(t, aws, "room_diff", nil); len(d.Joined) != 1 || d.Joined[0].Address != "bob@b.test" {
		t.Fatalf("alice's room diff %+v", d)
	}
	must(t, bx.Close())
	must(t, aws.Close(ctx))

	jsonMeetsXMPP(t, ts, ts, alice)
}

// TestFederationPEPToXMPPClient: a personal event a JSON-protocol user of
// a.test publishes reaches bob's XMPP client on b.test, on another server,
// when the client announces +notify for its topic (XEP-0115 capabilities,
// which b.test verifies with a disco#info query to the client: XEP-0163
// § 4.3 notifies only the resources that ask); a resource of bob's that
// announces nothing is not notified. The federation's notification goes
// to bob's bare address; b.test picks the resources.
func TestFederationPEPToXMPPClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := federated(t)
	alice := a.account(t, "alice@a.test")
	b.account(t, "bob@b.test")
	aws, err := alice.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	bx, in := xmppClientWith(t, b, "bob@b.test/laptop", xmpp.SASL("", "password-bob", msasl.ScramSha256), "http://jabber.org/protocol/mood+notify")
	must(t, bx.Send(ctx, stanza2IQ(`<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://example.org/test' ver='unverified='/></presence>`)))
	waitStanza(t, in, func(s stanza) bool { // b.test asks what the hash stands for
		return s.XMLName.Local == "iq" && s.Type == "get" && strings.Contains(s.Inner, "disco#info")
	})
	dx, din := xmppFederated(t, b, "bob@b.test/desk") // announces no capabilities
	must(t, dx.Send(ctx, stanza2IQ(`<presence/>`)))

	// bob sees alice (for her events), she sees him (to message him)
	befriendAcross(t, ctx, alice, aws, "alice@a.test", bx, in, "bob@b.test")

	_, err = aws.Request(ctx, "publish", map[string]any{"topic": "mood", "data": map[string]any{"mood": "happy", "text": "across domains"}})
	must(t, err)
	waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "message" && s.From == "alice@a.test" && strings.Contains(s.Inner, "pubsub#event") && strings.Contains(s.Inner, "across domains")
	})
	// a message after it, on the same stream between the servers, to the
	// resource that asked for nothing: no notification came before it
	_, err = aws.Message(ctx, "bob@b.test/desk", "after the mood")
	must(t, err)
	waitStanza(t, din, func(s stanza) bool {
		if s.XMLName.Local == "message" && strings.Contains(s.Inner, "pubsub#event") {
			t.Fatalf("the resource without +notify got %+v", s)
		}
		return s.XMLName.Local == "message" && s.Body == "after the mood"
	})
}
