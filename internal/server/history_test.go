package server

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
)

// TestHistoryAcrossProtocols: bob (JSON) writes to alice (XMPP); both
// histories hold the messages. Alice pages hers with XEP-0313 (MAM with
// result set management) from a real XMPP client, bob his with the JSON
// history frame; bob turns his off and erases it through the REST API.
func TestHistoryAcrossProtocols(t *testing.T) {
	ts, ctx, _, bob := xmppWorld(t, time.Second)
	ax, in := xmppClient(t, ts, "alice")
	must(t, ax.Send(ctx, stanza2IQ(`<presence/>`)))
	bs := connected(t, ctx, bob, client.Presence{Availability: "available"})
	for _, body := range []string{"one", "two", "three"} {
		if _, err := bs.Message(ctx, "alice@localhost", body); err != nil {
			t.Fatal(err)
		}
		waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.Body == body })
	}

	// alice's archive, two by two
	mam := func(id, rsm string) (fin stanza, bodies []string) {
		t.Helper()
		fin = sendIQ(t, ctx, ax, `<iq type='set' id='`+id+`'><query xmlns='urn:xmpp:mam:2' queryid='q`+id+`'><x xmlns='jabber:x:data' type='submit'>`+
			`<field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field><field var='with'><value>bob@localhost</value></field></x>`+
			`<set xmlns='http://jabber.org/protocol/rsm'>`+rsm+`</set></query></iq>`)
		for len(in) > 0 {
			s := <-in
			if s.XMLName.Local == "message" && strings.Contains(s.Inner, `queryid="q`+id+`"`) {
				for _, b := range []string{"one", "two", "three"} {
					if strings.Contains(s.Inner, ">"+b+"<") {
						bodies = append(bodies, b)
					}
				}
			}
		}
		return fin, bodies
	}
	fin, got := mam("m1", "<max>2</max>")
	if fin.Type != "result" || strings.Join(got, ",") != "one,two" || strings.Contains(fin.Inner, `complete="true"`) {
		t.Fatalf("alice's first page: %v\n%s", got, fin.Inner)
	}
	last := regexp.MustCompile(`<last[^>]*>([0-9]+)</last>`).FindStringSubmatch(fin.Inner)
	if last == nil {
		t.Fatalf("no <last/> in %s", fin.Inner)
	}
	fin, got = mam("m2", "<max>2</max><after>"+last[1]+"</after>")
	if strings.Join(got, ",") != "three" || !strings.Contains(fin.Inner, `complete="true"`) {
		t.Fatalf("alice's second page: %v\n%s", got, fin.Inner)
	}

	// bob's, with the JSON protocol
	history := func() []json.RawMessage {
		t.Helper()
		f, err := bs.Request(ctx, "history", map[string]any{"with": "alice@localhost", "max": 10})
		must(t, err)
		var h struct{ Messages []json.RawMessage }
		must(t, json.Unmarshal(f.Raw, &h))
		return h.Messages
	}
	if n := len(history()); n != 3 {
		t.Fatalf("bob's history has %d messages", n)
	}
	var on struct{ On bool }
	must(t, bob.Do(ctx, "GET", "/v1/history", nil, &on))
	if !on.On {
		t.Fatal("history is off by default")
	}
	must(t, bob.Do(ctx, "PUT", "/v1/history", map[string]bool{"on": false}, &on))
	if _, err := bs.Message(ctx, "alice@localhost", "not kept"); err != nil {
		t.Fatal(err)
	}
	if n := len(history()); n != 3 {
		t.Fatalf("with history off, bob's history has %d messages", n)
	}
	var erased struct{ Erased int }
	must(t, bob.Do(ctx, "DELETE", "/v1/history", nil, &erased))
	if erased.Erased != 3 || len(history()) != 0 {
		t.Fatalf("erased %d, left %d", erased.Erased, len(history()))
	}
}

// TestDocsOfflineExamples runs docs/offline.md's shell examples against a
// server ($TOKEN a user's): none may answer an error.
func TestDocsOfflineExamples(t *testing.T) {
	ts, token := docServer(t)
	for _, b := range docShell(t, "docs/offline.md") {
		out, err := runShell(ts, b, "TOKEN="+token)
		if err != nil || strings.Contains(out, `"code":`) || !strings.Contains(out, `"erased":0`) {
			t.Errorf("docs/offline.md example failed: %v\n%s\n%s", err, b, out)
		}
	}
}

// docServer starts a server with alice for a doc's shell examples and
// returns her token; without curl the test is skipped.
func docServer(t *testing.T) (*testServer, string) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skipf("the examples need curl: %v", err)
	}
	ts := startServer(t, nil)
	waitReady(t, ts)
	ts.user(t, "alice")
	token, _, err := ts.Auth.IssueToken(context.Background(), "alice@localhost", "docs")
	must(t, err)
	return ts, token
}

// docShell is the sh blocks of a doc, at least one.
func docShell(t *testing.T, doc string) []string {
	t.Helper()
	blocks := codeBlocks(repoFile(t, doc), "sh")
	if len(blocks) == 0 {
		t.Fatalf("%s has no sh block", doc)
	}
	return blocks
}

// runShell runs a doc's sh block against ts (127.0.0.1:8080 is ts) with
// env added, and returns what it printed.
func runShell(ts *testServer, block string, env ...string) (string, error) {
	cmd := exec.Command("bash", "-c", "set -eu\n"+strings.ReplaceAll(block, "127.0.0.1:8080", strings.TrimPrefix(ts.URL, "http://")))
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
