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

// TestUnsolicitedAnswer: an iq result from another domain reaches a local
// session whatever the relation only as the answer to a query the session
// sent to that account; carol@a.test, a stranger to bob, cannot send him
// one unasked (it is decided by the message rule, which refuses her), and
// alice's answer to a query bob never sent her is no answer either, but
// a contact's iq under the message rule.
func TestUnsolicitedAnswer(t *testing.T) {
	_, b, alice, bob := friends(t)
	g := asA(t, b)
	g.send(`<iq type='result' from='carol@a.test/x' to='` + bob.s.Address() + `' id='u1'><query xmlns='jabber:iq:last' seconds='5'/></iq>` +
		`<message from='` + alice.s.Address() + `' to='bob@b.test' type='chat' id='after'><body>after</body></message>`)
	var iqs []string
	bob.await("alice's message after carol's answer", func(ev core.Event) bool {
		m, ok := ev.(core.MessageEvent)
		if ok && m.Message.Kind == core.KindIQ {
			iqs = append(iqs, m.Message.From)
		}
		return ok && m.Message.ID == "after"
	})
	if len(iqs) != 0 {
		t.Fatalf("bob was handed unsolicited answers from %v", iqs)
	}

	// bob asks carol (so an answer from her is expected) and gets hers
	if _, err := bob.s.Send(core.Message{Kind: core.KindIQ, Type: "get", To: "carol@a.test", ID: "q1", Payload: lastQuery}); err != nil {
		t.Fatal(err)
	}
	g.send(`<iq type='error' from='carol@a.test' to='` + bob.s.Address() + `' id='q1'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
	bob.await("carol's answer to bob's query", func(ev core.Event) bool {
		m, ok := ev.(core.MessageEvent)
		return ok && m.Message.Kind == core.KindIQ && m.Message.ID == "q1" && m.Message.Type == "error"
	})
}
