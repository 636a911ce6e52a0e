package s2s_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/selfsigned"
	"github.com/presenced/presenced/internal/xmpp/s2s"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// slowRemote is a hand-written server for slow.test: it takes each stream
// opened to it through STARTTLS and dialback (answering valid without
// checking: it is the receiving side and may believe what it likes), then
// never reads again, as a server that hangs or whose network is clogged.
type slowRemote struct {
	t    *testing.T
	ln   net.Listener
	cert tls.Certificate
	mu   sync.Mutex
	held []net.Conn // kept open, unread, until the test ends
}

func startSlowRemote(t *testing.T) *slowRemote {
	t.Helper()
	cert, _, err := selfsigned.ForTest("slow.test")
	if err != nil {
		t.Fatal(err)
	}
	r := &slowRemote{t: t, ln: listen(t), cert: cert}
	go r.serve()
	t.Cleanup(func() {
		r.ln.Close()
		r.mu.Lock()
		for _, c := range r.held {
			c.Close()
		}
		r.mu.Unlock()
	})
	return r
}

func (r *slowRemote) serve() {
	for {
		nc, err := r.ln.Accept()
		if err != nil {
			return
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			tc.SetReadBuffer(4096) // a small window: the writer blocks sooner
		}
		r.mu.Lock()
		r.held = append(r.held, nc)
		r.mu.Unlock()
		go r.negotiate(nc)
	}
}

// negotiate answers the initiator until its stream is authenticated, and
// then stops reading. Errors end the stream: the initiator tries again.
func (r *slowRemote) negotiate(nc net.Conn) {
	header := func(id string) string {
		return `<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' from='slow.test' to='a.test' id='` + id + `' version='1.0'>`
	}
	rd := xmlstream.NewReader(nc, xmlstream.DefaultLimits)
	if _, err := rd.Open(); err != nil {
		nc.Close()
		return
	}
	nc.Write([]byte(header("s1") + `<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>`))
	if el, err := rd.Next(); err != nil || el.Name.Local != "starttls" {
		nc.Close()
		return
	}
	nc.Write([]byte(`<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`))
	tc := tls.Server(nc, &tls.Config{Certificates: []tls.Certificate{r.cert}})
	rd = xmlstream.NewReader(tc, xmlstream.DefaultLimits)
	if _, err := rd.Open(); err != nil {
		nc.Close()
		return
	}
	tc.Write([]byte(header("s2") + `<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>`))
	if el, err := rd.Next(); err != nil || el.Name.Local != "result" {
		nc.Close()
		return
	}
	tc.Write([]byte(`<db:result from='slow.test' to='a.test' type='valid'/>`))
	// and from now on, nothing is read
}

// TestSlowRemote: a remote server that accepts a.test's stream and then
// stops reading. Meanwhile local delivery on a.test and delivery to
// another remote domain (b.test) keep working, the queue for slow.test
// stays within its bound, and messages to slow.test beyond it bounce to
// their sender with remote-server-timeout.
func TestSlowRemote(t *testing.T) {
	const limit = 16
	slow := startSlowRemote(t)
	a := &domain{name: "a.test", ln: listen(t), tweak: func(c *s2s.Config) { c.QueueLimit = limit }}
	b := &domain{name: "b.test", ln: listen(t)}
	routes := map[string]string{"a.test": a.ln.Addr().String(), "b.test": b.ln.Addr().String(), "slow.test": slow.ln.Addr().String()}
	a.start(t, "secret-a", true, routes, "alice@a.test", "carol@a.test")
	b.start(t, "secret-b", true, routes, "bob@b.test")
	avail := &core.Presence{Availability: core.Available}
	alice, carol := a.connect(t, "alice@a.test", avail), a.connect(t, "carol@a.test", avail)
	bob := b.connect(t, "bob@b.test", avail)
	befriend(t, a, b, alice, bob)
	for _, pair := range [][2]string{{"alice@a.test", "carol@a.test"}, {"carol@a.test", "alice@a.test"}} {
		if err := a.hub.Subscribe(ctx, pair[0], pair[1]); err != nil {
			t.Fatal(err)
		}
		if err := a.hub.Approve(ctx, pair[1], pair[0]); err != nil {
			t.Fatal(err)
		}
	}
	// alice asks sam@slow.test, and slow.test's answer (approved) is taken
	// as if it had come before the server clogged
	if err := a.hub.Subscribe(ctx, "alice@a.test", "sam@slow.test"); err != nil {
		t.Fatal(err)
	}
	if err := a.hub.RemoteSubscription(ctx, "sam@slow.test", "alice@a.test", core.SubSubscribed); err != nil {
		t.Fatal(err)
	}

	// alice writes to sam until slow.test's queue is full and a message
	// bounces; the queue never holds more than its bound
	body := strings.Repeat("x", core.MaxMessageBody)
	deadline := time.Now().Add(3 * wait) // a guard against a hang, not a measure
	bounced := ""
	for i := 0; bounced == ""; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no bounce after %d messages to the slow domain", i)
		}
		alice.s.Send(core.Message{ID: fmt.Sprintf("m%d", i), Kind: core.KindMessage, To: "sam@slow.test", Body: body})
		if n := a.fed.Queued("slow.test"); n > limit {
			t.Fatalf("%d stanzas queued for slow.test, bound %d", n, limit)
		}
		for _, ev := range alice.drain() {
			if m, ok := ev.(core.MessageEvent); ok && m.Message.Type == core.TypeError && m.Message.From == "sam@slow.test" {
				if !strings.Contains(m.Message.Payload, "remote-server-timeout") {
					t.Fatalf("bounce %+v", m.Message)
				}
				bounced = m.Message.ID
			}
		}
		if i%64 == 63 {
			time.Sleep(10 * time.Millisecond) // let the stream's writer take the queue
		}
	}
	t.Logf("message %s bounced; %d queued for slow.test", bounced, a.fed.Queued("slow.test"))

	// slow.test is still clogged: local delivery and b.test are unaffected
	if _, err := alice.s.Send(core.Message{ID: "local", Kind: core.KindMessage, To: "carol@a.test", Body: "to carol"}); err != nil {
		t.Fatal(err)
	}
	carol.await("alice's local message", message("alice@a.test", "to carol"))
	if _, err := alice.s.Send(core.Message{ID: "remote", Kind: core.KindMessage, To: "bob@b.test", Body: "to bob"}); err != nil {
		t.Fatal(err)
	}
	bob.await("alice's message to b.test", message("alice@a.test", "to bob"))
	if err := alice.s.SetPresence(core.Presence{Availability: core.Away, Status: "still here"}); err != nil {
		t.Fatal(err)
	}
	bob.await("alice's presence on b.test", presenceOf("alice@a.test", core.Away, "still here"))
	carol.await("alice's presence on a.test", presenceOf("alice@a.test", core.Away, "still here"))
	if n := a.fed.Queued("slow.test"); n > limit {
		t.Fatalf("%d stanzas queued for slow.test, bound %d", n, limit)
	}
}
