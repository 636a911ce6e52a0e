package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/demo"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/testbrowser"
)

// demoWorld starts a server with the demos on (and tweak), waits until
// they are registered, and gives each named user an account and the
// others in their address book, all sharing presence.
func demoWorld(t *testing.T, tweak func(*config.Config), users ...string) (*testServer, context.Context) {
	t.Helper()
	ts := startServer(t, func(c *config.Config) {
		c.Demos = true
		if tweak != nil {
			tweak(c)
		}
	})
	waitReady(t, ts)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	clients := map[string]*client.Client{}
	for _, u := range users {
		clients[u] = ts.user(t, u)
	}
	for i, a := range users {
		for _, b := range users[i+1:] {
			befriend(t, ctx, clients[a], clients[b], a+"@localhost", b+"@localhost")
		}
		var book []store.Contact
		for _, b := range users {
			if b != a {
				book = append(book, store.Contact{Name: strings.ToUpper(b[:1]) + b[1:], Address: b + "@localhost"})
			}
		}
		_, err := ts.Hub.CreateContacts(ctx, a+"@localhost", book)
		must(t, err)
	}
	for _, id := range []string{demo.CallApp, demo.ChatApp} {
		a, err := ts.Store.GetApp(ctx, id)
		must(t, err)
		if !a.Public || a.RedirectURIs[0] != ts.URL+"/demo/"+strings.TrimPrefix(id, "presenced-demo-")+"/" {
			t.Fatalf("demo app %s registered as %+v", id, a)
		}
	}
	return ts, ctx
}

// demoBrowser is demoWorld and a headless Chromium (with flags), or a
// skip when PRESENCED_TEST_CHROMIUM does not name one.
func demoBrowser(t *testing.T, tweak func(*config.Config), flags []string, users ...string) (*testServer, context.Context, *testbrowser.Browser) {
	t.Helper()
	path := os.Getenv("PRESENCED_TEST_CHROMIUM")
	if path == "" {
		t.Skip("set PRESENCED_TEST_CHROMIUM=/usr/bin/chromium to run the browser test (.ci/run does)")
	}
	ts, ctx := demoWorld(t, tweak, users...)
	return ts, ctx, testbrowser.Launch(t, ctx, path, flags...)
}

// demoSignIn signs local in to the demo page p shows, as a user does: the
// page's button, then presenced's consent page (signing in there if this
// browser context has not yet), Allow, and back to the page, online.
func demoSignIn(t *testing.T, ctx context.Context, p *testbrowser.Page, local string) {
	t.Helper()
	p.WaitFor(t, ctx, `!document.getElementById("signin").hidden`)
	p.Eval(t, ctx, `document.getElementById("signin-button").focus(); true`)
	p.Press(t, ctx, "Enter")
	p.WaitFor(t, ctx, `!!document.getElementById("allow")`)
	p.Eval(t, ctx, fmt.Sprintf(`const a = document.querySelector('input[name="address"]');
		if (a) { a.value = %q; document.querySelector('input[name="password"]').value = %q; }
		document.getElementById("allow").click(); true`, local+"@localhost", "password-"+local))
	p.WaitFor(t, ctx, `document.getElementById("conn")?.textContent === "Online."`)
	if !strings.Contains(p.Eval(t, ctx, `location.href`).(string), "/demo/") || strings.Contains(p.Eval(t, ctx, `location.href`).(string), "code=") {
		t.Fatalf("after the sign-in the page is at %v", p.Eval(t, ctx, `location.href`))
	}
}

// demoPick picks the named contacts (by address) for the demo app in
// presenced's picker popup, sharing their names.
func demoPick(t *testing.T, ctx context.Context, ts *testServer, p *testbrowser.Page, addresses ...string) {
	t.Helper()
	p.Eval(t, ctx, `document.getElementById("pick").focus(); true`)
	p.Press(t, ctx, "Enter") // a key press: the user's gesture lets the popup open
	popup := p.Popup(t, ctx, ts.URL+"/oauth/pick")
	popup.WaitFor(t, ctx, `!!document.getElementById("share")`)
	for _, a := range addresses {
		popup.Click(t, ctx, `input[value="`+a+`"]`)
	}
	popup.Click(t, ctx, "#names")
	popup.Click(t, ctx, "#share")
	p.WaitFor(t, ctx, `document.getElementById("pick-status").textContent.startsWith("Picked ")`)
}

// demoAudit audits the page's accessibility with axe-core, as
// TestWebPageAccessibility does the web page's, when PRESENCED_TEST_AXE
// names axe.min.js (.ci/run sets it).
func demoAudit(t *testing.T, ctx context.Context, p *testbrowser.Page, view string) {
	t.Helper()
	axePath := os.Getenv("PRESENCED_TEST_AXE")
	if axePath == "" {
		return
	}
	if p.Eval(t, ctx, `typeof axe === "undefined"`) == true {
		src, err := os.ReadFile(axePath)
		must(t, err)
		p.Eval(t, ctx, string(src)+"; true")
	}
	audit(t, ctx, p, view)
}

// contactRow is a JS expression: the demo page's contact list item named name.
func contactRow(name string) string {
	return `[...document.querySelectorAll("#contacts li")].find((li) => li.querySelector(".who")?.textContent === ` + jsString(name) + `)`
}

// text is a JS expression: the text of the element id.
func text(id string) string { return `document.getElementById(` + jsString(id) + `).textContent` }

// TestDemoCall drives the calling demo in headless Chromium with fake
// media, every user in a browser context of their own: bob signs in on two
// devices through the consent page and picks alice; alice signs in, picks
// bob and carol, sees bob online and carol offline, and calls bob. Both of
// bob's devices ring; the first answers, both ends reach
// RTCPeerConnection "connected" (shown on the pages), the other device says
// "answered elsewhere"; alice hangs up and bob's page says so. A call to
// carol, offline, fails cleanly in the page. The app knows its users by
// handles: alice's page never shows bob's address.
func TestDemoCall(t *testing.T) {
	ts, ctx, b := demoBrowser(t, nil, testbrowser.FakeMedia, "alice", "bob", "carol")

	b1 := b.NewPage(t, ctx, ts.URL+"/demo/call/")
	demoSignIn(t, ctx, b1, "bob")
	demoPick(t, ctx, ts, b1, "alice@localhost")
	b2 := b.NewPage(t, ctx, ts.URL+"/demo/call/")
	demoSignIn(t, ctx, b2, "bob")

	a := b.NewPage(t, ctx, ts.URL+"/demo/")
	a.WaitFor(t, ctx, `!!document.querySelector('a[href="call/"]')`)
	demoAudit(t, ctx, a, "demos index")
	a.Click(t, ctx, `a[href="call/"]`)
	a.WaitFor(t, ctx, `!document.getElementById("signin").hidden`)
	demoAudit(t, ctx, a, "call demo: sign-in")
	demoSignIn(t, ctx, a, "alice")
	demoPick(t, ctx, ts, a, "bob@localhost", "carol@localhost")
	a.WaitFor(t, ctx, contactRow("Bob")+`?.querySelector(".state").textContent === "online" && `+
		contactRow("Carol")+`?.querySelector(".state").textContent === "offline"`)
	if body := a.Eval(t, ctx, `document.body.innerText`).(string); strings.Contains(body, "@localhost") {
		t.Fatalf("the calling app shows an address:\n%s", body)
	}

	a.Eval(t, ctx, contactRow("Bob")+`.querySelector("button").click(); true`)
	b1.WaitFor(t, ctx, text("call-status")+` === "Incoming call from Alice." && !document.getElementById("answer").hidden`)
	b2.WaitFor(t, ctx, text("call-status")+`.startsWith("Incoming call from ") && !document.getElementById("answer").hidden`)
	a.WaitFor(t, ctx, text("call-status")+` === "Ringing Bob…"`)

	b1.Eval(t, ctx, `document.getElementById("answer").focus(); true`)
	b1.Press(t, ctx, "Enter")
	a.WaitFor(t, ctx, `document.getElementById("media-state").dataset.state === "connected" && `+text("call-status")+` === "In a call with Bob."`)
	b1.WaitFor(t, ctx, `document.getElementById("media-state").dataset.state === "connected" && `+text("call-status")+` === "In a call with Alice."`)
	b2.WaitFor(t, ctx, text("call-status")+` === "Call ended: answered elsewhere (on another of your devices)." && document.getElementById("answer").hidden`)
	if st := b2.Eval(t, ctx, `document.getElementById("media-state").dataset.state`); st != "none" {
		t.Fatalf("the device that did not answer set up media: %v", st)
	}
	// the remote video plays what the other side's fake camera sends
	a.WaitFor(t, ctx, `document.getElementById("remote").srcObject?.getVideoTracks().length === 1`)
	demoAudit(t, ctx, a, "call demo: in a call")
	demoAudit(t, ctx, b2, "call demo: answered elsewhere")

	a.Click(t, ctx, "#hangup")
	b1.WaitFor(t, ctx, text("call-status")+` === "Call ended: hung up." && document.getElementById("hangup").hidden`)
	a.WaitFor(t, ctx, text("call-status")+` === "Call ended: hung up."`)

	// carol is offline: the call fails at once, and the page says so
	a.Eval(t, ctx, contactRow("Carol")+`.querySelector("button").click(); true`)
	a.WaitFor(t, ctx, text("call-status")+`.startsWith("Carol cannot be reached now") && document.getElementById("call-status").classList.contains("error")`)
	a.WaitFor(t, ctx, `!`+contactRow("Bob")+`.querySelector("button").disabled && document.getElementById("hangup").hidden`)
}

// runSlixmpp starts testdata/slixmpp_demo.py against ts's XMPP listener
// with env added. The context it returns ends with ctx, or as soon as the
// script fails, so that what waits on the page alongside stops then too;
// wait returns the script's error once it ended. Its output is logged.
func runSlixmpp(t *testing.T, ctx context.Context, ts *testServer, python string, env ...string) (context.Context, func() error) {
	t.Helper()
	host, port, _ := strings.Cut(ts.xmppAddrs[0], ":")
	cmd := exec.Command(python, filepath.Join("testdata", "slixmpp_demo.py"))
	cmd.Env = append(append(os.Environ(), "XMPP_HOST="+host, "XMPP_PORT="+port, "XMPP_DOMAIN=localhost",
		"XMPP_CA="+filepath.Join(ts.Config.DataDir, XMPPCertFile), "PYTHONDONTWRITEBYTECODE=1"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	sctx, cancel := context.WithCancel(ctx)
	ended := make(chan struct{})
	var err error
	go func() {
		err = cmd.Wait()
		if err != nil {
			cancel()
		}
		close(ended)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-ended
		cancel()
		t.Logf("slixmpp:\n%s", out.String())
	})
	return sctx, func() error {
		select {
		case <-ended:
			return err
		case <-ctx.Done():
			return fmt.Errorf("slixmpp did not end: %w", ctx.Err())
		}
	}
}

// slixmppPython is the python3 with slixmpp the XMPP side of a demo test
// runs with, or a skip.
func slixmppPython(t *testing.T) string {
	python := os.Getenv("PRESENCED_TEST_SLIXMPP")
	if python == "" {
		t.Skip("set PRESENCED_TEST_SLIXMPP to a python3 with slixmpp (Debian: python3-slixmpp) to run")
	}
	return python
}

// TestDemoChatRoomWithXMPP: alice joins a room in the chat demo in
// headless Chromium; bob signs in to the same app in his own browser
// context, and his XMPP client (slixmpp) signs in with that access token
// over SASL OAUTHBEARER and joins the same room, in the app's namespace.
// Each sees the other there; messages and occupant presence go both ways,
// and the page sees him leave.
func TestDemoChatRoomWithXMPP(t *testing.T) {
	python := slixmppPython(t)
	ts, ctx, b := demoBrowser(t, func(c *config.Config) { c.XMPPAddr = "127.0.0.1:0" }, nil, "alice", "bob")

	a := b.NewPage(t, ctx, ts.URL+"/demo/chat/")
	demoSignIn(t, ctx, a, "alice")
	a.Fill(t, ctx, "room-name", "lounge")
	a.Fill(t, ctx, "room-nick", "alice")
	a.Click(t, ctx, "#join-form button")
	a.WaitFor(t, ctx, text("room-status")+` === "You are in lounge as alice." && !document.getElementById("room").hidden`)

	bp := b.NewPage(t, ctx, ts.URL+"/demo/chat/")
	demoSignIn(t, ctx, bp, "bob")
	token := bp.Eval(t, ctx, `JSON.parse(sessionStorage.getItem("presenced:token:`+demo.ChatApp+`")).access_token`).(string)
	if tok, err := ts.OAuth.AccessToken(ctx, token); err != nil || tok.Account != "bob@localhost" || tok.App != demo.ChatApp {
		t.Fatalf("bob's token from the chat demo: %+v, %v", tok, err)
	}

	ctx, done := runSlixmpp(t, ctx, ts, python, "MODE=room", "TOKEN="+token, "ROOM=lounge@conference.localhost")
	occupant := func(nick string) string {
		return `document.querySelector('#occupants li[data-nick="` + nick + `"]')`
	}
	a.WaitFor(t, ctx, occupant("bob")+`?.dataset.availability === "available" && `+occupant("bob")+`.textContent.includes("on xmpp")`)
	a.WaitFor(t, ctx, text("room-messages")+`.includes("bob: hi from XMPP")`)
	a.Fill(t, ctx, "room-text", "hi from the demo")
	a.Click(t, ctx, "#room-form button")
	a.WaitFor(t, ctx, text("room-messages")+`.includes("alice: hi from the demo")`)
	// alice's status in the page is her presence in the room
	a.Fill(t, ctx, "my-availability", "away")
	a.Fill(t, ctx, "my-status", "brb")
	a.Click(t, ctx, "#presence-form button")
	a.WaitFor(t, ctx, occupant("bob")+`?.dataset.availability === "xa" && `+occupant("bob")+`.textContent.includes("slix away")`)
	demoAudit(t, ctx, a, "chat demo: a room")
	a.Fill(t, ctx, "room-text", "bye")
	a.Click(t, ctx, "#room-form button")
	a.WaitFor(t, ctx, `!`+occupant("bob")+` && `+text("room-title")+` === "Room lounge (1 here)"`)
	if err := done(); err != nil {
		t.Fatalf("slixmpp scenario: %v", err)
	}
}

// TestDemoChatOfflineToXMPP: in the chat demo alice picks bob and writes
// to him while he is offline; the page says the messages wait for him.
// Then his XMPP client (slixmpp, password sign-in) comes online and gets
// them as offline messages (XEP-0160) with delay stamps (XEP-0203), in
// order; its answer shows up in alice's page. Then alice leaves the page,
// bob writes to her, and when she opens it again it shows his message,
// kept for her (the SDK's offline frames).
func TestDemoChatOfflineToXMPP(t *testing.T) {
	python := slixmppPython(t)
	ts, ctx, b := demoBrowser(t, func(c *config.Config) { c.XMPPAddr = "127.0.0.1:0" }, nil, "alice", "bob")

	a := b.NewPage(t, ctx, ts.URL+"/demo/chat/")
	demoSignIn(t, ctx, a, "alice")
	demoPick(t, ctx, ts, a, "bob@localhost")
	a.WaitFor(t, ctx, contactRow("Bob")+`?.querySelector(".state").textContent === "offline"`)
	for _, body := range []string{"are you there?", "call me when you are back"} {
		a.Fill(t, ctx, "to", "bob@localhost")
		a.Fill(t, ctx, "message-text", body)
		a.Click(t, ctx, "#message-form button")
		a.WaitFor(t, ctx, text("messages")+`.includes("You → Bob: `+body+` (kept for them until they come online)") && `+
			text("message-status")+` === "Bob is not online: the message waits for them."`)
	}

	_, done := runSlixmpp(t, ctx, ts, python, "MODE=offline", "BOB_PASSWORD=password-bob", "EXPECT=are you there?|call me when you are back")
	if err := done(); err != nil {
		t.Fatalf("slixmpp scenario: %v", err)
	}
	a.WaitFor(t, ctx, text("messages")+`.includes("Bob: got it")`)

	// the other way: alice's page is closed when bob (his own client)
	// writes; the message waits, and the page shows it when she is back
	bobToken, _, err := ts.Auth.IssueToken(ctx, "bob@localhost", "test")
	must(t, err)
	bs, err := client.New(ts.URL, bobToken).Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	_, err = bs.WaitFor(ctx, presenceIs("alice@localhost", "available"))
	must(t, err)
	a.Eval(t, ctx, `location.assign("about:blank"); true`)
	_, err = bs.WaitFor(ctx, presenceIs("alice@localhost", "unavailable")) // past her session's grace
	must(t, err)
	f, err := bs.Request(ctx, "message", map[string]any{"to": "alice@localhost", "body": "while you were out"})
	must(t, err)
	if !f.Stored {
		t.Fatalf("bob's message to alice, away: %s", f.Raw)
	}
	a.Eval(t, ctx, `location.assign(`+jsString(ts.URL+"/demo/chat/")+`); true`)
	// signed in still (the token kept in the tab), and the message is there
	a.WaitFor(t, ctx, text("messages")+`.includes("Bob: while you were out (sent ") && `+text("messages")+`.includes(", while you were away)")`)
	demoAudit(t, ctx, a, "chat demo: messages")
}

// TestDemoSignInRefusals: the SDK's finishSignIn, in a demo page, turns a
// refused sign-in into a clear error on the page: the user choosing Deny
// on the consent page (access_denied), and a redirect this tab did not
// start (a forged state), which is never traded for a token; the sign-in
// button stays.
func TestDemoSignInRefusals(t *testing.T) {
	ts, ctx, b := demoBrowser(t, nil, nil, "alice")

	p := b.NewPage(t, ctx, ts.URL+"/demo/chat/")
	p.WaitFor(t, ctx, `!document.getElementById("signin").hidden`)
	p.Eval(t, ctx, `document.getElementById("signin-button").focus(); true`)
	p.Press(t, ctx, "Enter")
	p.WaitFor(t, ctx, `!!document.getElementById("deny")`)
	p.Eval(t, ctx, `const a = document.querySelector('input[name="address"]');
		if (a) { a.value = "alice@localhost"; document.querySelector('input[name="password"]').value = "password-alice"; }
		document.getElementById("deny").click(); true`)
	p.WaitFor(t, ctx, text("signin-status")+`.startsWith("Sign-in failed: ") && `+text("signin-status")+`.endsWith("(access_denied)") && !document.getElementById("signin").hidden`)
	if gs, err := ts.Hub.Grants(ctx, "alice@localhost"); err != nil || len(gs) != 0 {
		t.Fatalf("a denied app has grants %+v, %v", gs, err)
	}

	p.Eval(t, ctx, `location.assign("/demo/chat/?code=stolen&state=forged"); true`)
	p.WaitFor(t, ctx, text("signin-status")+`.endsWith("(state)") && !document.getElementById("signin").hidden && document.getElementById("app").hidden`)
	if q := p.Eval(t, ctx, `location.search`); q != "" {
		t.Fatalf("the code stays in the address bar: %v", q)
	}
}
