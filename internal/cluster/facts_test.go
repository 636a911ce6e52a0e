package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
)

// follow makes n's hub follow the store's lifecycle log, as serve does,
// from the events after now.
func (d *domain) follow(n *node) {
	last, err := d.open().LastLifecycleID(ctx)
	if err != nil {
		d.t.Fatal(err)
	}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); n.hub.FollowFrom(fctx, last, 20*time.Millisecond) }()
	d.t.Cleanup(func() { cancel(); <-done })
}

// sessionsOf is a presence of subject, available, with n sessions.
func sessionsOf(subject string, n int) func(core.Event) bool {
	return func(ev core.Event) bool {
		p, ok := ev.(core.PresenceEvent)
		return ok && p.View.Address == subject && p.View.Availability != core.Unavailable && len(p.View.Sessions) == n
	}
}

// TestPrivacyChangesReachOtherNodes: alice has sessions on nodes A and B,
// bob on B; they see each other. A block, a hide, a withdrawn approval or
// invisibility made through A's hub (as the REST API there would) must
// reach what B decides for alice's session there at once: bob, whose
// view merges both nodes' parts, sees alice offline, and her later change
// on B does not reach him. Undone through B's hub, A must hear it: bob
// sees both of alice's sessions again.
func TestPrivacyChangesReachOtherNodes(t *testing.T) {
	cases := []struct {
		name       string
		change, un func(h *core.Hub) error
	}{
		{"block",
			func(h *core.Hub) error { return h.Block(ctx, "alice@x", "bob@x") },
			func(h *core.Hub) error { return h.Unblock(ctx, "alice@x", "bob@x") }},
		{"hide",
			func(h *core.Hub) error { return h.Hide(ctx, "alice@x", "bob@x") },
			func(h *core.Hub) error { return h.Unhide(ctx, "alice@x", "bob@x") }},
		{"approval withdrawn",
			func(h *core.Hub) error { return h.Deny(ctx, "alice@x", "bob@x") },
			func(h *core.Hub) error { return h.Approve(ctx, "alice@x", "bob@x") }},
		{"invisible",
			func(h *core.Hub) error { return h.SetInvisible(ctx, "alice@x", true) },
			func(h *core.Hub) error { return h.SetInvisible(ctx, "alice@x", false) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := natsServer(t).ClientURL()
			d := newDomain(t, "alice@x", "bob@x")
			d.befriend("alice@x", "bob@x")
			a, b := d.start(url, "a", nil), d.start(url, "b", nil)
			d.follow(a)
			d.follow(b)

			bob := b.connect(t, "bob@x", avail)
			eventually(t, "a to learn that b holds bob", func() bool { return a.Holds("bob@x") })
			a.connect(t, "alice@x", &core.Presence{Availability: core.Available, Status: "on a"})
			eventually(t, "b to learn that a holds alice", func() bool { return b.Holds("alice@x") })
			onB := b.connect(t, "alice@x", &core.Presence{Availability: core.Available, Status: "on b"})
			eventually(t, "a to learn that b holds alice", func() bool { return a.Holds("alice@x") })
			bob.await("alice with both sessions", sessionsOf("alice@x", 2))

			must(t, tc.change(a.hub))
			bob.await("alice offline to bob once the change made on a reached b", presenceIs("alice@x", core.Unavailable))

			// alice's session on b changes, then messages bob (a message
			// bob's facts allow): both are delivered on b, in this order, so
			// a presence that reached bob came before the message
			must(t, onB.s.SetPresence(core.Presence{Availability: core.Away, Status: "secret"}))
			_, err := onB.s.Send(core.Message{Kind: core.KindMessage, ID: "after", To: "bob@x", Body: "hi"})
			must(t, err)
			bob.await("alice's message", func(ev core.Event) bool {
				if p, ok := ev.(core.PresenceEvent); ok && p.View.Address == "alice@x" && p.View.Availability != core.Unavailable {
					t.Fatalf("bob was shown alice after the change: %+v", p.View)
				}
				m, ok := ev.(core.MessageEvent)
				return ok && m.Message.ID == "after"
			})

			must(t, tc.un(b.hub))
			got := bob.await("both of alice's sessions again once the undoing made on b reached a", sessionsOf("alice@x", 2)).(core.PresenceEvent)
			if got.View.Availability != core.Available || got.View.Status != "on a" {
				t.Fatalf("bob sees %+v", got.View)
			}
		})
	}
}

// TestViewerLeavingOnAnotherNode: alice is on node A alone, bob and carol
// on B, all contacts. bob stops seeing alice through B's hub (an
// unsubscription; then a removal of the relationship): A, where alice's
// presence is decided, must no longer send it to bob. Her next change,
// carried to B in the same bus message for both viewers, reaches carol and
// not bob.
func TestViewerLeavingOnAnotherNode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(h *core.Hub) error
	}{
		{"unsubscribe", func(h *core.Hub) error { return h.Unsubscribe(ctx, "bob@x", "alice@x") }},
		{"remove", func(h *core.Hub) error { return h.Remove(ctx, "bob@x", "alice@x") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := natsServer(t).ClientURL()
			d := newDomain(t, "alice@x", "bob@x", "carol@x")
			d.befriend("alice@x", "bob@x")
			d.befriend("alice@x", "carol@x")
			a, b := d.start(url, "a", nil), d.start(url, "b", nil)
			d.follow(a)
			d.follow(b)

			bob := b.connect(t, "bob@x", avail)
			carol := b.connect(t, "carol@x", avail)
			eventually(t, "a to learn that b holds bob and carol", func() bool { return a.Holds("bob@x") && a.Holds("carol@x") })
			alice := a.connect(t, "alice@x", avail)
			bob.await("alice online", sessionsOf("alice@x", 1))

			must(t, tc.change(b.hub))
			// a re-shows bob what he may see of alice once it read the
			// change: her absence, from a's part (b's own showed it already,
			// but the merge of a's part still showed her)
			bob.await("alice offline once a heard the change", presenceIs("alice@x", core.Unavailable))

			must(t, alice.s.SetPresence(core.Presence{Availability: core.Away, Status: "secret"}))
			carol.await("alice's change", func(ev core.Event) bool {
				p, ok := ev.(core.PresenceEvent)
				return ok && p.View.Address == "alice@x" && p.View.Status == "secret"
			})
			for _, ev := range bob.events() {
				if p, ok := ev.(core.PresenceEvent); ok && p.View.Address == "alice@x" && p.View.Availability != core.Unavailable {
					t.Fatalf("bob, no longer a viewer, was shown alice: %+v", p.View)
				}
			}
		})
	}
}
