package c2s

import (
	"testing"

	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// TestFraming pins what each transport writes around and for a stanza, as
// clients have seen it since before the element writer: stream headers,
// ends, and a stanza and a stream error in each scope.
func TestFraming(t *testing.T) {
	msg := xmlstream.New(nsClient, "message").Set("to", "a@localhost").Add(xmlstream.New(nsClient, "body").AddText("<hi>"))
	streamError := xmlstream.New(xmlstream.NSStream, "error").Add(xmlstream.New(nsStreams, "conflict"))
	for _, tc := range []struct{ got, want string }{
		{tcpFraming{}.open("i", "localhost"), `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='i' from='localhost' version='1.0' xml:lang='en'>`},
		{tcpFraming{}.close(), `</stream:stream>`},
		{msg.In(tcpFraming{}.scope()), `<message to='a@localhost'><body>&lt;hi&gt;</body></message>`},
		{streamError.In(tcpFraming{}.scope()), `<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`},
		{wsFraming{}.open("i", "localhost"), `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='i' from='localhost' version='1.0' xml:lang='en'/>`},
		{wsFraming{}.close(), `<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`},
		{msg.In(wsFraming{}.scope()), `<message xmlns='jabber:client' to='a@localhost'><body>&lt;hi&gt;</body></message>`},
		{streamError.In(wsFraming{}.scope()), `<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`},
		{string(clientHeader("localhost", "1.0")), `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`},
		{boshBody().Set("sid", "s").SetNS(nsXBOSH, "version", "1.0").Add(xmlstream.Raw(msg.In(wsFraming{}.scope()))).In(xmlstream.Standalone),
			`<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' xmlns:stream='http://etherx.jabber.org/streams' sid='s' xmpp:version='1.0'><message xmlns='jabber:client' to='a@localhost'><body>&lt;hi&gt;</body></message></body>`},
	} {
		if tc.got != tc.want {
			t.Errorf("got\n%s\nwant\n%s", tc.got, tc.want)
		}
	}
}
