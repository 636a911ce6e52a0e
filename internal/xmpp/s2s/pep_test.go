package s2s_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/core"
)

// personal matches a personal event of subject on topic whose data has
// want (or a retraction when want is "").
func personal(subject, topic, want string) func(core.Event) bool {
	return func(ev core.Event) bool {
		p, ok := ev.(core.PersonalEvent)
		if !ok || p.Item.Account != subject || p.Item.Topic != topic {
			return false
		}
		if want == "" {
			return p.Retracted
		}
		var m map[string]any
		json.Unmarshal([]byte(p.Item.Data), &m)
		for _, v := range m {
			if v == want {
				return !p.Retracted
			}
		}
		return false
	}
}

// TestFederationPEP: personal events cross domains as PEP notifications,
// decided by the policy of presence at the subject's server and again at
// the viewer's: alice's mood reaches bob, bob's tune alice, a retraction
// too; a resource coming online gets the last items; a remote stranger's
// notification reaches nobody, nor does one sent for a blocked viewer.
func TestFederationPEP(t *testing.T) {
	a, b, alice, bob := friends(t)
	carol := a.connect(t, "carol@a.test", &core.Presence{Availability: core.Available})

	if _, err := alice.s.Publish(ctx, core.TopicMood, "", json.RawMessage(`{"mood":"happy","text":"sunny"}`)); err != nil {
		t.Fatal(err)
	}
	bob.await("alice's mood", personal("alice@a.test", core.TopicMood, "happy"))
	if _, err := bob.s.Publish(ctx, core.TopicTune, "", json.RawMessage(`{"artist":"Yes","title":"Roundabout"}`)); err != nil {
		t.Fatal(err)
	}
	alice.await("bob's tune", personal("bob@b.test", core.TopicTune, "Roundabout"))
	if err := bob.s.Retract(ctx, core.TopicTune); err != nil {
		t.Fatal(err)
	}
	alice.await("bob's tune retracted", personal("bob@b.test", core.TopicTune, ""))
	for _, ev := range carol.drain() {
		if p, ok := ev.(core.PersonalEvent); ok {
			t.Fatalf("carol, who does not see bob, got %+v", p)
		}
	}

	// a new resource of bob's gets alice's last mood when it comes online
	bob2 := b.connect(t, "bob@b.test", &core.Presence{Availability: core.Available})
	bob2.await("alice's last mood", personal("alice@a.test", core.TopicMood, "happy"))

	// at bob's server: a notification from carol@a.test, whom bob does not
	// see, is dropped; alice's after it (same stream, in order) arrives
	g := asA(t, b)
	g.send(`<message from='carol@a.test' to='bob@b.test' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='http://jabber.org/protocol/mood'><item id='x'><mood xmlns='http://jabber.org/protocol/mood'><angry/></mood></item></items></event></message>`)
	g.send(`<message from='alice@a.test' to='bob@b.test' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='http://jabber.org/protocol/activity'><item id='y'><activity xmlns='http://jabber.org/protocol/activity'><working><coding/></working></activity></item></items></event></message>`)
	bob.await("alice's activity", personal("alice@a.test", core.TopicActivity, "working"))
	for _, ev := range bob.drain() {
		if p, ok := ev.(core.PersonalEvent); ok && p.Item.Account == "carol@a.test" {
			t.Fatalf("bob got the notification of carol, whom he does not see: %+v", p)
		}
		if m, ok := ev.(core.MessageEvent); ok {
			t.Fatalf("a notification taken as a message: %+v", m)
		}
	}

	// alice blocks bob: her next mood does not reach him; carol's change
	// of presence, after it, shows it was sent
	if err := a.hub.Block(ctx, "alice@a.test", "bob@b.test"); err != nil {
		t.Fatal(err)
	}
	bob.await("alice absent", presenceOf("alice@a.test", core.Unavailable, ""))
	if _, err := alice.s.Publish(ctx, core.TopicMood, "", json.RawMessage(`{"mood":"sad"}`)); err != nil {
		t.Fatal(err)
	}
	if err := b.hub.Subscribe(ctx, "bob@b.test", "carol@a.test"); err != nil {
		t.Fatal(err)
	}
	if err := a.hub.Approve(ctx, "carol@a.test", "bob@b.test"); err != nil {
		t.Fatal(err)
	}
	bob.await("carol's presence", presenceOf("carol@a.test", core.Available, ""))
	for _, ev := range bob.drain() {
		if p, ok := ev.(core.PersonalEvent); ok && p.Item.Account == "alice@a.test" {
			t.Fatalf("bob got alice's event after her block: %+v", p)
		}
	}
}

// TestSessionCapabilities: a local session's presence to another server
// carries presenced's capabilities (XEP-0115), whose description, asked at
// the session's full address with the announced node, the server answers
// itself: +notify for each topic, so that another server's PEP service
// (which notifies only resources that ask) notifies local users at all.
// Prosody and ejabberd do so only then (TestProsodyInterop,
// TestEjabberdInterop: without it, carol's tune never reached alice).
func TestSessionCapabilities(t *testing.T) {
	a, _, alice, bob := friends(t)
	_, resource, _ := strings.Cut(alice.s.Address(), "/")
	view := core.PresenceView{Address: "alice@a.test", Availability: core.Available,
		Sessions: []core.SessionPresence{{Resource: resource, Presence: core.Presence{Availability: core.Available}}}}
	els := a.fed.StanzasFor(core.PresenceEvent{View: view}, core.Target{Account: "bob@b.test"})
	if len(els) != 1 {
		t.Fatalf("presence to bob: %d stanzas", len(els))
	}
	c := els[0].Child("http://jabber.org/protocol/caps", "c")
	if c == nil || c.AttrValue("hash") != "sha-1" || c.AttrValue("ver") == "" {
		t.Fatalf("presence without capabilities: %s", els[0].String("jabber:server"))
	}
	node := c.AttrValue("node") + "#" + c.AttrValue("ver")

	typ, ans := query(t, bob, alice.s.Address(), "c1", `<query xmlns='http://jabber.org/protocol/disco#info' node='`+node+`'/>`)
	if typ != "result" || !strings.Contains(ans, "http://jabber.org/protocol/mood+notify") || !strings.Contains(ans, node) {
		t.Fatalf("the capabilities' description: %s %s", typ, ans)
	}
	for _, ev := range alice.drain() {
		if m, ok := ev.(core.MessageEvent); ok && m.Message.Kind == core.KindIQ {
			t.Fatalf("the server's own query reached alice's session: %+v", m)
		}
	}
}
