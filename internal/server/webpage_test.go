package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/carddav"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/testbrowser"
)

// The web page's flows, each driven in headless Chromium as a user would
// (clicks and typing), with the other side played by Go clients. Every wait
// is on a condition with a generous deadline, so a busy machine or the race
// detector only makes them slower.

// browserWorld starts a server and Chromium, or skips without Chromium.
func browserWorld(t *testing.T) (*testServer, context.Context, *testbrowser.Browser) {
	t.Helper()
	path := os.Getenv("PRESENCED_TEST_CHROMIUM")
	if path == "" {
		t.Skip("set PRESENCED_TEST_CHROMIUM=/usr/bin/chromium to run the browser test (.ci/run does)")
	}
	ts := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	t.Cleanup(cancel)
	return ts, ctx, testbrowser.Launch(t, ctx, path)
}

// connected opens a live session of c with presence p.
func connected(t *testing.T, ctx context.Context, c *client.Client, p client.Presence) *client.Session {
	t.Helper()
	s, err := c.Connect(ctx, client.ConnectOptions{Presence: &p})
	must(t, err)
	return s
}

func li(list, address string) string {
	return `#` + list + ` li[data-address="` + address + `"]`
}

// TestWebPagePeople: answering requests (deny, block), the block list,
// adding a contact and cancelling the request, hiding from a contact and
// going invisible (seen from the contact's side), human words for states,
// no longer seeing a contact, removing one.
func TestWebPagePeople(t *testing.T) {
	ts, ctx, b := browserWorld(t)
	alice, bob, carol, mallory := ts.user(t, "alice"), ts.user(t, "bob"), ts.user(t, "carol"), ts.user(t, "mallory")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	bs := connected(t, ctx, bob, client.Presence{Availability: "dnd", Status: "in the lab"})
	for _, c := range []*client.Client{carol, mallory} {
		_, err := c.SubscriptionAction(ctx, "alice@localhost", "subscribe")
		must(t, err)
	}
	page := b.NewPage(t, ctx, ts.URL+"/")
	signInPage(t, ctx, page, "alice")
	bobLi := li("contacts", "bob@localhost")
	page.WaitFor(t, ctx, `document.querySelector('`+bobLi+` .status')?.textContent.includes("do not disturb — in the lab")`)
	_, err := bs.WaitFor(ctx, presenceIs("alice@localhost", "available"))
	must(t, err)

	// requests: deny carol, block mallory (who then shows in the block list), unblock her
	page.Click(t, ctx, li("requests", "carol@localhost")+" button.act-deny")
	page.Click(t, ctx, li("requests", "mallory@localhost")+" button.act-block")
	page.WaitFor(t, ctx, `!document.querySelector('#requests li[data-address]') && document.querySelector('`+li("blocks", "mallory@localhost")+`')`)
	page.WaitFor(t, ctx, `document.getElementById("requests-count").hidden`)
	page.Click(t, ctx, li("blocks", "mallory@localhost")+" button.act-unblock")
	page.WaitFor(t, ctx, `!document.querySelector('`+li("blocks", "mallory@localhost")+`')`)
	// block someone by address, from the form
	page.Fill(t, ctx, "block-address", "eve@localhost")
	page.Click(t, ctx, "#block-form button")
	page.WaitFor(t, ctx, `document.querySelector('`+li("blocks", "eve@localhost")+`')`)

	// add dave without sharing; the request waits; cancel it
	page.Fill(t, ctx, "add-address", "dave@localhost")
	page.Fill(t, ctx, "add-name", "Dave")
	page.Eval(t, ctx, `document.getElementById("add-share").checked = false; true`)
	page.Click(t, ctx, "#add-form button")
	daveLi := li("contacts", "dave@localhost")
	page.WaitFor(t, ctx, `document.querySelector('`+daveLi+` .relation')?.textContent === "waiting for approval" &&
		document.querySelector('`+daveLi+` .name').textContent === "Dave"`)
	page.Click(t, ctx, daveLi+" button.act-cancel")
	page.WaitFor(t, ctx, `!document.querySelector('`+daveLi+`')`)
	// adding oneself is refused in words
	page.Fill(t, ctx, "add-address", "alice@localhost")
	page.Click(t, ctx, "#add-form button")
	page.WaitFor(t, ctx, `document.getElementById("notice").textContent.includes("your own address")`)

	// hide from bob: he sees alice go offline; unhide: back
	page.Click(t, ctx, bobLi+" button.act-hide")
	_, err = bs.WaitFor(ctx, presenceIs("alice@localhost", "unavailable"))
	must(t, err)
	page.WaitFor(t, ctx, `document.querySelector('`+bobLi+` .hidden-note')`)
	page.Click(t, ctx, bobLi+" button.act-unhide")
	_, err = bs.WaitFor(ctx, presenceIs("alice@localhost", "available"))
	must(t, err)

	// invisible, from "My status"
	page.Click(t, ctx, `#nav a[data-view="me"]`)
	page.WaitFor(t, ctx, `!document.getElementById("view-me").hidden`)
	page.Click(t, ctx, "#invisible")
	_, err = bs.WaitFor(ctx, presenceIs("alice@localhost", "unavailable"))
	must(t, err)
	page.WaitFor(t, ctx, `presenced.privacy.invisible === true && document.getElementById("invisible").checked`)
	page.Click(t, ctx, "#invisible")
	_, err = bs.WaitFor(ctx, presenceIs("alice@localhost", "available"))
	must(t, err)
	page.Click(t, ctx, `#nav a[data-view="people"]`)

	// stop seeing bob: he still sees alice; then remove him: neither sees the other
	page.Click(t, ctx, bobLi+" button.act-unsubscribe")
	page.WaitFor(t, ctx, `document.querySelector('`+bobLi+` .relation')?.textContent === "sees you; you do not see them"`)
	page.Click(t, ctx, bobLi+" button.act-remove")
	page.WaitFor(t, ctx, `!document.querySelector('`+bobLi+`')`)
	_, err = bs.WaitFor(ctx, presenceIs("alice@localhost", "unavailable"))
	must(t, err)
	subs, err := bob.Subscriptions(ctx)
	must(t, err)
	for _, s := range subs {
		if s.Address == "alice@localhost" && s.Subscription != "none" {
			t.Fatalf("bob still relates to alice: %+v", s)
		}
	}
}

// cardNamed is a JS expression: the address book's list item named name.
func cardNamed(name string) string {
	return `[...document.querySelectorAll("#cards li[data-id]")].find((li) => li.querySelector(".name").textContent === ` + jsQuote(name) + `)`
}

func jsQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestWebPageAddressBook: cards with and without a presence address,
// groups, search, editing (and a conflicting edit from another device,
// refused by the card's version and reloaded), deleting, a card made on
// another device appearing live, vCard import with a report of the cards
// it could not take, export, and the CardDAV URL to give a client.
func TestWebPageAddressBook(t *testing.T) {
	ts, ctx, b := browserWorld(t)
	alice := ts.user(t, "alice")
	page := b.NewPage(t, ctx, ts.URL+"/")
	signInPage(t, ctx, page, "alice")
	page.Click(t, ctx, `#nav a[data-view="book"]`)
	page.WaitFor(t, ctx, `!document.getElementById("view-book").hidden && document.querySelector("#cards li")?.textContent === "No cards yet."`)

	// the CardDAV URL to paste into a client: shown in the view, and a
	// working address book for alice's address and password
	bookURL := ts.URL + carddav.BookPath("alice@localhost")
	page.WaitFor(t, ctx, `(() => { const c = document.getElementById("book-carddav");
		return c.textContent === `+jsQuote(bookURL)+` && c.getClientRects().length > 0 })()`)
	shown, err := url.Parse(page.Eval(t, ctx, `document.getElementById("book-carddav").textContent`).(string))
	must(t, err)
	dav := davClient{t: t, base: ts.URL, user: "alice@localhost", pw: "password-alice"}
	st, _, body := dav.do("PROPFIND", shown.Path, `<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/></d:prop></d:propfind>`, "Depth", "0")
	wantStatus(t, "PROPFIND of the URL the page shows", st, 207, body)
	wantIn(t, "PROPFIND of the URL the page shows", body, "<card:addressbook/>")

	newCard := func(name, address, phones, groups string) {
		page.Click(t, ctx, "#book-new")
		page.Fill(t, ctx, "card-name", name)
		page.Fill(t, ctx, "card-address", address)
		page.Fill(t, ctx, "card-phones", phones)
		page.Fill(t, ctx, "card-groups", groups)
		page.Click(t, ctx, "#card-form button[type=submit]")
		page.WaitFor(t, ctx, cardNamed(name))
	}
	newCard("Plumber", "", "+33 1 23 45 67 89", "home, work")
	newCard("Bob", "bob@localhost", "", "friends")
	page.WaitFor(t, ctx, cardNamed("Plumber")+`.textContent.includes("no presence address")`)

	// search and groups
	page.Fill(t, ctx, "book-search", "plumb")
	page.WaitFor(t, ctx, `document.querySelectorAll("#cards li[data-id]").length === 1 && `+cardNamed("Plumber"))
	page.Fill(t, ctx, "book-search", "")
	page.Fill(t, ctx, "book-group", "friends")
	page.WaitFor(t, ctx, `document.querySelectorAll("#cards li[data-id]").length === 1 && `+cardNamed("Bob"))
	page.Fill(t, ctx, "book-group", "")

	// edit
	page.Eval(t, ctx, cardNamed("Plumber")+`.querySelector("button.act-edit").click(); true`)
	page.Fill(t, ctx, "card-name", "Plumber Joe")
	page.Click(t, ctx, "#card-form button[type=submit]")
	page.WaitFor(t, ctx, cardNamed("Plumber Joe")+` && document.getElementById("card-form").hidden`)
	var book struct {
		Contacts []struct {
			ID, Name, Address string
			Groups            []string
			Version           int64
		}
	}
	must(t, alice.Do(ctx, "GET", "/v1/contacts", nil, &book))
	var joe string
	for _, c := range book.Contacts {
		if c.Name == "Plumber Joe" && len(c.Groups) == 2 && c.Address == "" {
			joe = c.ID
		}
	}
	if joe == "" {
		t.Fatalf("the edit did not reach the server: %+v", book)
	}

	// a conflicting edit: another device renames the card while it is open here
	page.Eval(t, ctx, cardNamed("Plumber Joe")+`.querySelector("button.act-edit").click(); true`)
	page.WaitFor(t, ctx, `document.getElementById("card-name").value === "Plumber Joe"`)
	must(t, alice.Do(ctx, "PUT", "/v1/contacts/"+joe, map[string]any{"name": "Joe the plumber", "groups": []string{"home"}}, nil))
	page.WaitFor(t, ctx, cardNamed("Joe the plumber"))
	page.Fill(t, ctx, "card-notes", "fixes sinks")
	page.Click(t, ctx, "#card-form button[type=submit]")
	page.WaitFor(t, ctx, `document.getElementById("notice").textContent.includes("changed on another device") &&
		document.getElementById("card-name").value === "Joe the plumber"`)
	page.Click(t, ctx, "#card-delete")
	page.WaitFor(t, ctx, `!(`+cardNamed("Joe the plumber")+`)`)

	// a card made on another device shows up live
	must(t, alice.Do(ctx, "POST", "/v1/contacts", map[string]string{"name": "Zed"}, nil))
	page.WaitFor(t, ctx, cardNamed("Zed"))

	// import: two good cards, one without a name
	vcf := "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ann Import\r\nEMAIL:ann@example.org\r\nEND:VCARD\r\n" +
		"BEGIN:VCARD\r\nVERSION:4.0\r\nEND:VCARD\r\n" +
		"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ben Import\r\nIMPP:xmpp:ben@localhost\r\nEND:VCARD\r\n"
	page.Eval(t, ctx, `{ const dt = new DataTransfer(); dt.items.add(new File([`+jsQuote(vcf)+`], "cards.vcf", {type: "text/vcard"}));
		const inp = document.getElementById("book-import"); inp.files = dt.files; inp.dispatchEvent(new Event("change")); true }`)
	page.WaitFor(t, ctx, `document.getElementById("notice").textContent.includes("Imported 2 cards. 1 could not be read: card 2") &&
		`+cardNamed("Ann Import")+` && `+cardNamed("Ben Import"))

	// export: what the link downloads
	got := page.Eval(t, ctx, `fetch(document.getElementById("book-export").href).then((r) => r.text())`).(string)
	for _, want := range []string{"BEGIN:VCARD", "FN:Bob", "FN:Ann Import", "FN:Zed"} {
		if !strings.Contains(got, want) {
			t.Fatalf("export lacks %q:\n%s", want, got)
		}
	}
}

// personalFrom matches alice's personal event on topic whose raw frame
// contains want.
func personalFrom(from, topic, want string) func(client.Frame) bool {
	return func(f client.Frame) bool {
		raw := string(f.Raw)
		return f.Type == "personal" && f.From == from && strings.Contains(raw, `"topic":"`+topic+`"`) && strings.Contains(raw, want)
	}
}

// TestWebPageTalkAndPersonalEvents: a contact's mood and music shown and
// withdrawn live; messages with unread counts (tab, contact, title), the
// conversation view, a reply reaching the other side, a message nobody can
// take explained in words, conversations kept over a reload; one's own
// mood, activity and music shared with contacts and cleared.
func TestWebPageTalkAndPersonalEvents(t *testing.T) {
	ts, ctx, b := browserWorld(t)
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	ts.user(t, "carol")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	bs := connected(t, ctx, bob, client.Presence{Availability: "available"})
	page := b.NewPage(t, ctx, ts.URL+"/")
	signInPage(t, ctx, page, "alice")
	bobLi := li("contacts", "bob@localhost")

	// bob's personal events
	_, err := bs.Request(ctx, "publish", map[string]any{"topic": "mood", "data": map[string]string{"mood": "happy", "text": "sunny"}})
	must(t, err)
	_, err = bs.Request(ctx, "publish", map[string]any{"topic": "tune", "data": map[string]string{"artist": "Yes", "title": "Roundabout"}})
	must(t, err)
	page.WaitFor(t, ctx, `document.querySelector('`+bobLi+` .pe.mood')?.textContent === "feels happy (sunny)" &&
		document.querySelector('`+bobLi+` .pe.tune')?.textContent.includes("Yes — Roundabout")`)
	_, err = bs.Request(ctx, "retract", map[string]any{"topic": "tune"})
	must(t, err)
	page.WaitFor(t, ctx, `!document.querySelector('`+bobLi+` .pe.tune') && document.querySelector('`+bobLi+` .pe.mood')`)

	// a message arrives: unread everywhere; opening the conversation reads it
	_, err = bs.Message(ctx, "alice@localhost", "hi alice")
	must(t, err)
	page.WaitFor(t, ctx, `document.getElementById("unread-count").textContent === "1" && document.title.startsWith("(1)") &&
		document.querySelector('`+bobLi+` .act-message .unread')?.textContent === "1"`)
	page.Click(t, ctx, bobLi+" button.act-message")
	page.WaitFor(t, ctx, `!document.getElementById("view-talk").hidden && getComputedStyle(document.getElementById("unread-count")).display === "none" &&
		document.querySelector("#messages .msg.in .body")?.textContent === "hi alice"`)
	page.Fill(t, ctx, "send-body", "hello bob")
	page.Click(t, ctx, "#send-form button")
	_, err = bs.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "message" && f.Body == "hello bob" })
	must(t, err)
	page.WaitFor(t, ctx, `(() => { const m = document.querySelector("#messages .msg.out");
		return m && m.querySelector(".body").textContent === "hello bob" && !m.querySelector(".meta").textContent.includes("not") })()`)

	// while another view is shown, a new message counts as unread
	page.Click(t, ctx, `#nav a[data-view="people"]`)
	_, err = bs.Message(ctx, "alice@localhost", "are you there?")
	must(t, err)
	page.WaitFor(t, ctx, `document.getElementById("unread-count").textContent === "1"`)
	page.Click(t, ctx, `#nav a[data-view="talk"]`)
	page.WaitFor(t, ctx, `document.getElementById("unread-count").hidden && document.querySelectorAll("#messages .msg").length === 3`)

	// carol does not share her presence: the message is refused, in words
	page.Fill(t, ctx, "new-talk-address", "carol@localhost")
	page.Click(t, ctx, "#new-talk-form button")
	page.Fill(t, ctx, "send-body", "hi carol")
	page.Click(t, ctx, "#send-form button")
	page.WaitFor(t, ctx, `document.getElementById("notice").textContent.includes("cannot be reached") &&
		document.querySelector("#messages .msg.out .meta")?.textContent.includes("not sent")`)

	// the conversations survive a reload of the tab
	page.Reload(t, ctx)
	page.WaitFor(t, ctx, `document.getElementById("conn").textContent.startsWith("online as alice@localhost/")`)
	page.Click(t, ctx, `#conversations li[data-address="bob@localhost"] button`)
	page.WaitFor(t, ctx, `document.querySelectorAll("#messages .msg").length === 3`)

	// alice's own mood, activity and music reach bob; clearing the music too
	page.Click(t, ctx, `#nav a[data-view="me"]`)
	page.Fill(t, ctx, "mood", "excited")
	page.Fill(t, ctx, "mood-text", "new job")
	page.Click(t, ctx, "#mood-form button[type=submit]")
	_, err = bs.WaitFor(ctx, personalFrom("alice@localhost", "mood", `"mood":"excited"`))
	must(t, err)
	page.Fill(t, ctx, "doing", "working")
	page.Click(t, ctx, "#doing-form button[type=submit]")
	_, err = bs.WaitFor(ctx, personalFrom("alice@localhost", "activity", `"category":"working"`))
	must(t, err)
	page.Fill(t, ctx, "tune-artist", "Yes")
	page.Fill(t, ctx, "tune-title", "Siberian Khatru")
	page.Click(t, ctx, "#tune-form button[type=submit]")
	_, err = bs.WaitFor(ctx, personalFrom("alice@localhost", "tune", "Siberian Khatru"))
	must(t, err)
	page.WaitFor(t, ctx, `["feels excited (new job)", "working", "Siberian Khatru"].every((w) => document.getElementById("my-personal").textContent.includes(w))`)
	page.Click(t, ctx, "#tune-form button.clear")
	_, err = bs.WaitFor(ctx, personalFrom("alice@localhost", "tune", `"retracted":true`))
	must(t, err)
	page.WaitFor(t, ctx, `!document.getElementById("my-personal").textContent.includes("Siberian")`)
}

// TestWebPageAccount: the sign-ins and their connected devices, ending a
// device's session, revoking a token, changing the password (a wrong one
// refused in words; other devices signed out, this page signed in again and
// still connected once the change has reached every session), signing out
// everywhere.
func TestWebPageAccount(t *testing.T) {
	ts, ctx, b := browserWorld(t)
	ts.user(t, "alice")
	cliToken, _, err := ts.Auth.IssueToken(ctx, "alice@localhost", "cli")
	must(t, err)
	cli := client.New(ts.URL, cliToken)
	phone, err := cli.Connect(ctx, client.ConnectOptions{Device: "phone", Presence: &client.Presence{Availability: "away"}})
	must(t, err)
	page := b.NewPage(t, ctx, ts.URL+"/")
	signInPage(t, ctx, page, "alice")

	page.Click(t, ctx, `#nav a[data-view="account"]`)
	page.WaitFor(t, ctx, `(() => { const first = document.querySelector("#signins li.signin");
		return first && first.dataset.current === "true" && first.querySelector(".name").textContent === "This browser" &&
			first.querySelector(".devices li[data-resource^='web-']") })()`)
	cliLi := `[...document.querySelectorAll("#signins li.signin")].find((li) => li.querySelector(".name").textContent === "Command-line token")`
	page.WaitFor(t, ctx, cliLi+`?.querySelector(".devices li[data-resource='`+phone.Resource+`']")?.textContent.includes("away")`)

	// disconnect the phone, then revoke its token
	page.Eval(t, ctx, cliLi+`.querySelector(".devices button.act-end").click(); true`)
	if r := goawayOf(t, ctx, phone); r != core.GoawaySignedOut {
		t.Fatalf("phone goaway %q", r)
	}
	page.WaitFor(t, ctx, cliLi+`?.querySelector(".devices").textContent.includes("no device connected now")`)
	page.Eval(t, ctx, cliLi+`.querySelector("button.act-revoke").click(); true`)
	page.WaitFor(t, ctx, `!(`+cliLi+`)`)
	var e *client.Error
	if err := cli.Do(ctx, "GET", "/v1/me", nil, nil); !asError(err, &e) || e.Status != 401 {
		t.Fatalf("the revoked token still works: %v", err)
	}

	// change the password: a wrong current one, then right
	other, err := client.Login(ctx, ts.URL, "alice@localhost", "password-alice")
	must(t, err)
	tablet, err := other.Connect(ctx, client.ConnectOptions{Device: "tablet"})
	must(t, err)
	page.Fill(t, ctx, "password-current", "not-my-password")
	page.Fill(t, ctx, "password-new", "brand-new-password")
	page.Fill(t, ctx, "password-again", "brand-new-password")
	page.Click(t, ctx, "#password-form button[type=submit]")
	page.WaitFor(t, ctx, `document.getElementById("notice").textContent === "The current password is wrong."`)
	page.Fill(t, ctx, "password-current", "password-alice")
	page.Click(t, ctx, "#password-form button[type=submit]")
	page.WaitFor(t, ctx, `document.getElementById("notice").textContent.startsWith("Password changed.")`)
	// the password event or its tokens' revocations, whichever is read first
	if r := goawayOf(t, ctx, tablet); r != core.GoawayPassword && r != core.GoawayRevoked {
		t.Fatalf("tablet goaway %q", r)
	}
	// the change has reached every session now: the page's new one is still up
	page.WaitFor(t, ctx, `document.getElementById("conn").textContent.startsWith("online as alice@localhost/") && presenced.state === "online"`)
	page.Click(t, ctx, `#nav a[data-view="people"]`)
	page.Click(t, ctx, `#nav a[data-view="account"]`)
	page.WaitFor(t, ctx, `document.querySelectorAll("#signins li.signin").length === 1 &&
		document.querySelector("#signins li.signin").dataset.current === "true" && document.querySelector("#signins .devices li[data-resource^='web-']")`)
	again, err := client.Login(ctx, ts.URL, "alice@localhost", "brand-new-password")
	must(t, err)
	last, err := again.Connect(ctx, client.ConnectOptions{Device: "laptop"})
	must(t, err)

	// sign out everywhere: back to the sign-in form, the laptop too
	page.Click(t, ctx, "#signout-all")
	page.WaitFor(t, ctx, `!document.getElementById("signin").hidden && document.getElementById("app").hidden`)
	if r := goawayOf(t, ctx, last); r != core.GoawaySignedOut && r != core.GoawayRevoked {
		t.Fatalf("laptop goaway %q", r)
	}
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := testbrowser.Launch(t, ctx, path)
	page := b.NewPage(t, ctx, ts.URL+"/")
	signInPage(t, ctx, page, "alice")
	// typed with capitals (the page's own check), and in full-width letters
	// that the page does not recognise as hers but the server's PRECIS
	// mapping does (the server's refusal)
	for _, typed := range []string{"Alice@localhost", "\uff41\uff4c\uff49\uff43\uff45@localhost"} {
		page.Eval(t, ctx, `document.getElementById("notice").textContent = "";
			document.getElementById("add-address").value = `+fmt.Sprintf("%q", typed)+`;
			document.querySelector("#add-form button[type=submit], #add-form button").click(); true`)
		page.WaitFor(t, ctx, `document.getElementById("notice").textContent.includes("your own address")`)
	}
	var book struct{ Contacts []struct{ Address string } }
	must(t, alice.Do(ctx, "GET", "/v1/contacts", nil, &book))
	if len(book.Contacts) != 0 {
		t.Fatalf("cards left behind: %+v", book.Contacts)
	}
}
