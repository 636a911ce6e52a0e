package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/freeport"
	"github.com/presenced/presenced/internal/server"
)

// fedWait bounds every wait of the federation tests: generous, for a busy
// machine; the tests log how long things took, they never assert it.
const fedWait = 3 * time.Minute

// fedProcess is one `presenced serve` of a federating domain, restartable
// on the same data directory and ports.
type fedProcess struct {
	domain, dir, s2s, xmpp string
	url                    string
	cmd                    *exec.Cmd
}

func freeLoopback(t *testing.T) string {
	t.Helper()
	addr, err := freeport.Addr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// start runs the process with its s2s listener, static routes to both
// domains, and dialback (the self-signed set-up's explicit switch).
func (p *fedProcess) start(t *testing.T, bin string, routes []string) {
	t.Helper()
	args := []string{"--domain", p.domain, "--s2s-addr", p.s2s, "--xmpp-addr", p.xmpp, "--s2s-dialback"}
	for _, r := range routes {
		args = append(args, "--s2s-route", r)
	}
	p.cmd, p.url = startProcess(t, bin, p.dir, args...)
}

// kill ends the process with SIGKILL: no stream is closed, nobody is told.
func (p *fedProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

// xmppStanza is what the federation tests read of a stanza.
type xmppStanza struct {
	XMLName xml.Name
	ID      string `xml:"id,attr"`
	From    string `xml:"from,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:"body"`
	Status  string `xml:"status"`
	Error   struct {
		Conditions []struct{ XMLName xml.Name } `xml:",any"`
	} `xml:"error"`
}

// xmppUser is a real XMPP client (mellium.im/xmpp) signed in to p. It
// keeps every stanza it received (a test's few hundred).
type xmppUser struct {
	t    *testing.T
	s    *xmpp.Session
	mu   sync.Mutex
	all  []xmppStanza
	used []bool        // taken by an await
	got  chan struct{} // a stanza arrived
}

// signInXMPP connects to p's XMPP listener as address (its generated
// certificate trusted), authenticates with SCRAM, binds and collects what
// it receives.
func signInXMPP(t *testing.T, p *fedProcess, address, password string) *xmppUser {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(p.dir, server.XMPPCertFile))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemBytes)
	// the XMPP listener may open a moment after the HTTP one is announced
	var conn net.Conn
	for deadline := time.Now().Add(fedWait); ; time.Sleep(100 * time.Millisecond) {
		if conn, err = net.Dial("tcp", p.xmpp); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), fedWait)
	defer cancel()
	s, err := xmpp.NewClientSession(ctx, jid.MustParse(address), conn,
		xmpp.StartTLS(&tls.Config{ServerName: p.domain, RootCAs: roots}),
		xmpp.SASL("", password, sasl.ScramSha256), xmpp.BindResource())
	if err != nil {
		t.Fatal(err)
	}
	u := &xmppUser{t: t, s: s, got: make(chan struct{}, 1)}
	go s.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		var st xmppStanza
		if err := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), xmlstream.Inner(r), xmlstream.Token(start.End()))).Decode(&st); err != nil {
			return err
		}
		u.mu.Lock()
		u.all = append(u.all, st)
		u.used = append(u.used, false)
		u.mu.Unlock()
		select {
		case u.got <- struct{}{}:
		default:
		}
		return nil
	}))
	return u
}

// find returns the first stanza not yet taken by an await that match
// holds, and its index (-1: none).
func (u *xmppUser) find(match func(xmppStanza) bool) (xmppStanza, int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i, st := range u.all {
		if !u.used[i] && match(st) {
			return st, i
		}
	}
	return xmppStanza{}, -1
}

func (u *xmppUser) send(x string) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fedWait)
	defer cancel()
	if err := u.s.Send(ctx, xml.NewDecoder(strings.NewReader(x))); err != nil {
		u.t.Fatal(err)
	}
}

// await takes the first stanza not yet taken that match holds, waiting
// for it.
func (u *xmppUser) await(what string, match func(xmppStanza) bool) xmppStanza {
	u.t.Helper()
	timeout := time.After(fedWait)
	for {
		if st, i := u.find(match); i >= 0 {
			u.mu.Lock()
			u.used[i] = true
			u.mu.Unlock()
			u.t.Logf("%s: %s", u.s.LocalAddr(), what)
			return st
		}
		select {
		case <-u.got:
		case <-timeout:
			u.t.Fatalf("%s: not seen within %v", what, fedWait)
		}
	}
}

func presenceFrom(bare, typ string) func(xmppStanza) bool {
	return func(s xmppStanza) bool {
		return s.XMLName.Local == "presence" && s.Type == typ && strings.HasPrefix(s.From, bare+"/")
	}
}

func framePresence(address, availability string) func(client.Frame) bool {
	return func(f client.Frame) bool {
		return f.Type == "presence" && f.Address == address && f.Availability == availability
	}
}

// delivered or bounced: the message id from sender reached the recipient
// (body), or came back to the sender as an error; it is never lost
// silently. Which one depends on whether the recipient was signed in again
// when the queue was written (docs/federation.md, "Failures").
func deliveredOrBounced(t *testing.T, sender, recipient *xmppUser, id, body string) string {
	t.Helper()
	timeout := time.After(fedWait)
	for {
		if _, i := recipient.find(func(s xmppStanza) bool { return s.XMLName.Local == "message" && s.Body == body }); i >= 0 {
			return "delivered"
		}
		if st, i := sender.find(func(s xmppStanza) bool { return s.XMLName.Local == "message" && s.Type == "error" && s.ID == id }); i >= 0 {
			return fmt.Sprintf("bounced: %v", st.Error.Conditions)
		}
		select {
		case <-recipient.got:
		case <-sender.got:
		case <-time.After(time.Second): // (one of two channels was drained by the other's wait)
		case <-timeout:
			t.Fatalf("message %s neither delivered nor bounced within %v", id, fedWait)
		}
	}
}

// TestFederationKill9: two `presenced serve` processes, a.test and b.test,
// federating on loopback (static routes, dialback over their self-signed
// certificates). A JSON-protocol user on a.test and an XMPP client on
// b.test subscribe to each other and see each other. b.test is killed with
// SIGKILL: alice sees bob go offline; a message sent meanwhile is queued
// and, when b.test is back, delivered or bounced, never lost silently;
// b.test restarts on the same data directory and ports, bob signs in again,
// and both see each other again without anything done by hand. Then the
// same with a.test killed, seen from b.test.
func TestFederationKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	a := &fedProcess{domain: "a.test", dir: t.TempDir(), s2s: freeLoopback(t), xmpp: freeLoopback(t)}
	b := &fedProcess{domain: "b.test", dir: t.TempDir(), s2s: freeLoopback(t), xmpp: freeLoopback(t)}
	routes := []string{"a.test=" + a.s2s, "b.test=" + b.s2s}
	a.start(t, bin, routes)
	b.start(t, bin, routes)
	cli(t, bin, "password-alice\n", "user", "add", "alice@a.test", "--data-dir", a.dir, "--domain", "a.test", "--password-stdin")
	cli(t, bin, "password-bob\n", "user", "add", "bob@b.test", "--data-dir", b.dir, "--domain", "b.test", "--password-stdin")

	ctx, cancel := context.WithTimeout(context.Background(), 4*fedWait)
	defer cancel()
	alice, err := client.Login(ctx, a.url, "alice@a.test", "password-alice")
	if err != nil {
		t.Fatal(err)
	}
	connectAlice := func() *client.Session {
		t.Helper()
		alice.BaseURL = a.url
		aws, err := alice.Connect(ctx, client.ConnectOptions{Device: "phone", Presence: &client.Presence{Availability: "available", Status: "on a"}})
		if err != nil {
			t.Fatal(err)
		}
		return aws
	}
	aws := connectAlice()
	waitFrame := func(what string, match func(client.Frame) bool) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, fedWait)
		defer wcancel()
		if _, err := aws.WaitFor(wctx, match); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		t.Logf("alice: %s", what)
	}
	signInBob := func() *xmppUser {
		t.Helper()
		bob := signInXMPP(t, b, "bob@b.test/laptop", "password-bob")
		bob.send(`<presence><status>on b</status></presence>`)
		return bob
	}
	bob := signInBob()

	// they subscribe to each other: alice over the JSON protocol, bob as
	// any XMPP client does
	if _, err := alice.SubscriptionAction(ctx, "bob@b.test", "subscribe"); err != nil {
		t.Fatal(err)
	}
	bob.await("alice's request", func(s xmppStanza) bool {
		return s.XMLName.Local == "presence" && s.Type == "subscribe" && s.From == "alice@a.test"
	})
	bob.send(`<presence to='alice@a.test' type='subscribed'/>`)
	waitFrame("bob's presence", framePresence("bob@b.test", "available"))
	bob.send(`<presence to='alice@a.test' type='subscribe'/>`)
	waitFrame("bob's request", func(f client.Frame) bool {
		return f.Type == "subscription" && f.Address == "bob@b.test" && f.PendingIn
	})
	if _, err := alice.SubscriptionAction(ctx, "bob@b.test", "approve"); err != nil {
		t.Fatal(err)
	}
	bob.await("alice's presence", presenceFrom("alice@a.test", ""))
	// alice also has an XMPP client on a.test: a bounce reaches it (a
	// JSON-protocol session is not sent other servers' errors)
	aliceDesk := signInXMPP(t, a, "alice@a.test/desk", "password-alice")
	aliceDesk.send(`<presence/>`)
	aliceDesk.await("bob's presence on alice's XMPP client", presenceFrom("bob@b.test", ""))

	// b.test is killed: alice sees bob go
	killed := time.Now()
	b.kill(t)
	waitFrame("bob shown offline after b.test was killed", framePresence("bob@b.test", "unavailable"))
	t.Logf("bob shown offline on a.test %v after b.test was killed", time.Since(killed).Round(time.Millisecond))
	aliceDesk.send(`<message to='bob@b.test' id='while-b-down' type='chat'><body>sent while b.test was down</body></message>`)

	// b.test comes back on the same data directory and ports; bob signs in
	// again, and both see each other with nothing done by hand
	b.start(t, bin, routes)
	bob = signInBob()
	waitFrame("bob's presence after b.test restarted", framePresence("bob@b.test", "available"))
	bob.await("alice's presence after b.test restarted", presenceFrom("alice@a.test", ""))
	t.Logf("message sent while b.test was down: %s", deliveredOrBounced(t, aliceDesk, bob, "while-b-down", "sent while b.test was down"))

	// now a.test is killed: bob sees alice go
	killed = time.Now()
	a.kill(t)
	bob.await("alice shown offline after a.test was killed", presenceFrom("alice@a.test", "unavailable"))
	t.Logf("alice shown offline on b.test %v after a.test was killed", time.Since(killed).Round(time.Millisecond))
	bob.send(`<message to='alice@a.test/desk' id='while-a-down' type='chat'><body>sent while a.test was down</body></message>`)

	// the desk signs in first: a message b.test writes before any of alice's
	// sessions is back is stored for her (docs/offline.md) and given to the
	// first session that comes, which must be the one the test reads
	a.start(t, bin, routes)
	aliceDesk = signInXMPP(t, a, "alice@a.test/desk", "password-alice")
	aliceDesk.send(`<presence/>`)
	aws = connectAlice()
	bob.await("alice's presence after a.test restarted", presenceFrom("alice@a.test", ""))
	waitFrame("bob's presence after a.test restarted", framePresence("bob@b.test", "available"))
	t.Logf("message sent while a.test was down: %s", deliveredOrBounced(t, bob, aliceDesk, "while-a-down", "sent while a.test was down"))
}
