package cluster

import (
	"sync"
	"testing"

	"github.com/presenced/presenced/internal/core"
)

// resumable connects a session that other nodes may adopt.
func (n *node) resumable(t *testing.T, account string, p *core.Presence) *client {
	c := &client{t: t}
	s, err := n.hub.Connect(ctx, account, core.SessionOptions{Transport: "test", Device: "d", Presence: p, Resumable: true}, c)
	must(t, err)
	c.s = s
	eventually(t, "the session's record", func() bool { return n.Recorded(account, s.Resource) })
	return c
}

// TestAdoptOnlyOnce: a session of a live node is not taken from it; one
// of a killed node is adopted by one node only, though two try at once,
// and only on its own channel: an app's resume of a first-party session
// is refused and leaves it to be adopted.
func TestAdoptOnlyOnce(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "bob@x")
	d.befriend("alice@x", "bob@x")
	a, b, c := d.start(url, "a", nil), d.start(url, "b", nil), d.start(url, "c", nil)
	alice := a.resumable(t, "alice@x", avail)
	eventually(t, "b and c to learn that a holds alice", func() bool { return b.Holds("alice@x") && c.Holds("alice@x") })

	bob := b.resumable(t, "bob@x", avail) // held by live b: c may not take it
	if _, _, err := c.hub.ResumeAs(ctx, "bob@x", bob.s.Resource, 0, core.SessionOptions{Transport: "test"}, &client{t: t}); core.CodeOf(err) != core.CodeSessionGone {
		t.Fatalf("resume on c of a session live b holds: %v", err)
	}
	if held, _ := b.hub.Holding("bob@x", bob.s.Resource); !held {
		t.Fatal("b lost bob's session to a resume on c")
	}

	a.Kill()
	app := core.SessionOptions{Transport: "test", Channel: core.Channel{App: "some-app"}}
	if _, _, err := b.hub.ResumeAs(ctx, "alice@x", alice.s.Resource, 0, app, &client{t: t}); core.CodeOf(err) != core.CodeSessionGone {
		t.Fatalf("an app resumed a first-party session: %v", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []*core.Session
	for _, n := range []*node{b, c} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sink := &client{t: t}
			s, replayed, err := n.hub.ResumeAs(ctx, "alice@x", alice.s.Resource, 7, core.SessionOptions{Transport: "test"}, sink)
			switch {
			case err == nil:
				first := s.Pull(sink, 1)
				if replayed || s.Resource != alice.s.Resource || len(first) != 1 || first[0].Seq != 8 {
					t.Errorf("adopted: replayed %v, resource %s, first events %+v", replayed, s.Resource, first)
				} else if _, ok := first[0].Event.(core.Snapshot); !ok {
					t.Errorf("adopted: the first event is %T, not a snapshot", first[0].Event)
				}
				mu.Lock()
				won = append(won, s)
				mu.Unlock()
			case core.CodeOf(err) != core.CodeSessionGone:
				t.Errorf("resume: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d nodes adopted alice's session", len(won))
	}
	bs, cs := b.hub.Sessions("alice@x"), c.hub.Sessions("alice@x")
	if len(bs)+len(cs) != 1 {
		t.Fatalf("alice's sessions: on b %+v, on c %+v", bs, cs)
	}
	for _, ss := range [][]core.SessionInfo{bs, cs} {
		if len(ss) == 1 && ss[0].Availability != core.Available {
			t.Fatalf("the adopted session is not shown as it was: %+v", ss[0])
		}
	}
}
