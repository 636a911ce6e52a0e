package core

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/store"
)

var allReads = []string{ScopePresenceRead, ScopeEventsRead, ScopeMessage, ScopeSignal, ScopePresencePublish, ScopeEventsPublish}

// grant registers app if it is new and gives it account's grant, as the
// consent page (scopes) and the grants page (change) would.
func (e *env) grant(account, app string, scopes []string, change GrantChange) {
	e.t.Helper()
	if _, err := e.st.GetApp(ctx, app); errors.Is(err, store.ErrNotFound) {
		e.must(e.st.CreateApp(ctx, store.App{ID: app, Name: app, RedirectURIs: []string{"https://" + app + ".example/cb"},
			Scopes: append(slices.Clone(allReads), ScopeAddresses), Public: true, CreatedAt: e.clk.Now()}))
	}
	e.must(e.hub.AllowApp(ctx, account, app, scopes))
	_, err := e.hub.EditGrant(ctx, account, app, change)
	e.must(err)
}

func picked(addresses ...string) GrantChange {
	mode := store.ContactsPicked
	return GrantChange{Contacts: &mode, Picked: addresses}
}

// openApp opens account's session in app with its token's scopes.
func (e *env) openApp(account, app string, scopes []string, p *Presence) *sink {
	e.t.Helper()
	return e.open(account, SessionOptions{Device: app, Channel: Channel{App: app}, Scopes: scopes, Presence: p})
}

// handle is holder's handle for other in app.
func (e *env) handle(app, holder, other string) string { return e.hub.handles.Of(app, holder, other) }

// TestAppSeesOnlyGrantedContactsByHandle: an app's session is shown the
// contacts its grant covers, and only them, under handles made for the
// app and its user; the user's first-party session sees everyone by
// address.
func TestAppSeesOnlyGrantedContactsByHandle(t *testing.T) {
	e := newEnv(t, "dave@x", "alice@x", "bob@x")
	e.befriend("dave@x", "alice@x")
	e.befriend("dave@x", "bob@x")
	e.connect("alice@x", avail)
	b := e.connect("bob@x", avail)
	e.grant("dave@x", "chat", allReads, picked("alice@x"))
	app := e.openApp("dave@x", "chat", allReads, nil)
	web := e.connect("dave@x", nil)

	hAlice, hBob := e.handle("chat", "dave@x", "alice@x"), e.handle("chat", "dave@x", "bob@x")
	evs := app.take()
	snap, ok := evs[0].(Snapshot)
	if !ok || len(snap.Presence) != 1 || snap.Presence[0].Address != hAlice || snap.Presence[0].Availability != Available {
		t.Fatalf("the app's snapshot: %+v", evs)
	}
	if snap.Self.Address != e.handle("chat", "dave@x", "dave@x") || snap.Subscriptions != nil || snap.Privacy.Blocks != nil {
		t.Fatalf("the app's snapshot tells first-party business: %+v", snap)
	}
	if mentions(t, evs, "alice@x") || mentions(t, evs, "bob@x") || mentions(t, evs, hBob) {
		t.Fatalf("the app learned an address or an uncovered contact: %+v", evs)
	}
	if v, _ := presenceOf(web.take(), "bob@x"); v.Availability != Available {
		t.Fatalf("the first-party session must see bob: %+v", v)
	}

	b.s.SetPresence(Presence{Availability: Away, Status: "lunch"})
	if evs := app.take(); len(evs) != 0 {
		t.Fatalf("bob is not granted to the app: %+v", evs)
	}
	if v, _ := presenceOf(web.take(), "bob@x"); v.Status != "lunch" {
		t.Fatalf("first-party: %+v", v)
	}
	a2 := e.connect("alice@x", &Presence{Availability: DND, Priority: 9, Status: "busy"})
	v, ok := presenceOf(app.take(), hAlice)
	if !ok || v.Availability != DND || v.Status != "busy" || v.Sessions != nil {
		t.Fatalf("alice's change in the app: %+v", v)
	}
	a2.s.Close()
	app.take()

	// handles are pairwise: per app and per holder
	if hAlice == e.handle("game", "dave@x", "alice@x") || hAlice == e.handle("chat", "bob@x", "alice@x") || !IsHandle(hAlice) {
		t.Fatal("a handle must differ between apps and between holders")
	}
}

// TestAppScopesLimitWhatItReceives: the grant's scopes and the token's
// bound what an app's session is told.
func TestAppScopesLimitWhatItReceives(t *testing.T) {
	e := newEnv(t, "dave@x", "alice@x")
	e.befriend("dave@x", "alice@x")
	a := e.connect("alice@x", avail)
	e.grant("dave@x", "chat", []string{ScopeMessage}, picked("alice@x"))
	app := e.openApp("dave@x", "chat", []string{ScopeMessage}, nil)
	snap := app.take()[0].(Snapshot)
	if len(snap.Presence) != 0 {
		t.Fatalf("no presence:read, yet: %+v", snap)
	}
	a.s.SetPresence(Presence{Availability: Away})
	if evs := app.take(); len(evs) != 0 {
		t.Fatalf("presence without presence:read: %+v", evs)
	}
	// a token narrower than the grant: the grant has presence:read, the token not
	e.grant("dave@x", "chat", []string{ScopePresenceRead}, GrantChange{})
	narrow := e.openApp("dave@x", "chat", []string{ScopeMessage}, nil)
	wide := e.openApp("dave@x", "chat", []string{ScopePresenceRead}, nil)
	narrow.take()
	wide.take()
	a.s.SetPresence(Presence{Availability: DND})
	if evs := narrow.take(); len(evs) != 0 {
		t.Fatalf("the token lacks presence:read: %+v", evs)
	}
	if v, ok := presenceOf(wide.take(), e.handle("chat", "dave@x", "alice@x")); !ok || v.Availability != DND {
		t.Fatalf("the wide token's session: %+v", v)
	}
}

// TestAppMessagesByHandle: an app writes to a handle; a handle it forged,
// or one made for another holder or app, or of a contact its grant does
// not cover, names nobody and is answered as an offline recipient. The
// recipient's app sees the sender's handle, its first-party session the
// address.
func TestAppMessagesByHandle(t *testing.T) {
	e := newEnv(t, "dave@x", "alice@x", "bob@x")
	e.befriend("dave@x", "alice@x")
	e.befriend("dave@x", "bob@x")
	e.grant("dave@x", "chat", allReads, picked("alice@x"))
	e.grant("alice@x", "chat", allReads, picked("dave@x"))
	app := e.openApp("dave@x", "chat", allReads, avail)
	aWeb := e.connect("alice@x", avail)
	aApp := e.openApp("alice@x", "chat", allReads, avail)
	e.connect("bob@x", avail)
	app.take()
	aWeb.take()
	aApp.take()

	send := func(to string) error {
		_, err := app.s.Send(Message{Kind: KindMessage, To: to, Body: "hi"})
		return err
	}
	if err := send(e.handle("chat", "dave@x", "alice@x")); err != nil {
		t.Fatal(err)
	}
	var fromWeb, fromApp string
	for _, ev := range aWeb.take() {
		if m, ok := ev.(MessageEvent); ok {
			fromWeb = m.Message.From
		}
	}
	for _, ev := range aApp.take() {
		if m, ok := ev.(MessageEvent); ok {
			fromApp = m.Message.From
			if m.Message.To != e.handle("chat", "alice@x", "alice@x") {
				t.Errorf("to, in alice's app: %q", m.Message.To)
			}
		}
	}
	if fromWeb != app.s.Address() || fromApp != e.handle("chat", "alice@x", "dave@x") {
		t.Fatalf("from: first-party %q, app %q", fromWeb, fromApp)
	}
	for name, to := range map[string]string{
		"forged":           "h" + "aaaaaaaaaaaaaaaaaaaaaaaaaa",
		"another holder's": e.handle("chat", "bob@x", "alice@x"),
		"another app's":    e.handle("game", "dave@x", "alice@x"),
		"not covered":      e.handle("chat", "dave@x", "bob@x"),
	} {
		if err := send(to); CodeOf(err) != CodeUnavailable {
			t.Errorf("%s handle: %v, want unavailable", name, err)
		}
	}
	if err := send("alice@x"); CodeOf(err) != CodeInvalid {
		t.Errorf("an address without the addresses permission: %v, want invalid", err)
	}
}

// TestNarrowedGrantTakesEffectLive: picking fewer contacts withdraws the
// others from the app's live session at once, and revoking ends it.
func TestNarrowedGrantTakesEffectLive(t *testing.T) {
	e := newEnv(t, "dave@x", "alice@x", "bob@x")
	e.befriend("dave@x", "alice@x")
	e.befriend("dave@x", "bob@x")
	a := e.connect("alice@x", avail)
	e.connect("bob@x", avail)
	all := store.ContactsAll
	e.grant("dave@x", "chat", allReads, GrantChange{Contacts: &all})
	app := e.openApp("dave@x", "chat", allReads, nil)
	if snap := app.take()[0].(Snapshot); len(snap.Presence) != 2 {
		t.Fatalf("all contacts: %+v", snap)
	}
	_, err := e.hub.EditGrant(ctx, "dave@x", "chat", picked("bob@x"))
	e.must(err)
	evs := app.take()
	var snap Snapshot
	ok := false
	for _, ev := range evs {
		if sn, is := ev.(Snapshot); is {
			snap, ok = sn, true
		}
	}
	if !ok || len(snap.Presence) != 1 || snap.Presence[0].Address != e.handle("chat", "dave@x", "bob@x") {
		t.Fatalf("after narrowing to bob: %+v", evs)
	}
	a.s.SetPresence(Presence{Availability: Away})
	if evs := app.take(); len(evs) != 0 {
		t.Fatalf("alice is no longer granted: %+v", evs)
	}
}

// TestPerAppVisibility: "online in the calling app, invisible in the
// game": a user hidden in an app appears offline there and only there,
// live; a private app's sessions show only in that app.
func TestPerAppVisibility(t *testing.T) {
	e := newEnv(t, "dave@x", "alice@x")
	e.befriend("dave@x", "alice@x")
	for _, app := range []string{"call", "game"} {
		e.grant("dave@x", app, allReads, picked("alice@x"))
		e.grant("alice@x", app, allReads, picked("dave@x"))
	}
	call := e.openApp("dave@x", "call", allReads, nil)
	game := e.openApp("dave@x", "game", allReads, nil)
	web := e.connect("dave@x", nil)
	e.connect("alice@x", avail)
	hide := true
	_, err := e.hub.EditGrant(ctx, "alice@x", "game", GrantChange{Hidden: &hide})
	e.must(err)
	seen := func(k *sink, app string) Availability {
		t.Helper()
		name := "alice@x"
		if app != "" {
			name = e.handle(app, "dave@x", "alice@x")
		}
		v, ok := presenceOf(k.take(), name)
		if !ok {
			t.Fatalf("%s: no word of alice", app)
		}
		return v.Availability
	}
	if c, g, w := seen(call, "call"), seen(game, "game"), seen(web, ""); c != Available || g != Unavailable || w != Available {
		t.Fatalf("alice hidden in the game: call %s, game %s, first-party %s", c, g, w)
	}
	hide = false
	_, err = e.hub.EditGrant(ctx, "alice@x", "game", GrantChange{Hidden: &hide})
	e.must(err)
	if g := seen(game, "game"); g != Available {
		t.Fatalf("alice shown in the game again: %s", g)
	}

	// private: what alice does in the call app stays there
	priv := true
	_, err = e.hub.EditGrant(ctx, "alice@x", "call", GrantChange{Private: &priv})
	e.must(err)
	call.take()
	game.take()
	web.take()
	e.openApp("alice@x", "call", allReads, &Presence{Availability: DND, Priority: 100, Status: "on a call"})
	vc, _ := presenceOf(call.take(), e.handle("call", "dave@x", "alice@x"))
	if vc.Status != "on a call" {
		t.Fatalf("in the call app: %+v", vc)
	}
	for name, k := range map[string]*sink{"game": game, "first-party": web} {
		if mentions(t, k.take(), "on a call") {
			t.Fatalf("%s learned what alice does in a private app", name)
		}
	}
}

// TestAppRosterIsTheGrant: an app's session (XMPP's roster) is told only
// of the relationships with the contacts its grant covers.
func TestAppRosterIsTheGrant(t *testing.T) {
	e := newEnv(t, "dave@x", "alice@x", "bob@x")
	e.befriend("dave@x", "alice@x")
	e.befriend("dave@x", "bob@x")
	e.grant("dave@x", "chat", append([]string{ScopeAddresses}, allReads...), picked("bob@x"))
	app := e.openApp("dave@x", "chat", allReads, nil)
	var v View
	web := e.open("dave@x", SessionOptions{Device: "web", View: &v})
	for name, c := range map[string]struct {
		s    *Session
		want []string
	}{"app": {app.s, []string{"bob@x"}}, "first-party": {web.s, []string{"alice@x", "bob@x"}}} {
		for _, view := range []*View{nil, &v} {
			subs, err := c.s.Subscriptions(ctx, view)
			e.must(err)
			var got []string
			for _, sv := range subs {
				got = append(got, sv.Address)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s's roster: %v, want %v", name, got, c.want)
			}
		}
	}
}

// TestGrantChangedElsewhere: a grant changed by another process sharing
// the store (a cluster node, the CLI) reaches this hub's live sessions
// through the lifecycle log; the change's own event, applied here after
// the change, sends nothing twice.
func TestGrantChangedElsewhere(t *testing.T) {
	e := newEnv(t, "dave@x", "alice@x", "bob@x")
	e.befriend("dave@x", "alice@x")
	e.befriend("dave@x", "bob@x")
	e.connect("alice@x", avail)
	e.connect("bob@x", avail)
	last, err := e.st.LastLifecycleID(ctx)
	e.must(err)
	e.grant("dave@x", "chat", allReads, picked("alice@x"))
	app := e.openApp("dave@x", "chat", allReads, nil)
	app.take()
	apply := func() {
		evs, err := e.st.LifecycleSince(ctx, last, 100)
		e.must(err)
		for _, ev := range evs {
			e.hub.Apply(ev)
			last = ev.ID
		}
	}
	apply() // the events of this hub's own changes
	if evs := app.take(); len(evs) != 0 {
		t.Fatalf("this hub's own grant changes were applied twice: %+v", evs)
	}
	g, err := e.st.GetGrant(ctx, "dave@x", "chat")
	e.must(err)
	g.Picked = []string{"bob@x"}
	e.must(e.st.PutGrant(ctx, g)) // as another process would
	apply()
	var snap *Snapshot
	for _, ev := range app.take() {
		if s, ok := ev.(Snapshot); ok {
			snap = &s
		}
	}
	if snap == nil || len(snap.Presence) != 1 || snap.Presence[0].Address != e.handle("chat", "dave@x", "bob@x") {
		t.Fatalf("after another process picked bob instead of alice: %+v", snap)
	}
}

// TestGrantExpires: a grant given an expiry ends then: its app sees
// nothing more, and the sweep deletes it (with its tokens, logged), which
// every hub applies.
func TestGrantExpires(t *testing.T) {
	e := newEnv(t, "dave@x", "alice@x")
	e.befriend("dave@x", "alice@x")
	e.connect("alice@x", avail)
	e.grant("dave@x", "chat", allReads, picked("alice@x"))
	for _, bad := range []string{"tomorrow", e.clk.Now().Add(-time.Minute).Format(time.RFC3339), e.clk.Now().Add(11 * 365 * 24 * time.Hour).Format(time.RFC3339)} {
		if _, err := e.hub.EditGrant(ctx, "dave@x", "chat", GrantChange{Expires: &bad}); CodeOf(err) != CodeInvalid {
			t.Errorf("expires %q: %v, want invalid", bad, err)
		}
	}
	at := e.clk.Now().Add(time.Hour).Format(time.RFC3339)
	v, err := e.hub.EditGrant(ctx, "dave@x", "chat", GrantChange{Expires: &at})
	e.must(err)
	if v.Expires == nil || !v.Expires.Equal(e.clk.Now().Add(time.Hour)) {
		t.Fatalf("the grant's expiry: %+v", v.Expires)
	}
	last, err := e.st.LastLifecycleID(ctx)
	e.must(err)
	app := e.openApp("dave@x", "chat", allReads, nil)
	if snap := app.take()[0].(Snapshot); len(snap.Presence) != 1 {
		t.Fatalf("before the expiry: %+v", snap)
	}
	if n, _ := e.hub.SweepGrants(ctx); n != 0 {
		t.Fatalf("swept %d grants before their time", n)
	}
	e.clk.Advance(time.Hour)
	n, err := e.hub.SweepGrants(ctx)
	if err != nil || n != 1 {
		t.Fatalf("the sweep: %d, %v", n, err)
	}
	evs, err := e.st.LifecycleSince(ctx, last, 100)
	e.must(err)
	for _, ev := range evs {
		e.hub.Apply(ev)
	}
	var snap *Snapshot
	for _, ev := range app.take() {
		if s, ok := ev.(Snapshot); ok {
			snap = &s
		}
	}
	if snap == nil || len(snap.Presence) != 0 {
		t.Fatalf("after the grant expired, the app's snapshot: %+v", snap)
	}
	if _, err := e.hub.Connect(ctx, "dave@x", SessionOptions{Channel: Channel{App: "chat"}, Scopes: allReads}, &sink{}); CodeOf(err) != CodeUnauthorized {
		t.Fatalf("a session of the expired grant's app: %v, want unauthorized", err)
	}
}
