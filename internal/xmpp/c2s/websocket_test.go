package c2s

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsDial opens an RFC 7395 connection with an independent WebSocket client.
func wsDial(t *testing.T, r rig) *websocket.Conn {
	t.Helper()
	c, resp, err := (&websocket.Dialer{Subprotocols: []string{"xmpp"}}).Dial(r.wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Sec-WebSocket-Protocol") != "xmpp" {
		t.Fatalf("subprotocol %q", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c
}

func wsSend(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

func wsRead(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	typ, msg, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if typ != websocket.TextMessage {
		t.Fatalf("message type %d", typ)
	}
	return string(msg)
}

const wsOpen = `<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>`

// TestWebSocketFraming walks RFC 7395 by hand: <open/> answered with
// <open/> and standalone features, SASL PLAIN refused without TLS, SCRAM
// offered, binding after the restart, stanzas qualified by jabber:client,
// and <close/> answered with <close/>.
func TestWebSocketFraming(t *testing.T) {
	r := start(t, false)
	c := wsDial(t, r)
	wsSend(t, c, wsOpen)
	if m := wsRead(t, c); !strings.HasPrefix(m, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'") || !strings.Contains(m, "version='1.0'") {
		t.Fatalf("open: %s", m)
	}
	f := wsRead(t, c)
	if !strings.HasPrefix(f, "<stream:features xmlns:stream='http://etherx.jabber.org/streams'") || !strings.Contains(f, "SCRAM-SHA-256") ||
		strings.Contains(f, "PLAIN") || strings.Contains(f, "starttls") || strings.Contains(f, "-PLUS") {
		t.Fatalf("features: %s", f)
	}
	// PLAIN is refused on a stream without TLS even if the client tries it
	wsSend(t, c, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>`+base64.StdEncoding.EncodeToString([]byte("\x00alice\x00alice-password"))+`</auth>`)
	if m := wsRead(t, c); !strings.Contains(m, "encryption-required") {
		t.Fatalf("PLAIN without TLS: %s", m)
	}
	wsSend(t, c, `<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`)
	if m := wsRead(t, c); m != `<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>` {
		t.Fatalf("close: %s", m)
	}
}

// TestWebSocketBadInput: a message that is not one element, and a wrong
// default namespace, end the stream with the right stream error and a
// <close/>; a handshake without the xmpp subprotocol is refused.
func TestWebSocketBadInput(t *testing.T) {
	r := start(t, false)
	for name, tc := range map[string]struct{ first, msg, cond string }{
		"two elements":   {wsOpen, `<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>`, "not-well-formed"},
		"broken xml":     {wsOpen, `<presence xmlns='jabber:client'>`, "not-well-formed"},
		"stanza first":   {`<message xmlns='jabber:client' to='bob@localhost'><body>hi</body></message>`, "", "invalid-namespace"},
		"unknown host":   {`<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='elsewhere' version='1.0'/>`, "", "host-unknown"},
		"before sign-in": {wsOpen, `<message xmlns='jabber:client' to='bob@localhost'><body>hi</body></message>`, "not-authorized"},
	} {
		t.Run(name, func(t *testing.T) {
			c := wsDial(t, r)
			wsSend(t, c, tc.first)
			if tc.msg != "" {
				wsRead(t, c) // open
				wsRead(t, c) // features
				wsSend(t, c, tc.msg)
			}
			var got []string
			for {
				_, m, err := c.ReadMessage()
				if err != nil {
					break
				}
				got = append(got, string(m))
			}
			all := strings.Join(got, "\n")
			if !strings.Contains(all, "<stream:error xmlns:stream='http://etherx.jabber.org/streams'><"+tc.cond) || !strings.HasSuffix(all, "<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>") {
				t.Fatalf("got:\n%s", all)
			}
		})
	}
	req, _ := http.NewRequest("GET", "http"+strings.TrimPrefix(r.wsURL, "ws"), nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", base64.StdEncoding.EncodeToString(make([]byte, 16)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("no subprotocol: %d", resp.StatusCode)
	}
}

// FuzzTranslate: whatever a client sends in one message, translation
// either refuses it with a stream error or yields bytes, without panicking.
func FuzzTranslate(f *testing.F) {
	f.Add([]byte(wsOpen))
	f.Add([]byte(`<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>`))
	f.Add([]byte(`<message xmlns='jabber:client'><body>a</body></message>`))
	f.Add([]byte(`<a/><b/>`))
	f.Fuzz(func(t *testing.T, msg []byte) {
		out, err := translate(msg)
		if err == nil && len(out) == 0 {
			t.Fatal("no error and nothing to read")
		}
	})
}
