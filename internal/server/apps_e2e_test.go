package server

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/core"
)

// TestAppsSeeWhatTheirUsersGranted: two apps and three users over real
// WebSocket, long-poll, REST and XMPP (OAUTHBEARER) connections. Each app sees exactly the
// contacts its user granted it, under handles made for that app and user;
// messages go to handles; per-app hiding holds; narrowing a grant
// withdraws contacts from the live session, and revoking ends it.
func TestAppsSeeWhatTheirUsersGranted(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.XMPPAddr = "127.0.0.1:0" })
	waitReady(t, ts)
	for !ts.ready.Load() {
		time.Sleep(5 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // five sign-ins through the consent page under -race
	defer cancel()
	users := map[string]*client.Client{}
	for _, u := range []string{"alice", "bob", "carol"} {
		users[u] = ts.user(t, u)
	}
	befriend(t, ctx, users["alice"], users["bob"], "alice@localhost", "bob@localhost")
	befriend(t, ctx, users["alice"], users["carol"], "alice@localhost", "carol@localhost")
	befriend(t, ctx, users["bob"], users["carol"], "bob@localhost", "carol@localhost")
	chat, _ := registerApp(t, ts, "Chat", true, "presence:read", "presence:publish", "message", "addresses")
	game, _ := registerApp(t, ts, "Game", true, "presence:read", "presence:publish")
	hs := core.NewHandles(ts.key)
	handle := func(app, holder, other string) string { return hs.Of(app, holder+"@localhost", other+"@localhost") }
	grant := func(local, app string, change map[string]any, scopes ...string) string {
		t.Helper()
		token, _ := appTokenOf(t, ts, app, local, scopes...)
		if change != nil {
			must(t, users[local].Do(ctx, "PATCH", "/v1/grants/"+app, change, nil))
		}
		return token
	}
	aliceChat := grant("alice", chat, map[string]any{"contacts": "picked", "picked": []string{"bob@localhost"}}, "presence:read", "message")
	aliceGame := grant("alice", game, map[string]any{"contacts": "all"}, "presence:read")
	bobChat := grant("bob", chat, map[string]any{"contacts": "picked", "picked": []string{"alice@localhost"}}, "presence:read", "presence:publish", "message")
	grant("carol", game, map[string]any{"hidden": true}, "presence:publish") // carol appears offline in the game
	// carol's chat is an XMPP client: XMPP keeps addresses, so her grant has them
	carolChat := grant("carol", chat, map[string]any{"contacts": "picked", "picked": []string{"alice@localhost"}},
		"presence:read", "presence:publish", "message", "addresses")

	// everyone online first-party
	first := map[string]*client.Session{}
	for u, c := range users {
		s, err := c.Connect(ctx, client.ConnectOptions{Device: "web", Presence: &client.Presence{Availability: "available"}})
		must(t, err)
		first[u] = s
	}

	chatWS, err := client.New(ts.URL, aliceChat).Connect(ctx, client.ConnectOptions{Device: "chat"})
	must(t, err)
	gamePoll, err := client.New(ts.URL, aliceGame).ConnectPoll(ctx, client.ConnectOptions{Device: "game"})
	must(t, err)
	for s, app := range map[*client.Session]string{chatWS: chat, gamePoll: game} { // even its own user, by handle
		if s.Address != handle(app, "alice", "alice")+"/"+s.Resource {
			t.Fatalf("an app's welcome names its user %q", s.Address)
		}
	}
	snapshot := func(s *client.Session) []client.Presence {
		t.Helper()
		f, err := s.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "snapshot" })
		must(t, err)
		return f.Presences
	}
	names := func(ps []client.Presence) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Address+"="+p.Availability)
		}
		slices.Sort(out)
		return out
	}
	if got, want := names(snapshot(chatWS)), []string{handle(chat, "alice", "bob") + "=available"}; !slices.Equal(got, want) {
		t.Fatalf("alice's chat sees %v, want %v", got, want)
	}
	want := []string{handle(game, "alice", "bob") + "=available", handle(game, "alice", "carol") + "=unavailable"}
	slices.Sort(want)
	if got := names(snapshot(gamePoll)); !slices.Equal(got, want) {
		t.Fatalf("alice's game sees %v, want %v (carol hidden in the game)", got, want)
	}
	if handle(chat, "alice", "bob") == handle(game, "alice", "bob") {
		t.Fatal("one handle in two apps")
	}

	// "which of my contacts are online?" over REST, with the app's token
	var online struct {
		Presence []client.Presence `json:"presence"`
	}
	must(t, client.New(ts.URL, aliceGame).Do(ctx, "GET", "/v1/presence?online=true", nil, &online))
	if got := names(online.Presence); !slices.Equal(got, []string{handle(game, "alice", "bob") + "=available"}) {
		t.Fatalf("the game's online contacts: %v", got)
	}
	var ce *client.Error
	if err := client.New(ts.URL, aliceGame).Do(ctx, "GET", "/v1/contacts", nil, nil); !errors.As(err, &ce) || ce.Code != "forbidden" {
		t.Fatalf("an app token on a first-party route: %v, want forbidden", err)
	}

	// carol's chat over XMPP: a roster of exactly alice, her presence by address, not bob's
	var refused error
	cx, cin := xmppClientWith(t, ts, "carol@localhost/chat", xmpp.SASL("", "", oauthBearer("", carolChat, &refused)))
	if roster := sendIQ(t, ctx, cx, `<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`); len(roster.Items) != 1 || roster.Items[0].JID != "alice@localhost" {
		t.Fatalf("carol's chat roster: %+v", roster.Items)
	}
	must(t, cx.Send(ctx, stanza2IQ(`<presence/>`)))
	waitStanza(t, cin, func(s stanza) bool {
		return s.XMLName.Local == "presence" && strings.HasPrefix(s.From, "alice@localhost/") && s.Type == ""
	})

	// carol's change reaches the game (hidden: as absent, nothing more), not the chat
	must(t, first["carol"].SetPresence(ctx, client.Presence{Availability: "away", Status: "carol's secret"}))
	must(t, first["bob"].SetPresence(ctx, client.Presence{Availability: "dnd"}))
	if _, err := chatWS.WaitFor(ctx, presenceIs(handle(chat, "alice", "bob"), "dnd")); err != nil {
		t.Fatal(err)
	}
	if _, err := gamePoll.WaitFor(ctx, presenceIs(handle(game, "alice", "bob"), "dnd")); err != nil {
		t.Fatal(err)
	}

	// alice's changes reach carol's XMPP chat, bob's never do
	must(t, first["alice"].SetPresence(ctx, client.Presence{Availability: "away", Status: "for carol's chat"}))
	waitStanza(t, cin, func(s stanza) bool { return s.Status == "for carol's chat" })
	for len(cin) > 0 {
		if s := <-cin; strings.HasPrefix(s.From, "bob@localhost") {
			t.Fatalf("carol's XMPP chat was told of bob: %+v", s)
		}
	}

	// a message to a handle; the recipient's app sees the sender's handle
	// (like any session, an app's takes messages to its user's address
	// once it is available)
	bobWS, err := client.New(ts.URL, bobChat).Connect(ctx, client.ConnectOptions{Device: "chat", Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	snapshot(bobWS)
	if _, err := chatWS.Message(ctx, handle(chat, "alice", "bob"), "hi bob"); err != nil {
		t.Fatal(err)
	}
	f, err := bobWS.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "message" })
	must(t, err)
	if f.From != handle(chat, "bob", "alice") {
		t.Fatalf("bob's chat sees the message from %q", f.From)
	}
	f, err = first["bob"].WaitFor(ctx, func(f client.Frame) bool { return f.Type == "message" })
	must(t, err)
	if f.From == "" || f.From[:len("alice@localhost/")] != "alice@localhost/" {
		t.Fatalf("bob's own client sees the message from %q", f.From)
	}
	if _, err := chatWS.Message(ctx, handle(chat, "alice", "carol"), "hi carol"); !errors.As(err, &ce) || ce.Code != "unavailable" {
		t.Fatalf("a message to a contact the grant does not cover: %v, want unavailable", err)
	}

	// narrowed while live: the chat loses bob at once
	must(t, users["alice"].Do(ctx, "PATCH", "/v1/grants/"+chat, map[string]any{"contacts": "none"}, nil))
	if got := snapshot(chatWS); len(got) != 0 {
		t.Fatalf("after narrowing, the chat still sees %v", names(got))
	}
	must(t, first["bob"].SetPresence(ctx, client.Presence{Availability: "xa", Priority: 10})) // above his chat session
	if _, err := gamePoll.WaitFor(ctx, presenceIs(handle(game, "alice", "bob"), "xa")); err != nil {
		t.Fatal(err)
	}
	// revoked while live: the game's session ends
	must(t, users["alice"].Do(ctx, "DELETE", "/v1/grants/"+game, nil, nil))
	if _, err := gamePoll.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "goaway" }); err != nil {
		t.Fatalf("the revoked game's session did not end: %v", err)
	}
	// nothing the chat received since narrowing names bob or carries what he or carol did
	chatWS.Close(ctx)
	for _, s := range []*client.Session{bobWS} {
		s.Close(context.Background())
	}
}
