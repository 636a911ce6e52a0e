package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/carddav"
	"github.com/presenced/presenced/internal/store"
)

// TestCardDAVVdirsyncer syncs alice's book both ways with a local folder
// using vdirsyncer (Debian's package), makes both sides change one card
// (a conflict vdirsyncer must report, then resolve), and reads the synced
// folder with khard. .ci/run installs both and sets
// PRESENCED_TEST_VDIRSYNCER=1.
func TestCardDAVVdirsyncer(t *testing.T) {
	if os.Getenv("PRESENCED_TEST_VDIRSYNCER") == "" {
		t.Skip("set PRESENCED_TEST_VDIRSYNCER=1 with vdirsyncer and khard installed (Debian: apt-get install vdirsyncer khard) to run")
	}
	ts := startServer(t, nil)
	ts.user(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // nothing timed
	defer cancel()
	dir := t.TempDir()
	local := filepath.Join(dir, "local")
	must(t, os.MkdirAll(local, 0o700))
	config := func(resolution string) string {
		p := filepath.Join(dir, "vdirsyncer.conf")
		must(t, os.WriteFile(p, []byte(fmt.Sprintf(`[general]
status_path = "%s/status/"

[pair contacts]
a = "local"
b = "remote"
collections = null
conflict_resolution = %s

[storage local]
type = "filesystem"
path = "%s/"
fileext = ".vcf"

[storage remote]
type = "carddav"
url = "%s/dav/addressbooks/alice@localhost/contacts/"
username = "alice@localhost"
password = "password-alice"
`, dir, resolution, local, ts.URL)), 0o600))
		return p
	}
	run := func(cfg string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "vdirsyncer", append([]string{"-c", cfg}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	cfg := config("null")

	// the server has Carol (REST), the folder has Dave (a vCard 3.0 file)
	cs, err := ts.Hub.CreateContacts(ctx, "alice@localhost", []store.Contact{{Name: "Carol Example", Emails: []string{"carol@example.com"}}})
	must(t, err)
	carol := cs[0]
	dave := "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:dave-1\r\nN:Example;Dave;;;\r\nFN:Dave Example\r\nEMAIL;TYPE=HOME:dave@example.com\r\nX-SHOE-SIZE:44\r\nEND:VCARD\r\n"
	must(t, os.WriteFile(filepath.Join(local, "dave-1.vcf"), []byte(dave), 0o600))
	if out, err := run(cfg, "discover"); err != nil {
		t.Fatalf("discover: %v\n%s", err, out)
	}
	if out, err := run(cfg, "sync"); err != nil {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	book, err := ts.Hub.Contacts(ctx, "alice@localhost", store.ContactQuery{Text: "dave"})
	must(t, err)
	if len(book) != 1 || !strings.Contains(book[0].Card, "X-SHOE-SIZE:44") {
		t.Fatalf("the server's Dave: %+v", book)
	}
	files, _ := filepath.Glob(filepath.Join(local, "*.vcf"))
	if len(files) != 2 {
		t.Fatalf("local folder: %v", files)
	}

	// a local edit reaches the server
	daveFile := filepath.Join(local, "dave-1.vcf")
	must(t, os.WriteFile(daveFile, []byte(strings.Replace(dave, "X-SHOE-SIZE:44", "X-SHOE-SIZE:45", 1)), 0o600))
	if out, err := run(cfg, "sync"); err != nil {
		t.Fatalf("sync of a local edit: %v\n%s", err, out)
	}
	got, err := ts.Hub.Contact(ctx, "alice@localhost", book[0].ID)
	must(t, err)
	if !strings.Contains(got.Card, "X-SHOE-SIZE:45") {
		t.Fatalf("local edit not on the server: %q", got.Card)
	}

	// both sides change Carol: vdirsyncer sees the conflict …
	carol.Name = "Carol on the server"
	_, err = ts.Hub.UpdateContact(ctx, carol, 0)
	must(t, err)
	var carolFile string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "Carol Example") {
			carolFile = f
			must(t, os.WriteFile(f, []byte(strings.Replace(string(b), "FN:Carol Example", "FN:Carol locally", 1)), 0o600))
		}
	}
	if carolFile == "" {
		t.Fatal("Carol not synced to the folder")
	}
	out, err := run(cfg, "sync")
	if err == nil || !strings.Contains(strings.ToLower(out), "conflict") {
		t.Fatalf("a conflict should stop the sync: %v\n%s", err, out)
	}
	// … and resolved with the local side winning, the server takes it
	if out, err := run(config(`"a wins"`), "sync"); err != nil {
		t.Fatalf("sync with a wins: %v\n%s", err, out)
	}
	got, err = ts.Hub.Contact(ctx, "alice@localhost", carol.ID)
	must(t, err)
	if got.Name != "Carol locally" {
		t.Fatalf("after resolution the server has %q", got.Name)
	}

	// khard reads the synced folder
	khardCfg := filepath.Join(dir, "khard.conf")
	must(t, os.WriteFile(khardCfg, []byte(fmt.Sprintf("[addressbooks]\n[[contacts]]\npath = %s/\n[general]\ndefault_action = list\neditor = /bin/true\nmerge_editor = /bin/true\n", local)), 0o600))
	cmd := exec.CommandContext(ctx, "khard", "-c", khardCfg, "list")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	kout, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(kout), "Carol locally") || !strings.Contains(string(kout), "Dave Example") {
		t.Fatalf("khard list: %v\n%s", err, kout)
	}
}

// pyCaldavResult is what testdata/caldav_client.py prints.
type pyCaldavResult struct {
	Context, Principal, Home string
	Books, Reports           []string
	Token                    string
	Responses                []struct{ Href, Status, Etag, Card string }
}

// TestCardDAVPythonCaldav is a second client this project did not write:
// Python's caldav library (Debian's python3-caldav 0.11) runs
// testdata/caldav_client.py, which discovers alice's book from the
// well-known URI (current-user-principal, then addressbook-home-set) and
// syncs it with sync-collection: the initial sync lists every card and a
// token, a change made through REST is the only response of the next sync,
// and a deletion is a 404 response. .ci/run installs python3-caldav and sets
// PRESENCED_TEST_PYCALDAV=/usr/bin/python3.
func TestCardDAVPythonCaldav(t *testing.T) {
	python := os.Getenv("PRESENCED_TEST_PYCALDAV")
	if python == "" {
		t.Skip("set PRESENCED_TEST_PYCALDAV to a python3 with the caldav library (Debian: apt-get install python3-caldav) to run")
	}
	script, err := filepath.Abs(filepath.Join("testdata", "caldav_client.py"))
	must(t, err)
	ts := startServer(t, nil)
	alice := ts.user(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // nothing timed
	defer cancel()
	home := t.TempDir()
	run := func(args ...string) pyCaldavResult {
		t.Helper()
		cmd := exec.CommandContext(ctx, python, append([]string{script}, args...)...)
		// DEVELOPMENT: the library's checks of the server's answers raise
		// instead of logging
		cmd.Env = append(os.Environ(), "HOME="+home, "PYTHON_CALDAV_DEBUGMODE=DEVELOPMENT",
			"PRESENCED_DAV_USER=alice@localhost", "PRESENCED_DAV_PASSWORD=password-alice")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("caldav_client.py %s: %v\n%s\n%s", strings.Join(args, " "), err, out, stderr.String())
		}
		var r pyCaldavResult
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("caldav_client.py %s printed %q: %v", strings.Join(args, " "), out, err)
		}
		return r
	}

	// two cards, made through REST
	type contact struct{ ID string }
	var bob, carol contact
	must(t, alice.Do(ctx, "POST", "/v1/contacts", map[string]any{"name": "Bob Example", "emails": []string{"bob@example.com"}}, &bob))
	hdr, err := alice.DoHeader(ctx, "POST", "/v1/contacts", nil, map[string]any{"name": "Carol Example", "phones": []string{"+1 555 0100"}}, &carol)
	must(t, err)
	carolETag := hdr.Get("ETag")

	// discovery
	d := run(ts.URL, "discover")
	if len(d.Books) != 1 {
		t.Fatalf("discovery: %+v", d)
	}
	book := d.Books[0] // as the library spells it: the @ percent-encoded
	if u, err := url.PathUnescape(book); err != nil || d.Context != ts.URL+carddav.Prefix || d.Principal != ts.URL+"/dav/principals/alice@localhost/" ||
		d.Home != ts.URL+"/dav/addressbooks/alice@localhost/" || u != ts.URL+carddav.BookPath("alice@localhost") {
		t.Fatalf("discovery: %+v", d)
	}
	if !slices.Contains(d.Reports, "{DAV:}sync-collection") || !slices.Contains(d.Reports, "{urn:ietf:params:xml:ns:carddav}addressbook-multiget") {
		t.Fatalf("supported reports: %v", d.Reports)
	}

	// the initial sync: both cards, with their data, and a token
	bobHref, carolHref := carddav.BookPath("alice@localhost")+bob.ID+".vcf", carddav.BookPath("alice@localhost")+carol.ID+".vcf"
	s0 := run(book, "sync")
	cards := map[string]string{}
	for _, r := range s0.Responses {
		if r.Status != "" || r.Etag == "" {
			t.Fatalf("initial sync response %+v", r)
		}
		cards[r.Href] = r.Card
	}
	if s0.Token == "" || len(cards) != 2 || !strings.Contains(cards[bobHref], "FN:Bob Example") || !strings.Contains(cards[carolHref], "FN:Carol Example") {
		t.Fatalf("initial sync: %+v", s0)
	}

	// a change through REST is the only response of the next sync
	hdr, err = alice.DoHeader(ctx, "PUT", "/v1/contacts/"+carol.ID, http.Header{"If-Match": {carolETag}}, map[string]any{"name": "Carol Changed", "phones": []string{"+1 555 0100"}}, nil)
	must(t, err)
	s1 := run(book, "sync", s0.Token)
	if s1.Token == "" || s1.Token == s0.Token || len(s1.Responses) != 1 {
		t.Fatalf("sync after a REST change: %+v", s1)
	}
	if r := s1.Responses[0]; r.Href != carolHref || r.Status != "" || r.Etag != hdr.Get("ETag") || !strings.Contains(r.Card, "FN:Carol Changed") {
		t.Fatalf("the changed card: %+v (REST ETag %s)", r, hdr.Get("ETag"))
	}

	// a deletion through REST is a 404 response
	must(t, alice.Do(ctx, "DELETE", "/v1/contacts/"+bob.ID, nil, nil))
	s2 := run(book, "sync", s1.Token)
	if s2.Token == "" || s2.Token == s1.Token || len(s2.Responses) != 1 {
		t.Fatalf("sync after a REST deletion: %+v", s2)
	}
	if r := s2.Responses[0]; r.Href != bobHref || !strings.Contains(r.Status, " 404 ") || r.Card != "" {
		t.Fatalf("the deleted card: %+v", r)
	}

	// nothing changed since: nothing listed, the same token
	if s3 := run(book, "sync", s2.Token); len(s3.Responses) != 0 || s3.Token != s2.Token {
		t.Fatalf("sync with no change: %+v", s3)
	}
}
