package s2s

import (
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// TestSerialiseDialback: dialback elements are written db:name (ejabberd
// recognises no other form) and read back as the same elements inside our
// header, which binds the prefix; other elements are written as before.
func TestSerialiseDialback(t *testing.T) {
	el := xmlstream.New(nsDialback, "result").Set("from", "a.test").Set("to", "b'<test").Set("type", "error").
		Add(xmlstream.New(nsServer, "error").Set("type", "cancel").Add(xmlstream.New(nsStanzas, "item-not-found")))
	key := xmlstream.New(nsDialback, "verify").Set("id", "1").AddText("k&y")
	out := serialise(el) + serialise(key)
	want := `<db:result from='a.test' to='b&#39;&lt;test' type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></db:result><db:verify id='1'>k&amp;y</db:verify>`
	if out != want {
		t.Fatalf("serialise:\n got %s\nwant %s", out, want)
	}
	r := xmlstream.NewReader(strings.NewReader(header("b.test", "a.test", "x")+out), xmlstream.DefaultLimits)
	if _, err := r.Open(); err != nil {
		t.Fatal(err)
	}
	for _, w := range []*xmlstream.Element{el, key} {
		got, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != w.Name || got.AttrValue("to") != w.AttrValue("to") || got.Text() != w.Text() {
			t.Fatalf("read back %s, want %s", got.String(""), w.String(""))
		}
	}
	if m := xmlstream.New(nsServer, "message").Set("to", "x@b.test"); serialise(m) != m.In(scope) {
		t.Fatalf("a stanza changed: %s", serialise(m))
	}
}
