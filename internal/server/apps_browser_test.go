package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/testbrowser"
)

// TestWebPageConsentAndGrants: in headless Chromium, a signed-in user goes
// from an app's page on another site (localhost, the server being
// 127.0.0.1) through the real consent page, where she is recognised and
// allows; the app gets its code and goes live; then, on presenced's web
// page, she sees the app among the apps she allowed, lets it see one of
// her contacts (the app's live session is shown him at once, by handle)
// and revokes it, which ends the app's session.
func TestWebPageConsentAndGrants(t *testing.T) {
	path := os.Getenv("PRESENCED_TEST_CHROMIUM")
	if path == "" {
		t.Skip("set PRESENCED_TEST_CHROMIUM=/usr/bin/chromium to run the browser test (.ci/run does)")
	}
	ts := startServer(t, nil)
	waitReady(t, ts)
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	must(t, alice.Do(ctx, "POST", "/v1/contacts", map[string]any{"name": "Bob", "address": "bob@localhost"}, nil))
	bs, err := bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	defer bs.Close(ctx)

	var authURL string
	appURL, codes := appSite(t, func() string { return authURL })
	app, _ := registerAppAt(t, ts, "Status", appURL+"/callback", "presence:publish", "presence:read")
	provider, conf := codeFlow(t, ts, app, "", "presence:publish", "presence:read")
	conf.RedirectURL = appURL + "/callback"
	verifier := oauth2.GenerateVerifier()
	authURL = conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier))

	b := testbrowser.Launch(t, ctx, path)
	page := b.NewPage(t, ctx, ts.URL+"/")
	page.WaitFor(t, ctx, `!document.getElementById("signin").hidden`)
	page.Eval(t, ctx, `document.getElementById("signin-address").value = "alice@localhost";
		document.getElementById("signin-password").value = "password-alice";
		document.querySelector("#signin-form button").click(); true`)
	page.WaitFor(t, ctx, `document.getElementById("conn").textContent.startsWith("online as alice@localhost/")`)

	page.Eval(t, ctx, `location.assign(`+fmt.Sprintf("%q", appURL+"/")+`); true`)
	page.WaitFor(t, ctx, `!!document.getElementById("go")`)
	page.Eval(t, ctx, `document.getElementById("go").click(); true`)
	page.WaitFor(t, ctx, `!!document.getElementById("allow") && document.body.textContent.includes("signed in as alice@localhost")`)
	page.Eval(t, ctx, `document.getElementById("allow").click(); true`)
	tok := exchangeCode(t, ctx, codes, conf, verifier)
	s, err := client.New(ts.URL, tok.AccessToken).Connect(ctx, client.ConnectOptions{Device: "app"})
	if err != nil {
		t.Fatal(err)
	}

	if f, err := s.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "snapshot" }); err != nil || len(f.Presences) != 0 {
		t.Fatalf("the app's first snapshot (it sees no contact yet): %v %s", err, f.Raw)
	}

	page.Eval(t, ctx, `location.assign(`+fmt.Sprintf("%q", ts.URL+"/#account")+`); true`)
	page.WaitFor(t, ctx, `!!document.querySelector('#grants li[data-app="`+app+`"] button.act-revoke-app')`)
	// let it see bob: the grant's editor, by its labels
	item := `document.querySelector('#grants li[data-app="` + app + `"]')`
	page.Eval(t, ctx, item+`.querySelector("details").open = true;
		[...`+item+`.querySelectorAll("label")].find((l) => l.textContent.includes("Those I pick")).querySelector("input").click();
		[...`+item+`.querySelectorAll("label")].find((l) => l.textContent.includes("Bob (bob@localhost)")).querySelector("input").click();
		`+item+`.querySelector("button[data-action=save-grant]").click(); true`)
	f, err := s.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "snapshot" })
	if err != nil || len(f.Presences) != 1 || f.Presences[0].Address != core.NewHandles(ts.key).Of(app, "alice@localhost", "bob@localhost") {
		t.Fatalf("after picking bob on the web page, the app's snapshot: %v %s", err, f.Raw)
	}
	page.WaitFor(t, ctx, item+`.querySelector(".grant-sees").textContent.includes("1 contact you picked")`)
	page.Eval(t, ctx, `document.querySelector('#grants li[data-app="`+app+`"] button.act-revoke-app').click(); true`)
	if _, err := s.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "goaway" }); err != nil {
		t.Fatalf("the app's session did not end when its grant was revoked on the web page: %v", err)
	}
	page.WaitFor(t, ctx, `!document.querySelector('#grants li[data-app="`+app+`"]')`)
	if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Fatal("the revoked app's token still works")
	}
}

// appSite serves an app on another site than the server (localhost, the
// server being 127.0.0.1): its page links to the authorization URL signIn
// returns, and its redirect URI, appURL+"/callback", hands the code it
// receives to codes.
func appSite(t *testing.T, signIn func() string) (appURL string, codes <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	c := make(chan string, 1)
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/callback" {
			select {
			case c <- r.URL.Query().Get("code"):
			default:
			}
			fmt.Fprint(w, `<!doctype html><title>app</title><p id="done">signed in</p>`)
			return
		}
		fmt.Fprintf(w, `<!doctype html><title>app</title><a id="go" href="%s">Sign in with presenced</a>`, signIn())
	}))
	return fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port), c
}

// exchangeCode waits for the code the app's site receives and exchanges it
// (with the client secret of conf, if any) at the token endpoint.
func exchangeCode(t *testing.T, ctx context.Context, codes <-chan string, conf *oauth2.Config, verifier string) *oauth2.Token {
	t.Helper()
	var code string
	select {
	case code = <-codes:
	case <-ctx.Done():
		t.Fatal("the app never got its code")
	}
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("the token endpoint: %v", err)
	}
	return tok
}
