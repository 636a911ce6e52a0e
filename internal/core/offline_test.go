package core

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
)

type wakes struct {
	mu  sync.Mutex
	got []string
}

func (w *wakes) Wake(account string, n Notification) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, account+" "+n.Kind+" "+n.From+" "+n.ID+" "+n.Urgency+" "+n.TTL.String())
}

func storedIn(evs []Event) []MessageEvent {
	var out []MessageEvent
	for _, ev := range evs {
		if me, ok := ev.(MessageEvent); ok && me.Stored != 0 {
			out = append(out, me)
		}
	}
	return out
}

// TestOfflineDelivery: a text message to a contact with no session is
// stored, wakes a device, and reaches the contact's next session once it
// is available, stamped with when it was sent, until acknowledged.
func TestOfflineDelivery(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	w := &wakes{}
	e.hub.cfg.Waker = w
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	sentAt := e.clk.Now()
	for _, id := range []string{"m1", "m2", "m1"} { // m1 twice: stored once
		sent, err := a.s.SendMessage(Message{Kind: KindMessage, To: "bob@x", Body: "hello " + id, ID: id})
		if err != nil || !sent.Stored || sent.Sessions != 0 {
			t.Fatalf("send %s: %+v %v", id, sent, err)
		}
	}
	if len(w.got) != 2 || w.got[0] != "bob@x message alice@x m1 normal 720h0m0s" {
		t.Fatalf("wakes %q", w.got)
	}
	// not what is stored: signals, headlines, bodiless messages
	if _, err := a.s.Send(Message{Kind: KindSignal, To: "bob@x", Data: json.RawMessage(`{}`)}); CodeOf(err) != CodeUnavailable {
		t.Fatalf("signal: %v", err)
	}
	if _, err := a.s.Send(Message{Kind: KindMessage, Type: TypeHeadline, To: "bob@x", Body: "news"}); CodeOf(err) != CodeUnavailable {
		t.Fatalf("headline: %v", err)
	}
	e.clk.Advance(time.Minute)

	// a session without presence is not offered them; its first presence is
	b := e.connect("bob@x", nil)
	if got := storedIn(b.take()); len(got) != 0 {
		t.Fatalf("offered before presence: %+v", got)
	}
	e.must(b.s.SetPresence(*avail))
	got := storedIn(b.take())
	if len(got) != 2 || got[0].Message.Body != "hello m1" || got[1].Message.ID != "m2" || !got[0].Message.Sent.Equal(sentAt) ||
		got[0].Message.From != a.s.Address() || got[0].Message.To != "bob@x" {
		t.Fatalf("bob got %+v", got)
	}
	// unacknowledged: offered again to the next session
	b.s.Close()
	b = e.connect("bob@x", avail)
	again := storedIn(b.take())
	if len(again) != 2 {
		t.Fatalf("second session got %+v", again)
	}
	// the JSON protocol's acknowledgement deletes them
	e.must(b.s.AckStored(ctx, []int64{again[0].Stored, again[1].Stored}))
	b.s.Close()
	b = e.connect("bob@x", avail)
	if got := storedIn(b.take()); len(got) != 0 {
		t.Fatalf("acknowledged messages came again: %+v", got)
	}
	// now bob is online: live delivery, nothing stored
	if sent, err := a.s.SendMessage(Message{Kind: KindMessage, To: "bob@x", Body: "live"}); err != nil || sent.Stored || sent.Sessions != 1 {
		t.Fatalf("live send: %+v %v", sent, err)
	}
}

// TestOfflineRefusedLikeNobody: a sender the policy refuses, an unknown
// recipient and a blocked one all get today's unavailable, and nothing is
// stored; a full queue is a typed limit only for an allowed sender.
func TestOfflineRefusedLikeNobody(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x", "mallory@x", "carol@x")
	e.hub.cfg.Offline.Messages = 2
	e.befriend("alice@x", "bob@x")
	e.befriend("carol@x", "bob@x")
	m := e.connect("mallory@x", avail)
	c := e.connect("carol@x", avail)
	a := e.connect("alice@x", avail)
	_, want := m.s.Send(Message{Kind: KindMessage, To: "nobody@x", Body: "x"})
	if CodeOf(want) != CodeUnavailable {
		t.Fatalf("to nobody: %v", want)
	}
	if _, err := m.s.Send(Message{Kind: KindMessage, To: "bob@x", Body: "x"}); err == nil || err.Error() != want.Error() {
		t.Fatalf("stranger to bob: %v, want %v", err, want)
	}
	e.must(e.hub.Block(ctx, "bob@x", "carol@x"))
	if _, err := c.s.Send(Message{Kind: KindMessage, To: "bob@x", Body: "x"}); err == nil || err.Error() != want.Error() {
		t.Fatalf("blocked carol to bob: %v", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := a.s.Send(Message{Kind: KindMessage, To: "bob@x", Body: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.s.Send(Message{Kind: KindMessage, To: "bob@x", Body: "x"}); CodeOf(err) != CodeLimit {
		t.Fatalf("full queue: %v", err)
	}
	if _, err := m.s.Send(Message{Kind: KindMessage, To: "bob@x", Body: "x"}); err == nil || err.Error() != want.Error() {
		t.Fatalf("stranger to a full queue: %v", err)
	}
	l, err := e.st.StoredFor(ctx, "bob@x", e.clk.Now(), 10)
	e.must(err)
	if len(l) != 2 {
		t.Fatalf("stored %d, want 2 (alice's)", len(l))
	}
	// an expired message is not offered, and the sweep deletes it
	e.clk.Advance(DefaultOffline.TTL)
	b := e.connect("bob@x", avail)
	if got := storedIn(b.take()); len(got) != 0 {
		t.Fatalf("expired messages offered: %+v", got)
	}
	n, _, err := e.hub.SweepStored(ctx)
	e.must(err)
	if n != 2 {
		t.Fatalf("swept %d", n)
	}
}

// storedOnAck is bob's session where acks delete stored messages (as
// XMPP's), just handed a message alice stored for him.
func storedOnAck(t *testing.T) (*env, *sink) {
	t.Helper()
	e := newEnv(t, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	_, err := a.s.Send(Message{Kind: KindMessage, To: "bob@x", Body: "x", ID: "1"})
	e.must(err)
	b := e.open("bob@x", SessionOptions{Device: "xmpp", Payloads: true, StoredOnAck: true, Presence: avail})
	if got := storedIn(b.take()); len(got) != 1 {
		t.Fatalf("got %+v", got)
	}
	return e, b
}

// TestOfflineAckedByTransport: where acks of deliveries mean the client
// has them (XMPP), an ack deletes the stored messages it covers.
func TestOfflineAckedByTransport(t *testing.T) {
	e, b := storedOnAck(t)
	b.s.Ack(b.s.Seq())
	l, err := e.st.StoredFor(ctx, "bob@x", e.clk.Now(), 10)
	e.must(err)
	if len(l) != 0 {
		t.Fatalf("left after the ack: %+v", l)
	}
}

// TestOfflineMessageStoredWhileConnecting: a message stored after a
// session read the queue reaches it (offerNew), not only the next one.
func TestOfflineStoredAfterOffer(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	// bob's only session is connected but not available: a bare message is stored
	b := e.connect("bob@x", nil)
	b.take()
	if sent, err := a.s.SendMessage(Message{Kind: KindMessage, To: "bob@x", Body: "x"}); err != nil || !sent.Stored {
		t.Fatalf("%+v %v", sent, err)
	}
	e.must(b.s.SetPresence(*avail))
	if got := storedIn(b.take()); len(got) != 1 {
		t.Fatalf("got %+v", got)
	}
	// hub.keep racing with the offer: simulate a message stored after it
	sm := store.StoredMessage{Account: "bob@x", Sender: "alice@x", From: a.s.Address(), Body: "late", Sent: e.clk.Now(), Expires: e.clk.Now().Add(time.Hour)}
	seq, _, err := e.st.PutStored(ctx, sm, store.StoredLimits{})
	e.must(err)
	sm.Seq = seq
	if n := e.hub.offerNew(sm); n != 1 {
		t.Fatalf("offerNew reached %d", n)
	}
	if got := storedIn(b.take()); len(got) != 1 || got[0].Message.Body != "late" {
		t.Fatalf("got %+v", got)
	}
}

// TestOfflineInApps: stored messages reach the recipient's app sessions
// whose grant covers the sender with the message scope, the sender named
// by handle; an app whose grant does not cover the sender gets nothing.
// An app sender stores only for recipients its grant covers.
func TestOfflineInApps(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x", "carol@x")
	e.befriend("alice@x", "bob@x")
	e.befriend("carol@x", "bob@x")
	e.grant("bob@x", "chat", allReads, picked("alice@x"))
	e.grant("alice@x", "chat", allReads, picked("carol@x")) // not bob
	a := e.connect("alice@x", avail)
	c := e.connect("carol@x", avail)
	_, err := a.s.Send(Message{Kind: KindMessage, To: "bob@x", Body: "from alice", ID: "a1"})
	e.must(err)
	_, err = c.s.Send(Message{Kind: KindMessage, To: "bob@x", Body: "from carol", ID: "c1"})
	e.must(err)
	app := e.openApp("bob@x", "chat", allReads, avail)
	got := storedIn(app.take())
	if len(got) != 1 || got[0].Message.Body != "from alice" || got[0].Message.From != e.handle("chat", "bob@x", "alice@x") ||
		got[0].Message.To != e.handle("chat", "bob@x", "bob@x") {
		t.Fatalf("the app got %+v", got)
	}
	first := e.connect("bob@x", avail)
	if got := storedIn(first.take()); len(got) != 2 {
		t.Fatalf("first-party got %+v", got)
	}
	// alice's app session cannot store for bob: its grant does not cover him
	aa := e.openApp("alice@x", "chat", allReads, avail)
	first.s.Close()
	app.s.Close()
	if _, err := aa.s.Send(Message{Kind: KindMessage, To: e.handle("chat", "alice@x", "bob@x"), Body: "x"}); CodeOf(err) != CodeUnavailable {
		t.Fatalf("app sender outside its grant: %v", err)
	}
}

// TestHistory: a delivered or stored 1-1 text message is in both
// parties' histories; paging; the switch and erase.
func TestHistory(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.befriend("alice@x", "bob@x")
	a := e.connect("alice@x", avail)
	for _, body := range []string{"1", "2", "3"} {
		_, err := a.s.Send(Message{Kind: KindMessage, To: "bob@x", Body: body})
		e.must(err)
	}
	b := e.connect("bob@x", avail)
	_, err := b.s.Send(Message{Kind: KindMessage, To: "alice@x", Body: "4"})
	e.must(err)
	page, complete, err := a.s.History(ctx, store.ArchiveQuery{Max: 3, Last: true})
	e.must(err)
	if len(page) != 3 || page[0].Body != "2" || page[2].Body != "4" || page[2].Outgoing || !page[0].Outgoing || complete {
		t.Fatalf("alice's last page %+v %v", page, complete)
	}
	page, _, err = b.s.History(ctx, store.ArchiveQuery{With: "alice@x"})
	e.must(err)
	if len(page) != 4 || page[0].Outgoing || !page[3].Outgoing {
		t.Fatalf("bob's history %+v", page)
	}
	e.must(e.hub.SetHistory(ctx, "bob@x", false))
	_, err = a.s.Send(Message{Kind: KindMessage, To: "bob@x", Body: "5"})
	e.must(err)
	if page, _, _ := b.s.History(ctx, store.ArchiveQuery{}); len(page) != 4 {
		t.Fatalf("archived while off: %d", len(page))
	}
	if page, _, _ := a.s.History(ctx, store.ArchiveQuery{}); len(page) != 5 {
		t.Fatalf("alice's (on) history: %d", len(page))
	}
	n, err := e.hub.EraseHistory(ctx, "alice@x")
	e.must(err)
	if n != 5 {
		t.Fatalf("erased %d", n)
	}
	e.grant("alice@x", "chat", allReads, picked("bob@x"))
	app := e.openApp("alice@x", "chat", allReads, nil)
	if _, _, err := app.s.History(ctx, store.ArchiveQuery{}); CodeOf(err) != CodeForbidden {
		t.Fatalf("an app reads history: %v", err)
	}
}

// TestAckWritesStore: an ack that deletes stored messages says so before
// it is made (a transport that must not wait leaves it to a reader), and
// so does an ack beyond what was sent (what it covers may grow); an ack of
// events alone does not.
func TestAckWritesStore(t *testing.T) {
	e, b := storedOnAck(t)
	if !b.s.AckWritesStore(b.s.Seq()) {
		t.Fatal("an ack deleting a stored message: no store write said")
	}
	if !b.s.AckWritesStore(b.s.Seq() + 1) {
		t.Fatal("an ack beyond what was sent: no store write said")
	}
	b.s.Ack(b.s.Seq())
	if b.s.AckWritesStore(b.s.Seq()) {
		t.Fatal("an ack with nothing stored left to delete: a store write said")
	}
	c := e.connect("alice@x", avail) // events only: alice's second session sees bob's presence
	c.take()
	if c.s.AckWritesStore(c.s.Seq()) {
		t.Fatal("an ack of events alone: a store write said")
	}
}
