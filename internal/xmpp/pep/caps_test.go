package pep

import (
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// TestVerString checks the verification string against XEP-0115's own
// examples (§ 5.2 simple, § 5.3 complex with an extended form).
func TestVerString(t *testing.T) {
	simple := `<query xmlns='http://jabber.org/protocol/disco#info' node='http://code.google.com/p/exodus#QgayPKawpkPSDYmwT/WM94uAlu0='>
  <identity category='client' name='Exodus 0.9.1' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
</query>`
	if v := VerString(parse(t, simple)); v != "QgayPKawpkPSDYmwT/WM94uAlu0=" {
		t.Fatalf("simple: %s", v)
	}
	complex := `<query xmlns='http://jabber.org/protocol/disco#info' node='http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w='>
  <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
  <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
  <x xmlns='jabber:x:data' type='result'>
    <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
    <field var='ip_version' type='text-multi'><value>ipv4</value><value>ipv6</value></field>
    <field var='os'><value>Mac</value></field>
    <field var='os_version'><value>10.5.1</value></field>
    <field var='software'><value>Psi</value></field>
    <field var='software_version'><value>0.11</value></field>
  </x>
</query>`
	if v := VerString(parse(t, complex)); v != "q07IKJEyjvHSyhy//CH0CxmKi8w=" {
		t.Fatalf("complex: %s", v)
	}
}

// TestSessionCaps: the capabilities announced for a session name
// SessionInfo by its verification string, and only a query for that node
// is taken as one for it.
func TestSessionCaps(t *testing.T) {
	c := SessionCaps()
	info := SessionInfo()
	if c.AttrValue("ver") != VerString(info) || c.AttrValue("hash") != "sha-1" || c.AttrValue("node") != CapsNode {
		t.Fatalf("caps %s for %s", c.String(""), info.String(""))
	}
	for _, n := range Nodes() {
		if !strings.Contains(info.String(""), n+"+notify") {
			t.Errorf("no %s+notify in %s", n, info.String(""))
		}
	}
	q := func(node string) *xmlstream.Element { return xmlstream.New(NSDiscoInfo, "query").Set("node", node) }
	if !IsSessionInfoQuery(q(CapsNode + "#" + c.AttrValue("ver"))) {
		t.Error("the query for the announced node is not recognised")
	}
	for _, node := range []string{"", CapsNode, CapsNode + "#other", "http://example.org#" + c.AttrValue("ver")} {
		if IsSessionInfoQuery(q(node)) {
			t.Errorf("a query for %q taken as one for the session's capabilities", node)
		}
	}
}
