package server

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
)

// otherProcess opens the server's data directory a second time, as the CLI
// does while the server runs: its writes reach the server only through the
// store.
func otherProcess(t *testing.T, ts *testServer) (store.Store, *auth.Auth) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(ts.Config.DataDir, DBFile))
	must(t, err)
	t.Cleanup(func() { st.Close() })
	return st, &auth.Auth{Store: st, Clock: clock.Real{}, Hasher: auth.NewHasher(auth.DefaultParams, 1, 4)}
}

// goawayOf waits for the session's goaway and returns its reason.
func goawayOf(t *testing.T, ctx context.Context, s *client.Session) string {
	t.Helper()
	f, err := s.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "goaway" })
	if err != nil {
		t.Fatalf("no goaway: %v", err)
	}
	return f.Reason
}

// TestDeletedWhileServing: `presenced user delete` from another process
// ends the account's live sessions, its contacts see it go, and an account
// registered anew at the address inherits nothing.
func TestDeletedWhileServing(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	as, err := alice.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	bs, err := bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	_, err = as.WaitFor(ctx, presenceIs("bob@localhost", "available"))
	must(t, err)

	cli, _ := otherProcess(t, ts)
	must(t, cli.DeleteAccount(ctx, "bob@localhost"))
	if r := goawayOf(t, ctx, bs); r != core.GoawayDeleted {
		t.Fatalf("goaway %q", r)
	}
	_, err = as.WaitFor(ctx, presenceIs("bob@localhost", "unavailable"))
	must(t, err)

	nb := ts.user(t, "bob") // the same address, registered anew
	ns, err := nb.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	if subs, err := nb.Subscriptions(ctx); err != nil || len(subs) != 0 {
		t.Fatalf("the new bob inherited relations: %v %v", subs, err)
	}
	must(t, as.SetPresence(ctx, client.Presence{Availability: "dnd", Status: "secret"}))
	if _, err := ns.Message(ctx, "alice@localhost", "hi, it's me"); err == nil {
		t.Fatal("the new bob messaged the old bob's contact")
	}
	// the marker: once it arrives, anything about alice would have too
	must(t, ns.SetPresence(ctx, client.Presence{Availability: "away"}))
	for {
		f, err := ns.Next(ctx)
		must(t, err)
		if f.Address == "alice@localhost" || len(f.Presences) > 0 {
			t.Fatalf("the new bob was told about alice: %+v", f)
		}
		if f.Type == "presence" && f.Address == "bob@localhost" && f.Availability == "away" {
			break
		}
	}
}

// TestRevokedTokenEndsItsWebSocket: revoking a token (REST, or the CLI's
// password change, which revokes them all) ends the sessions opened with it,
// and only those.
func TestRevokedTokenEndsItsWebSocket(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	alice := ts.user(t, "alice")
	other, tok2, err := ts.Auth.IssueToken(ctx, "alice@localhost", "second")
	must(t, err)
	alice2 := client.New(ts.URL, other)
	s1, err := alice.Connect(ctx, client.ConnectOptions{})
	must(t, err)
	s2, err := alice2.Connect(ctx, client.ConnectOptions{})
	must(t, err)
	must(t, alice.Do(ctx, "DELETE", "/v1/auth/tokens/"+tok2.ID, nil, nil))
	if r := goawayOf(t, ctx, s2); r != core.GoawayRevoked {
		t.Fatalf("goaway %q", r)
	}
	// s1 lives on: it answers a ping after the revocation took effect
	if _, err := s1.Request(ctx, "ping", nil); err != nil {
		t.Fatalf("the other token's session: %v", err)
	}

	_, cliAuth := otherProcess(t, ts)
	must(t, cliAuth.SetPassword(ctx, "alice@localhost", "a-new-password"))
	if r := goawayOf(t, ctx, s1); r != core.GoawayPassword {
		t.Fatalf("goaway %q", r)
	}
}

// TestPasswordChangeEndsXMPPStreams: XMPP streams signed in with the old
// password end when it changes, whoever changed it.
func TestPasswordChangeEndsXMPPStreams(t *testing.T) {
	ts, ctx, _, _ := xmppWorld(t, time.Second)
	xmppClient(t, ts, "alice")
	n := ts.Hub.Metrics().SessionsOf("xmpp")
	if n.Load() != 1 {
		t.Fatalf("%d XMPP sessions", n.Load())
	}
	_, cliAuth := otherProcess(t, ts)
	must(t, cliAuth.SetPassword(ctx, "alice@localhost", "a-new-password"))
	for n.Load() != 0 {
		if ctx.Err() != nil {
			t.Fatal("the XMPP session outlived the password change")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestExpiredTokenEndsItsWebSocket: a session does not outlive its token:
// the sweep that deletes expired tokens logs each as revoked.
func TestExpiredTokenEndsItsWebSocket(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	ts.user(t, "alice")
	ts.Auth.TokenTTL = time.Second
	secret, tok, err := ts.Auth.IssueToken(ctx, "alice@localhost", "short")
	must(t, err)
	s, err := client.New(ts.URL, secret).Connect(ctx, client.ConnectOptions{})
	must(t, err)
	for time.Now().Before(tok.ExpiresAt) { // a wait, not a measurement
		time.Sleep(50 * time.Millisecond)
	}
	n, err := ts.Auth.DeleteExpiredTokens(ctx) // what the periodic sweep runs
	must(t, err)
	if n != 1 {
		t.Fatalf("%d tokens expired, want 1", n)
	}
	if r := goawayOf(t, ctx, s); r != core.GoawayRevoked {
		t.Fatalf("goaway %q", r)
	}
}

// TestDeletedAccountLeavesXMPPRosters: an account deleted from another
// process leaves its contacts' live XMPP streams as a contact who cancelled
// both ways would: its resource goes unavailable, they get unsubscribe and
// unsubscribed from it, and a roster push (subscription none when an
// address-book card keeps the item, remove otherwise).
func TestDeletedAccountLeavesXMPPRosters(t *testing.T) {
	ts, ctx, alice, bob := xmppWorld(t, time.Second)
	carol := ts.user(t, "carol")
	befriend(t, ctx, alice, carol, "alice@localhost", "carol@localhost")
	bs, err := bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)

	ax, in := xmppClient(t, ts, "alice")
	if r := sendIQ(t, ctx, ax, `<iq type='set' id='s1'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob'/></query></iq>`); r.Type != "result" {
		t.Fatalf("roster set: %+v", r)
	}
	if r := sendIQ(t, ctx, ax, `<iq type='get' id='g1'><query xmlns='jabber:iq:roster' ver=''/></iq>`); len(r.Items) != 2 {
		t.Fatalf("roster: %s", r.Inner)
	}
	must(t, ax.Send(ctx, stanza2IQ(`<presence/>`)))
	waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "presence" && s.From == bs.Address && s.Type == "" })

	cli, _ := otherProcess(t, ts)
	must(t, cli.DeleteAccount(ctx, "bob@localhost"))
	must(t, cli.DeleteAccount(ctx, "carol@localhost"))
	want := map[string]bool{"bob unavailable": false, "bob unsubscribe": false, "bob unsubscribed": false, "bob none": false,
		"carol unsubscribe": false, "carol unsubscribed": false, "carol remove": false}
	lastVer := ""
	for missing := len(want); missing > 0; {
		s := waitStanza(t, in, func(stanza) bool { return true })
		key := ""
		switch {
		case s.XMLName.Local == "presence" && s.From == bs.Address && s.Type == "unavailable":
			key = "bob unavailable"
		case s.XMLName.Local == "presence" && (s.From == "bob@localhost" || s.From == "carol@localhost"):
			key = strings.TrimSuffix(s.From, "@localhost") + " " + s.Type
		case s.XMLName.Local == "iq" && s.Type == "set" && len(s.Items) == 1:
			key = strings.TrimSuffix(s.Items[0].JID, "@localhost") + " " + s.Items[0].Subscription
			if key == "bob none" && !strings.Contains(s.Inner, `name="Bob"`) {
				t.Fatalf("bob's card no longer names the item: %s", s.Inner)
			}
			if i := strings.Index(s.Inner, `ver="`); i >= 0 {
				lastVer = s.Inner[i+5 : i+5+strings.Index(s.Inner[i+5:], `"`)]
			}
		}
		if seen, ok := want[key]; ok && !seen {
			want[key] = true
			missing--
		}
	}
	// the version pushed last is the one a full read computes
	if r := sendIQ(t, ctx, ax, `<iq type='get' id='g2'><query xmlns='jabber:iq:roster' ver='`+lastVer+`'/></iq>`); r.Type != "result" || r.Inner != "" {
		t.Fatalf("a client at the last pushed version %q got %s", lastVer, r.Inner)
	}
	r := sendIQ(t, ctx, ax, `<iq type='get' id='g3'><query xmlns='jabber:iq:roster'/></iq>`)
	if len(r.Items) != 1 || r.Items[0].JID != "bob@localhost" || r.Items[0].Subscription != "none" {
		t.Fatalf("roster after the deletions: %s", r.Inner)
	}
}
