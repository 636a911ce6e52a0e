package cluster

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
)

var appScopes = []string{core.ScopePresenceRead, core.ScopePresencePublish, core.ScopeEventsRead, core.ScopeMessage, core.ScopeSignal}

// grant gives account's grant to app (registered if new), as the consent
// and grants pages would, before account's sessions start.
func (d *domain) grant(account, app string, change core.GrantChange) {
	d.t.Helper()
	st := d.open()
	if _, err := st.GetApp(ctx, app); errors.Is(err, store.ErrNotFound) {
		must(d.t, st.CreateApp(ctx, store.App{ID: app, Name: app, RedirectURIs: []string{"https://" + app + ".example/cb"},
			Scopes: appScopes, Public: true, CreatedAt: time.Now()}))
	}
	h := d.hub()
	must(d.t, h.AllowApp(ctx, account, app, appScopes))
	_, err := h.EditGrant(ctx, account, app, change)
	must(d.t, err)
}

// connectApp opens account's session on n in app, with all of appScopes.
func (n *node) connectApp(t *testing.T, account, app string) *client {
	return n.open(t, account, core.SessionOptions{Device: app, Channel: core.Channel{App: app}, Scopes: appScopes, Presence: avail})
}

// mentionsAny reports whether ev names one of the strings.
func mentionsAny(ev core.Event, names ...string) bool {
	var s string
	switch ev := ev.(type) {
	case core.PresenceEvent:
		s = ev.View.Address
	case core.MessageEvent:
		s = ev.Message.From + " " + ev.Message.To
	case core.PersonalEvent:
		s = ev.Item.Account
	case core.Snapshot:
		for _, v := range ev.Presence {
			s += v.Address + " "
		}
	}
	for _, n := range names {
		if strings.Contains(s, n) {
			return true
		}
	}
	return false
}

// relay sends the text message m from one session, which must reach one
// session, and returns it as the other session gets it.
func relay(t *testing.T, from, to *client, m core.Message) core.Message {
	t.Helper()
	m.Kind = core.KindMessage
	if n, err := from.s.Send(m); err != nil || n != 1 {
		t.Fatalf("%s to %s: %d, %v", from.s.Address(), m.To, n, err)
	}
	return to.await("message "+m.ID, func(ev core.Event) bool {
		got, ok := ev.(core.MessageEvent)
		return ok && got.Message.ID == m.ID
	}).(core.MessageEvent).Message
}

// TestAppSessionAcrossNodes: bob's session in the app "chat", on node B,
// sees what his grant allows of users on node A: alice, whom the grant
// covers, by her handle and without devices; not carol, a contact the
// grant does not cover; dave, covered, as offline, since dave appears
// offline in that app (his node says so with his presence). It writes to alice by handle, with its grant's
// rules (not to carol), and calls her. When A dies, alice goes offline in
// the app too.
func TestAppSessionAcrossNodes(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "bob@x", "carol@x", "dave@x")
	for _, o := range []string{"alice@x", "carol@x", "dave@x"} {
		d.befriend("bob@x", o)
	}
	mode := store.ContactsPicked
	d.grant("bob@x", "chat", core.GrantChange{Contacts: &mode, Picked: []string{"alice@x", "dave@x"}})
	hidden := true
	d.grant("dave@x", "chat", core.GrantChange{Hidden: &hidden})
	a, b := d.start(url, "a", nil), d.start(url, "b", nil)
	hAlice, hCarol, hDave := d.handles.Of("chat", "bob@x", "alice@x"), d.handles.Of("chat", "bob@x", "carol@x"), d.handles.Of("chat", "bob@x", "dave@x")

	alice := a.open(t, "alice@x", core.SessionOptions{Device: "d", Presence: &core.Presence{Availability: core.DND, Status: "busy"}, Accepts: takesCalls})
	carol := a.connect(t, "carol@x", avail)
	a.connect(t, "dave@x", avail)
	eventually(t, "node b to learn that a holds alice, carol and dave", func() bool {
		return b.Holds("alice@x") && b.Holds("carol@x") && b.Holds("dave@x")
	})

	app := b.connectApp(t, "bob@x", "chat")
	sawDave := false
	var got *core.PresenceEvent
	app.await("alice and dave in the app, shown from node a", func(ev core.Event) bool {
		if mentionsAny(ev, "alice@x", "carol@x", "dave@x", hCarol) {
			t.Fatalf("the app learned an address or an uncovered contact: %+v", ev)
		}
		if p, ok := ev.(core.PresenceEvent); ok && p.View.Address == hDave {
			if p.View.Availability != core.Unavailable {
				t.Fatalf("dave, hidden in the app, shown to it: %+v", p.View)
			}
			sawDave = true
		}
		if p, ok := ev.(core.PresenceEvent); ok && p.View.Address == hAlice && p.View.Availability == core.DND {
			got = &p
		}
		return got != nil && sawDave
	})
	if got.View.Status != "busy" || got.View.Sessions != nil {
		t.Fatalf("the app sees alice as %+v", got.View)
	}

	must(t, carol.s.SetPresence(core.Presence{Availability: core.Away, Status: "carol's"}))
	must(t, alice.s.SetPresence(core.Presence{Availability: core.Away, Status: "lunch"}))
	app.await("alice's change in the app", func(ev core.Event) bool {
		if mentionsAny(ev, "alice@x", "carol@x", "dave@x", hCarol) {
			t.Fatalf("the app learned an address or an uncovered contact: %+v", ev)
		}
		if p, ok := ev.(core.PresenceEvent); ok && p.View.Address == hDave && p.View.Availability != core.Unavailable {
			t.Fatalf("dave, hidden in the app, shown to it: %+v", p.View)
		}
		p, ok := ev.(core.PresenceEvent)
		return ok && p.View.Address == hAlice && p.View.Status == "lunch"
	})

	if m := relay(t, app, alice, core.Message{ID: "m1", To: hAlice, Body: "from the app"}); m.From != app.s.Address() || m.Body != "from the app" {
		t.Fatalf("alice got %+v", m)
	}
	if _, err := app.s.Send(core.Message{Kind: core.KindMessage, ID: "m2", To: hCarol, Body: "?"}); core.CodeOf(err) != core.CodeUnavailable {
		t.Fatalf("the app writes to carol, whom its grant does not cover: %v", err)
	}
	if _, err := app.s.Send(core.Message{Kind: core.KindMessage, ID: "m3", To: hDave, Body: "?"}); core.CodeOf(err) != core.CodeUnavailable {
		t.Fatalf("the app writes to dave, offline in the app: %v", err)
	}

	// alice answers bob: his app's session on b takes it, by handles
	if m := relay(t, alice, app, core.Message{ID: "r1", To: "bob@x", Body: "hi app"}); m.From != hAlice || m.Body != "hi app" {
		t.Fatalf("the app got %+v", m)
	}

	// the app calls alice on a: rung there, answered, named by handle
	id, rung, err := app.s.Call(hAlice, nil)
	if err != nil || rung != 1 {
		t.Fatalf("the app calls alice on a: rang %d, %v", rung, err)
	}
	alice.await("the app's call", callEvent(id, core.CallIncoming, app.s.Address()))
	must(t, alice.s.Answer(id, nil))
	app.await("alice's answer, by her handle", callEvent(id, core.CallAnswered, hAlice))
	must(t, app.s.Hangup(id))
	alice.await("the app's hang-up", ended(id, core.EndHangup))
	if _, _, err := app.s.Call(hDave, nil); core.CodeOf(err) != core.CodeUnavailable {
		t.Fatalf("the app calls dave, offline in the app: %v", err)
	}

	a.Kill()
	app.await("alice offline in the app once her node died", func(ev core.Event) bool {
		p, ok := ev.(core.PresenceEvent)
		return ok && p.View.Address == hAlice && p.View.Availability == core.Unavailable
	})
}

// TestAppSessionOfASubjectElsewhere: alice's own session in an app, on
// node B, sees her presence from node A (her own, in her app, by her
// handle), and a message to bob's first-party session on A reaches his
// app session on C, decided by bob's grant there.
func TestAppSessionOfASubjectElsewhere(t *testing.T) {
	url := natsServer(t).ClientURL()
	d := newDomain(t, "alice@x", "bob@x")
	d.befriend("alice@x", "bob@x")
	all := store.ContactsAll
	d.grant("bob@x", "chat", core.GrantChange{Contacts: &all})
	a, c := d.start(url, "a", nil), d.start(url, "c", nil)

	alice := a.connect(t, "alice@x", avail)
	bobWeb := a.connect(t, "bob@x", avail)
	eventually(t, "node c to learn that a holds alice and bob", func() bool { return c.Holds("alice@x") && c.Holds("bob@x") })
	bobApp := c.connectApp(t, "bob@x", "chat")
	eventually(t, "node a to learn that c holds bob", func() bool { return a.holders("bob@x") == 1 })

	n, err := alice.s.Send(core.Message{Kind: core.KindMessage, ID: "x1", To: "bob@x", Body: "both devices"})
	if err != nil || n < 1 {
		t.Fatalf("alice to bob: %d, %v", n, err)
	}
	bobWeb.await("the message on bob's first-party session", func(ev core.Event) bool {
		m, ok := ev.(core.MessageEvent)
		return ok && m.Message.ID == "x1"
	})
	hAlice := d.handles.Of("chat", "bob@x", "alice@x")
	got := bobApp.await("the message on bob's app session, on another node", func(ev core.Event) bool {
		m, ok := ev.(core.MessageEvent)
		return ok && m.Message.ID == "x1"
	}).(core.MessageEvent)
	if got.Message.From != hAlice {
		t.Fatalf("the app sees the sender as %q", got.Message.From)
	}
	must(t, bobWeb.s.SetPresence(core.Presence{Availability: core.Away, Status: "from the web", Priority: 5}))
	hBob := d.handles.Of("chat", "bob@x", "bob@x")
	bobApp.await("bob's own change, in his app on another node", func(ev core.Event) bool {
		p, ok := ev.(core.PresenceEvent)
		return ok && p.View.Address == hBob && p.View.Status == "from the web"
	})
}
