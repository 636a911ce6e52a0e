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
