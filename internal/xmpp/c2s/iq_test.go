package c2s

import (
	"testing"

	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// TestIQAddressing: RFC 6120 § 10.3.3 — an iq to nobody (or to the user's
// own bare address) is answered on behalf of the account, from its bare
// address; one to the domain by the server, from the domain; every reply,
// result or error, names the entity the request was addressed to.
func TestIQAddressing(t *testing.T) {
	r := start(t, true)
	x := r.signIn(t, "alice")
	x.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`)
	x.expect("iq")
	const (
		discoInfo = `<query xmlns='http://jabber.org/protocol/disco#info'/>`
		ping      = `<ping xmlns='urn:xmpp:ping'/>`
	)
	ask := func(to, payload string) *xmlstream.Element {
		t.Helper()
		attr := ""
		if to != "" {
			attr = " to='" + to + "'"
		}
		x.send(`<iq type='get' id='q'%s>%s</iq>`, attr, payload)
		return x.expect("iq")
	}
	for _, tc := range []struct {
		name, to, payload, typ, from string
		check                        func(*xmlstream.Element) bool
	}{
		{"disco#info without to describes the account", "", discoInfo, "result", "alice@localhost", isAccountInfo},
		{"disco#info to the own bare address", "alice@localhost", discoInfo, "result", "alice@localhost", isAccountInfo},
		{"disco#info to the domain describes the server", "localhost", discoInfo, "result", "localhost", func(el *xmlstream.Element) bool {
			return hasIdentity(el, "server", "im") && hasFeature(el, "urn:xmpp:blocking") && !hasIdentity(el, "account", "registered")
		}},
		{"ping to the domain", "localhost", ping, "result", "localhost", nil},
		{"ping to nobody", "", ping, "result", "alice@localhost", nil},
		{"roster to nobody", "", `<query xmlns='jabber:iq:roster'/>`, "result", "alice@localhost", nil},
		{"an unknown namespace to nobody", "", `<query xmlns='urn:example:nothing'/>`, "error", "alice@localhost", nil},
		{"an unknown namespace to the domain", "LocalHost", `<query xmlns='urn:example:nothing'/>`, "error", "localhost", nil},
		{"the roster is the account's, not the server's", "localhost", `<query xmlns='jabber:iq:roster'/>`, "error", "localhost", nil},
		{"another domain", "example.org", ping, "error", "example.org", nil},
		{"another account's bare address", "bob@localhost", ping, "error", "bob@localhost", nil},
		{"a malformed address is answered by the server", "a b@localhost", ping, "error", "localhost", nil},
	} {
		el := ask(tc.to, tc.payload)
		if el.AttrValue("type") != tc.typ || el.AttrValue("from") != tc.from || tc.check != nil && !tc.check(el) {
			t.Errorf("%s: got %s, want type %s from %s", tc.name, el.String(""), tc.typ, tc.from)
		}
	}
}

func isAccountInfo(el *xmlstream.Element) bool {
	return hasIdentity(el, "account", "registered") && hasIdentity(el, "pubsub", "pep") &&
		hasFeature(el, "http://jabber.org/protocol/pubsub#publish") && hasFeature(el, "http://jabber.org/protocol/pubsub#retrieve-items") &&
		!hasIdentity(el, "server", "im")
}

func discoChildren(el *xmlstream.Element, local string) []*xmlstream.Element {
	q := el.Child("http://jabber.org/protocol/disco#info", "query")
	if q == nil {
		return nil
	}
	var out []*xmlstream.Element
	for _, n := range q.Children {
		if c, ok := n.(*xmlstream.Element); ok && c.Name.Local == local {
			out = append(out, c)
		}
	}
	return out
}

func hasIdentity(el *xmlstream.Element, category, typ string) bool {
	for _, id := range discoChildren(el, "identity") {
		if id.AttrValue("category") == category && id.AttrValue("type") == typ {
			return true
		}
	}
	return false
}

func hasFeature(el *xmlstream.Element, v string) bool {
	for _, f := range discoChildren(el, "feature") {
		if f.AttrValue("var") == v {
			return true
		}
	}
	return false
}
