package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	jsclient "github.com/presenced/presenced/clients/js"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/testbrowser"
)

// pickerAppPage is a browser app on its own origin, written as an app
// developer would with the SDK: the code flow with PKCE in the page
// (the token fetched from the token endpoint), a JSON-protocol session
// with the app's token, and a button that opens the contact picker.
const pickerAppPage = `<!doctype html><html lang="en"><meta charset="utf-8"><title>Chat</title>
<button id="app-signin">Sign in with presenced</button> <button id="pick">Pick contacts</button>
<script type="module">
import { Presenced, pickContacts } from "/presenced.js";
const server = %q, clientId = %q, redirect = location.origin + "/callback";
const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
window.seen = [];
window.results = [];
document.getElementById("app-signin").onclick = async () => {
  const verifier = b64(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  sessionStorage.setItem("verifier", verifier);
  const u = new URL("/oauth/authorize", server);
  u.search = new URLSearchParams({ response_type: "code", client_id: clientId, redirect_uri: redirect,
    scope: "openid presence:read contacts:pick", state: "st", code_challenge: challenge, code_challenge_method: "S256" });
  location.assign(u.href);
};
document.getElementById("pick").onclick = () => {
  pickContacts({ server, clientId, multiple: true, subject: window.sub })
    .then((contacts) => results.push({ contacts }), (e) => results.push({ error: e.code }));
};
const code = new URLSearchParams(location.search).get("code");
if (code) {
  const r = await fetch(server + "/oauth/token", { method: "POST", body: new URLSearchParams({ grant_type: "authorization_code",
    code, redirect_uri: redirect, client_id: clientId, code_verifier: sessionStorage.getItem("verifier") }) });
  const tok = await r.json();
  window.sub = JSON.parse(atob(tok.id_token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
  window.app = new Presenced({ url: server, token: tok.access_token, device: "chat" });
  app.addEventListener("change", (e) => seen.push(e.detail));
  app.addEventListener("state", (e) => { window.appState = e.detail.state; });
  await app.connect();
}
</script></html>`

// TestContactPickerInBrowser: in headless Chromium, an app on another
// origin (localhost, the server being 127.0.0.1) signs alice in with the
// code flow and PKCE through the real consent page, goes live with the
// SDK, and asks her to pick contacts with the SDK's pickContacts(): in
// presenced's popup she searches her address book of three approved,
// online contacts and picks carol. The app gets carol's handle only, its
// live session is shown carol (and only carol) at once and follows her
// presence; cancelling the picker answers nothing, closing it rejects;
// revoking the grant ends the app's session.
func TestContactPickerInBrowser(t *testing.T) {
	path := os.Getenv("PRESENCED_TEST_CHROMIUM")
	if path == "" {
		t.Skip("set PRESENCED_TEST_CHROMIUM=/usr/bin/chromium to run the browser test (.ci/run does)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	appURL := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	// the app's pages open their sessions from their own origin
	ts := startServer(t, func(c *config.Config) { c.AllowedOrigins = []string{appURL} })
	waitReady(t, ts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	alice := ts.user(t, "alice")
	online := map[string]*client.Session{}
	for _, u := range []string{"bob", "carol", "dave"} {
		c := ts.user(t, u)
		befriend(t, ctx, alice, c, "alice@localhost", u+"@localhost")
		s, err := c.Connect(ctx, client.ConnectOptions{Device: "web", Presence: &client.Presence{Availability: "available"}})
		must(t, err)
		online[u] = s
	}
	_, err = ts.Hub.CreateContacts(ctx, "alice@localhost", []store.Contact{
		{Name: "Bob", Address: "bob@localhost"}, {Name: "Carol", Address: "carol@localhost"}, {Name: "Dave", Address: "dave@localhost"}})
	must(t, err)
	app, _ := registerAppAt(t, ts, "Chat", appURL+"/callback", "presence:read", "contacts:pick")
	hs := core.NewHandles(ts.key)
	hBob, hCarol, hDave := hs.Of(app, "alice@localhost", "bob@localhost"), hs.Of(app, "alice@localhost", "carol@localhost"), hs.Of(app, "alice@localhost", "dave@localhost")

	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/presenced.js" { // an app ships the SDK with its pages
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(jsclient.Source)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, pickerAppPage, ts.URL, app)
	}))

	b := testbrowser.Launch(t, ctx, path)
	page := b.NewPage(t, ctx, ts.URL+"/")
	signInPage(t, ctx, page, "alice")

	// the app signs her in (the consent page knows her) and goes live
	page.Eval(t, ctx, `location.assign(`+fmt.Sprintf("%q", appURL+"/")+`); true`)
	page.WaitFor(t, ctx, `Array.isArray(window.results)`) // the app's script is ready
	page.Click(t, ctx, "#app-signin")
	page.WaitFor(t, ctx, `!!document.getElementById("allow") && document.body.textContent.includes("signed in as alice@localhost")`)
	page.Eval(t, ctx, `document.getElementById("allow").click(); true`)
	page.WaitFor(t, ctx, `window.appState === "online"`)
	if n := page.Eval(t, ctx, `app.presence.size`); n != float64(0) {
		t.Fatalf("before picking, the app sees %v contacts", n)
	}

	// pick: a click (a user's gesture, so the popup may open)
	openPicker := func() *testbrowser.Page {
		t.Helper()
		page.Eval(t, ctx, `document.getElementById("pick").focus(); true`)
		page.Press(t, ctx, "Enter")
		return page.Popup(t, ctx, ts.URL+"/oauth/pick")
	}
	popup := openPicker()
	popup.WaitFor(t, ctx, `document.querySelectorAll('#contacts input[name="pick"]').length === 3 && document.body.textContent.includes("signed in as alice@localhost")`)
	if axePath := os.Getenv("PRESENCED_TEST_AXE"); axePath != "" { // the picker's accessibility, as the web page's
		axe, err := os.ReadFile(axePath)
		must(t, err)
		popup.Eval(t, ctx, string(axe)+"; true")
		audit(t, ctx, popup, "contact picker")
	}
	popup.Fill(t, ctx, "search", "car")
	popup.WaitFor(t, ctx, `document.querySelector('input[value="bob@localhost"]').closest("li").hidden && !document.querySelector('input[value="carol@localhost"]').closest("li").hidden`)
	popup.Click(t, ctx, `input[value="carol@localhost"]`)
	popup.Fill(t, ctx, "search", "")
	popup.Click(t, ctx, "#share")
	page.WaitFor(t, ctx, `results.length === 1`)
	if got := page.Eval(t, ctx, `JSON.stringify(results[0])`); got != `{"contacts":[{"handle":"`+hCarol+`"}]}` {
		t.Fatalf("the app was told %v, want carol's handle %s only", got, hCarol)
	}
	page.WaitFor(t, ctx, `app.presence.size === 1 && app.presence.get(`+fmt.Sprintf("%q", hCarol)+`).availability === "available"`)

	// live: carol's changes reach the app, bob's and dave's never
	must(t, online["bob"].SetPresence(ctx, client.Presence{Availability: "away", Status: "bob's secret"}))
	must(t, online["dave"].SetPresence(ctx, client.Presence{Availability: "xa"}))
	must(t, online["carol"].SetPresence(ctx, client.Presence{Availability: "dnd", Status: "in a meeting"}))
	page.WaitFor(t, ctx, `app.presence.get(`+fmt.Sprintf("%q", hCarol)+`).availability === "dnd"`)
	seen := page.Eval(t, ctx, `JSON.stringify(seen)`).(string)
	for _, leak := range []string{hBob, hDave, "bob's secret", "@localhost"} {
		if strings.Contains(seen, leak) {
			t.Fatalf("the app's session was told %q: %s", leak, seen)
		}
	}

	// cancelled: nothing; closed without an answer: rejected
	popup = openPicker()
	popup.Click(t, ctx, "#cancel")
	page.WaitFor(t, ctx, `results.length === 2`)
	if got := page.Eval(t, ctx, `JSON.stringify(results[1])`); got != `{"contacts":[]}` {
		t.Fatalf("cancelled: %v", got)
	}
	popup = openPicker()
	popup.WaitFor(t, ctx, `!!document.getElementById("share")`)
	popup.Eval(t, ctx, `setTimeout(() => window.close(), 0); true`)
	page.WaitFor(t, ctx, `results.length === 3`)
	if got := page.Eval(t, ctx, `JSON.stringify(results[2])`); got != `{"error":"closed"}` {
		t.Fatalf("closed: %v", got)
	}
	gs, err := ts.Hub.Grants(ctx, "alice@localhost")
	must(t, err)
	if len(gs) != 1 || gs[0].Contacts != store.ContactsPicked || len(gs[0].Picked) != 1 || gs[0].Picked[0] != "carol@localhost" {
		t.Fatalf("the grant: %+v", gs)
	}

	// revoked: the app's session ends
	must(t, alice.Do(ctx, "DELETE", "/v1/grants/"+app, nil, nil))
	page.WaitFor(t, ctx, `window.appState === "closed"`)
}
