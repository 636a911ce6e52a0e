package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	msasl "mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/config"
)

// TestXMPPListenerSignsInWithPresencedAccounts: with --xmpp-addr, a real
// XMPP client library negotiates STARTTLS against the generated
// certificate, authenticates an account made for the JSON protocol with
// SCRAM, and binds a resource.
func TestXMPPListenerSignsInWithPresencedAccounts(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.XMPPAddr = "127.0.0.1:0" })
	ts.user(t, "alice")
	for !ts.ready.Load() {
		time.Sleep(5 * time.Millisecond)
	}
	pemBytes, err := os.ReadFile(filepath.Join(ts.Config.DataDir, XMPPCertFile))
	must(t, err)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatal("generated certificate unreadable")
	}
	conn, err := net.Dial("tcp", ts.xmppAddrs[0])
	must(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := xmpp.NewClientSession(ctx, jid.MustParse("alice@localhost"), conn,
		xmpp.StartTLS(&tls.Config{ServerName: "localhost", RootCAs: roots}),
		xmpp.SASL("", "password-alice", msasl.ScramSha256Plus, msasl.ScramSha256),
		xmpp.BindResource())
	if err != nil {
		t.Fatalf("XMPP sign-in: %v", err)
	}
	if s.LocalAddr().Bare().String() != "alice@localhost" || s.LocalAddr().Resourcepart() == "" {
		t.Fatalf("bound %s", s.LocalAddr())
	}
}

// xmppWorld starts a server with an XMPP listener and two accounts that see
// each other.
func xmppWorld(t *testing.T, grace time.Duration) (*testServer, context.Context, *client.Client, *client.Client) {
	ts := startServer(t, func(c *config.Config) { c.XMPPAddr = "127.0.0.1:0"; c.Grace = grace })
	ctx := tctx(t)
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	for !ts.ready.Load() {
		time.Sleep(5 * time.Millisecond)
	}
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	return ts, ctx, alice, bob
}

// stanza is any stanza an XMPP test client receives, flattened.
type stanza struct {
	XMLName xml.Name
	ID      string `xml:"id,attr"`
	From    string `xml:"from,attr"`
	Type    string `xml:"type,attr"`
	Inner   string `xml:",innerxml"`
	Body    string `xml:"body"`
	Show    string `xml:"show"`
	Status  string `xml:"status"`
	Items   []struct {
		JID          string `xml:"jid,attr"`
		Subscription string `xml:"subscription,attr"`
	} `xml:"query>item"`
	Unblocked []struct {
		JID string `xml:"jid,attr"`
	} `xml:"urn:xmpp:blocking unblock>item"`
}

// xmppClient signs in over XMPP and collects what it receives.
// features are what it answers a disco#info query with.
func xmppClient(t *testing.T, ts *testServer, local string, features ...string) (*xmpp.Session, chan stanza) {
	return xmppClientWith(t, ts, local+"@localhost/laptop", xmpp.SASL("", "password-"+local, msasl.ScramSha256), features...)
}

// xmppClientWith is xmppClient signing in as address with sasl.
func xmppClientWith(t *testing.T, ts *testServer, address string, sasl xmpp.StreamFeature, features ...string) (*xmpp.Session, chan stanza) {
	s, err := xmppSignIn(t, ts, address, sasl)
	must(t, err)
	in := make(chan stanza, 100)
	go s.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		st, err := readStanza(r, start)
		if err != nil {
			return err
		}
		in <- st
		if st.XMLName.Local == "iq" && st.Type == "get" && strings.Contains(st.Inner, "disco#info") {
			// answer the server's entity capabilities query (XEP-0115) with our features
			var b strings.Builder
			for _, f := range features {
				b.WriteString(`<feature var='` + f + `'/>`)
			}
			_, err := xmlstream.Copy(r, stanza2IQ(`<iq type='result' id='`+st.ID+`' to='`+st.From+`'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='pc'/>`+b.String()+`</query></iq>`))
			return err
		}
		return nil
	}))
	return s, in
}

// xmppSignIn connects to the server's STARTTLS listener as address,
// trusting the generated certificate, authenticates with sasl and binds.
func xmppSignIn(t *testing.T, ts *testServer, address string, sasl xmpp.StreamFeature) (*xmpp.Session, error) {
	t.Helper()
	pemBytes, err := os.ReadFile(filepath.Join(ts.Config.DataDir, XMPPCertFile))
	must(t, err)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pemBytes)
	conn, err := net.Dial("tcp", ts.xmppAddrs[0])
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j := jid.MustParse(address)
	return xmpp.NewClientSession(ctx, j, conn,
		xmpp.StartTLS(&tls.Config{ServerName: j.Domain().String(), RootCAs: roots}), sasl, xmpp.BindResource())
}

// readStanza reads the stanza start opens, re-encoded to text so that
// Inner (innerxml) is filled; the decoder must see the start tag to
// accept the end tag.
func readStanza(r xml.TokenReader, start *xml.StartElement) (stanza, error) {
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	if _, err := xmlstream.Copy(enc, xmlstream.MultiReader(xmlstream.Token(*start), xmlstream.Inner(r), xmlstream.Token(start.End()))); err != nil {
		return stanza{}, err
	}
	if err := enc.Flush(); err != nil {
		return stanza{}, err
	}
	var st stanza
	return st, xml.Unmarshal(buf.Bytes(), &st)
}

func waitStanza(t *testing.T, in chan stanza, match func(stanza) bool) stanza {
	t.Helper()
	// a guard against hangs, not a measure: generous, since a busy
	// machine under -race is slow (10 s was once not enough)
	timeout := time.After(time.Minute)
	for {
		select {
		case st := <-in:
			if match(st) {
				return st
			}
		case <-timeout:
			t.Fatal("timed out waiting for a stanza")
		}
	}
}

// TestXMPPAndJSONShareOneWorld: an XMPP client and a WebSocket client see
// each other's presence and exchange messages, through one core.
func TestXMPPAndJSONShareOneWorld(t *testing.T) {
	ts, ctx, _, bob := xmppWorld(t, time.Second)
	bws, err := bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "away", Status: "on the JSON side"}})
	must(t, err)

	ax, in := xmppClient(t, ts, "alice")
	// roster: bob, both ways
	resp, err := ax.SendIQ(ctx, stanza2IQ(`<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`))
	must(t, err)
	var roster stanza
	must(t, xml.NewTokenDecoder(resp).Decode(&roster))
	resp.Close()
	if len(roster.Items) != 1 || roster.Items[0].JID != "bob@localhost" || roster.Items[0].Subscription != "both" {
		t.Fatalf("roster %+v", roster)
	}
	// initial presence: alice learns bob's presence, bob sees alice come online
	must(t, ax.Send(ctx, stanza2IQ(`<presence><status>on the XMPP side</status></presence>`)))
	p := waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && strings.HasPrefix(s.From, "bob@localhost/")
	})
	if p.Show != "away" || p.Status != "on the JSON side" {
		t.Fatalf("alice sees bob as %+v", p)
	}
	f, err := bws.WaitFor(ctx, presenceIs("alice@localhost", "available"))
	must(t, err)
	if f.Status != "on the XMPP side" {
		t.Fatalf("bob sees alice as %s", f.Raw)
	}
	// messages both ways
	_, err = bws.Message(ctx, "alice@localhost", "hello from JSON")
	must(t, err)
	m := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" })
	if m.Body != "hello from JSON" || m.From != bws.Address {
		t.Fatalf("alice got %+v", m)
	}
	must(t, ax.Send(ctx, stanza2IQ(`<message to='bob@localhost' type='chat'><body>hello from XMPP</body></message>`)))
	f, err = bws.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "message" })
	must(t, err)
	if f.Body != "hello from XMPP" || f.From != ax.LocalAddr().String() {
		t.Fatalf("bob got %s", f.Raw)
	}
	// bob goes: alice gets unavailable
	must(t, bws.Close(ctx))
	waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.Type == "unavailable" && strings.HasPrefix(s.From, "bob@localhost/")
	})
	// a message to a stranger bounces with service-unavailable
	must(t, ax.Send(ctx, stanza2IQ(`<message to='ghost@localhost' id='m9' type='chat'><body>hi</body></message>`)))
	e := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.Type == "error" })
	if e.From != "ghost@localhost" {
		t.Fatalf("bounce %+v", e)
	}
}

// sendIQ sends an iq and returns the answer with its inner XML.
func sendIQ(t *testing.T, ctx context.Context, s *xmpp.Session, x string) stanza {
	t.Helper()
	resp, err := s.SendIQ(ctx, stanza2IQ(x))
	must(t, err)
	defer resp.Close()
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	_, err = xmlstream.Copy(enc, resp)
	must(t, err)
	must(t, enc.Flush())
	var st stanza
	must(t, xml.Unmarshal(buf.Bytes(), &st))
	return st
}

// stanza2IQ turns literal XML into a token stream for mellium.
func stanza2IQ(s string) xml.TokenReader {
	return xml.NewDecoder(strings.NewReader(s))
}

// TestXMPPStreamCloseIsALogout: a client that closes its stream is shown
// offline at once; one whose connection drops, after the grace period.
func TestXMPPStreamCloseIsALogout(t *testing.T) {
	ts, ctx, _, bob := xmppWorld(t, time.Hour)
	bws, err := bob.Connect(ctx, client.ConnectOptions{})
	must(t, err)
	ax, _ := xmppClient(t, ts, "alice")
	must(t, ax.Send(ctx, stanza2IQ(`<presence/>`)))
	_, err = bws.WaitFor(ctx, presenceIs("alice@localhost", "available"))
	must(t, err)
	must(t, ax.Close())                                                     // sends </stream:stream>
	_, err = bws.WaitFor(ctx, presenceIs("alice@localhost", "unavailable")) // long before the 1 h grace
	must(t, err)
}

// TestXMPPBlockingIsTheCoresBlockList: XEP-0191 edits the same block list as
// the REST API, with the same effect, and changes made elsewhere are pushed.
func TestXMPPBlockingIsTheCoresBlockList(t *testing.T) {
	ts, ctx, alice, bob := xmppWorld(t, time.Second)
	bws, err := bob.Connect(ctx, client.ConnectOptions{})
	must(t, err)
	ax, in := xmppClient(t, ts, "alice")
	iq := func(x string) stanza {
		resp, err := ax.SendIQ(ctx, stanza2IQ(x))
		must(t, err)
		defer resp.Close()
		var st stanza
		must(t, xml.NewTokenDecoder(resp).Decode(&st))
		return st
	}
	info, err := ax.SendIQ(ctx, stanza2IQ(`<iq type='get' id='d1' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`))
	must(t, err)
	var disco struct {
		Features []struct {
			Var string `xml:"var,attr"`
		} `xml:"query>feature"`
	}
	must(t, xml.NewTokenDecoder(info).Decode(&disco))
	info.Close()
	found := false
	for _, f := range disco.Features {
		found = found || f.Var == "urn:xmpp:blocking"
	}
	if !found {
		t.Fatalf("disco#info does not announce blocking: %+v", disco)
	}

	must(t, ax.Send(ctx, stanza2IQ(`<presence/>`)))
	_, err = bws.WaitFor(ctx, presenceIs("alice@localhost", "available"))
	must(t, err)
	if r := iq(`<iq type='set' id='b1'><block xmlns='urn:xmpp:blocking'><item jid='bob@localhost'/></block></iq>`); r.Type != "result" {
		t.Fatalf("block: %+v", r)
	}
	_, err = bws.WaitFor(ctx, presenceIs("alice@localhost", "unavailable"))
	must(t, err)
	var blocks []string
	must(t, bob.Do(ctx, "GET", "/v1/blocks", nil, nil)) // bob may ask, it says nothing about alice
	must(t, alice.Do(ctx, "GET", "/v1/blocks", nil, &struct{ Blocks *[]string }{&blocks}))
	if len(blocks) != 1 || blocks[0] != "bob@localhost" {
		t.Fatalf("REST sees blocks %v", blocks)
	}
	// unblocked through REST: pushed to the XMPP client, and bob sees alice again
	must(t, alice.Do(ctx, "DELETE", "/v1/blocks/bob@localhost", nil, nil))
	waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "iq" && s.Type == "set" && len(s.Unblocked) == 1 && s.Unblocked[0].JID == "bob@localhost"
	})
	_, err = bws.WaitFor(ctx, presenceIs("alice@localhost", "available"))
	must(t, err)
}

// TestXMPPOwnResources: a resource learns of the user's other sessions, on
// any transport, and not of itself.
func TestXMPPOwnResources(t *testing.T) {
	ts, ctx, alice, _ := xmppWorld(t, time.Second)
	ax, in := xmppClient(t, ts, "alice")
	must(t, ax.Send(ctx, stanza2IQ(`<presence/>`)))
	aws, err := alice.Connect(ctx, client.ConnectOptions{Device: "phone", Presence: &client.Presence{Availability: "dnd", Status: "driving"}})
	must(t, err)
	p := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "presence" && s.From == aws.Address })
	if p.Show != "dnd" || p.Status != "driving" {
		t.Fatalf("own phone seen as %+v", p)
	}
	for {
		select {
		case s := <-in:
			if s.XMLName.Local == "presence" && s.From == ax.LocalAddr().String() {
				t.Fatalf("a resource was told about itself: %+v", s)
			}
			continue
		case <-time.After(300 * time.Millisecond):
		}
		break
	}
	must(t, aws.Close(ctx))
	waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.From == aws.Address && s.Type == "unavailable"
	})
}

// TestXMPPLastActivity: XEP-0012 tells a contact's last activity as the
// policy allows, and a stranger's exactly like a missing account's.
func TestXMPPLastActivity(t *testing.T) {
	ts, ctx, _, bob := xmppWorld(t, time.Second)
	ts.user(t, "carol") // exists, never approved alice
	bws, err := bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	ax, _ := xmppClient(t, ts, "alice")
	last := func(who string) (string, string) {
		resp, err := ax.SendIQ(ctx, stanza2IQ(`<iq type='get' id='l' to='`+who+`'><query xmlns='jabber:iq:last'/></iq>`))
		must(t, err)
		defer resp.Close()
		var r struct {
			Type  string `xml:"type,attr"`
			Query struct {
				Seconds string `xml:"seconds,attr"`
			} `xml:"query"`
			Error struct {
				Inner string `xml:",innerxml"`
			} `xml:"error"`
		}
		must(t, xml.NewTokenDecoder(resp).Decode(&r))
		return r.Type + " " + r.Query.Seconds, r.Error.Inner
	}
	if got, _ := last("bob@localhost"); got != "result 0" {
		t.Fatalf("online contact: %s", got)
	}
	must(t, bws.Close(ctx))
	time.Sleep(100 * time.Millisecond)
	if got, _ := last("bob@localhost"); got != "result 0" && got != "result 1" {
		t.Fatalf("contact who just left: %s", got)
	}
	stranger, e1 := last("carol@localhost")
	ghost, e2 := last("ghost@localhost")
	if stranger != "error " || stranger != ghost || e1 != e2 {
		t.Fatalf("a stranger (%s %s) and a missing account (%s %s) must look alike", stranger, e1, ghost, e2)
	}
}

// TestXMPPAndJSONSharePersonalEvents: PEP (XEP-0163) and the JSON
// protocol's personal events are one thing. The XMPP client's capabilities
// (XEP-0115) ask for mood notifications; a mood published over JSON reaches
// it as a PEP notification, a tune it publishes reaches the JSON session,
// and it can fetch the contact's last item.
func TestXMPPAndJSONSharePersonalEvents(t *testing.T) {
	ts, ctx, _, bob := xmppWorld(t, time.Second)
	bws, err := bob.Connect(ctx, client.ConnectOptions{})
	must(t, err)
	ax, in := xmppClient(t, ts, "alice", "http://jabber.org/protocol/mood+notify")
	must(t, ax.Send(ctx, stanza2IQ(`<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://example.org/test' ver='unverified='/></presence>`)))
	q := waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "iq" && s.Type == "get" && strings.Contains(s.Inner, "disco#info")
	})
	if !strings.Contains(q.Inner, `node="https://example.org/test#unverified="`) {
		t.Fatalf("caps query %s", q.Inner)
	}

	_, err = bws.Request(ctx, "publish", map[string]any{"topic": "mood", "data": map[string]any{"mood": "happy", "text": "from JSON"}})
	must(t, err)
	ev := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && strings.Contains(s.Inner, "pubsub#event") })
	if ev.From != "bob@localhost" || ev.Type != "headline" || !strings.Contains(ev.Inner, "<happy") || !strings.Contains(ev.Inner, "from JSON") {
		t.Fatalf("PEP notification %+v", ev)
	}

	res := sendIQ(t, ctx, ax, `<iq type='set' id='p1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/tune'>`+
		`<item><tune xmlns='http://jabber.org/protocol/tune'><artist>Yes</artist><title>Heart of the Sunrise</title></tune></item></publish></pubsub></iq>`)
	if res.Type != "result" {
		t.Fatalf("publish: %+v", res)
	}
	f, err := bws.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "personal" && f.From == "alice@localhost" })
	must(t, err)
	if !strings.Contains(string(f.Raw), `"from":"alice@localhost"`) || !strings.Contains(string(f.Raw), `"artist":"Yes"`) {
		t.Fatalf("JSON side got %s", f.Raw)
	}

	res = sendIQ(t, ctx, ax, `<iq type='get' id='i1' to='bob@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='http://jabber.org/protocol/mood'/></pubsub></iq>`)
	if res.Type != "result" || !strings.Contains(res.Inner, "<happy") {
		t.Fatalf("items of bob's mood: %+v", res)
	}
	// a private node cannot be published: nothing meant for fewer people reaches contacts
	res = sendIQ(t, ctx, ax, `<iq type='set' id='p2'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/mood'>`+
		`<item><mood xmlns='http://jabber.org/protocol/mood'><sad/></mood></item></publish><publish-options><x xmlns='jabber:x:data' type='submit'>`+
		`<field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/pubsub#publish-options</value></field>`+
		`<field var='pubsub#access_model'><value>whitelist</value></field></x></publish-options></pubsub></iq>`)
	if res.Type != "error" || !strings.Contains(res.Inner, "precondition-not-met") {
		t.Fatalf("whitelist publish: %+v", res)
	}
}

// TestXMPPRosterIsTheAddressBook: a roster item's name and groups are the
// address-book card with that address (RFC 6121 § 2 on the core's
// contacts): set over XMPP, seen over REST, edited over REST, pushed to
// XMPP; roster versioning answers an up-to-date client with no items.
func TestXMPPRosterIsTheAddressBook(t *testing.T) {
	ts, ctx, alice, _ := xmppWorld(t, time.Second)
	ax, in := xmppClient(t, ts, "alice")
	// asking for the roster, with versioning, makes the stream one that is pushed changes (RFC 6121 § 2.2)
	sendIQ(t, ctx, ax, `<iq type='get' id='g0'><query xmlns='jabber:iq:roster' ver=''/></iq>`)
	if r := sendIQ(t, ctx, ax, `<iq type='set' id='s1'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob'><group>Friends</group></item></query></iq>`); r.Type != "result" {
		t.Fatalf("roster set: %+v", r)
	}
	var list struct {
		Contacts []struct {
			ID      string   `json:"id"`
			Name    string   `json:"name"`
			Groups  []string `json:"groups"`
			Address string   `json:"address"`
			Version int64    `json:"version"`
		} `json:"contacts"`
	}
	must(t, alice.Do(ctx, "GET", "/v1/contacts", nil, &list))
	if len(list.Contacts) != 1 || list.Contacts[0].Name != "Bob" || list.Contacts[0].Address != "bob@localhost" || len(list.Contacts[0].Groups) != 1 {
		t.Fatalf("REST sees %+v", list)
	}
	card := list.Contacts[0]
	must(t, alice.Do(ctx, "PUT", "/v1/contacts/"+card.ID, map[string]any{"name": "Robert", "groups": []string{"Friends"}, "address": "bob@localhost"}, nil))
	push := waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "iq" && s.Type == "set" && strings.Contains(s.Inner, "Robert")
	})
	if !strings.Contains(push.Inner, `subscription="both"`) || !strings.Contains(push.Inner, "ver=") {
		t.Fatalf("push after a REST edit: %s", push.Inner)
	}
	full := sendIQ(t, ctx, ax, `<iq type='get' id='g1'><query xmlns='jabber:iq:roster' ver=''/></iq>`)
	i := strings.Index(full.Inner, `ver="`)
	if i < 0 || !strings.Contains(full.Inner, `name="Robert"`) {
		t.Fatalf("roster get: %s", full.Inner)
	}
	ver := full.Inner[i+5 : i+5+strings.Index(full.Inner[i+5:], `"`)]
	if same := sendIQ(t, ctx, ax, `<iq type='get' id='g2'><query xmlns='jabber:iq:roster' ver='`+ver+`'/></iq>`); same.Type != "result" || same.Inner != "" {
		t.Fatalf("an up-to-date client got %s", same.Inner)
	}
	// an address with no relationship is an item with subscription none, and can be removed once
	sendIQ(t, ctx, ax, `<iq type='set' id='s2'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' name='Carol'/></query></iq>`)
	if r := sendIQ(t, ctx, ax, `<iq type='get' id='g3'><query xmlns='jabber:iq:roster'/></iq>`); !strings.Contains(r.Inner, `jid="carol@localhost" subscription="none" name="Carol"`) {
		t.Fatalf("roster with carol: %s", r.Inner)
	}
	remove := `<iq type='set' id='s3'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' subscription='remove'/></query></iq>`
	if r := sendIQ(t, ctx, ax, remove); r.Type != "result" {
		t.Fatalf("remove: %+v", r)
	}
	if r := sendIQ(t, ctx, ax, remove); r.Type != "error" || !strings.Contains(r.Inner, "item-not-found") {
		t.Fatalf("second remove: %+v", r)
	}
}
