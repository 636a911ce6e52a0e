package c2s

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
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
	bob, bobSink := bobOnline(t, r)

	x := r.signIn(t, "alice")
	enabled := bindResumable(x)
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

// TestResumptionWindow: XEP-0198's window is counted from the drop, not
// from <enable/>: a stream older than the core's grace period (and than the
// window itself) is resumed within the window after its connection drops,
// its core session online all along, and not after it.
func TestResumptionWindow(t *testing.T) {
	fake := clock.NewFake(time.Unix(1_000_000_000, 0))
	r := startClock(t, true, fake, func(s *Server) { s.ResumeWindow = 5 * time.Minute })
	x := r.signIn(t, "alice")
	enabled := bindResumable(x)
	id := enabled.AttrValue("id")
	if enabled.AttrValue("max") != "300" {
		t.Fatalf("enabled: %s, want max='300'", enabled.String(""))
	}
	fake.Advance(time.Hour) // a long-lived stream
	x.conn.Close()
	waitDropped(t, r, id)
	fake.Advance(4 * time.Minute) // far past the core's grace period, within the window

	y := r.signIn(t, "alice")
	y.send(`<resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/>`, id)
	if el := y.next(); el.Name.Local != "resumed" {
		t.Fatalf("resumption within the window: %s", el.String(""))
	}
	y.conn.Close()
	waitDropped(t, r, id)
	fake.Advance(5*time.Minute + time.Second)

	z := r.signIn(t, "alice")
	z.send(`<resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/>`, id)
	if el := z.next(); el.Name.Local != "failed" {
		t.Fatalf("resumption after the window: %s", el.String(""))
	}
	z.send(`<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>`)
	z.expect("iq")
}

// TestResumeWhileConnected: a client resumes its stream before the server
// noticed the old connection drop (XEP-0198 § 5 lets it): the old stream
// is ended and the session goes on on the new one; the old client signing
// out on its dying stream does not end the session the new one carries.
func TestResumeWhileConnected(t *testing.T) {
	r := start(t, true)
	bob, _ := bobOnline(t, r)
	x := r.signIn(t, "alice")
	id := bindResumable(x).AttrValue("id")
	x.send(`<presence/>`)

	y := r.signIn(t, "alice")
	y.send(`<resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/>`, id)
	y.expect("resumed")
	x.send(`</stream:stream>`)
	for {
		if _, err := x.rd.Next(); err != nil {
			break // the server ended the old stream
		}
	}
	if _, err := bob.Send(core.Message{Kind: core.KindMessage, To: "alice@localhost/phone", Body: "still there?"}); err != nil {
		t.Fatal(err)
	}
	y.expectBody("still there?")
}

// TestResumeAfterRebind: once a new binding took the resource of a dropped
// stream, resuming that stream fails and leaves the new binding alone
// (it is another session, not the one the client left).
func TestResumeAfterRebind(t *testing.T) {
	r := start(t, true)
	bob, _ := bobOnline(t, r)
	x := r.signIn(t, "alice")
	id := bindResumable(x).AttrValue("id")
	x.conn.Close()
	waitDropped(t, r, id)

	z := r.signIn(t, "alice")
	z.send(`<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>`)
	if res := z.expect("iq"); res.AttrValue("type") != "result" {
		t.Fatalf("bind: %s", res.String(""))
	}
	y := r.signIn(t, "alice")
	y.send(`<resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/>`, id)
	if f := y.expect("failed"); !strings.Contains(f.String(""), "item-not-found") {
		t.Fatalf("resuming a stream whose resource was bound again: %s", f.String(""))
	}
	if _, err := bob.Send(core.Message{Kind: core.KindMessage, To: "alice@localhost/phone", Body: "to the new one"}); err != nil {
		t.Fatal(err)
	}
	z.expectBody("to the new one")
}

// expectBody skips to the message with that body.
func (x *rawStream) expectBody(body string) {
	x.t.Helper()
	for {
		m := x.expect("message")
		if b := m.Child("jabber:client", "body"); b != nil && b.Text() == body {
			return
		}
	}
}

// waitDropped waits until the server has seen the connection of stream id
// drop (its window started; the core session is detached).
func waitDropped(t *testing.T, r rig, id string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		r.srv.resume.mu.Lock()
		e, ok := r.srv.resume.m[id]
		r.srv.resume.mu.Unlock()
		if ok && !e.until.IsZero() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not notice the connection drop")
		}
	}
}

// TestResumableSweep: the sweep of a large table takes the streams whose
// window is over and keeps those still connected, however old.
func TestResumableSweep(t *testing.T) {
	var r resumable
	now := time.Unix(1_000_000_000, 0)
	r.put("connected", resumeEntry{account: "alice@localhost", conn: &conn{}}, now)
	for i := 0; len(r.m) < maxResumable/2; i++ {
		r.put(strconv.Itoa(i), resumeEntry{account: "alice@localhost", until: now.Add(time.Minute)}, now)
	}
	later := now.Add(24 * time.Hour)
	r.put("new", resumeEntry{account: "alice@localhost", conn: &conn{}}, later)
	if len(r.m) != 2 {
		t.Fatalf("%d entries after the sweep, want the connected and the new one", len(r.m))
	}
	if _, ok := r.take("connected", "alice@localhost", later); !ok {
		t.Fatal("a connected stream was not resumable")
	}
}

// bindResumable binds alice/phone on x and enables stream management with
// resumption; it returns the server's <enabled/>.
func bindResumable(x *rawStream) *xmlstream.Element {
	x.t.Helper()
	x.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>`)
	x.expect("iq")
	x.send(`<enable xmlns='urn:xmpp:sm:3' resume='true'/>`)
	return x.expect("enabled")
}
