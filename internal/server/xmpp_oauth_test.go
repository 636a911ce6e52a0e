package server

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	gosasl "github.com/emersion/go-sasl"
	msasl "mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/presenced/presenced/internal/config"
)

// oauthBearer is SASL OAUTHBEARER (RFC 7628) for mellium's XMPP client,
// with the messages written and read by emersion/go-sasl's OAUTHBEARER
// client: two libraries this project did not write (slixmpp 1.8 and
// mellium have no OAUTHBEARER of their own). What go-sasl makes of the
// server's error challenge is put in refused; the client then answers it
// with %x01, as § 3.2.3 asks.
func oauthBearer(authzid, token string, refused *error) msasl.Mechanism {
	c := gosasl.NewOAuthBearerClient(&gosasl.OAuthBearerOptions{Username: authzid, Token: token, Host: "localhost"})
	return msasl.Mechanism{
		Name: gosasl.OAuthBearer,
		Start: func(*msasl.Negotiator) (bool, []byte, interface{}, error) {
			_, ir, err := c.Start()
			return true, ir, nil, err
		},
		Next: func(_ *msasl.Negotiator, challenge []byte, _ interface{}) (bool, []byte, interface{}, error) {
			if len(challenge) == 0 {
				return false, nil, nil, nil // <success/>, which carries no data
			}
			_, *refused = c.Next(challenge)
			return true, []byte{0x01}, nil, nil
		},
	}
}

// xmppApp signs alice in over XMPP (STARTTLS) with an app's access token.
func xmppApp(t *testing.T, ts *testServer, authzid, token string) (*xmpp.Session, error, error) {
	t.Helper()
	var refused error
	s, err := xmppSignIn(t, ts, "alice@localhost/app", xmpp.SASL("", "", oauthBearer(authzid, token, &refused)))
	return s, err, refused
}

// TestXMPPAppSignsInWithOAuthBearer: an app's access token (from the code
// flow, with go-oidc) signs a real XMPP client in with SASL OAUTHBEARER; the
// stream is the app's (a message without the message scope is refused with
// <forbidden/>, the stream going on), and revoking the token, or the
// grant, ends it.
func TestXMPPAppSignsInWithOAuthBearer(t *testing.T) {
	ts, ctx, alice, _ := xmppWorld(t, time.Second)
	token, provider, app := appToken(t, ts, "Chat", "addresses", "presence:read", "presence:publish")
	in, ended := xmppAppStream(t, ts, token)
	must(t, in.s.Send(ctx, stanza2IQ(`<message to='bob@localhost' id='m1' type='chat'><body>from the app</body></message>`)))
	got := waitStanza(t, in.c, func(st stanza) bool { return st.XMLName.Local == "message" && st.ID == "m1" })
	if got.Type != "error" || !strings.Contains(got.Inner, "<forbidden") {
		t.Fatalf("a message without the message scope: %+v", got)
	}
	must(t, in.s.Send(ctx, stanza2IQ(`<presence><status>in the app</status></presence>`)))
	streamEnds(t, ended, "the revoked token", func() { revoke(t, provider, app, token) })

	token, _, app = appToken(t, ts, "Chat 2", "addresses", "presence:read")
	_, ended = xmppAppStream(t, ts, token)
	streamEnds(t, ended, "the revoked grant", func() { must(t, alice.Do(ctx, "DELETE", "/v1/grants/"+app, nil, nil)) })
}

type appStream struct {
	s *xmpp.Session
	c chan stanza
}

// xmppAppStream signs alice in with token and serves the stream: what it
// receives goes to the channel, and ended tells when it is over.
func xmppAppStream(t *testing.T, ts *testServer, token string) (appStream, chan error) {
	t.Helper()
	s, err, refused := xmppApp(t, ts, "alice@localhost", token)
	if err != nil {
		t.Fatalf("OAUTHBEARER sign-in: %v (error challenge: %v)", err, refused)
	}
	if a := s.LocalAddr(); a.Bare().String() != "alice@localhost" || a.Resourcepart() == "" {
		t.Fatalf("bound %s", a)
	}
	in, ended := make(chan stanza, 100), make(chan error, 1)
	go func() {
		ended <- s.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			st, err := readStanza(r, start)
			if err != nil {
				return err
			}
			in <- st
			return nil
		}))
	}()
	return appStream{s, in}, ended
}

// streamEnds checks that the stream is live, does revoke, and waits for the
// server to end the stream.
func streamEnds(t *testing.T, ended chan error, what string, revoke func()) {
	t.Helper()
	select {
	case err := <-ended:
		t.Fatalf("the stream ended before %s: %v", what, err)
	case <-time.After(100 * time.Millisecond):
	}
	revoke()
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatalf("the app's XMPP stream outlived %s", what)
	}
}

// TestXMPPOAuthBearerRefusals: a made-up, an expired and a revoked token,
// and a grant without the addresses permission, are refused (the last
// saying why); the refusals come as RFC 7628's error challenge first.
func TestXMPPOAuthBearerRefusals(t *testing.T) {
	ts, ctx, _, _ := xmppWorld(t, time.Second)
	token, provider, app := appToken(t, ts, "Chat", "addresses", "presence:read")

	refusedWith := func(what, authzid, token, status, text string) {
		t.Helper()
		_, err, refused := xmppApp(t, ts, authzid, token)
		var be *gosasl.OAuthBearerError
		if err == nil || !errors.As(refused, &be) || be.Status != status || !strings.Contains(err.Error(), text) {
			t.Errorf("%s: %v (error challenge %v), want %s and %q", what, err, refused, status, text)
		}
	}
	refusedWith("a made-up token", "", "not-a-token", "invalid_token", "invalid or expired token")
	refusedWith("another account", "bob@localhost", token, "invalid_request", "another account")

	// the same token, expired: its store record ends in the past
	tok, err := ts.Auth.VerifySession(ctx, token)
	must(t, err)
	must(t, ts.Store.DeleteToken(ctx, tok.Account, tok.ID))
	tok.CreatedAt, tok.ExpiresAt = time.Now().Add(-time.Hour), time.Now().Add(-time.Minute)
	must(t, ts.Store.CreateToken(ctx, tok))
	refusedWith("an expired token", "", token, "invalid_token", "invalid or expired token")

	token, provider, app = appToken(t, ts, "Chat 2", "addresses", "presence:read")
	if _, err, _ := xmppApp(t, ts, "", token); err != nil {
		t.Fatalf("a live token before its revocation: %v", err)
	}
	revoke(t, provider, app, token)
	refusedWith("a revoked token", "", token, "invalid_token", "invalid or expired token")

	handles, _, _ := appToken(t, ts, "Handles", "presence:read", "message")
	refusedWith("a grant without addresses", "", handles, "insufficient_scope", "lacks the addresses permission")
}

// TestXMPPOAuthBearerNeedsTLS: a server that lets clients skip TLS offers
// OAUTHBEARER only once TLS is up.
func TestXMPPOAuthBearerNeedsTLS(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.XMPPAddr = "127.0.0.1:0"; c.XMPPPlaintext = true })
	waitReady(t, ts)
	ts.user(t, "alice")
	token, _, _ := appToken(t, ts, "Chat", "addresses")

	conn, err := net.Dial("tcp", ts.xmppAddrs[0])
	must(t, err)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(conn, `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`)
	var features strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(features.String(), "</stream:features>") {
		n, err := conn.Read(buf)
		features.Write(buf[:n])
		must(t, err)
	}
	if f := features.String(); strings.Contains(f, "OAUTHBEARER") || !strings.Contains(f, "SCRAM-SHA-256") {
		t.Fatalf("features before TLS: %s", f)
	}

	plain, err := net.Dial("tcp", ts.xmppAddrs[0])
	must(t, err)
	defer plain.Close()
	var refused error
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := xmpp.NewClientSession(ctx, jid.MustParse("alice@localhost"), plain, xmpp.SASL("", "", oauthBearer("", token, &refused)), xmpp.BindResource()); err == nil {
		t.Fatal("OAUTHBEARER without TLS signed in")
	}
	if _, err, refused := xmppApp(t, ts, "", token); err != nil {
		t.Fatalf("OAUTHBEARER after STARTTLS on the same server: %v (%v)", err, refused)
	}
}
