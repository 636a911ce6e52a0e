package stanza

import (
	"testing"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// TestResourceTreeIsResource: a ResourceTree writes what Resource writes,
// stanza after stanza in the same tree, whatever the previous one held.
func TestResourceTreeIsResource(t *testing.T) {
	sessions := []core.SessionPresence{
		{Resource: "phone", Presence: core.Presence{Availability: core.Available}},
		{Resource: "desk", Presence: core.Presence{Availability: core.Away, Status: "out <for> 'lunch' & back", Priority: -3}},
		{Resource: "r", Presence: core.Presence{Availability: ""}},
		{Resource: "tablet", Presence: core.Presence{Availability: core.DND, Priority: 127}},
		{Resource: "web", Presence: core.Presence{Availability: core.Available, Status: "here"}},
		{Resource: "phone", Presence: core.Presence{Availability: core.Available}},
	}
	var tree ResourceTree
	for _, ns := range []string{"jabber:client", "jabber:server"} {
		for _, s := range sessions {
			want := Resource(ns, "bob@example.org", "alice@example.org/x", s).String(ns)
			if got := tree.Resource(ns, "bob@example.org", "alice@example.org/x", s).String(ns); got != want {
				t.Errorf("%+v in %s:\n got %s\nwant %s", s, ns, got, want)
			}
		}
	}
}

// TestResourceTreeAllocatesLess: what a ResourceTree saves, written as a
// stream writes (appended to a buffer).
func TestResourceTreeAllocatesLess(t *testing.T) {
	s := core.SessionPresence{Resource: "phone", Presence: core.Presence{Availability: core.Away, Status: "back soon"}}
	buf := make([]byte, 0, 4096)
	scope := xmlstream.In("jabber:client")
	var tree ResourceTree
	plain := testing.AllocsPerRun(100, func() {
		buf = Resource("jabber:client", "bob@example.org", "alice@example.org/x", s).AppendIn(buf[:0], scope)
	})
	reused := testing.AllocsPerRun(100, func() {
		buf = tree.Resource("jabber:client", "bob@example.org", "alice@example.org/x", s).AppendIn(buf[:0], scope)
	})
	if reused >= plain {
		t.Errorf("a presence built in a ResourceTree made %.0f allocations, Resource %.0f", reused, plain)
	}
	t.Logf("allocations per presence: Resource %.0f, ResourceTree %.0f", plain, reused)
}
