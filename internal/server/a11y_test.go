package server

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/testbrowser"
)

// TestWebPageAccessibility audits the page's views with axe-core in
// headless Chromium, in light and dark mode, and fails on serious or
// critical violations (missing labels, contrast, names of controls …).
// Switched on by PRESENCED_TEST_AXE, the path of axe.min.js, which .ci/run
// sets after `npm ci` in test/a11y.
func TestWebPageAccessibility(t *testing.T) {
	axePath := os.Getenv("PRESENCED_TEST_AXE")
	if axePath == "" {
		t.Skip("set PRESENCED_TEST_AXE to test/a11y/node_modules/axe-core/axe.min.js after `npm ci` in test/a11y (.ci/run does)")
	}
	axe, err := os.ReadFile(axePath)
	must(t, err)
	ts, ctx, b := browserWorld(t)
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	bs := connected(t, ctx, bob, client.Presence{Availability: "dnd", Status: "busy"})
	_, err = bs.Request(ctx, "publish", map[string]any{"topic": "mood", "data": map[string]string{"mood": "happy"}})
	must(t, err)
	carol := ts.user(t, "carol")
	_, err = carol.SubscriptionAction(ctx, "alice@localhost", "subscribe")
	must(t, err)
	must(t, alice.Do(ctx, "POST", "/v1/contacts", map[string]any{"name": "Bob", "address": "bob@localhost", "groups": []string{"friends"}}, nil))
	must(t, alice.Do(ctx, "POST", "/v1/contacts", map[string]any{"name": "Plumber", "phones": []string{"+33 1 23 45 67 89"}}, nil))
	must(t, alice.Do(ctx, "POST", "/v1/apps", map[string]any{"name": "Ringer", "redirect_uris": []string{"https://ringer.example/cb"},
		"scopes": []string{"presence:read", "signal"}, "description": "Rings your friends."}, nil))
	chat, _ := registerApp(t, ts, "Chat", true, "presence:read", "message")
	must(t, ts.Hub.AllowApp(ctx, "alice@localhost", chat, []string{"presence:read", "message"})) // as the consent page does

	page := b.NewPage(t, ctx, ts.URL+"/")
	page.WaitFor(t, ctx, `!document.getElementById("signin").hidden`)
	page.Eval(t, ctx, string(axe)+"; true")
	audit(t, ctx, page, "sign-in")
	// a wrong password is said in words, where the form is
	page.Fill(t, ctx, "signin-address", "alice@localhost")
	page.Fill(t, ctx, "signin-password", "not-the-password")
	page.Click(t, ctx, "#signin-form button")
	page.WaitFor(t, ctx, `document.getElementById("signin-error").textContent === "Invalid address or password."`)
	audit(t, ctx, page, "sign-in error")

	signInPage(t, ctx, page, "alice")
	page.Eval(t, ctx, string(axe)+"; true") // signing in did not reload, but be sure
	_, err = bs.Message(ctx, "alice@localhost", "hello")
	must(t, err)
	page.WaitFor(t, ctx, `document.querySelector('#contacts li[data-address="bob@localhost"] .pe.mood') && document.getElementById("unread-count").textContent === "1"`)
	for _, scheme := range []string{"light", "dark"} {
		page.Emulate(t, ctx, "prefers-color-scheme", scheme)
		page.Click(t, ctx, `#nav a[data-view="people"]`)
		page.Eval(t, ctx, `document.querySelector('#contacts li[data-address="bob@localhost"] details').open = true; true`)
		audit(t, ctx, page, "people/"+scheme)
		page.Click(t, ctx, `#nav a[data-view="talk"]`)
		page.Click(t, ctx, `#conversations li[data-address="bob@localhost"] button`)
		page.WaitFor(t, ctx, `document.querySelector("#messages .msg")`)
		audit(t, ctx, page, "messages/"+scheme)
		page.Click(t, ctx, `#nav a[data-view="book"]`)
		page.WaitFor(t, ctx, `document.querySelectorAll("#cards li[data-id]").length === 2`)
		page.Click(t, ctx, `#cards li[data-id] button.act-edit`)
		audit(t, ctx, page, "address book/"+scheme)
		page.Click(t, ctx, "#card-cancel")
		page.Click(t, ctx, `#nav a[data-view="me"]`)
		audit(t, ctx, page, "my status/"+scheme)
		page.Click(t, ctx, `#nav a[data-view="account"]`)
		page.WaitFor(t, ctx, `document.querySelector("#signins li.signin") && document.querySelector("#devapps li.devapp") && document.querySelector("#grants li.grant")`)
		page.Eval(t, ctx, `document.querySelector("#grants li.grant details").open = true; true`) // the grant's editor
		audit(t, ctx, page, "account/"+scheme)
		// your apps: the form with a refusal, an "are you sure?", a secret shown
		page.Click(t, ctx, "#devapp-new")
		page.Fill(t, ctx, "devapp-name", "Pager")
		page.Fill(t, ctx, "devapp-uris", "http://pager.example/cb")
		page.Click(t, ctx, "#devapp-save")
		page.WaitFor(t, ctx, `document.getElementById("devapp-error").textContent !== ""`)
		audit(t, ctx, page, "your apps form/"+scheme)
		page.Click(t, ctx, "#devapp-cancel")
		page.Click(t, ctx, "#devapps li.devapp button.act-secret")
		page.WaitFor(t, ctx, `document.querySelector("#devapps li.devapp button.act-confirm")`)
		audit(t, ctx, page, "your apps confirm/"+scheme)
		page.Click(t, ctx, "#devapps li.devapp button.act-confirm")
		page.WaitFor(t, ctx, `!document.getElementById("devapp-secret").hidden`)
		audit(t, ctx, page, "your apps secret/"+scheme)
		page.Click(t, ctx, "#devapp-secret-done")
	}
	// by keyboard alone: a tab of the navigation, then a contact's menu and
	// one of its actions; the focus stays in the menu through the update
	page.Eval(t, ctx, `document.querySelector('#nav a[data-view="talk"]').focus(); true`)
	page.Press(t, ctx, "Enter")
	page.WaitFor(t, ctx, `!document.getElementById("view-talk").hidden`)
	page.Eval(t, ctx, `document.querySelector('#nav a[data-view="people"]').focus(); true`)
	page.Press(t, ctx, "Enter")
	page.WaitFor(t, ctx, `!document.getElementById("view-people").hidden`)
	bobLi := `document.querySelector('#contacts li[data-address="bob@localhost"]')`
	page.Eval(t, ctx, bobLi+`.querySelector("details").open = false; `+bobLi+`.querySelector("summary").focus(); true`)
	page.Press(t, ctx, "Enter")
	page.WaitFor(t, ctx, bobLi+`.querySelector("details").open`)
	for i := 0; i < 3; i++ { // stop seeing them, stop sharing, hide
		page.Press(t, ctx, "Tab")
	}
	page.WaitFor(t, ctx, `document.activeElement.dataset.action === "hide"`)
	page.Press(t, ctx, "Enter")
	page.WaitFor(t, ctx, bobLi+`.querySelector(".hidden-note") && `+bobLi+`.contains(document.activeElement) && `+bobLi+`.querySelector("details").open`)

	// the connection banner of a lost connection (kept lost: no automatic
	// reconnection), and its Reconnect button
	page.Eval(t, ctx, `presenced.options.autoReconnect = false; presenced._ws.close(); true`)
	page.WaitFor(t, ctx, `document.getElementById("conn").className.includes("closed")`)
	audit(t, ctx, page, "disconnected banner")
	page.Click(t, ctx, "#conn button")
	page.WaitFor(t, ctx, `document.getElementById("conn").textContent.startsWith("online as alice@localhost/")`)
}

// audit runs axe-core on the page as it is and fails on serious or critical
// violations.
func audit(t *testing.T, ctx context.Context, p *testbrowser.Page, view string) {
	t.Helper()
	res := p.Eval(t, ctx, `axe.run(document, {resultTypes: ["violations"]}).then((r) => JSON.stringify(r.violations
		.filter((v) => v.impact === "serious" || v.impact === "critical")
		.map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + ": " + n.failureSummary)}))))`)
	var violations []struct {
		ID, Impact, Help string
		Nodes            []string
	}
	must(t, json.Unmarshal([]byte(res.(string)), &violations))
	for _, v := range violations {
		t.Errorf("%s: %s (%s) %s\n\t%v", view, v.ID, v.Impact, v.Help, v.Nodes)
	}
}
