package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
)

// TestContactsLoggingInOnTwoNodesAtOnce: alice logs in on b and carol on
// c before either node has the registry entry of the other's login
// (entries travel through NATS after the login: here c is made to forget
// alice's, b has not got carol's yet). Each node routed its user's
// presence towards nobody, and each login's probe asked nobody; when the
// entries come, each node shows its user to the other (unheld.go).
// Before, neither was ever shown the other.
func TestContactsLoggingInOnTwoNodesAtOnce(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "carol@x")
	d.befriend("alice@x", "carol@x")
	b, c := d.start(url, "b", nil), d.start(url, "c", nil)

	alice := b.connect(t, "alice@x", avail) // b knows nothing of carol: routed towards nobody
	eventually(t, "c to learn that b holds alice", func() bool { return c.Holds("alice@x") })
	c.mu.Lock()
	c.unholdLocked("alice@x", "b") // as if the entry were still on its way
	c.mu.Unlock()
	carol := c.connect(t, "carol@x", avail) // probes nobody; routed towards nobody

	eventually(t, "b to learn that c holds carol", func() bool { return b.Holds("carol@x") })
	carol.await("alice, once b learnt where carol is", presenceIs("alice@x", core.Available))
	b.rewriteAll() // alice's entry comes to c (again)
	eventually(t, "c to learn that b holds alice", func() bool { return c.Holds("alice@x") })
	alice.await("carol, once c learnt where alice is", presenceIs("carol@x", core.Available))
}

// TestUnheldViewersBounded: what is remembered of viewers routed towards
// nobody is bounded, forgotten after unheldFor, and taken once.
func TestUnheldViewersBounded(t *testing.T) {
	var u unheldViewers
	now := time.Now()
	for i := 0; i < maxUnheldSubjects+5; i++ {
		u.note(fmt.Sprintf("s%d@x", i), []string{"v@x"}, now)
	}
	if got := u.take("v@x", now); len(got) != maxUnheldSubjects {
		t.Fatalf("took %d subjects, want %d", len(got), maxUnheldSubjects)
	}
	if got := u.take("v@x", now); got != nil {
		t.Fatalf("taken twice: %v", got)
	}
	u.note("s@x", []string{"old@x"}, now)
	if got := u.take("old@x", now.Add(unheldFor+time.Second)); got != nil {
		t.Fatalf("remembered past unheldFor: %v", got)
	}
	viewers := make([]string, maxUnheld+3)
	for i := range viewers {
		viewers[i] = fmt.Sprintf("v%d@x", i)
	}
	if dropped := u.note("s@x", viewers, now); dropped != 3 || len(u.m) != maxUnheld {
		t.Fatalf("dropped %d, kept %d viewers", dropped, len(u.m))
	}
	if dropped := u.note("t@x", []string{"new@x"}, now.Add(unheldFor+time.Second)); dropped != 0 || len(u.m) != 1 {
		t.Fatalf("after a sweep: dropped %d, kept %d viewers", dropped, len(u.m))
	}
}
