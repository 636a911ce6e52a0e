package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/core"
)

// TestRoomTokensEndToEnd: a developer registers an app with a room key
// over REST; its backend signs room tokens for its users, named by the
// sub of their ID tokens; a session of the app joins a room with one and
// only with one, and forged or misdirected tokens are refused, saying
// why. Removing the key lets the grant's rooms scope authorize again.
func TestRoomTokensEndToEnd(t *testing.T) {
	ts := startServer(t, nil)
	waitReady(t, ts)
	ctx := tctx(t)
	dev := ts.user(t, "dev")
	ts.user(t, "alice")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := json.Marshal(jose.JSONWebKey{Key: &key.PublicKey})
	var app struct {
		ID      string          `json:"id"`
		RoomKey json.RawMessage `json:"room_key"`
	}
	must(t, dev.Do(ctx, "POST", "/v1/apps", map[string]any{"name": "Game", "public": true, "redirect_uris": []string{appRedirect},
		"scopes": []string{"openid", "rooms"}, "room_key": json.RawMessage(pub)}, &app))
	if app.ID == "" || len(app.RoomKey) == 0 {
		t.Fatalf("registered %+v", app)
	}
	private, _ := json.Marshal(jose.JSONWebKey{Key: key})
	err := dev.Do(ctx, "PATCH", "/v1/apps/"+app.ID, map[string]any{"room_key": json.RawMessage(private)}, nil)
	if err == nil || !strings.Contains(err.Error(), "private key") {
		t.Fatalf("a private room key: %v", err)
	}

	// alice signs in to the app: its access token, and the sub it knows her by
	provider, conf := codeFlow(t, ts, app.ID, "", "openid", "rooms")
	verifier := oauth2.GenerateVerifier()
	back := newBrowser(t).authorize(ts, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice")
	tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	must(t, err)
	id, err := provider.Verifier(&oidc.Config{ClientID: app.ID}).Verify(ctx, tok.Extra("id_token").(string))
	must(t, err)
	s, err := client.New(ts.URL, tok.AccessToken).Connect(ctx, client.ConnectOptions{Device: "game"})
	must(t, err)

	sign := func(signer *ecdsa.PrivateKey, edit func(*roomClaims)) string {
		c := roomClaims{Claims: jwt.Claims{Issuer: app.ID, Audience: jwt.Audience{ts.OAuth.Issuer()}, Subject: id.Subject,
			Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}, Room: "match-7"}
		if edit != nil {
			edit(&c)
		}
		sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: signer}, nil)
		must(t, err)
		raw, err := jwt.Signed(sg).Claims(c).Serialize()
		must(t, err)
		return raw
	}
	forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for why, token := range map[string]string{
		"":                         "",
		"not signed by the app":    sign(forger, nil),
		"for another room":         sign(key, func(c *roomClaims) { c.Room = "match-8" }),
		"for another user":         sign(key, func(c *roomClaims) { c.Subject = "alice@localhost" }),
		"expired":                  sign(key, func(c *roomClaims) { c.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Minute)) }),
		"for another server":       sign(key, func(c *roomClaims) { c.Audience = jwt.Audience{"https://elsewhere.example"} }),
		"in place of a room token": tok.AccessToken,
	} {
		_, err := s.Request(ctx, "join", map[string]any{"room": "match-7", "nick": "al", "room_token": token})
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Code != "forbidden" || !strings.Contains(ce.Message, "room token") {
			t.Fatalf("joined with a token %s: %v", why, err)
		}
		t.Logf("%s: %v", why, err)
	}
	_, err = s.Request(ctx, "join", map[string]any{"room": "match-7", "nick": "al", "room_token": sign(key, nil)})
	must(t, err)
	if snap := waitRoom(t, s, "room_snapshot", nil); !snap.Created || snap.Self.Affiliation != "owner" {
		t.Fatalf("snapshot %+v", snap)
	}

	// without a room key, the grant's rooms scope is enough again
	must(t, dev.Do(ctx, "PATCH", "/v1/apps/"+app.ID, map[string]any{"room_key": nil}, nil))
	_, err = s.Request(ctx, "join", map[string]any{"room": "open-9", "nick": "al"})
	must(t, err)
}

type roomClaims struct {
	jwt.Claims
	Room string `json:"room"`
}

// TestRoomTokenOverXMPP: an XMPP stream signed in with the app's token
// joins the app's rooms with the room token as the room's password;
// without one, or with a forged one, it is told not-authorized, as by a
// password-protected room.
func TestRoomTokenOverXMPP(t *testing.T) {
	ts, ctx, _, _ := xmppWorld(t, time.Second)
	token, _, app := appToken(t, ts, "Chat", "addresses", "presence:read", "rooms")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := json.Marshal(jose.JSONWebKey{Key: &key.PublicKey})
	a, err := ts.Store.GetApp(ctx, app)
	must(t, err)
	a.RoomKey = pub
	must(t, ts.Store.UpdateApp(ctx, a))
	sign := func(signer *ecdsa.PrivateKey) string {
		sg, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: signer}, nil)
		must(t, err)
		raw, err := jwt.Signed(sg).Claims(roomClaims{Claims: jwt.Claims{Issuer: app, Audience: jwt.Audience{ts.OAuth.Issuer()},
			Subject: core.NewHandles(ts.key).Of(app, "alice@localhost", "alice@localhost"), Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))},
			Room: "match-7"}).Serialize()
		must(t, err)
		return raw
	}
	forger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	in, _ := xmppAppStream(t, ts, token)
	for i, password := range []string{"", sign(forger), sign(key)} {
		must(t, in.s.Send(ctx, stanza2IQ(fmt.Sprintf(`<presence to='match-7@conference.localhost/al'><x xmlns='http://jabber.org/protocol/muc'><password>%s</password></x></presence>`, password))))
		got := waitStanza(t, in.c, func(st stanza) bool { return st.XMLName.Local == "presence" && strings.HasPrefix(st.From, "match-7@") })
		switch {
		case i < 2 && (got.Type != "error" || !strings.Contains(got.Inner, "<not-authorized")):
			t.Fatalf("join with password %d: %+v", i, got)
		case i == 2 && (got.Type != "" || !strings.Contains(got.Inner, `code="110"`)):
			t.Fatalf("join with the app's room token: %+v", got)
		}
	}
}
