package server

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/store"
	_ "modernc.org/sqlite"
)

// dav sends a raw WebDAV request with alice's password (Basic: the server
// is on loopback) and returns status, headers and body.
type davClient struct {
	t    *testing.T
	base string
	user string
	pw   string
}

func (d davClient) do(method, path, body string, hdr ...string) (int, http.Header, string) {
	d.t.Helper()
	req, err := http.NewRequest(method, d.base+path, strings.NewReader(body))
	must(d.t, err)
	if d.user != "" {
		req.SetBasicAuth(d.user, d.pw)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	must(d.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func wantStatus(t *testing.T, what string, got, want int, body string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d: %s", what, got, want, body)
	}
}

func wantIn(t *testing.T, what, body string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(body, s) {
			t.Fatalf("%s: %q missing from\n%s", what, s, body)
		}
	}
}

const davCard30 = "BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iOS 17//EN\r\nN:Builder;Bob;;;\r\nFN:Bob Builder\r\n" +
	"item1.EMAIL;type=INTERNET;type=pref:bob@example.com\r\nitem1.X-ABLabel:_$!<Other>!$_\r\nTEL;type=CELL:+1 555 0100\r\n" +
	"ADR;TYPE=HOME:;;1 Road;Town;;12345;UK\r\nCATEGORIES:Work\r\nIMPP;X-SERVICE-TYPE=Jabber:xmpp:bob@localhost\r\n" +
	"X-CUSTOM;X-PARAM=\"a:b\":value\r\nUID:6B29FC40-CA47-1067-B31D-00DD010662DA\r\nEND:VCARD\r\n"

var syncTokenRE = regexp.MustCompile(`<d:sync-token>([^<]*)</d:sync-token>`)

func syncReport(token string) string {
	return `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>` + token +
		`</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`
}

func TestCardDAV(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	alice := ts.user(t, "alice")
	ts.user(t, "bob")
	d := davClient{t: t, base: ts.URL, user: "alice", pw: "password-alice"} // a user name without domain works
	book := "/dav/addressbooks/alice@localhost/contacts/"

	// discovery: well-known, principal, home, book
	st, h, _ := d.do("GET", "/.well-known/carddav", "")
	if st != http.StatusMovedPermanently || h.Get("Location") != "/dav/" {
		t.Fatalf("well-known: %d %q", st, h.Get("Location"))
	}
	propfind := `<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:current-user-principal/><c:addressbook-home-set/><d:resourcetype/><d:displayname/><d:sync-token/><x:unknown xmlns:x="urn:x"/></d:prop></d:propfind>`
	st, _, body := d.do("PROPFIND", "/dav/", propfind, "Depth", "0")
	wantStatus(t, "propfind root", st, 207, body)
	wantIn(t, "root", body, "<d:current-user-principal><d:href>/dav/principals/alice@localhost/</d:href>")
	st, _, body = d.do("PROPFIND", "/dav/principals/alice@localhost/", propfind, "Depth", "0")
	wantStatus(t, "propfind principal", st, 207, body)
	wantIn(t, "principal", body, "<card:addressbook-home-set><d:href>/dav/addressbooks/alice@localhost/</d:href>", "<x:unknown xmlns:x=\"urn:x\"/>", "404 Not Found")
	st, _, body = d.do("PROPFIND", "/dav/addressbooks/alice@localhost/", propfind, "Depth", "1")
	wantStatus(t, "propfind home", st, 207, body)
	wantIn(t, "home", body, "<d:href>"+book+"</d:href>", "<card:addressbook/>", "<d:sync-token>https://presenced.dev/ns/sync/")
	st, _, body = d.do("OPTIONS", book, "")
	st2, h, _ := d.do("OPTIONS", book, "")
	if st != 200 || st2 != 200 || !strings.Contains(h.Get("DAV"), "addressbook") {
		t.Fatalf("OPTIONS: %d DAV %q", st, h.Get("DAV"))
	}

	// an initial sync: empty book
	st, _, body = d.do("REPORT", book, syncReport(""), "Depth", "1")
	wantStatus(t, "initial sync", st, 207, body)
	token0 := syncTokenRE.FindStringSubmatch(body)[1]

	// a vCard 3.0 card written by CardDAV is read back property for property …
	st, h, body = d.do("PUT", book+"bob-1.vcf", davCard30, "If-None-Match", "*", "Content-Type", "text/vcard; charset=utf-8")
	wantStatus(t, "put new", st, 201, body)
	etag1 := h.Get("ETag")
	if !regexp.MustCompile(`^"[1-9][0-9]*"$`).MatchString(etag1) {
		t.Fatalf("ETag %q", etag1)
	}
	st, _, body = d.do("PUT", book+"bob-1.vcf", davCard30, "If-None-Match", "*")
	wantStatus(t, "put over an existing card with If-None-Match: *", st, 412, body)
	st, h, body = d.do("GET", book+"bob-1.vcf", "")
	wantStatus(t, "get", st, 200, body)
	if body != davCard30 {
		t.Fatalf("read back:\n%s\nwant:\n%s", body, davCard30)
	}

	// … and is the contact REST shows
	var c struct {
		ID, Name string
		Emails   []string
		Address  string
	}
	must(t, alice.Do(ctx, "GET", "/v1/contacts/bob-1", nil, &c))
	if c.Name != "Bob Builder" || c.Address != "bob@localhost" || len(c.Emails) != 1 {
		t.Fatalf("REST sees %+v", c)
	}
	// REST edits it (If-Match the card's ETag); a CardDAV write still holding it collides with 412
	_, err := alice.DoHeader(ctx, "PUT", "/v1/contacts/bob-1", http.Header{"If-Match": {etag1}}, map[string]any{"name": "Robert Builder", "emails": []string{"bob@example.com"}, "phones": []string{"+1 555 0100"}, "groups": []string{"Work"}, "address": "bob@localhost"}, nil)
	must(t, err)
	st, _, body = d.do("PUT", book+"bob-1.vcf", davCard30, "If-Match", etag1)
	wantStatus(t, "stale CardDAV write", st, 412, body)
	st, _, body = d.do("DELETE", book+"bob-1.vcf", "", "If-Match", etag1)
	wantStatus(t, "stale CardDAV delete", st, 412, body)
	st, h, body = d.do("GET", book+"bob-1.vcf", "")
	wantStatus(t, "get after REST edit", st, 200, body)
	wantIn(t, "card after REST edit", body, "FN:Robert Builder\r\n", "X-CUSTOM;X-PARAM=\"a:b\":value\r\n", "item1.X-ABLabel", "ADR;TYPE=HOME", "UID:6B29FC40")
	etag2 := h.Get("ETag")
	if etag2 == etag1 || etag2 == "" {
		t.Fatalf("ETag after REST edit %q", etag2)
	}

	// REST adds a card; sync from the first token lists both, then a
	// deletion shows as 404
	must(t, alice.Do(ctx, "POST", "/v1/contacts", map[string]any{"name": "Carol", "emails": []string{"carol@example.com"}}, &c))
	carol := c.ID
	st, _, body = d.do("REPORT", book, syncReport(token0), "Depth", "1")
	wantStatus(t, "sync", st, 207, body)
	wantIn(t, "sync", body, book+"bob-1.vcf", book+carol+".vcf", `<d:getetag>&#34;`+strings.Trim(etag2, `"`)+`&#34;</d:getetag>`)
	token1 := syncTokenRE.FindStringSubmatch(body)[1]
	st, _, body = d.do("DELETE", book+"bob-1.vcf", "", "If-Match", etag2)
	wantStatus(t, "delete", st, 204, body)
	st, _, body = d.do("REPORT", book, syncReport(token1), "Depth", "1")
	wantStatus(t, "sync after delete", st, 207, body)
	wantIn(t, "sync after delete", body, "<d:href>"+book+"bob-1.vcf</d:href><d:status>HTTP/1.1 404 Not Found</d:status>")
	if strings.Contains(body, carol) {
		t.Fatalf("unchanged card in the sync: %s", body)
	}
	st, _, body = d.do("REPORT", book, syncReport("https://presenced.dev/ns/sync/1"), "Depth", "1")
	wantStatus(t, "sync with a foreign token", st, 403, body)
	wantIn(t, "foreign token", body, "valid-sync-token")

	// multiget and query
	multiget := `<c:addressbook-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><c:address-data/></d:prop><d:href>` + book + carol + `.vcf</d:href><d:href>` + book + `gone.vcf</d:href></c:addressbook-multiget>`
	st, _, body = d.do("REPORT", book, multiget, "Depth", "1")
	wantStatus(t, "multiget", st, 207, body)
	wantIn(t, "multiget", body, "FN:Carol", "EMAIL:carol@example.com", book+"gone.vcf</d:href><d:status>HTTP/1.1 404")
	query := `<c:addressbook-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/></d:prop><c:filter><c:prop-filter name="EMAIL"><c:text-match match-type="contains">CAROL@</c:text-match></c:prop-filter></c:filter></c:addressbook-query>`
	st, _, body = d.do("REPORT", book, query, "Depth", "1")
	wantStatus(t, "query", st, 207, body)
	wantIn(t, "query", body, book+carol+".vcf")

	// bearer tokens work as well as the password
	secret, _, err := ts.Auth.IssueToken(ctx, "alice@localhost", "dav")
	must(t, err)
	nd := davClient{t: t, base: ts.URL}
	st, _, body = nd.do("GET", book+carol+".vcf", "", "Authorization", "Bearer "+secret)
	wantStatus(t, "bearer", st, 200, body)
}

func TestCardDAVBadInput(t *testing.T) {
	ts := startServer(t, nil)
	ts.user(t, "alice")
	ts.user(t, "bob")
	d := davClient{t: t, base: ts.URL, user: "alice@localhost", pw: "password-alice"}
	book := "/dav/addressbooks/alice@localhost/contacts/"
	one := "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:A\r\nEND:VCARD\r\n"

	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"no credentials", "PROPFIND", book, "", 401},
		{"malformed XML", "PROPFIND", book, "<d:propfind xmlns:d='DAV:'><d:prop>", 400},
		{"DTD", "PROPFIND", book, `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x "xxxxxxxx">]><d:propfind xmlns:d="DAV:"><d:prop><d:displayname>&x;</d:displayname></d:prop></d:propfind>`, 400},
		{"undefined entity", "PROPFIND", book, `<d:propfind xmlns:d="DAV:">&x;</d:propfind>`, 400},
		{"invalid UTF-8 XML", "PROPFIND", book, "<d:propfind xmlns:d=\"DAV:\"><d:prop><x\xff/></d:prop></d:propfind>", 400},
		{"deep XML", "PROPFIND", book, strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100), 400},
		{"huge XML", "REPORT", book, "<a>" + strings.Repeat("x", 3<<20) + "</a>", 413},
		{"huge card", "PUT", book + "big.vcf", "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:A\r\nNOTE:" + strings.Repeat("x", 300<<10) + "\r\nEND:VCARD\r\n", 413},
		{"invalid UTF-8 card", "PUT", book + "bad.vcf", "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:\xff\r\nEND:VCARD\r\n", 403},
		{"two cards", "PUT", book + "two.vcf", one + one, 403},
		{"not a card", "PUT", book + "x.vcf", "hello", 403},
		{"traversal", "PUT", book + "..%2F..%2Fx.vcf", one, 404},
		{"encoded slash", "PUT", book + "a%2Fb.vcf", one, 404},
		{"dot name", "PUT", book + "..vcf", one, 403},
		{"not .vcf", "PUT", book + "card", one, 403},
		{"another's book", "PROPFIND", "/dav/addressbooks/bob@localhost/contacts/", "", 404},
		{"depth infinity", "PROPFIND", book, "", 403},
		{"report on a card", "REPORT", book + "a.vcf", "<x/>", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dd := d
			if tc.name == "no credentials" {
				dd.user = ""
			}
			hdr := []string{}
			if tc.method == "PROPFIND" && tc.name != "depth infinity" {
				hdr = []string{"Depth", "0"}
			}
			st, _, body := dd.do(tc.method, tc.path, tc.body, hdr...)
			if st != tc.want {
				t.Fatalf("status %d, want %d: %.300s", st, tc.want, body)
			}
		})
	}
	wrong := davClient{t: t, base: ts.URL, user: "alice@localhost", pw: "wrong-password"}
	if st, _, _ := wrong.do("PROPFIND", book, "", "Depth", "0"); st != 401 {
		t.Fatalf("wrong password: %d", st)
	}
}

// TestCardDAVLargeBookSyncStaysSmall: with 10,000 cards, a sync after one
// change carries that change and nothing else.
func TestCardDAVLargeBookSyncStaysSmall(t *testing.T) {
	ts := startServer(t, nil)
	ts.user(t, "alice")
	// nothing here is timed: a long context for a slow machine
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var cs []store.Contact
	for i := 0; i < 10000; i++ {
		cs = append(cs, store.Contact{Name: fmt.Sprint("Person ", i), Emails: []string{fmt.Sprintf("p%d@example.com", i)}})
	}
	cs, err := ts.Hub.CreateContacts(ctx, "alice@localhost", cs)
	must(t, err)
	d := davClient{t: t, base: ts.URL, user: "alice@localhost", pw: "password-alice"}
	book := "/dav/addressbooks/alice@localhost/contacts/"
	st, _, body := d.do("REPORT", book, syncReport(""), "Depth", "1")
	wantStatus(t, "initial sync", st, 207, body)
	if n := strings.Count(body, "<d:response>"); n != 10000 {
		t.Fatalf("initial sync lists %d cards", n)
	}
	token := syncTokenRE.FindStringSubmatch(body)[1]
	c := cs[4242]
	c.Name = "Changed"
	_, err = ts.Hub.UpdateContact(ctx, c, 0)
	must(t, err)
	st, _, body = d.do("REPORT", book, syncReport(token), "Depth", "1")
	wantStatus(t, "sync", st, 207, body)
	if n := strings.Count(body, "<d:response>"); n != 1 || !strings.Contains(body, c.ID) || len(body) > 1024 {
		t.Fatalf("sync after one change: %d responses, %d bytes", n, len(body))
	}
}

var ctagRE = regexp.MustCompile(`<cs:getctag>([^<]*)</cs:getctag>`)

// TestCardDAVBookPositionIsPrivate: alice's sync token and getctag move
// with her own book only; an edit of bob's book (who may be invisible to
// her or block her) leaves them as they were.
func TestCardDAVBookPositionIsPrivate(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	ts.user(t, "alice")
	bob := ts.user(t, "bob")
	d := davClient{t: t, base: ts.URL, user: "alice@localhost", pw: "password-alice"}
	book := "/dav/addressbooks/alice@localhost/contacts/"
	propfind := `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:getctag/><d:sync-token/></d:prop></d:propfind>`
	state := func() (ctag, token string) {
		t.Helper()
		st, _, body := d.do("PROPFIND", book, propfind, "Depth", "0")
		wantStatus(t, "propfind book", st, 207, body)
		m, n := ctagRE.FindStringSubmatch(body), syncTokenRE.FindStringSubmatch(body)
		if m == nil || n == nil {
			t.Fatalf("no getctag or sync-token in %s", body)
		}
		st, _, body = d.do("REPORT", book, syncReport(n[1]), "Depth", "1")
		wantStatus(t, "sync", st, 207, body)
		if r := syncTokenRE.FindStringSubmatch(body); r == nil || r[1] != n[1] {
			t.Fatalf("sync answered token %v, the book's is %s", r, n[1])
		}
		return m[1], n[1]
	}
	st, _, body := d.do("PUT", book+"a.vcf", "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:A\r\nEND:VCARD\r\n")
	wantStatus(t, "put", st, 201, body)
	ctag0, token0 := state()
	var out struct{ ID string }
	must(t, bob.Do(ctx, "POST", "/v1/contacts", map[string]any{"name": "Zed"}, &out))
	must(t, bob.Do(ctx, "DELETE", "/v1/contacts/"+out.ID, nil, nil))
	if ctag, token := state(); ctag != ctag0 || token != token0 {
		t.Fatalf("bob's edits moved alice's book: getctag %s → %s, sync token %s → %s", ctag0, ctag, token0, token)
	}
	st, _, body = d.do("DELETE", book+"a.vcf", "")
	wantStatus(t, "delete", st, 204, body)
	if ctag, token := state(); ctag == ctag0 || token == token0 {
		t.Fatalf("alice's own edit left her book's getctag %s and token %s", ctag, token)
	}
}

// TestCardDAVRecreatedCardHasNewETag: CardDAV clients choose resource
// names, so a card can be deleted and created again under the same one; its
// ETag must not be one the deleted card had, or a device still holding that
// ETag overwrites the new card with If-Match instead of getting 412.
func TestCardDAVRecreatedCardHasNewETag(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	alice := ts.user(t, "alice")
	d := davClient{t: t, base: ts.URL, user: "alice@localhost", pw: "password-alice"}
	x := "/dav/addressbooks/alice@localhost/contacts/x.vcf"
	card := func(name string) string { return "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:" + name + "\r\nEND:VCARD\r\n" }
	st, h, body := d.do("PUT", x, card("First"), "If-None-Match", "*")
	wantStatus(t, "create", st, 201, body)
	stale := h.Get("ETag") // a second device read the card now
	st, _, body = d.do("DELETE", x, "", "If-Match", stale)
	wantStatus(t, "delete", st, 204, body)
	st, h, body = d.do("PUT", x, card("Second"), "If-None-Match", "*")
	wantStatus(t, "create again", st, 201, body)
	if h.Get("ETag") == stale {
		t.Fatalf("the new x.vcf has the deleted one's ETag %s", stale)
	}
	st, _, body = d.do("PUT", x, card("Stale edit"), "If-Match", stale)
	wantStatus(t, "stale CardDAV write", st, 412, body)
	_, err := alice.DoHeader(ctx, "PUT", "/v1/contacts/x", http.Header{"If-Match": {stale}}, map[string]any{"name": "Stale REST edit"}, nil)
	var ce *client.Error
	if !asError(err, &ce) || ce.Status != http.StatusPreconditionFailed {
		t.Fatalf("stale REST write: %v", err)
	}
	st, _, body = d.do("GET", x, "")
	wantStatus(t, "get", st, 200, body)
	wantIn(t, "card after stale writes", body, "FN:Second\r\n")
}

// TestCardDAVSyncKeepsTheTokenWhenACardCannotBeRead: a card that cannot be
// read (here a corrupt row) is left out of a sync-collection answer, so the
// answer must not carry a new token, which would tell the client it has
// every change up to it: the client keeps its token and gets the card once
// it can be read.
func TestCardDAVSyncKeepsTheTokenWhenACardCannotBeRead(t *testing.T) {
	ts := startServer(t, nil)
	ts.user(t, "alice")
	d := davClient{t: t, base: ts.URL, user: "alice@localhost", pw: "password-alice"}
	book := "/dav/addressbooks/alice@localhost/contacts/"
	report := func(token string) string {
		return `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:sync-token>` + token +
			`</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/><c:address-data/></d:prop></d:sync-collection>`
	}
	st, _, body := d.do("REPORT", book, report(""), "Depth", "1")
	wantStatus(t, "initial sync", st, 207, body)
	token0 := syncTokenRE.FindStringSubmatch(body)[1]
	for _, n := range []string{"good", "bad"} {
		st, _, body = d.do("PUT", book+n+".vcf", "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:"+n+"\r\nEND:VCARD\r\n")
		wantStatus(t, "put "+n, st, 201, body)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(ts.Config.DataDir, DBFile))
	must(t, err)
	defer db.Close()
	_, err = db.Exec(`UPDATE contacts SET emails='not a list' WHERE id='bad'`)
	must(t, err)

	st, _, body = d.do("REPORT", book, report(token0), "Depth", "1")
	wantStatus(t, "sync with an unreadable card", st, 207, body)
	wantIn(t, "sync with an unreadable card", body, "FN:good", "<d:sync-token>"+token0+"</d:sync-token>")
	st, _, body = d.do("REPORT", book, report(""), "Depth", "1")
	wantStatus(t, "initial sync with an unreadable card", st, 207, body)
	tok := syncTokenRE.FindStringSubmatch(body)[1]
	st, _, body = d.do("REPORT", book, report(tok), "Depth", "1")
	wantStatus(t, "sync from an incomplete initial sync", st, 403, body) // the client lists the book again

	_, err = db.Exec(`UPDATE contacts SET emails='[]' WHERE id='bad'`)
	must(t, err)
	st, _, body = d.do("REPORT", book, report(token0), "Depth", "1")
	wantStatus(t, "sync once the card reads", st, 207, body)
	wantIn(t, "sync once the card reads", body, "FN:good", "FN:bad")
	if strings.Contains(body, "<d:sync-token>"+token0+"</d:sync-token>") {
		t.Fatalf("a complete answer kept the old token: %s", body)
	}
}

// TestCardDAVMultigetIsBounded: a multiget answers each card once, however
// often and however spelt its href is, and takes no more hrefs than a book
// may hold cards (10,000): not 50,000 reads of a 256 KiB card.
func TestCardDAVMultigetIsBounded(t *testing.T) {
	ts := startServer(t, nil)
	ts.user(t, "alice")
	d := davClient{t: t, base: ts.URL, user: "alice@localhost", pw: "password-alice"}
	book := "/dav/addressbooks/alice@localhost/contacts/"
	st, _, body := d.do("PUT", book+"x.vcf", "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:X\r\nEND:VCARD\r\n")
	wantStatus(t, "put", st, 201, body)
	multiget := func(hrefs ...string) (int, string) {
		var b strings.Builder
		b.WriteString(`<c:addressbook-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><c:address-data/></d:prop>`)
		for _, h := range hrefs {
			b.WriteString("<d:href>" + h + "</d:href>")
		}
		b.WriteString("</c:addressbook-multiget>")
		st, _, body := d.do("REPORT", book, b.String(), "Depth", "1")
		return st, body
	}
	st, body = multiget(book+"x.vcf", book+"x.vcf", ts.URL+book+"x.vcf", book+"nope.vcf", book+"nope.vcf", "/elsewhere", "/elsewhere")
	wantStatus(t, "multiget with duplicates", st, 207, body)
	if n := strings.Count(body, "FN:X"); n != 1 || strings.Count(body, "<d:response>") != 3 {
		t.Fatalf("duplicates answered again (%d cards): %s", n, body)
	}
	many := make([]string, 10001)
	for i := range many {
		many[i] = fmt.Sprintf("%sc%d.vcf", book, i)
	}
	st, body = multiget(many...)
	wantStatus(t, "multiget of more hrefs than a book holds", st, 403, body)
	st, body = multiget(many[:10000]...)
	wantStatus(t, "multiget of as many hrefs as a book holds", st, 207, body)
}
