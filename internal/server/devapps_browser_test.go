package server

import (
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/presenced/presenced/client"
)

// TestWebPageRegisterApp: in headless Chromium, a developer registers a
// confidential app in the Account view's "Your apps" (by keyboard where it
// matters: the form opens and its first field takes the focus), reads its
// client ID and its secret, shown once; the app then signs her in: the
// consent page shows the name and description she gave, and the token
// endpoint takes the secret. She renames the app, gives it a new secret
// (after an "are you sure?"), and deletes it, which ends its session.
func TestWebPageRegisterApp(t *testing.T) {
	ts, ctx, b := browserWorld(t)
	waitReady(t, ts)
	ts.user(t, "dev")

	appURL, codes := appSite(t, func() string { return "" })

	page := b.NewPage(t, ctx, ts.URL+"/")
	signInPage(t, ctx, page, "dev")
	page.Click(t, ctx, `#nav a[data-view="account"]`)
	page.WaitFor(t, ctx, `document.querySelector("#devapps li")?.textContent === "You have registered no app."`)
	page.Eval(t, ctx, `document.getElementById("devapp-new").focus(); true`)
	page.Press(t, ctx, "Enter")
	page.WaitFor(t, ctx, `!document.getElementById("devapp-form").hidden && document.activeElement.id === "devapp-name"`)

	// a refused registration says why, in the form
	page.Fill(t, ctx, "devapp-name", "Ringer")
	page.Fill(t, ctx, "devapp-uris", "http://ringer.example/callback")
	page.Click(t, ctx, "#devapp-save")
	page.WaitFor(t, ctx, `document.getElementById("devapp-error").textContent.includes("must be https, or http on a loopback host")`)

	page.Fill(t, ctx, "devapp-uris", appURL+"/callback")
	page.Fill(t, ctx, "devapp-description", "Rings your friends.")
	page.Click(t, ctx, `input[name="devapp-scope"][value="presence:publish"]`)
	page.Click(t, ctx, "#devapp-save")
	page.WaitFor(t, ctx, `!document.getElementById("devapp-secret").hidden && document.activeElement.id === "devapp-secret-title"`)
	id := page.Eval(t, ctx, `document.getElementById("devapp-secret-id").value`).(string)
	secret := page.Eval(t, ctx, `document.getElementById("devapp-secret-value").value`).(string)
	if !strings.HasPrefix(secret, "pds_") || id == "" {
		t.Fatalf("client ID %q, secret %q", id, secret)
	}
	item := `document.querySelector('#devapps li[data-app="` + id + `"]')`
	page.WaitFor(t, ctx, item+`.querySelector(".client-id").textContent === "`+id+`" && `+item+`.textContent.includes("presence:publish")`)
	page.Click(t, ctx, "#devapp-secret-done")
	page.WaitFor(t, ctx, `document.getElementById("devapp-secret").hidden && document.activeElement.id === "devapp-new"`)
	// shown once: not in the page, nor after a reload
	page.Reload(t, ctx)
	page.Click(t, ctx, `#nav a[data-view="account"]`)
	page.WaitFor(t, ctx, item)
	if html := page.Eval(t, ctx, `document.documentElement.outerHTML`).(string); strings.Contains(html, secret) {
		t.Fatal("the secret is in the page again")
	}

	// the app signs dev in with it
	provider, conf := codeFlow(t, ts, id, secret, "presence:publish")
	conf.RedirectURL = appURL + "/callback"
	verifier := oauth2.GenerateVerifier()
	page.Eval(t, ctx, `location.assign(`+jsQuote(conf.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))+`); true`)
	page.WaitFor(t, ctx, `!!document.getElementById("allow") && document.querySelector("h1").textContent.includes("Allow Ringer?") &&
		document.body.textContent.includes("Rings your friends.") && document.getElementById("owner").textContent.includes("dev@localhost") &&
		!!document.getElementById("scope-presence:publish")`)
	page.Click(t, ctx, "#allow")
	tok := exchangeCode(t, ctx, codes, conf, verifier) // with the secret the page showed
	s, err := client.New(ts.URL, tok.AccessToken).Connect(ctx, client.ConnectOptions{Device: "app"})
	must(t, err)

	// edit, new secret, delete
	page.Eval(t, ctx, `location.assign(`+jsQuote(ts.URL+"/#account")+`); true`)
	page.Click(t, ctx, `#devapps li[data-app="`+id+`"] button.act-edit-app`)
	page.WaitFor(t, ctx, `document.getElementById("devapp-name").value === "Ringer" && document.getElementById("devapp-public").disabled &&
		document.querySelector('input[name="devapp-scope"][value="presence:publish"]').checked`)
	page.Fill(t, ctx, "devapp-name", "Ringer 2")
	page.Click(t, ctx, "#devapp-save")
	page.WaitFor(t, ctx, item+`.querySelector(".name").textContent === "Ringer 2" && document.getElementById("devapp-form").hidden`)
	if a, err := ts.Store.GetApp(ctx, id); err != nil || a.Name != "Ringer 2" || a.Description != "Rings your friends." {
		t.Fatalf("the edited app: %+v %v", a, err)
	}

	page.Click(t, ctx, `#devapps li[data-app="`+id+`"] button.act-secret`)
	page.WaitFor(t, ctx, `document.activeElement.dataset.action === "confirm-secret"`)
	page.Press(t, ctx, "Enter")
	page.WaitFor(t, ctx, `!document.getElementById("devapp-secret").hidden && document.getElementById("devapp-secret-value").value.startsWith("pds_")`)
	if again := page.Eval(t, ctx, `document.getElementById("devapp-secret-value").value`).(string); again == secret {
		t.Fatal("the new secret is the old one")
	}
	page.Click(t, ctx, "#devapp-secret-done")

	page.Click(t, ctx, `#devapps li[data-app="`+id+`"] button.act-delete-app`)
	page.WaitFor(t, ctx, `document.activeElement.dataset.action === "confirm-delete"`)
	page.Press(t, ctx, "Enter")
	page.WaitFor(t, ctx, `!`+item+` && document.querySelector("#devapps li")?.textContent === "You have registered no app."`)
	if _, err := s.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "goaway" }); err != nil {
		t.Fatalf("the deleted app's session did not end: %v", err)
	}
	if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Fatal("the deleted app's token still works")
	}
}
