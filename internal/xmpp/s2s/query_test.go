package s2s_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/core"
)

const (
	lastQuery = `<query xmlns='jabber:iq:last'/>`
	discoInfo = `<query xmlns='http://jabber.org/protocol/disco#info'/>`
)

// query sends an iq get from c's session to a bare address and returns
// the answer that comes back: its type and payload.
func query(t *testing.T, c *client, to, id, payload string) (typ, answer string) {
	t.Helper()
	if _, err := c.s.Send(core.Message{Kind: core.KindIQ, Type: "get", To: to, ID: id, Payload: payload}); err != nil {
		t.Fatalf("query %s to %s: %v", id, to, err)
	}
	ev := c.await("the answer to "+id, func(ev core.Event) bool {
		m, ok := ev.(core.MessageEvent)
		return ok && m.Message.Kind == core.KindIQ && m.Message.ID == id
	}).(core.MessageEvent)
	if ev.Message.From != to {
		t.Fatalf("answer to %s from %q", id, ev.Message.From)
	}
	return ev.Message.Type, ev.Message.Payload
}

// TestFederationQueries: a local client's last activity and disco#info
// queries to a remote account's bare address go to that account's server,
// which answers as it would a local asker: to a contact that may see the
// account, its last activity and description; to a stranger, and after a
// answer of an account that does not exist.
func TestFederationQueries(t *testing.T) {
	a, _, alice, bob := friends(t)
	carol := a.connect(t, "carol@a.test", &core.Presence{Availability: core.Available})

	typ, ans := query(t, alice, "bob@b.test", "l1", lastQuery)
	if typ != "result" || !strings.Contains(ans, `seconds="0"`) && !strings.Contains(ans, `seconds='0'`) {
		t.Fatalf("bob's last activity, online: %s %s", typ, ans)
	}
	typ, ans = query(t, alice, "bob@b.test", "d1", discoInfo)
	if typ != "result" || !strings.Contains(ans, "registered") || !strings.Contains(ans, "jabber:iq:last") {
		t.Fatalf("bob's disco#info: %s %s", typ, ans)
	}

	// carol is a stranger to bob: the answers about bob are those about
	// nobody@b.test, word for word
	for i, q := range []string{lastQuery, discoInfo} {
		typ, aboutBob := query(t, carol, "bob@b.test", "s"+strconv.Itoa(i), q)
		typ2, aboutNobody := query(t, carol, "nobody@b.test", "n"+strconv.Itoa(i), q)
		if typ != "error" || typ2 != "error" || aboutBob != aboutNobody || !strings.Contains(aboutBob, "service-unavailable") {
			t.Fatalf("stranger's query %d: about bob %s %s, about nobody %s %s", i, typ, aboutBob, typ2, aboutNobody)
		}
	}

	// bob signs out: his last activity is the time since
	bob.s.Close()
	alice.await("bob gone", presenceOf("bob@b.test", core.Unavailable, ""))
	if typ, ans := query(t, alice, "bob@b.test", "l2", lastQuery); typ != "result" || !strings.Contains(ans, "seconds=") {
		t.Fatalf("bob's last activity, offline: %s %s", typ, ans)
	}
}
