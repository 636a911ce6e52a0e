package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
)

// roomFrame is a room event as a JSON client reads it.
type roomFrame struct {
	Type      string     `json:"type"`
	Room      string     `json:"room"`
	Nick      string     `json:"nick"`
	Body      string     `json:"body"`
	Reason    string     `json:"reason"`
	By        string     `json:"by"`
	From      string     `json:"from"`
	Subject   string     `json:"subject"`
	Count     int        `json:"count"`
	Created   bool       `json:"created"`
	Self      occupantJS `json:"self"`
	Occupants []occupantJS
	Joined    []occupantJS `json:"joined"`
	Changed   []occupantJS `json:"changed"`
	Left      []occupantJS `json:"left"`
	History   []struct {
		Nick, Body string
	} `json:"history"`
}

type occupantJS struct {
	Nick         string          `json:"nick"`
	Address      string          `json:"address"`
	Availability string          `json:"availability"`
	Status       string          `json:"status"`
	Affiliation  string          `json:"affiliation"`
	Role         string          `json:"role"`
	Metadata     json.RawMessage `json:"metadata"`
	Reason       string          `json:"reason"`
}

func asRoom(t *testing.T, f client.Frame) roomFrame {
	t.Helper()
	var r roomFrame
	must(t, json.Unmarshal(f.Raw, &r))
	return r
}

// waitRoom waits for a room event of typ that match accepts.
func waitRoom(t *testing.T, s *client.Session, typ string, match func(roomFrame) bool) roomFrame {
	t.Helper()
	f, err := s.WaitFor(tctx(t), func(f client.Frame) bool {
		if f.Type != typ {
			return false
		}
		var r roomFrame
		return json.Unmarshal(f.Raw, &r) == nil && (match == nil || match(r))
	})
	must(t, err)
	return asRoom(t, f)
}

// waitRooms waits until each of preds has matched a room event, in any order.
func waitRooms(t *testing.T, s *client.Session, preds ...func(roomFrame) bool) {
	t.Helper()
	ctx := tctx(t)
	left := slices.Clone(preds)
	for len(left) > 0 {
		f, err := s.Next(ctx)
		must(t, err)
		var r roomFrame
		if json.Unmarshal(f.Raw, &r) != nil {
			continue
		}
		left = slices.DeleteFunc(left, func(p func(roomFrame) bool) bool { return p(r) })
	}
}

func wantErrCode(t *testing.T, err error, code string) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

// TestRoomsOverWebSocket: two JSON clients share a room end to end:
// snapshot, diff, metadata, messages, subject, history, kick and ban,
// and the bad input a room frame can carry.
func TestRoomsOverWebSocket(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	aws, err := alice.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	bws, err := bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "away", Status: "tea"}})
	must(t, err)

	_, err = aws.Request(ctx, "join", map[string]any{"room": "doc-42", "nick": "al", "metadata": map[string]any{"page": 3}})
	must(t, err)
	snap := waitRoom(t, aws, "room_snapshot", nil)
	if !snap.Created || snap.Self.Affiliation != "owner" || snap.Self.Address != "alice@localhost" || string(snap.Self.Metadata) != `{"page":3}` {
		t.Fatalf("alice's snapshot %+v", snap)
	}
	_, err = aws.Request(ctx, "room_message", map[string]any{"room": "doc-42", "body": "first"})
	must(t, err)
	_, err = bws.Request(ctx, "join", map[string]any{"room": "doc-42", "nick": "bo", "history": 5})
	must(t, err)
	snap = waitRoom(t, bws, "room_snapshot", nil)
	if snap.Count != 2 || len(snap.Occupants) != 1 || snap.Occupants[0].Nick != "al" || snap.Occupants[0].Address != "" ||
		len(snap.History) != 1 || snap.History[0].Body != "first" || snap.Self.Status != "tea" {
		t.Fatalf("bob's snapshot %s", mustRaw(snap))
	}
	d := waitRoom(t, aws, "room_diff", nil)
	if len(d.Joined) != 1 || d.Joined[0].Nick != "bo" || d.Joined[0].Address != "bob@localhost" || d.Count != 2 {
		t.Fatalf("alice's diff %+v", d)
	}
	r, err := bws.Request(ctx, "room_message", map[string]any{"room": "doc-42", "body": "hello"})
	must(t, err)
	if r.Delivered != 2 {
		t.Fatalf("delivered %d", r.Delivered)
	}
	if m := waitRoom(t, aws, "room_message", func(r roomFrame) bool { return r.Body == "hello" }); m.Nick != "bo" {
		t.Fatalf("message %+v", m)
	}
	_, err = aws.Request(ctx, "subject", map[string]any{"room": "doc-42", "subject": "chapter 3"})
	must(t, err)
	if s := waitRoom(t, bws, "room_subject", nil); s.Subject != "chapter 3" || s.Nick != "al" {
		t.Fatalf("subject %+v", s)
	}

	// bad input
	for _, bad := range []map[string]any{
		{"room": "no spaces", "nick": "x"}, {"room": strings.Repeat("r", 65), "nick": "x"}, {"room": "doc-42"},
		{"room": "r", "nick": "x", "metadata": "text"}, {"room": "r", "nick": "x", "history": -1},
	} {
		_, err := bws.Request(ctx, "join", bad)
		wantErrCode(t, err, "invalid")
	}
	_, err = bws.Request(ctx, "room_message", map[string]any{"room": "doc-42", "body": strings.Repeat("x", 17<<10)})
	wantErrCode(t, err, "invalid")
	_, err = bws.Request(ctx, "room_message", map[string]any{"room": "elsewhere", "body": "hi"})
	wantErrCode(t, err, "not_found")
	_, err = bws.Request(ctx, "kick", map[string]any{"room": "doc-42", "nick": "al"})
	wantErrCode(t, err, "forbidden")
	_, err = bws.Request(ctx, "subject", map[string]any{"room": "doc-42", "subject": "mine"})
	wantErrCode(t, err, "forbidden")

	// kick, then ban: a banned member rejoining is refused
	_, err = aws.Request(ctx, "kick", map[string]any{"room": "doc-42", "nick": "bo", "reason": "tidy up"})
	must(t, err)
	if l := waitRoom(t, bws, "room_left", nil); l.Reason != "kicked" || l.By != "al" {
		t.Fatalf("kicked %+v", l)
	}
	_, err = bws.Request(ctx, "join", map[string]any{"room": "doc-42", "nick": "bo"})
	must(t, err)
	_, err = aws.Request(ctx, "ban", map[string]any{"room": "doc-42", "address": "bob@localhost"})
	must(t, err)
	if l := waitRoom(t, bws, "room_left", func(r roomFrame) bool { return r.Reason == "banned" }); l.Room != "doc-42" {
		t.Fatalf("banned %+v", l)
	}
	_, err = bws.Request(ctx, "join", map[string]any{"room": "doc-42", "nick": "bo"})
	wantErrCode(t, err, "forbidden")
	d = waitRoom(t, aws, "room_diff", func(r roomFrame) bool { return len(r.Left) > 0 })
	if d.Left[0].Nick != "bo" || d.Count != 1 {
		t.Fatalf("alice sees bob go %+v", d)
	}

	// a join flood: the rate limit and the rooms per session stop it, with
	// typed errors and nothing else
	cws, err := ts.user(t, "carol").Connect(ctx, client.ConnectOptions{})
	must(t, err)
	refused := map[string]int{}
	for i := 0; i < 80; i++ {
		_, err := cws.Request(ctx, "join", map[string]any{"room": fmt.Sprint("flood-", i), "nick": "c"})
		var ce *client.Error
		switch {
		case err == nil:
		case errors.As(err, &ce) && (ce.Code == "rate_limited" || ce.Code == "limit"):
			refused[ce.Code]++
		default:
			t.Fatalf("join %d: %v", i, err)
		}
	}
	if refused["rate_limited"]+refused["limit"] < 16 {
		t.Fatalf("80 joins at once: %v refused", refused)
	}
}

// loungeWithBob starts a server with an XMPP listener where bob, on the
// JSON side, owns the room "lounge" (dnd, "json side"), with subject if
// given, and said "before you came" in it.
func loungeWithBob(t *testing.T, subject string) (*testServer, context.Context, *client.Session) {
	t.Helper()
	ts, ctx, _, bob := xmppWorld(t, time.Second)
	bws, err := bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	_, err = bws.Request(ctx, "join", map[string]any{"room": "lounge", "nick": "bob", "presence": map[string]any{"availability": "dnd", "status": "json side"}})
	must(t, err)
	if subject != "" {
		_, err = bws.Request(ctx, "subject", map[string]any{"room": "lounge", "subject": subject})
		must(t, err)
	}
	_, err = bws.Request(ctx, "room_message", map[string]any{"room": "lounge", "body": "before you came"})
	must(t, err)
	return ts, ctx, bws
}

func mustRaw(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestRoomShareJSONAndXMPP: a JSON-protocol member and a stock XMPP
// client (mellium) in one room: the XMPP client finds the service, joins
// with a nickname, sees the JSON member's presence with its affiliation,
// and messages and presence flow both ways; history comes with delay
// stamps; a XEP-0249 invitation reaches the JSON side.
func TestRoomShareJSONAndXMPP(t *testing.T) {
	ts, ctx, bws := loungeWithBob(t, "")
	ax, in := xmppClient(t, ts, "alice")
	items := sendIQ(t, ctx, ax, `<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	if !strings.Contains(items.Inner, "conference.localhost") {
		t.Fatalf("the server's items %s", items.Inner)
	}
	info := sendIQ(t, ctx, ax, `<iq type='get' id='d2' to='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if !strings.Contains(info.Inner, `category="conference"`) || !strings.Contains(info.Inner, "http://jabber.org/protocol/muc") {
		t.Fatalf("the service's info %s", info.Inner)
	}
	rooms := sendIQ(t, ctx, ax, `<iq type='get' id='d3' to='conference.localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`)
	if !strings.Contains(rooms.Inner, "lounge@conference.localhost") {
		t.Fatalf("rooms %s", rooms.Inner)
	}
	must(t, ax.Send(ctx, stanza2IQ(`<presence><status>xmpp side</status></presence>`)))
	must(t, ax.Send(ctx, stanza2IQ(`<presence to='lounge@conference.localhost/alice'><show>away</show><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='10'/></x></presence>`)))
	p := waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.From == "lounge@conference.localhost/bob"
	})
	if p.Show != "dnd" || p.Status != "json side" || !strings.Contains(p.Inner, `affiliation="owner"`) || !strings.Contains(p.Inner, `role="moderator"`) {
		t.Fatalf("bob in the room as alice sees him: %+v", p)
	}
	self := waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.From == "lounge@conference.localhost/alice"
	})
	if !strings.Contains(self.Inner, `code="110"`) {
		t.Fatalf("self-presence %+v", self)
	}
	hist := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.Type == "groupchat" && s.Body != "" })
	if hist.Body != "before you came" || hist.From != "lounge@conference.localhost/bob" || !strings.Contains(hist.Inner, "urn:xmpp:delay") {
		t.Fatalf("history %+v", hist)
	}
	waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && strings.Contains(s.Inner, "<subject") })

	// the JSON member sees alice arrive, with her room presence
	d := waitRoom(t, bws, "room_diff", nil)
	if len(d.Joined) != 1 || d.Joined[0].Nick != "alice" || d.Joined[0].Availability != "away" || d.Joined[0].Address != "alice@localhost" {
		t.Fatalf("bob's diff %+v", d)
	}
	// messages both ways
	must(t, ax.Send(ctx, stanza2IQ(`<message to='lounge@conference.localhost' type='groupchat' id='g1'><body>hi from XMPP</body></message>`)))
	if m := waitRoom(t, bws, "room_message", func(r roomFrame) bool { return r.Body == "hi from XMPP" }); m.Nick != "alice" {
		t.Fatalf("bob got %+v", m)
	}
	echo := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.Body == "hi from XMPP" })
	if echo.ID != "g1" || echo.From != "lounge@conference.localhost/alice" {
		t.Fatalf("the reflected message %+v", echo)
	}
	_, err := bws.Request(ctx, "room_message", map[string]any{"room": "lounge", "body": "hi from JSON"})
	must(t, err)
	m := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.Body == "hi from JSON" })
	if m.Type != "groupchat" || m.From != "lounge@conference.localhost/bob" || strings.Contains(m.Inner, "delay") {
		t.Fatalf("alice got %+v", m)
	}
	// presence both ways
	_, err = bws.Request(ctx, "join", map[string]any{"room": "lounge", "nick": "bob", "presence": map[string]any{"availability": "available", "status": "back"}})
	must(t, err)
	p = waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.From == "lounge@conference.localhost/bob" && s.Status == "back"
	})
	if p.Show != "" {
		t.Fatalf("bob back %+v", p)
	}
	must(t, ax.Send(ctx, stanza2IQ(`<presence to='lounge@conference.localhost/alice'><show>xa</show></presence>`)))
	d = waitRoom(t, bws, "room_diff", func(r roomFrame) bool { return len(r.Changed) > 0 && r.Changed[0].Nick == "alice" })
	if d.Changed[0].Availability != "xa" {
		t.Fatalf("alice's change %+v", d)
	}
	// a XEP-0249 invitation from XMPP reaches the JSON side
	must(t, ax.Send(ctx, stanza2IQ(`<message to='bob@localhost'><x xmlns='jabber:x:conference' jid='lounge@conference.localhost' reason='come'/></message>`)))
	inv := waitRoom(t, bws, "room_invite", nil)
	if inv.Room != "lounge" || !strings.HasPrefix(inv.From, "alice@localhost/") || inv.Reason != "come" {
		t.Fatalf("invitation %+v", inv)
	}
	// a participant may not list the members
	if l := sendIQ(t, ctx, ax, `<iq type='get' id='a1' to='lounge@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query></iq>`); l.Type != "error" || !strings.Contains(l.Inner, "forbidden") {
		t.Fatalf("a participant's member list %+v", l)
	}
	// the owner kicks alice: she gets 307 and 110; then bans her: she cannot come back
	_, err = bws.Request(ctx, "kick", map[string]any{"room": "lounge", "nick": "alice", "reason": "out"})
	must(t, err)
	k := waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.Type == "unavailable" && s.From == "lounge@conference.localhost/alice"
	})
	if !strings.Contains(k.Inner, `code="307"`) || !strings.Contains(k.Inner, `code="110"`) {
		t.Fatalf("kicked %+v", k)
	}
	_, err = bws.Request(ctx, "ban", map[string]any{"room": "lounge", "address": "alice@localhost"})
	must(t, err)
	// the JSON protocol names accounts of other domains as well
	_, err = bws.Request(ctx, "ban", map[string]any{"room": "lounge", "address": "spam@remote.example"})
	must(t, err)
	_, err = bws.Request(ctx, "affiliation", map[string]any{"room": "lounge", "address": "carol@remote.example", "affiliation": "member"})
	must(t, err)
	_, err = bws.Request(ctx, "affiliation", map[string]any{"room": "lounge", "address": "carol@@remote", "affiliation": "member"})
	wantErrCode(t, err, "invalid")
	must(t, ax.Send(ctx, stanza2IQ(`<presence to='lounge@conference.localhost/alice'/>`)))
	e := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "presence" && s.Type == "error" })
	if !strings.Contains(e.Inner, "forbidden") {
		t.Fatalf("a banned rejoin %+v", e)
	}
	// alice creates a room of her own over XMPP (201), makes it members-only
	// with the owner's form and names bob a member with an admin iq
	must(t, ax.Send(ctx, stanza2IQ(`<presence to='xroom@conference.localhost/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`)))
	created := waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.From == "xroom@conference.localhost/alice"
	})
	if !strings.Contains(created.Inner, `code="201"`) || !strings.Contains(created.Inner, `affiliation="owner"`) {
		t.Fatalf("created %+v", created)
	}
	if r := sendIQ(t, ctx, ax, `<iq type='set' id='o1' to='xroom@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_membersonly'><value>1</value></field></x></query></iq>`); r.Type != "result" {
		t.Fatalf("configure %+v", r)
	}
	_, err = bws.Request(ctx, "join", map[string]any{"room": "xroom", "nick": "bob"})
	wantErrCode(t, err, "forbidden")
	if r := sendIQ(t, ctx, ax, `<iq type='set' id='a2' to='xroom@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='bob@localhost'/></query></iq>`); r.Type != "result" {
		t.Fatalf("name a member %+v", r)
	}
	// accounts of other domains are named too (§ 9.1, § 9.3 with remote
	// jids; a resource is dropped), and listed with the local ones
	if r := sendIQ(t, ctx, ax, `<iq type='set' id='a4' to='xroom@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='carol@remote.example/laptop'/><item affiliation='outcast' jid='spam@remote.example'><reason>spam</reason></item></query></iq>`); r.Type != "result" {
		t.Fatalf("name remote accounts %+v", r)
	}
	if r := sendIQ(t, ctx, ax, `<iq type='set' id='a5' to='xroom@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member' jid='not a jid'/></query></iq>`); r.Type != "error" || !strings.Contains(r.Inner, "bad-request") {
		t.Fatalf("a malformed jid %+v", r)
	}
	if l := sendIQ(t, ctx, ax, `<iq type='get' id='a3' to='xroom@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='member'/></query></iq>`); !strings.Contains(l.Inner, `jid="bob@localhost"`) ||
		!strings.Contains(l.Inner, `jid="carol@remote.example"`) {
		t.Fatalf("members %+v", l)
	}
	if l := sendIQ(t, ctx, ax, `<iq type='get' id='a6' to='xroom@conference.localhost'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast'/></query></iq>`); !strings.Contains(l.Inner, `jid="spam@remote.example"`) {
		t.Fatalf("outcasts %+v", l)
	}
	_, err = bws.Request(ctx, "join", map[string]any{"room": "xroom", "nick": "bob"})
	must(t, err)
	if s := waitRoom(t, bws, "room_snapshot", func(r roomFrame) bool { return r.Room == "xroom" }); len(s.Occupants) != 1 || s.Occupants[0].Address != "alice@localhost" {
		t.Fatalf("a members-only room shows addresses: %+v", s)
	}

	// an unknown room's info, and groupchat to a room one is not in
	x := sendIQ(t, ctx, ax, `<iq type='get' id='d4' to='nowhere@conference.localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if x.Type != "error" || !strings.Contains(x.Inner, "item-not-found") {
		t.Fatalf("unknown room %s", x)
	}
	must(t, ax.Send(ctx, stanza2IQ(`<message to='nowhere@conference.localhost' type='groupchat' id='g2'><body>anyone?</body></message>`)))
	e = waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.Type == "error" && s.ID == "g2" })
	if !strings.Contains(e.Inner, "not-acceptable") {
		t.Fatalf("groupchat outside %+v", e)
	}
}

// TestRoomSlixmpp: slixmpp's XEP-0045 plugin (Debian's python3-slixmpp) and
// a JSON-protocol member share one room: occupant presence, history,
// subject, messages and presence both ways (testdata/slixmpp_muc.py plays
// the XMPP side).
func TestRoomSlixmpp(t *testing.T) {
	python := os.Getenv("PRESENCED_TEST_SLIXMPP")
	if python == "" {
		t.Skip("set PRESENCED_TEST_SLIXMPP to a python3 with slixmpp (Debian: python3-slixmpp) to run")
	}
	ts, ctx, bws := loungeWithBob(t, "our lounge")

	host, port, _ := strings.Cut(ts.xmppAddrs[0], ":")
	cmd := exec.Command(python, filepath.Join("testdata", "slixmpp_muc.py"))
	cmd.Env = append(os.Environ(), "XMPP_HOST="+host, "XMPP_PORT="+port, "XMPP_DOMAIN=localhost",
		"XMPP_CA="+filepath.Join(ts.Config.DataDir, XMPPCertFile), "ALICE_PASSWORD=password-alice", "ROOM=lounge@conference.localhost",
		"PYTHONDONTWRITEBYTECODE=1") // it imports testdata/slixtest.py: no __pycache__ in the tree
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		if t.Failed() {
			cmd.Process.Kill()
			<-done // out is written until the process has ended
		}
		t.Logf("slixmpp:\n%s", out.String())
	}()

	// alice's join comes in a diff, her message at once: either may come first
	waitRooms(t, bws, func(f roomFrame) bool {
		return f.Type == "room_diff" && len(f.Joined) > 0 && f.Joined[0].Nick == "alice" && f.Joined[0].Availability == "away" && f.Joined[0].Status == "slix side"
	}, func(f roomFrame) bool {
		return f.Type == "room_message" && f.Body == "hi from slixmpp" && f.Nick == "alice"
	})
	_, err := bws.Request(ctx, "room_message", map[string]any{"room": "lounge", "body": "hi from JSON"})
	must(t, err)
	waitRoom(t, bws, "room_diff", func(r roomFrame) bool {
		return len(r.Changed) > 0 && r.Changed[0].Nick == "alice" && r.Changed[0].Availability == "xa"
	})
	_, err = bws.Request(ctx, "join", map[string]any{"room": "lounge", "nick": "bob", "presence": map[string]any{"availability": "available", "status": "json back"}})
	must(t, err)
	waitRoom(t, bws, "room_diff", func(r roomFrame) bool { return len(r.Left) > 0 && r.Left[0].Nick == "alice" })
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("slixmpp scenario: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("slixmpp scenario did not end")
	}
}
