package xmlstream

import "testing"

// TestWriter: one writer for every scope a stanza is written in — a TCP
// stream (jabber:client and stream: declared by the header), a standalone
// WebSocket message, a BOSH body that binds its own prefixes — and for
// stream headers.
func TestWriter(t *testing.T) {
	msg := New("jabber:client", "message").Set("to", "a@b").Set("id", `x'"<&`).
		Add(New("jabber:client", "body").AddText("1 < 2 & 'q'"), Raw(`<active xmlns='http://jabber.org/protocol/chatstates'/>`))
	streamErr := New(NSStream, "error").Add(New("urn:ietf:params:xml:ns:xmpp-streams", "conflict"))
	header := New(NSStream, "stream").Declare("", "jabber:client").Declare("stream", NSStream).Set("id", "i").SetNS(NSXML, "lang", "en")
	body := New("http://jabber.org/protocol/httpbind", "body").Declare("xmpp", "urn:xmpp:xbosh").Declare("stream", NSStream).
		Set("sid", "s").SetNS("urn:xmpp:xbosh", "version", "1.0").Add(streamErr)
	for _, tc := range []struct{ got, want string }{
		{msg.In(In("jabber:client")), `<message to='a@b' id='x&#39;&#34;&lt;&amp;'><body>1 &lt; 2 &amp; &#39;q&#39;</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`},
		{msg.In(Standalone), `<message xmlns='jabber:client' to='a@b' id='x&#39;&#34;&lt;&amp;'><body>1 &lt; 2 &amp; &#39;q&#39;</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`},
		{streamErr.In(In("jabber:client")), `<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`},
		{streamErr.In(Standalone), `<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`},
		{header.Start(Standalone), `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='i' xml:lang='en'>`},
		{header.End(), `</stream:stream>`},
		{body.In(Standalone), `<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' xmlns:stream='http://etherx.jabber.org/streams' sid='s' xmpp:version='1.0'><stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></body>`},
		{New("urn:x", "x").SetNS("urn:a", "b", "c").SetNS("urn:d", "e", "f").String(""), `<x xmlns='urn:x' xmlns:a0='urn:a' a0:b='c' xmlns:a1='urn:d' a1:e='f'/>`},
		{New("urn:x", "x").Declare("a0", "urn:q").SetNS("urn:a", "b", "c").String(""), `<x xmlns='urn:x' xmlns:a0='urn:q' xmlns:a1='urn:a' a1:b='c'/>`},
	} {
		if tc.got != tc.want {
			t.Errorf("got\n%s\nwant\n%s", tc.got, tc.want)
		}
	}
	// what the writer wrote reads back as the tree it wrote
	back, err := Parse(msg.In(In("jabber:client")))
	if err != nil || back.AttrValue("id") != `x'"<&` || back.ChildText("jabber:client", "body") != "1 < 2 & 'q'" ||
		back.Child("http://jabber.org/protocol/chatstates", "active") == nil {
		t.Fatalf("read back %v: %v", back, err)
	}
}

// TestRelayDropsDeclarations: a parsed element carries no namespace
// declarations, so a relayed stanza declares what its writer writes, not
// what its sender wrote.
func TestRelayDropsDeclarations(t *testing.T) {
	el, err := Parse(`<message xmlns:p='urn:p' xmlns:stream='urn:evil' p:a='1'><x xmlns='urn:x'/><stream:y/></message>`)
	if err != nil {
		t.Fatal(err)
	}
	want := `<message xmlns:a0='urn:p' a0:a='1'><x xmlns='urn:x'/><y xmlns='urn:evil'/></message>`
	if got := el.String("jabber:client"); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
