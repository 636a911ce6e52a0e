package c2s

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
)

// mutual creates bob and makes alice and him subscribe to each other.
func mutual(t *testing.T, r rig) {
	t.Helper()
	ctx := context.Background()
	if _, err := r.auth.CreateAccount(ctx, "bob@localhost", "bob-password"); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{"alice@localhost", "bob@localhost"}, {"bob@localhost", "alice@localhost"}} {
		if err := r.hub.Subscribe(ctx, p[0], p[1]); err != nil {
			t.Fatal(err)
		}
		if err := r.hub.Approve(ctx, p[1], p[0]); err != nil {
			t.Fatal(err)
		}
	}
}

// bobOnline makes bob alice's mutual contact and connects him, available,
// on a core session of his own.
func bobOnline(t *testing.T, r rig) (*core.Session, *coreSink) {
	t.Helper()
	mutual(t, r)
	sink := &coreSink{woke: make(chan struct{}, 1)}
	bob, err := r.hub.Connect(context.Background(), "bob@localhost",
		core.SessionOptions{Device: "test", Presence: &core.Presence{Availability: core.Available}}, sink)
	if err != nil {
		t.Fatal(err)
	}
	return bob, sink
}

// TestMessageToAConnectedResourceNotYetAvailable: RFC 6121 § 8.5.3.1 — a
// message to a full address whose resource is connected is delivered to
// it, whether or not it has sent presence; the bare address still reaches
// only available resources (§ 8.5.2.1), so there it is stored for later
// (XEP-0160) and delivered after initial presence with a delay stamp.
func TestMessageToAConnectedResourceNotYetAvailable(t *testing.T) {
	r := start(t, true)
	bob, _ := bobOnline(t, r)
	x := r.signIn(t, "alice")
	x.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>`)
	x.expect("iq") // no presence sent: connected, not available

	if sent, err := bob.SendMessage(core.Message{ID: "b1", Kind: core.KindMessage, Type: core.TypeChat, To: "alice@localhost", Body: "to the bare address"}); err != nil || !sent.Stored {
		t.Fatalf("a message to the bare address of an account with no available resource: %+v %v", sent, err)
	}
	if n, err := bob.Send(core.Message{Kind: core.KindMessage, Type: core.TypeChat, To: "alice@localhost/phone", Body: "to the resource"}); err != nil || n != 1 {
		t.Fatalf("a message to the connected resource: %d, %v", n, err)
	}
	m := x.expect("message")
	if m.AttrValue("from") != bob.Address() || m.ChildText(nsClient, "body") != "to the resource" {
		t.Fatalf("got %s", m.String(""))
	}
	x.send(`<presence/>`)
	m = x.expect("message")
	d := m.Child(nsDelay, "delay")
	if m.AttrValue("id") != "b1" || m.ChildText(nsClient, "body") != "to the bare address" || d == nil || d.AttrValue("stamp") == "" || d.AttrValue("from") != "localhost" {
		t.Fatalf("the stored message: %s", m.String(""))
	}
}

// TestLastActivityOnTheServersClock: XEP-0012 counts a contact's seconds
// offline on the server's clock, the one the core stamped the departure
// with.
func TestLastActivityOnTheServersClock(t *testing.T) {
	fake := clock.NewFake(time.Unix(1_000_000_000, 0))
	r := startClock(t, true, fake)
	bob, _ := bobOnline(t, r)
	bob.Close()
	fake.Advance(90 * time.Second)
	x := r.signIn(t, "alice")
	x.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`)
	x.expect("iq")
	x.send(`<iq type='get' id='l1' to='bob@localhost'><query xmlns='jabber:iq:last'/></iq>`)
	res := x.expect("iq")
	if q := res.Child("jabber:iq:last", "query"); q == nil || q.AttrValue("seconds") != "90" {
		t.Fatalf("got %s, want 90 seconds", res.String(""))
	}
}

// TestContactDiscoInfo: XEP-0030 of another account's bare address is
// answered for it by the server (RFC 6120 § 10.3.3): a registered account
// and PEP service to a contact that may see it, service-unavailable —
// word for word that of an account that does not exist — to others.
func TestContactDiscoInfo(t *testing.T) {
	r := start(t, true)
	bobOnline(t, r)
	x := r.signIn(t, "alice")
	x.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`)
	x.expect("iq")
	x.send(`<iq type='get' id='d1' to='bob@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	res := x.expect("iq")
	q := res.Child("http://jabber.org/protocol/disco#info", "query")
	if res.AttrValue("type") != "result" || q == nil || !strings.Contains(q.String(""), `category="account"`) && !strings.Contains(q.String(""), `category='account'`) {
		t.Fatalf("bob's disco#info: %s", res.String(""))
	}
	var answers []string
	for _, to := range []string{"nobody@localhost", "bob@localhost"} {
		x.send(`<iq type='get' id='d2' to='%s'><query xmlns='http://jabber.org/protocol/disco#info' node='x'/></iq>`, to)
		res := x.expect("iq")
		if res.AttrValue("type") != "error" {
			t.Fatalf("disco#info of a node of %s: %s", to, res.String(""))
		}
		answers = append(answers, strings.Replace(res.String(""), to, "", 1))
	}
	if answers[0] != answers[1] {
		t.Fatalf("a node of bob's and of nobody's answered differently: %v", answers)
	}
	x.send(`<iq type='get' id='d3' to='nobody@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if res := x.expect("iq"); res.AttrValue("type") != "error" {
		t.Fatalf("disco#info of nobody: %s", res.String(""))
	}
}
