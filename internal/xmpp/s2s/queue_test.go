package s2s

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// bounceCore records the bounces the federation hands the core.
type bounceCore struct {
	nullCore
	mu      sync.Mutex
	bounced []core.Message
	got     chan struct{}
}

func (b *bounceCore) RemoteMessage(_ context.Context, m core.Message) (int, error) {
	b.mu.Lock()
	b.bounced = append(b.bounced, m)
	b.mu.Unlock()
	b.got <- struct{}{}
	return 1, nil
}

// TestQueueBound: the queue of an unreachable domain holds QueueLimit
// stanzas; past it a presence replaces the oldest queued presence and a
// message is bounced to its sender with remote-server-timeout.
func TestQueueBound(t *testing.T) {
	c := &bounceCore{nullCore: nullCore{t}, got: make(chan struct{}, 10)}
	// no route and no DNS answer: c.test cannot be reached
	s := New(Config{Domain: "b.test", QueueLimit: 2, Resolver: noDNS{}, Log: slog.New(slog.DiscardHandler)}, nil)
	s.SetCore(c)
	defer s.Close()
	msg := func(body string) *xmlstream.Element {
		return xmlstream.New(nsServer, "message").Set("from", "bob@b.test/x").Set("to", "carol@c.test").Set("id", body).
			Add(xmlstream.New(nsServer, "body").AddText(body))
	}
	pres := func(status string) *xmlstream.Element {
		return presence("bob@b.test/x", "carol@c.test", "").Add(xmlstream.New(nsServer, "status").AddText(status))
	}
	// the peer is made here without its goroutine, so nothing drains the
	// queue while the test fills it
	s.mu.Lock()
	s.peers[link{"b.test", "c.test"}] = &peer{s: s, local: "b.test", domain: "c.test", wake: make(chan struct{}, 1), stop: make(chan struct{})}
	s.mu.Unlock()
	if !s.enqueue("c.test", pres("one")) || !s.enqueue("c.test", msg("m1")) {
		t.Fatal("refused below the bound")
	}
	if !s.enqueue("c.test", pres("two")) {
		t.Fatal("a presence past the bound was refused instead of replacing the oldest")
	}
	if s.enqueue("c.test", msg("m2")) {
		t.Fatal("a message past the bound was taken")
	}
	select {
	case <-c.got:
	case <-time.After(time.Minute):
		t.Fatal("no bounce")
	}
	c.mu.Lock()
	b := c.bounced[0]
	c.mu.Unlock()
	if b.Type != core.TypeError || b.From != "carol@c.test" || b.To != "bob@b.test/x" || b.ID != "m2" || !strings.Contains(b.Payload, "remote-server-timeout") {
		t.Fatalf("bounce %+v", b)
	}
	s.mu.Lock()
	q := s.peers[link{"b.test", "c.test"}].queue
	s.mu.Unlock()
	if len(q) != 2 || q[0].AttrValue("id") != "m1" || q[1].ChildText(nsServer, "status") != "two" {
		t.Fatalf("queue %v", q)
	}
}

type noDNS struct{}

func (noDNS) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	return "", nil, errors.New("no")
}
func (noDNS) LookupIPAddr(context.Context, string) ([]net.IPAddr, error) {
	return nil, errors.New("no")
}

// TestQueueLatestWins: a newer availability presence of one sender to one
// recipient replaces the queued one in place, unless a stanza of another
// kind came between (it must not be overtaken); subscription stanzas are
// never replaced, not even over the bound.
func TestQueueLatestWins(t *testing.T) {
	s := New(Config{Domain: "b.test", QueueLimit: 4, Resolver: noDNS{}, Log: slog.New(slog.DiscardHandler)}, nil)
	s.SetCore(&bounceCore{nullCore: nullCore{t}, got: make(chan struct{}, 10)})
	defer s.Close()
	p := &peer{s: s, local: "b.test", domain: "c.test", wake: make(chan struct{}, 1), stop: make(chan struct{})} // not running: nothing drains
	s.mu.Lock()
	s.peers[link{"b.test", "c.test"}] = p
	s.mu.Unlock()
	pres := func(from, to, status string) *xmlstream.Element {
		return presence(from, to, "").Add(xmlstream.New(nsServer, "status").AddText(status))
	}
	s.enqueue("c.test", pres("bob@b.test/x", "carol@c.test", "1"), pres("bob@b.test/x", "dave@c.test", "1"))
	s.enqueue("c.test", pres("bob@b.test/x", "carol@c.test", "2"), presence("bob@b.test/x", "dave@c.test", "unavailable"))
	if q := s.Queued("c.test"); q != 2 {
		t.Fatalf("%d queued after two changes to two viewers, want 2", q)
	}
	s.enqueue("c.test", presence("bob@b.test", "carol@c.test", "subscribe"), pres("bob@b.test/x", "carol@c.test", "3"))
	s.enqueue("c.test", presence("bob@b.test", "erin@c.test", "subscribed"))
	var got []string
	s.mu.Lock()
	for _, el := range p.queue {
		got = append(got, el.AttrValue("to")+" "+el.AttrValue("type")+el.ChildText(nsServer, "status"))
	}
	s.mu.Unlock()
	want := []string{"carol@c.test 2", "dave@c.test unavailable", "carol@c.test subscribe", "carol@c.test 3"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("queue %q, want %q", got, want)
	}
	// over the bound a presence replaces the oldest presence, never the
	// subscription request; a subscription stanza is refused
	if !s.enqueue("c.test", pres("bob@b.test/y", "frank@c.test", "1")) {
		t.Fatal("a presence over the bound was refused")
	}
	s.mu.Lock()
	if len(p.queue) != 4 || p.queue[1].AttrValue("type") != "subscribe" {
		t.Fatalf("queue %v", p.queue)
	}
	s.mu.Unlock()
}
