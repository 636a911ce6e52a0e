package s2s

import (
	"log/slog"
	"sync"
	"testing"

	"github.com/presenced/presenced/internal/core"
)

// recorder is a local router that keeps what it was given.
type recorder struct {
	mu  sync.Mutex
	got []core.Target
}

func (r *recorder) Route(_ core.Event, to []core.Target) core.Routed {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, to...)
	return core.Routed{Online: len(to), Sessions: len(to)}
}

// TestServedDomainsStayLocal: what goes from one served domain to another
// is routed locally, never onto a federation stream; what goes to another
// domain waits on the stream of the sender's domain.
func TestServedDomainsStayLocal(t *testing.T) {
	local := &recorder{}
	s := New(Config{Domain: "a.test", Domains: []string{"a.test", "X.test"}, Resolver: noDNS{}, Log: slog.New(slog.DiscardHandler)}, local)
	defer s.Close()
	msg := func(from, to string) core.Event {
		return core.MessageEvent{Message: core.Message{Kind: core.KindMessage, Type: core.TypeChat, From: from, To: to, Body: "hi"}}
	}
	s.Router().Route(msg("alice@a.test/p", "xena@x.test"), []core.Target{{Account: "xena@x.test"}})
	s.Router().Route(msg("xena@x.test/p", "alice@a.test"), []core.Target{{Account: "alice@a.test"}})
	local.mu.Lock()
	n := len(local.got)
	local.mu.Unlock()
	s.mu.Lock()
	streams := len(s.peers)
	s.mu.Unlock()
	if n != 2 || streams != 0 {
		t.Fatalf("between served domains: %d routed locally, %d federation streams", n, streams)
	}
	s.Router().Route(msg("xena@x.test/p", "bob@b.test"), []core.Target{{Account: "bob@b.test"}})
	s.Router().Route(msg("alice@a.test/p", "bob@b.test"), []core.Target{{Account: "bob@b.test"}})
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.peers) != 2 || s.peers[link{"x.test", "b.test"}] == nil || s.peers[link{"a.test", "b.test"}] == nil {
		t.Fatalf("streams to b.test: %v", s.peers)
	}
}
