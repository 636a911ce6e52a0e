package c2s

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
)

// appTokens resolves made-up app tokens (auth.AppTokens), as the OAuth
// provider resolves real ones.
type appTokens map[string]store.Token

func (m appTokens) AccessToken(_ context.Context, bearer string) (store.Token, error) {
	t, ok := m[bearer]
	if !ok {
		return store.Token{}, auth.ErrInvalidToken
	}
	return t, nil
}

var testAppTokens = appTokens{
	"reader":    {ID: "t1", Account: "alice@localhost", App: "chat", Scopes: []string{"openid", "addresses", "presence:read"}},
	"writer":    {ID: "t2", Account: "alice@localhost", App: "chat", Scopes: []string{"openid", "addresses", "presence:publish", "message"}},
	"handles":   {ID: "t3", Account: "alice@localhost", App: "chat", Scopes: []string{"openid", "presence:read", "message"}},
	"elsewhere": {ID: "t4", Account: "alice@example.org", App: "chat", Scopes: []string{"addresses"}},
}

// withApps turns apps on, with alice's grant to "chat" behind the tokens
// (every contact, the scopes the tokens carry): the core refuses an
// app's session without its grant.
func withApps(s *Server) {
	s.Auth.AppTokens = testAppTokens
	s.Issuer = func() string { return "https://id.localhost" }
	ctx := context.Background()
	scopes := []string{"openid", "addresses", "presence:read", "presence:publish", "message"}
	if err := s.Auth.Store.CreateApp(ctx, store.App{ID: "chat", Name: "Chat", RedirectURIs: []string{"https://chat.example/cb"}, Scopes: scopes, Public: true}); err != nil {
		panic(err)
	}
	all := store.ContactsAll
	if err := s.Hub.AllowApp(ctx, "alice@localhost", "chat", scopes); err != nil {
		panic(err)
	}
	if _, err := s.Hub.EditGrant(ctx, "alice@localhost", "chat", core.GrantChange{Contacts: &all}); err != nil {
		panic(err)
	}
}

// tlsStream opens a stream on the direct TLS listener (XEP-0368) and
// returns it with the mechanisms offered.
func (r rig) tlsStream(t *testing.T) (*rawStream, string) {
	t.Helper()
	conn, err := tls.Dial("tcp", r.tlsAddr, &tls.Config{ServerName: "localhost", RootCAs: r.roots})
	if err != nil {
		t.Fatal(err)
	}
	return streamOn(t, conn)
}

func bearerAuth(x *rawStream, msg string) {
	x.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='OAUTHBEARER'>%s</auth>`, base64.StdEncoding.EncodeToString([]byte(msg)))
}

func bearer(authzid, token string) string {
	if authzid != "" {
		authzid = "a=" + authzid
	}
	return "n," + authzid + ",\x01host=localhost\x01auth=Bearer " + token + "\x01\x01"
}

// TestOAuthBearerOffered: only under TLS, and only with apps.
func TestOAuthBearerOffered(t *testing.T) {
	r := start(t, true, withApps)
	if _, features := r.tlsStream(t); !strings.Contains(features, ">OAUTHBEARER<") {
		t.Errorf("not offered over direct TLS: %s", features)
	}
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	x, features := streamOn(t, c)
	if strings.Contains(features, "OAUTHBEARER") {
		t.Errorf("offered without TLS: %s", features)
	}
	bearerAuth(x, bearer("", "writer"))
	if got := x.expect("failure").String(""); !strings.Contains(got, "<invalid-mechanism") {
		t.Errorf("OAUTHBEARER without TLS: %s", got)
	}

	r = start(t, false)
	if _, features := r.tlsStream(t); strings.Contains(features, "OAUTHBEARER") {
		t.Errorf("offered by a server without apps: %s", features)
	}
}

// TestOAuthBearerRefusals: each refusal is the error challenge, then, once
// the client answered it with %x01, the failure.
func TestOAuthBearerRefusals(t *testing.T) {
	r := start(t, false, withApps)
	pd, _, err := r.auth.IssueToken(context.Background(), "alice@localhost", "test")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		msg, status, condition, text string
	}{
		"unknown token":       {bearer("", "nope"), "invalid_token", "not-authorized", "invalid or expired token"},
		"presenced's own":     {bearer("", pd), "invalid_token", "not-authorized", "invalid or expired token"},
		"another domain":      {bearer("", "elsewhere"), "invalid_token", "not-authorized", "another domain"},
		"another account":     {bearer("bob@localhost", "writer"), "invalid_request", "invalid-authzid", "another account"},
		"handles, no address": {bearer("", "handles"), "insufficient_scope", "not-authorized", "lacks the addresses permission"},
	} {
		t.Run(name, func(t *testing.T) {
			x, _ := r.tlsStream(t)
			bearerAuth(x, tc.msg)
			ch := x.expect("challenge")
			data, _ := base64.StdEncoding.DecodeString(ch.Text())
			var e map[string]string
			json.Unmarshal(data, &e)
			if e["status"] != tc.status || e["openid-configuration"] != "https://id.localhost/.well-known/openid-configuration" ||
				(tc.status == "insufficient_scope") != (e["scope"] == "addresses") {
				t.Fatalf("error challenge %s", data)
			}
			x.send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>AQ==</response>`)
			if got := x.expect("failure").String(""); !strings.Contains(got, "<"+tc.condition) || !strings.Contains(got, tc.text) {
				t.Fatalf("failure %s", got)
			}
		})
	}
	t.Run("malformed", func(t *testing.T) {
		x, _ := r.tlsStream(t)
		bearerAuth(x, "n,,auth=Bearer writer")
		if got := x.next().String(""); !strings.Contains(got, "<failure") || !strings.Contains(got, "<malformed-request") {
			t.Fatalf("a malformed message: %s", got)
		}
	})
	t.Run("aborted", func(t *testing.T) {
		x, _ := r.tlsStream(t)
		bearerAuth(x, bearer("", "nope"))
		x.expect("challenge")
		x.send(`<abort xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)
		if got := x.expect("failure").String(""); !strings.Contains(got, "<aborted") {
			t.Fatalf("abort: %s", got)
		}
	})
}

// TestOAuthBearerAppSession: an app's stream is bound, and what its grant
// does not cover is refused with <forbidden/>, the stream going on.
func TestOAuthBearerAppSession(t *testing.T) {
	r := start(t, false, withApps)
	x, _ := r.tlsStream(t)
	x.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='OAUTHBEARER'/>`) // no initial response: an empty challenge first
	if ch := x.expect("challenge"); ch.Text() != "" {
		t.Fatalf("challenge %q", ch.Text())
	}
	x.send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>`, base64.StdEncoding.EncodeToString([]byte(bearer("alice@localhost", "reader"))))
	x.expect("success")
	x.send(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`)
	x.rd = newTestReader(x.conn)
	x.next()
	x.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>app</resource></bind></iq>`)
	if got := x.expect("iq").String(""); !strings.Contains(got, "alice@localhost/app") {
		t.Fatalf("bind: %s", got)
	}
	x.send(`<message to='bob@localhost' id='m1' type='chat'><body>hi</body></message>`)
	if got := x.expect("message").String(""); !strings.Contains(got, "type='error'") || !strings.Contains(got, "<forbidden") || !strings.Contains(got, "<text") {
		t.Errorf("a message without the message scope: %s", got)
	}
	x.send(`<presence/>`)
	if got := x.expect("presence").String(""); !strings.Contains(got, "type='error'") || !strings.Contains(got, "<forbidden") {
		t.Errorf("presence without presence:publish: %s", got)
	}
	for _, iq := range []string{
		`<iq type='get' id='q1'><blocklist xmlns='urn:xmpp:blocking'/></iq>`,
		`<iq type='set' id='q2'><query xmlns='jabber:iq:roster'><item jid='bob@localhost' name='Bob'/></query></iq>`,
		`<iq type='get' id='q3' to='bob@localhost'><query xmlns='jabber:iq:last'/></iq>`,
		`<iq type='get' id='q4' to='bob@localhost'><pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='http://jabber.org/protocol/mood'/></pubsub></iq>`,
		`<iq type='set' id='q5'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/mood'><item><mood xmlns='http://jabber.org/protocol/mood'><happy/></mood></item></publish></pubsub></iq>`,
	} {
		x.send("%s", iq)
		if got := x.expect("iq").String(""); !strings.Contains(got, "type='error'") || !strings.Contains(got, "<forbidden") {
			t.Errorf("%s from an app: %s", iq, got)
		}
	}
	x.send(`<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>`)
	if got := x.expect("iq").String(""); !strings.Contains(got, "type='result'") {
		t.Errorf("roster get from an app: %s", got)
	}
	x.send(`<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if got := x.expect("iq").String(""); !strings.Contains(got, "type='result'") {
		t.Errorf("the stream did not go on: %s", got)
	}
}

// appSignIn signs alice in with an app's token over direct TLS and
// restarts the stream.
func (r rig) appSignIn(t *testing.T, token string) *rawStream {
	t.Helper()
	x, _ := r.tlsStream(t)
	bearerAuth(x, bearer("", token))
	x.expect("success")
	x.send(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`)
	x.rd = newTestReader(x.conn)
	x.next()
	return x
}

// TestOAuthBearerResumesOnlyItsChannel: an app's stream does not resume a
// password's (which has all the account's rights), nor a password's an
// app's; the app resumes its own.
func TestOAuthBearerResumesOnlyItsChannel(t *testing.T) {
	r := start(t, true, withApps)
	resumable := func(x *rawStream) string {
		t.Helper()
		id := bindResumable(x).AttrValue("id")
		x.conn.Close()
		waitDropped(t, r, id)
		return id
	}
	resume := func(x *rawStream, id string) string {
		x.send(`<resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/>`, id)
		return x.next().Name.Local
	}
	if got := resume(r.appSignIn(t, "writer"), resumable(r.signIn(t, "alice"))); got != "failed" {
		t.Errorf("an app resuming a password's stream: %s", got)
	}
	if got := resume(r.signIn(t, "alice"), resumable(r.appSignIn(t, "writer"))); got != "failed" {
		t.Errorf("a password resuming an app's stream: %s", got)
	}
	if got := resume(r.appSignIn(t, "writer"), resumable(r.appSignIn(t, "writer"))); got != "resumed" {
		t.Errorf("an app resuming its own stream: %s", got)
	}
}
