package c2s

import (
	"context"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/core"
)

// coreSink is a core session's end that only wakes.
type coreSink struct{ woke chan struct{} }

func (k *coreSink) Wake() {
	select {
	case k.woke <- struct{}{}:
	default:
	}
}
func (k *coreSink) Close(core.Goaway) {}

// TestStreamManagementResumes walks XEP-0198 by hand: enable with
// resumption, a message from a contact goes unacknowledged, the connection
// drops, a new connection resumes with the old count and gets the message
// again; the contact never sees the user leave. An unknown id fails.
func TestStreamManagementResumes(t *testing.T) {
	r := start(t, true)
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
	bobSink := &coreSink{woke: make(chan struct{}, 1)}
	bob, err := r.hub.Connect(ctx, "bob@localhost", core.SessionOptions{Device: "test", Presence: &core.Presence{Availability: core.Available}}, bobSink)
	if err != nil {
		t.Fatal(err)
	}

	x := r.signIn(t, "alice")
	x.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>`)
	x.expect("iq")
	x.send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
	enabled := x.expect("enabled")
	id := enabled.AttrValue("id")
	if id == "" || enabled.AttrValue("resume") != "true" {
		t.Fatalf("enabled: %s", enabled.String(""))
	}
	x.send(`<presence/><r xmlns='urn:xmpp:sm:3'/>`)
	// in any order: the answer to our request, bob's presence, the server's request
	for seen := map[string]bool{}; !seen["a"] || !seen["presence"] || !seen["r"]; {
		el := x.next()
		seen[el.Name.Local] = true
		if el.Name.Local == "a" && el.AttrValue("h") != "1" {
			t.Fatalf("the server counted %s stanzas, want 1", el.AttrValue("h"))
		}
	}
	x.send(`<a xmlns='urn:xmpp:sm:3' h='1'/>`) // bob's presence arrived
	if _, err := bob.Send(core.Message{Kind: core.KindMessage, To: "alice@localhost", Body: "while you were away"}); err != nil {
		t.Fatal(err)
	}
	x.expect("message")
	x.conn.Close() // dropped before acknowledging it

	y := r.signIn(t, "alice")
	y.send(`<resume xmlns='urn:xmpp:sm:3' previd='%s' h='1'/>`, id)
	resumed := y.expect("resumed")
	if resumed.AttrValue("previd") != id || resumed.AttrValue("h") != "1" {
		t.Fatalf("resumed: %s", resumed.String(""))
	}
	m := y.expect("message")
	if b := m.Child("jabber:client", "body"); b == nil || b.Text() != "while you were away" {
		t.Fatalf("resent: %s", m.String(""))
	}
	y.send(`<a xmlns='urn:xmpp:sm:3' h='2'/>`)
	// bob saw alice online throughout
	for _, d := range bob.Pull(bobSink, 100) {
		if p, ok := d.Event.(core.PresenceEvent); ok && p.View.Address == "alice@localhost" && p.View.Availability == core.Unavailable {
			t.Fatal("bob saw alice leave during the resumption")
		}
	}

	z := r.signIn(t, "alice")
	z.send(`<resume xmlns='urn:xmpp:sm:3' previd='made-up' h='0'/>`)
	if f := z.expect("failed"); !strings.Contains(f.String(""), "item-not-found") {
		t.Fatalf("unknown id: %s", f.String(""))
	}
	// after a failed resumption the client may bind
	z.send(`<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`)
	if res := z.expect("iq"); res.AttrValue("type") != "result" {
		t.Fatalf("bind after failed resume: %s", res.String(""))
	}
}
