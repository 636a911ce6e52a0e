package c2s

import (
	"encoding/xml"
	"maps"
	"testing"

	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// TestRegistry: a feature registered in one place is dispatched to and
// announced in disco#info, for the entities it names only; a second
// handler for the same payload is refused.
func TestRegistry(t *testing.T) {
	saved := registry
	saved.iqs, saved.features, saved.identities = maps.Clone(registry.iqs), maps.Clone(registry.features), maps.Clone(registry.identities)
	t.Cleanup(func() { registry = saved })

	const ns = "urn:example:echo"
	register(iqFeature{
		payloads: []xml.Name{{Space: ns, Local: "echo"}},
		types:    "get",
		at:       forAccount,
		handle: func(c *conn, rq iqRequest) error {
			return c.iqResult(rq, xmlstream.New(ns, "echo").AddText(rq.payload.Text()))
		},
		features: map[addressee][]string{toAccount: {ns}},
	})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("a second handler for the same payload was accepted")
			}
		}()
		register(iqFeature{payloads: []xml.Name{{Space: ns, Local: "echo"}}, at: forAccount | forServer})
	}()

	r := start(t, true)
	x := r.signIn(t, "alice")
	x.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`)
	x.expect("iq")
	x.send(`<iq type='get' id='e1'><echo xmlns='%s'>ping</echo></iq>`, ns)
	if res := x.expect("iq"); res.AttrValue("type") != "result" || res.ChildText(ns, "echo") != "ping" {
		t.Fatalf("echo: %s", res.String(""))
	}
	x.send(`<iq type='get' id='e2' to='localhost'><echo xmlns='%s'>ping</echo></iq>`, ns)
	if res := x.expect("iq"); res.AttrValue("type") != "error" {
		t.Fatalf("echo to the server, which does not answer it: %s", res.String(""))
	}
	x.send(`<iq type='get' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if res := x.expect("iq"); !hasFeature(res, ns) {
		t.Fatalf("the account's disco#info does not announce it: %s", res.String(""))
	}
	x.send(`<iq type='get' id='d2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`)
	if res := x.expect("iq"); hasFeature(res, ns) {
		t.Fatalf("the server's disco#info announces it: %s", res.String(""))
	}
}
