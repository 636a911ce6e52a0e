package server

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
)

var (
	pickerHidden = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)
	pickerResult = regexp.MustCompile(`<div id="result" data-origin="([^"]*)" data-message="([^"]*)"`)
)

// pickerBrowser is a browser signed in to the web page as local, with
// the address book cards given, and a grant to app with scopes.
func pickerBrowser(t *testing.T, ts *testServer, app, local string, scopes ...string) *browser {
	t.Helper()
	_, conf := codeFlow(t, ts, app, "", scopes...)
	b := newBrowser(t)
	b.authorize(ts, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), local) // signs the browser in
	return b
}

// pickerURL is the picker's address for app, opened from origin.
func pickerURL(ts *testServer, app, origin string, extra ...string) string {
	v := url.Values{"client_id": {app}, "origin": {origin}}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return ts.URL + "/oauth/pick?" + v.Encode()
}

// pickerForm is the fields of the picker's form in page, with more.
func pickerForm(page string, more url.Values) url.Values {
	form := url.Values{}
	for _, m := range pickerHidden.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	for k, v := range more {
		form[k] = v
	}
	return form
}

// post sends form to u and returns the final page's status and body.
func (b *browser) post(u string, form url.Values) (int, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(u, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// pickedMessage is the message the answer page would post, and where to.
func pickedMessage(t *testing.T, page string) (origin string, msg struct {
	Type      string        `json:"type"`
	Contacts  []core.Picked `json:"contacts"`
	Cancelled bool          `json:"cancelled"`
}) {
	t.Helper()
	m := pickerResult.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no answer in the page: %s", page)
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(m[2])), &msg); err != nil {
		t.Fatal(err)
	}
	return html.UnescapeString(m[1]), msg
}

// TestContactPickerSecurity: the picker page is not framed, cached or
// scripted inline; it opens only for an app's registered origin, for a
// grant holding contacts:pick; its form needs its CSRF token in the
// browser it was shown in; only the address book's presence addresses
// can be picked; and the answer goes to the registered origin, with
// handles, names only when allowed.
func TestContactPickerSecurity(t *testing.T) {
	ts := startServer(t, nil)
	waitReady(t, ts)
	ctx := tctx(t)
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	ts.user(t, "carol")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	_, err := ts.Hub.CreateContacts(ctx, "alice@localhost", []store.Contact{{Name: "Bob B", Address: "bob@localhost"}, {Name: "Plumber", Phones: []string{"+1 555 0100"}}})
	must(t, err)
	app, _ := registerApp(t, ts, "Chat", true, "presence:read", "contacts:pick")
	other, _ := registerApp(t, ts, "Game", true, "presence:read", "contacts:pick")
	const origin = "http://127.0.0.1:9" // appRedirect's
	b := pickerBrowser(t, ts, app, "alice", "presence:read", "contacts:pick")

	// the page, with its headers
	resp, err := b.c.Get(pickerURL(ts, app, origin, "multiple", "1"))
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(csp, "frame-ancestors 'none'") ||
		!strings.Contains(csp, "script-src 'self'") || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("the picker page: %d, headers %v", resp.StatusCode, resp.Header)
	}
	if !strings.Contains(page, `value="bob@localhost"`) || strings.Contains(page, "Plumber") || strings.Contains(page, "<script>") {
		t.Fatalf("the picker lists: %s", page)
	}

	// unregistered origins, unknown apps: a page without script
	for name, u := range map[string]string{
		"another origin":     pickerURL(ts, app, "http://127.0.0.1:10"),
		"another scheme":     pickerURL(ts, app, "https://127.0.0.1:9"),
		"the server's own":   pickerURL(ts, app, ts.URL),
		"no origin":          pickerURL(ts, app, ""),
		"a wildcard":         pickerURL(ts, app, "*"),
		"an unknown app":     pickerURL(ts, "nope", origin),
		"the redirect URI":   pickerURL(ts, app, appRedirect),
		"an origin with /":   pickerURL(ts, app, origin+"/"),
		"an app's own other": pickerURL(ts, other+"x", origin),
	} {
		status, page := b.open(u)
		if status != http.StatusBadRequest || strings.Contains(page, "pick.js") || strings.Contains(page, "data-origin") {
			t.Errorf("%s: %d %s", name, status, page)
		}
	}

	// CSRF: missing, wrong, of another origin's form, or from another browser
	share := url.Values{"action": {"share"}, "pick": {"bob@localhost"}}
	form := pickerForm(page, share)
	if form.Get("csrf") == "" || form.Get("client_id") != app || form.Get("origin") != origin {
		t.Fatalf("the form's fields: %v", form)
	}
	for name, f := range map[string]func(url.Values){
		"missing": func(v url.Values) { v.Del("csrf") },
		"wrong":   func(v url.Values) { v.Set("csrf", strings.Repeat("A", 43)) },
		"another app's": func(v url.Values) {
			v.Set("client_id", other)
		},
	} {
		bad := pickerForm(page, share)
		f(bad)
		if status, page := b.post(ts.URL+"/oauth/pick", bad); status != http.StatusForbidden || strings.Contains(page, "data-message") {
			t.Errorf("CSRF %s: %d %s", name, status, page)
		}
	}
	stranger := newBrowser(t) // signed in as alice too, but its own binding cookie
	stranger.c.Jar.SetCookies(mustURL(ts.URL+"/"), b.c.Jar.Cookies(mustURL(ts.URL+"/")))
	stranger.c.Jar.SetCookies(mustURL(ts.URL+"/oauth/"), []*http.Cookie{{Name: "pd_oauth_browser", Value: strings.Repeat("b", 32), Path: "/oauth/"}})
	if status, _ := stranger.post(ts.URL+"/oauth/pick", form); status != http.StatusForbidden {
		t.Errorf("the form in another browser: %d", status)
	}

	// only the address book's presence addresses
	for _, bad := range []string{"carol@localhost", "nobody@localhost", "not an address"} {
		status, page := b.post(ts.URL+"/oauth/pick", pickerForm(page, url.Values{"action": {"share"}, "pick": {bad}}))
		if status != http.StatusBadRequest || strings.Contains(page, "data-message") {
			t.Errorf("picking %q: %d %s", bad, status, page)
		}
	}
	gs, err := ts.Hub.Grants(ctx, "alice@localhost")
	must(t, err)
	if len(gs) != 1 || gs[0].Contacts != store.ContactsNone {
		t.Fatalf("refused picks changed the grant: %+v", gs)
	}

	// a share: to the registered origin, by handle, without the name
	status, answer := b.post(ts.URL+"/oauth/pick", form)
	to, msg := pickedMessage(t, answer)
	hBob := core.NewHandles(ts.key).Of(app, "alice@localhost", "bob@localhost")
	if status != http.StatusOK || to != origin || msg.Type != "presenced:picked" || msg.Cancelled ||
		!slices.Equal(msg.Contacts, []core.Picked{{Handle: hBob}}) || strings.Contains(answer, "bob@localhost") {
		t.Fatalf("the answer: %d to %q: %+v\n%s", status, to, msg, answer)
	}
	gs, _ = ts.Hub.Grants(ctx, "alice@localhost")
	if gs[0].Contacts != store.ContactsPicked || !slices.Equal(gs[0].Picked, []string{"bob@localhost"}) {
		t.Fatalf("the grant after the pick: %+v", gs[0])
	}
	// with names; cancel
	_, answer = b.post(ts.URL+"/oauth/pick", pickerForm(page, url.Values{"action": {"share"}, "pick": {"bob@localhost"}, "names": {"1"}}))
	if _, msg := pickedMessage(t, answer); !slices.Equal(msg.Contacts, []core.Picked{{Handle: hBob, Name: "Bob B"}}) {
		t.Fatalf("with names: %+v", msg)
	}
	_, answer = b.post(ts.URL+"/oauth/pick", pickerForm(page, url.Values{"action": {"cancel"}}))
	if _, msg := pickedMessage(t, answer); !msg.Cancelled || len(msg.Contacts) != 0 || msg.Contacts == nil {
		t.Fatalf("cancelled: %+v", msg)
	}

	// another user's app asks (the sub of another account): refused
	if status, page := b.open(pickerURL(ts, app, origin, "sub", core.NewHandles(ts.key).Of(app, "bob@localhost", "bob@localhost"))); status != http.StatusForbidden || strings.Contains(page, "bob@localhost\"") {
		t.Errorf("another user's picker: %d %s", status, page)
	}
	if status, _ := b.open(pickerURL(ts, app, origin, "sub", core.NewHandles(ts.key).Of(app, "alice@localhost", "alice@localhost"))); status != http.StatusOK {
		t.Errorf("the app's user's picker: %d", status)
	}

	// a browser not signed in to presenced: the page (after loading itself
	// again, for the session cookie) asks for the password first
	fresh := newBrowser(t)
	status, signin := fresh.open(pickerURL(ts, app, origin))
	if status != http.StatusOK || !strings.Contains(signin, `id="signin-form"`) || strings.Contains(signin, "bob@localhost") {
		t.Fatalf("the picker, signed out: %d %s", status, signin)
	}
	if status, page := fresh.post(ts.URL+"/oauth/pick", pickerForm(signin, url.Values{"action": {"signin"}, "address": {"alice@localhost"}, "password": {"wrong"}})); status != http.StatusOK || !strings.Contains(page, "do not match") {
		t.Fatalf("a wrong password: %d %s", status, page)
	}
	if status, page := fresh.post(ts.URL+"/oauth/pick", pickerForm(signin, url.Values{"action": {"share"}, "pick": {"bob@localhost"}})); status != http.StatusOK || strings.Contains(page, "data-message") {
		t.Fatalf("a share before signing in: %d %s", status, page)
	}
	if status, page := fresh.post(ts.URL+"/oauth/pick", pickerForm(signin, url.Values{"action": {"signin"}, "address": {"alice@localhost"}, "password": {"password-alice"}})); status != http.StatusOK || !strings.Contains(page, `value="bob@localhost"`) {
		t.Fatalf("signed in on the picker: %d %s", status, page)
	}

	// a grant that loses contacts:pick, or is revoked, while the picker is open
	for _, change := range []string{"narrowed", "revoked"} {
		viewer, _ := registerApp(t, ts, "Viewer "+change, true, "presence:read", "contacts:pick")
		vb := pickerBrowser(t, ts, viewer, "alice", "presence:read", "contacts:pick")
		status, open := vb.open(pickerURL(ts, viewer, origin))
		if status != http.StatusOK {
			t.Fatalf("the picker of %s: %d", viewer, status)
		}
		if change == "narrowed" {
			must(t, alice.Do(ctx, "PATCH", "/v1/grants/"+viewer, map[string]any{"scopes": []string{"openid", "presence:read"}}, nil))
		} else {
			must(t, alice.Do(ctx, "DELETE", "/v1/grants/"+viewer, nil, nil))
		}
		if status, page := vb.open(pickerURL(ts, viewer, origin)); status != http.StatusForbidden || strings.Contains(page, "pick.js") {
			t.Errorf("the picker of a grant %s: %d %s", change, status, page)
		}
		if status, page := vb.post(ts.URL+"/oauth/pick", pickerForm(open, share)); status != http.StatusForbidden || strings.Contains(page, "data-message") {
			t.Errorf("a pick for a grant %s: %d %s", change, status, page)
		}
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
