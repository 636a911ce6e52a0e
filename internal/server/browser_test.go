package server

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/testbrowser"
)

// TestWebPageLivePresence drives the built-in web page in headless Chromium:
// two users in two isolated browser contexts sign in, one adds the other,
// the other approves, and each status change shows up live in the other
// window without a reload. Switched on by PRESENCED_TEST_CHROMIUM (the
// browser's path), which .ci/run sets after installing Chromium.
func TestWebPageLivePresence(t *testing.T) {
	path := os.Getenv("PRESENCED_TEST_CHROMIUM")
	if path == "" {
		t.Skip("set PRESENCED_TEST_CHROMIUM=/usr/bin/chromium to run the browser test (.ci/run does)")
	}
	ts := startServer(t, nil)
	ts.user(t, "alice")
	ts.user(t, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := testbrowser.Launch(t, ctx, path)

	alice := b.NewPage(t, ctx, ts.URL+"/")
	bob := b.NewPage(t, ctx, ts.URL+"/")
	for _, u := range []struct {
		p    *testbrowser.Page
		name string
	}{{alice, "alice"}, {bob, "bob"}} {
		u.p.WaitFor(t, ctx, `!document.getElementById("signin").hidden`)
		u.p.Eval(t, ctx, fmt.Sprintf(`document.getElementById("signin-address").value = %q;
			document.getElementById("signin-password").value = %q;
			document.querySelector("#signin-form button").click(); true`, u.name+"@localhost", "password-"+u.name))
		u.p.WaitFor(t, ctx, `document.getElementById("conn").textContent.startsWith("online as `+u.name+`@localhost/web-")`)
	}

	// alice adds bob (and lets him see her); bob approves her request in his window
	alice.Eval(t, ctx, `document.getElementById("add-address").value = "bob@localhost";
		document.getElementById("add-name").value = "Bob";
		document.querySelector("#add-form button").click(); true`)
	bob.WaitFor(t, ctx, `!!document.querySelector('#requests li[data-address="alice@localhost"] button.approve')`)
	bob.Eval(t, ctx, `document.querySelector('#requests li[data-address="alice@localhost"] button.approve').click(); true`)
	alice.WaitFor(t, ctx, `document.querySelector('#contacts li[data-address="bob@localhost"]')?.dataset.availability === "available"`)
	if name := alice.Eval(t, ctx, `document.querySelector('#contacts li[data-address="bob@localhost"] .name').textContent`); name != "Bob" {
		t.Fatalf("alice's contact is named %v", name)
	}

	// bob changes his status and activity; alice's window updates without reload
	alice.Eval(t, ctx, `window.marker = "no reload"; true`)
	bob.Eval(t, ctx, `document.getElementById("availability").value = "dnd";
		document.getElementById("status").value = "in the lab";
		document.getElementById("activity-kind").value = "call";
		document.querySelector("#presence-form button").click(); true`)
	alice.WaitFor(t, ctx, `(() => { const li = document.querySelector('#contacts li[data-address="bob@localhost"]');
		return li && li.dataset.availability === "dnd" && li.querySelector(".status").textContent.includes("in the lab") })()`)
	if m := alice.Eval(t, ctx, `window.marker`); m != "no reload" {
		t.Fatal("alice's page was reloaded")
	}
	// bob's approval asked back, which alice's pre-approval (when adding him) granted
	bob.WaitFor(t, ctx, `document.querySelector('#contacts li[data-address="alice@localhost"]')?.dataset.availability === "available"`)
}

// TestWebPageRefusesAddingYourself: adding one's own address on the web
// page says why in words and leaves no address-book card behind (the page
// used to create the card before the server refused the subscription).
func TestWebPageRefusesAddingYourself(t *testing.T) {
	path := os.Getenv("PRESENCED_TEST_CHROMIUM")
	if path == "" {
		t.Skip("set PRESENCED_TEST_CHROMIUM=/usr/bin/chromium to run the browser test (.ci/run does)")
	}
	ts := startServer(t, nil)
	alice := ts.user(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := testbrowser.Launch(t, ctx, path)
	page := b.NewPage(t, ctx, ts.URL+"/")
	page.WaitFor(t, ctx, `!document.getElementById("signin").hidden`)
	page.Eval(t, ctx, `document.getElementById("signin-address").value = "alice@localhost";
		document.getElementById("signin-password").value = "password-alice";
		document.querySelector("#signin-form button").click(); true`)
	page.WaitFor(t, ctx, `document.getElementById("conn").textContent.startsWith("online as alice@localhost/web-")`)
	// typed with capitals, and in full-width letters that the page does not
	// recognise as hers but the server's PRECIS mapping does
	for _, typed := range []string{"Alice@localhost", "\uff41\uff4c\uff49\uff43\uff45@localhost"} {
		page.Eval(t, ctx, `document.getElementById("app-error").textContent = "";
			document.getElementById("add-address").value = `+fmt.Sprintf("%q", typed)+`;
			document.querySelector("#add-form button").click(); true`)
		page.WaitFor(t, ctx, `document.getElementById("app-error").textContent.includes("your own address")`)
	}
	var book struct{ Contacts []struct{ Address string } }
	must(t, alice.Do(ctx, "GET", "/v1/contacts", nil, &book))
	if len(book.Contacts) != 0 {
		t.Fatalf("cards left behind: %+v", book.Contacts)
	}
}
