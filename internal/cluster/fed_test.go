package cluster

import (
	"encoding/json"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
)

// FuzzFedBus: no remote account's presence, probe or message handed over
// the bus by another node crashes a node of a federating cluster: what
// decodes is checked by the hub as a remote server's stanza is
// (Hub.PeerRemotePresence, Hub.AnswerRemoteProbe, Hub.Receive) and
// refused with a typed error.
func FuzzFedBus(f *testing.F) {
	for _, v := range []any{
		fedPresence{Origin: "n1", From: "r@y/phone", To: "a@x", Presence: &core.Presence{Availability: core.Available, Status: "hi"}},
		fedPresence{Origin: "n1", From: "r@y", To: "a@x"},
		fedProbe{Origin: "n1", From: "r@y", To: "a@x"},
		core.PeerMessage{Sender: "r@y", Remote: true, Message: core.Message{Kind: core.KindMessage, Type: core.TypeChat, From: "r@y/p", To: "a@x", Body: "hi"}},
		core.PeerMessage{Sender: "r@y", Remote: true, Message: core.Message{Kind: core.KindIQ, Type: "get", ID: "1", From: "r@y/p", To: "a@x/r", Payload: "<q/>"}},
	} {
		b, _ := json.Marshal(v)
		f.Add(b)
	}
	n, err := New(Config{NodeID: "fuzz", Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	if err := st.CreateAccount(ctx, store.Account{Address: "a@x", PasswordHash: "x"}); err != nil {
		f.Fatal(err)
	}
	h := core.New(core.Config{Domain: "x", Grace: time.Second, Peers: n}, st, clock.Real{}, nil, slog.New(slog.DiscardHandler))
	n.Attach(h) // never started: it sends nothing
	typed := func(t *testing.T, what string, err error) {
		if err != nil && core.CodeOf(err) == core.CodeInternal {
			t.Fatalf("%s: untyped error %v", what, err)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		n.onFedPresence(&nats.Msg{Data: b})
		n.onFedProbe(&nats.Msg{Data: b})
		var p fedPresence
		if unmarshalBounded(b, &p) == nil {
			typed(t, "presence", h.PeerRemotePresence(p.From, p.To, p.Presence))
			typed(t, "probe", h.AnswerRemoteProbe(p.From, p.To))
		}
		if m, err := decodeSend(b); err == nil {
			_, err := h.Receive(m)
			typed(t, "receive", err)
		}
	})
}

// TestMessageToAResourceOnAThirdNode: alice has a session on node b and
// one on node c; a message to the one on c by its full address, sent from
// node a by bob (a local account) or by r@y (another domain's, whose
// server's stream landed on a), or from node b by carol, reaches that
// session once, and its sender
// hears it was taken: no copy is kept for later (it would reach alice a
// second time) and the remote sender gets no error (for an iq, a second
// answer). Node a cannot tell which of alice's nodes holds the resource:
// the one it hands the message to must be that one.
func TestMessageToAResourceOnAThirdNode(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "bob@x", "carol@x")
	d.name = "x"
	d.befriend("alice@x", "bob@x")
	d.befriend("alice@x", "carol@x")
	h := d.hub()
	must(t, h.RemoteSubscription(ctx, "r@y", "alice@x", core.SubSubscribe))
	must(t, h.Approve(ctx, "alice@x", "r@y"))
	a, b, c := d.start(url, "a", nil), d.start(url, "b", nil), d.start(url, "c", nil)
	takes := []string{core.KindMessage, core.KindIQ}
	onB := b.open(t, "alice@x", core.SessionOptions{Device: "tablet", Presence: avail, Accepts: takes})
	onC := c.open(t, "alice@x", core.SessionOptions{Device: "phone", Presence: avail, Accepts: takes})
	bob := a.connect(t, "bob@x", avail)
	carol := b.connect(t, "carol@x", avail) // beside alice's tablet
	eventually(t, "a to know both of alice's nodes", func() bool { return a.holders("alice@x") == 2 })
	eventually(t, "b to know that c holds alice", func() bool { return b.holders("alice@x") == 1 })
	phone := "alice@x/" + onC.s.Resource

	isMessage := func(id string) func(core.Event) bool {
		return func(ev core.Event) bool {
			m, ok := ev.(core.MessageEvent)
			return ok && m.Message.ID == id && m.Carbon == ""
		}
	}
	n, err := bob.s.Send(core.Message{Kind: core.KindMessage, Type: core.TypeChat, ID: "m1", To: phone, Body: "to the phone"})
	if err != nil || n != 1 {
		t.Errorf("bob to alice's phone: %d sessions, %v; want 1", n, err)
	}
	onC.await("bob's message", isMessage("m1"))
	n, err = carol.s.Send(core.Message{Kind: core.KindMessage, Type: core.TypeChat, ID: "m3", To: phone, Body: "from beside the tablet"})
	if err != nil || n != 1 {
		t.Errorf("carol, on b, to alice's phone: %d sessions, %v; want 1", n, err)
	}
	onC.await("carol's message", isMessage("m3"))
	n, err = a.hub.RemoteMessage(ctx, core.Message{Kind: core.KindMessage, Type: core.TypeChat, ID: "m2", From: "r@y/desk", To: phone, Body: "from afar"})
	if err != nil || n != 1 {
		t.Errorf("r@y to alice's phone: %d sessions, %v; want 1", n, err)
	}
	onC.await("r@y's message", isMessage("m2"))
	n, err = a.hub.RemoteMessage(ctx, core.Message{Kind: core.KindIQ, Type: "get", ID: "q1", From: "r@y/desk", To: phone, Payload: "<ping xmlns='urn:xmpp:ping'/>"})
	if err != nil || n != 1 {
		t.Errorf("r@y's iq to alice's phone: %d sessions, %v; want 1", n, err)
	}
	onC.await("r@y's iq", isMessage("q1"))

	stored, err := d.open().StoredFor(ctx, "alice@x", time.Now().Add(time.Minute), 10)
	must(t, err)
	if len(stored) != 0 {
		t.Fatalf("kept for later as well: %+v", stored)
	}
	for _, ev := range onB.events() {
		if m, ok := ev.(core.MessageEvent); ok && m.Carbon == "" {
			t.Fatalf("the tablet got %+v", m.Message)
		}
	}
}

// TestRemoteRevocationHeldOnEveryNode: r@y and r2@y (another domain's)
// let alice see them; their server's stream lands on node a, alice's
// session is on node b. r@y revokes her (unsubscribed), and its server
// sends her its presence after that all the same: node a, which took the
// revocation, does not hand it to node b, which decides on what it last
// read of r@y's approvals (here it never reads the store's log again, as
// in the moment before it does), so alice never sees it. r2@y's presence,
// handed after it on the same queue, reaches her.
func TestRemoteRevocationHeldOnEveryNode(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x")
	d.name = "x"
	h := d.hub()
	for _, r := range []string{"r@y", "r2@y"} {
		must(t, h.Subscribe(ctx, "alice@x", r))
		must(t, h.RemoteSubscription(ctx, r, "alice@x", core.SubSubscribed))
	}
	a, b := d.start(url, "a", nil), d.start(url, "b", nil)
	alice := b.connect(t, "alice@x", avail)
	eventually(t, "a to know that b holds alice", func() bool { return a.holders("alice@x") == 1 })
	status := func(subject, status string) func(core.Event) bool {
		return func(ev core.Event) bool {
			p, ok := ev.(core.PresenceEvent)
			return ok && p.View.Address == subject && p.View.Status == status
		}
	}
	must(t, a.hub.RemotePresence(ctx, "r@y/desk", "alice@x", &core.Presence{Availability: core.Available, Status: "before"}))
	alice.await("r@y's presence, approved", status("r@y", "before"))

	must(t, a.hub.RemoteSubscription(ctx, "r@y", "alice@x", core.SubUnsubscribed))
	must(t, a.hub.RemotePresence(ctx, "r@y/desk", "alice@x", &core.Presence{Availability: core.Away, Status: "after"}))
	must(t, a.hub.RemotePresence(ctx, "r2@y/desk", "alice@x", &core.Presence{Availability: core.Available, Status: "still"}))
	alice.await("r2@y's presence", func(ev core.Event) bool {
		if status("r@y", "after")(ev) {
			t.Fatalf("alice was shown r@y after it revoked her: %+v", ev)
		}
		return status("r2@y", "still")(ev)
	})
}
