package c2s

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	msasl "mellium.im/sasl"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// boshClient is a hand-written BOSH client: one request at a time.
type boshClient struct {
	t   *testing.T
	url string
	sid string
	rid int
}

// post sends a body with the given attributes and content and returns the
// response body's children.
func (b *boshClient) post(attrs, content string) (*xmlstream.Element, string) {
	b.t.Helper()
	b.rid++
	sid := ""
	if b.sid != "" {
		sid = " sid='" + b.sid + "'"
	}
	req := fmt.Sprintf(`<body xmlns='http://jabber.org/protocol/httpbind' xmlns:xmpp='urn:xmpp:xbosh' rid='%d'%s %s>%s</body>`, b.rid, sid, attrs, content)
	resp, err := http.Post(b.url, "text/xml; charset=utf-8", strings.NewReader(req))
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	el, err := xmlstream.Parse(string(raw))
	if err != nil {
		b.t.Fatalf("response %q: %v", raw, err)
	}
	return el, string(raw)
}

// until posts empty bodies until a response holds an element named local.
func (b *boshClient) until(local string) *xmlstream.Element {
	b.t.Helper()
	for i := 0; i < 20; i++ {
		body, _ := b.post("", "")
		for _, n := range body.Children {
			if el, ok := n.(*xmlstream.Element); ok && el.Name.Local == local {
				return el
			}
		}
	}
	b.t.Fatalf("no <%s/>", local)
	return nil
}

// TestBOSH walks XEP-0124/0206 by hand: session creation with features,
// SCRAM, restart, binding, initial presence, a message from a contact
// delivered into a held request, and termination as a logout.
func TestBOSH(t *testing.T) {
	r := start(t, false)
	ctx := context.Background()
	if _, err := r.auth.CreateAccount(ctx, "bob@localhost", "bob-password"); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]string{{"alice@localhost", "bob@localhost"}, {"bob@localhost", "alice@localhost"}} {
		r.hub.Subscribe(ctx, p[0], p[1])
		r.hub.Approve(ctx, p[1], p[0])
	}
	bobSink := &coreSink{woke: make(chan struct{}, 1)}
	bob, err := r.hub.Connect(ctx, "bob@localhost", core.SessionOptions{Device: "test", Presence: &core.Presence{Availability: core.Available}}, bobSink)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(http.HandlerFunc(r.srv.ServeBOSH))
	defer hs.Close()
	b := &boshClient{t: t, url: hs.URL, rid: 1000}

	body, raw := b.post(`to='localhost' wait='5' hold='1' ver='1.6' xmpp:version='1.0'`, "")
	b.sid = body.AttrValue("sid")
	if b.sid == "" || !strings.Contains(raw, "SCRAM-SHA-256") || strings.Contains(raw, "PLAIN") {
		t.Fatalf("session creation: %s", raw)
	}
	c := msasl.NewClient(msasl.ScramSha256, msasl.Credentials(func() ([]byte, []byte, []byte) { return []byte("alice"), []byte("alice-password"), nil }))
	_, out, _ := c.Step(nil)
	body, raw = b.post("", `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>`+base64.StdEncoding.EncodeToString(out)+`</auth>`)
	for !strings.Contains(raw, "<success") {
		ch := body.Child("urn:ietf:params:xml:ns:xmpp-sasl", "challenge")
		if ch == nil {
			t.Fatalf("SASL: %s", raw)
		}
		in, _ := base64.StdEncoding.DecodeString(ch.Text())
		if _, out, err = c.Step(in); err != nil {
			t.Fatal(err)
		}
		body, raw = b.post("", `<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>`+base64.StdEncoding.EncodeToString(out)+`</response>`)
	}
	if _, raw = b.post(`to='localhost' xmpp:restart='true'`, ""); !strings.Contains(raw, "urn:ietf:params:xml:ns:xmpp-bind") {
		t.Fatalf("restart: %s", raw)
	}
	b.post("", `<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq>`)
	b.post("", `<presence xmlns='jabber:client'/>`)
	go func() {
		time.Sleep(200 * time.Millisecond) // into the held request
		bob.Send(core.Message{Kind: core.KindMessage, To: "alice@localhost/web", Body: "over BOSH"})
	}()
	m := b.until("message")
	if body := m.Child("jabber:client", "body"); body == nil || body.Text() != "over BOSH" {
		t.Fatalf("message: %s", m.String(""))
	}
	if body, _ := b.post(`type='terminate'`, `<presence xmlns='jabber:client' type='unavailable'/>`); body.AttrValue("type") != "terminate" {
		t.Fatalf("terminate answered %s", body.String(""))
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		views, _ := r.hub.Presence(ctx, "bob@localhost", []string{"alice@localhost"})
		if len(views) == 1 && views[0].Availability == core.Unavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("alice still online after terminating")
		}
	}
	if body, _ := b.post("", ""); body.AttrValue("type") != "terminate" {
		t.Fatal("a terminated session still answers")
	}
}

// FuzzParseBody: whatever a client posts, parseBody either refuses it or
// returns a body start tag and content inside the request, without panics.
func FuzzParseBody(f *testing.F) {
	f.Add([]byte(`<body xmlns='http://jabber.org/protocol/httpbind' rid='1' to='localhost'/>`))
	f.Add([]byte(`<body xmlns='http://jabber.org/protocol/httpbind' rid='2' sid='x'><presence xmlns='jabber:client'/></body>`))
	f.Add([]byte(`<body xmlns='x'/>`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		start, inner, err := parseBody(raw)
		if err != nil {
			return
		}
		if start == nil || len(inner) > len(raw) {
			t.Fatalf("parsed %q into %v, %q", raw, start, inner)
		}
	})
}
