package server

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/identity"
	"github.com/presenced/presenced/internal/identity/oidctest"
)

// presencedAtIdP is presenced's client ID at the test identity provider.
const presencedAtIdP = "presenced"

// startWithIdP starts a test identity provider (a real OpenID Connect
// provider on loopback) and a server that trusts it.
func startWithIdP(t *testing.T) (*testServer, *oidctest.Issuer) {
	t.Helper()
	idp := oidctest.Start(t)
	ts := startServer(t, func(c *config.Config) {
		c.IdentityProviders = []config.IdentityProvider{{Name: "Test IdP", Issuer: idp.URL, ClientID: presencedAtIdP, ClientSecret: "idp-secret"}}
	})
	waitReady(t, ts)
	idp.AddClient(presencedAtIdP, "idp-secret", ts.URL+identity.PathCallback)
	return ts, idp
}

// exchange posts an RFC 8693 token exchange of an ID token as the app and
// returns the status and the answer.
func exchange(t *testing.T, ts *testServer, app, secret, idToken string, extra url.Values) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"}, "subject_token": {idToken},
		"subject_token_type": {"urn:ietf:params:oauth:token-type:id_token"}}
	for k, v := range extra {
		form[k] = v
	}
	req, _ := http.NewRequest("POST", ts.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(app), url.QueryEscape(secret))
	} else {
		form.Set("client_id", app)
		req.Body = io.NopCloser(strings.NewReader(form.Encode()))
		req.ContentLength = int64(len(form.Encode()))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("exchange answer: %v", err)
	}
	return resp.StatusCode, out
}

// wantExchangeError checks an exchange was refused with code.
func wantExchangeError(t *testing.T, what string, status int, out map[string]any, code string) {
	t.Helper()
	t.Logf("%s: %v", what, out["error_description"])
	if status < 400 || out["error"] != code || out["access_token"] != nil {
		t.Errorf("%s: %d %v, want error %s", what, status, out, code)
	}
}

// TestExchangeExternalIDToken: a confidential app exchanges an ID token of
// a trusted provider (its audience presenced's client ID there, the user
// known by verified e-mail) for a short-lived access token that opens a
// JSON-protocol session limited to the scopes asked, within the user's
// grant; widening it, offline_access, a public app, a wrong secret and a
// user who has not allowed the app are refused.
func TestExchangeExternalIDToken(t *testing.T) {
	ts, idp := startWithIdP(t)
	ts.user(t, "alice")
	ctx := tctx(t)
	app, secret := registerApp(t, ts, "Calls", false, "presence:publish", "presence:read", "signal")
	alice := oidctest.User{Subject: "ext-alice", Email: "Alice@localhost", EmailVerified: true}
	idt := idp.IDToken(t, alice, presencedAtIdP, time.Hour)

	status, out := exchange(t, ts, app, secret, idt, nil)
	wantExchangeError(t, "no grant yet", status, out, "invalid_grant")
	if d, _ := out["error_description"].(string); !strings.Contains(d, "not allowed this app") {
		t.Errorf("no grant: description %q does not say why", d)
	}

	must(t, ts.Hub.AllowApp(ctx, "alice@localhost", app, []string{"openid", "offline_access", "presence:publish", "presence:read"}))
	status, out = exchange(t, ts, app, secret, idt, url.Values{"scope": {"presence:read"}})
	if status != 200 || out["token_type"] != "Bearer" || out["issued_token_type"] != "urn:ietf:params:oauth:token-type:access_token" ||
		out["scope"] != "presence:read" || out["refresh_token"] != nil {
		t.Fatalf("exchange: %d %v", status, out)
	}
	if exp, _ := out["expires_in"].(float64); exp <= 0 || exp > 300 {
		t.Errorf("expires_in %v, want a short-lived token (at most 300 s)", out["expires_in"])
	}
	readOnly := out["access_token"].(string)
	s, err := client.New(ts.URL, readOnly).Connect(ctx, client.ConnectOptions{Device: "app"})
	if err != nil {
		t.Fatalf("a session with the exchanged token: %v", err)
	}
	var ce *client.Error
	if err := s.SetPresence(ctx, client.Presence{Availability: "available"}); !errors.As(err, &ce) || ce.Code != "forbidden" {
		t.Errorf("presence with a token exchanged for presence:read only: %v, want forbidden", err)
	}
	s.Close(ctx)

	// no scope asked: the grant's, but for offline_access
	status, out = exchange(t, ts, app, secret, idt, nil)
	if status != 200 || out["scope"] != "openid presence:publish presence:read" {
		t.Fatalf("exchange without scope: %d %v", status, out)
	}
	s, err = client.New(ts.URL, out["access_token"].(string)).Connect(ctx, client.ConnectOptions{Device: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPresence(ctx, client.Presence{Availability: "available"}); err != nil {
		t.Errorf("presence with presence:publish: %v", err)
	}
	s.Close(ctx)

	// never wider than the grant
	status, out = exchange(t, ts, app, secret, idt, url.Values{"scope": {"presence:read signal"}})
	wantExchangeError(t, "a scope the app may ask for but the user did not grant", status, out, "invalid_scope")
	status, out = exchange(t, ts, app, secret, idt, url.Values{"scope": {"rooms"}})
	wantExchangeError(t, "a scope the app was never registered for", status, out, "invalid_scope")
	status, out = exchange(t, ts, app, secret, idt, url.Values{"scope": {"offline_access"}})
	wantExchangeError(t, "offline_access", status, out, "invalid_scope")
	status, out = exchange(t, ts, app, secret, idt, url.Values{"requested_token_type": {"urn:ietf:params:oauth:token-type:refresh_token"}})
	wantExchangeError(t, "a refresh token asked for", status, out, "invalid_request")

	// only confidential apps, authenticated
	status, out = exchange(t, ts, app, secret+"x", idt, nil)
	wantExchangeError(t, "a wrong client secret", status, out, "invalid_client")
	public, _ := registerApp(t, ts, "Web", true, "presence:read")
	must(t, ts.Hub.AllowApp(ctx, "alice@localhost", public, []string{"presence:read"}))
	status, out = exchange(t, ts, public, "", idt, nil)
	wantExchangeError(t, "a public app", status, out, "unauthorized_client")

	// revoking the grant ends what the exchange gave, and further exchanges
	must(t, ts.Hub.RevokeGrant(ctx, "alice@localhost", app))
	if _, err := client.New(ts.URL, readOnly).Connect(ctx, client.ConnectOptions{Device: "app"}); err == nil {
		t.Error("an exchanged token outlived the grant's revocation")
	}
	status, out = exchange(t, ts, app, secret, idt, nil)
	wantExchangeError(t, "after the revocation", status, out, "invalid_grant")
}

// TestExchangeRefusesBadIDTokens: expired, for another audience, from an
// issuer presenced does not trust, signed by another key, unsigned (alg
// none), HS256 with the provider's public key as the secret (key
// confusion), and ID tokens whose e-mail is unverified or names no
// account are all refused.
func TestExchangeRefusesBadIDTokens(t *testing.T) {
	ts, idp := startWithIdP(t)
	ts.user(t, "alice")
	ts.user(t, "bob")
	app, secret := registerApp(t, ts, "Calls", false, "presence:read")
	for _, a := range []string{"alice@localhost", "bob@localhost"} {
		must(t, ts.Hub.AllowApp(tctx(t), a, app, []string{"presence:read"}))
	}
	alice := oidctest.User{Subject: "ext-alice", Email: "alice@localhost", EmailVerified: true}
	if status, out := exchange(t, ts, app, secret, idp.IDToken(t, alice, presencedAtIdP, time.Hour), nil); status != 200 {
		t.Fatalf("the good token: %d %v", status, out)
	}
	now := time.Now()
	verified := true
	claims := oidctest.Claims{Issuer: idp.URL, Subject: "ext-alice", Audience: []string{presencedAtIdP}, IssuedAt: now.Unix(),
		Expiry: now.Add(time.Hour).Unix(), Email: "alice@localhost", EmailVerified: &verified}

	other := oidctest.Start(t) // a provider presenced does not trust
	otherClaims := claims
	otherClaims.Issuer = other.URL

	// the trusted issuer's name, another key
	forged := claims
	forgedToken := other.Sign(t, forged)

	der, err := x509.MarshalPKIXPublicKey(&idp.Key.PublicKey)
	must(t, err)
	publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: publicPEM}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", idp.KeyID))
	must(t, err)
	confused, err := jwt.Signed(hs).Claims(claims).Serialize()
	must(t, err)

	payload, _ := json.Marshal(claims)
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."

	for what, tok := range map[string]string{
		"expired":                 idp.IDToken(t, alice, presencedAtIdP, -time.Minute),
		"another audience":        idp.IDToken(t, alice, "some-other-app", time.Hour),
		"an untrusted issuer":     other.Sign(t, otherClaims),
		"signed by another key":   forgedToken,
		"alg none":                none,
		"HS256 with the RSA key":  confused,
		"not a JWT":               "not-a-token",
		"a tampered payload":      tamper(idp.IDToken(t, alice, presencedAtIdP, time.Hour), claims, "ext-bob"),
		"issued in the future":    idp.Sign(t, withTimes(claims, now.Add(10*time.Minute), now.Add(2*time.Hour))),
		"an ID token with no exp": idp.Sign(t, withTimes(claims, now, time.Time{})),
	} {
		status, out := exchange(t, ts, app, secret, tok, nil)
		wantExchangeError(t, what, status, out, "invalid_request")
		if d, _ := out["error_description"].(string); (what == "alg none" || what == "HS256 with the RSA key") && !strings.Contains(d, "signature algorithm") {
			t.Errorf("%s: refused for %q, not for its algorithm", what, d)
		}
	}
	for what, u := range map[string]oidctest.User{
		"an unverified e-mail":              {Subject: "ext-bob", Email: "bob@localhost", EmailVerified: false},
		"a verified e-mail of no account":   {Subject: "ext-nobody", Email: "nobody@localhost", EmailVerified: true},
		"an e-mail mapping to an address":   {Subject: "ext-wide", Email: "ａｌｉｃｅ@localhost", EmailVerified: true},
		"a verified e-mail, another domain": {Subject: "ext-alice2", Email: "alice@elsewhere.example", EmailVerified: true},
	} {
		status, out := exchange(t, ts, app, secret, idp.IDToken(t, u, presencedAtIdP, time.Hour), nil)
		wantExchangeError(t, what, status, out, "invalid_grant")
	}
}

// tamper replaces the subject in a signed token's payload, keeping the
// signature.
func tamper(token string, c oidctest.Claims, subject string) string {
	parts := strings.Split(token, ".")
	var m map[string]any
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(b, &m)
	m["sub"] = subject
	b, _ = json.Marshal(m)
	parts[1] = base64.RawURLEncoding.EncodeToString(b)
	return strings.Join(parts, ".")
}

func withTimes(c oidctest.Claims, iat, exp time.Time) oidctest.Claims {
	c.IssuedAt, c.Expiry = iat.Unix(), 0
	if !exp.IsZero() {
		c.Expiry = exp.Unix()
	}
	return c
}

// ownIDToken signs local in to the confidential app through the consent
// page (granting scopes) and returns presenced's ID token for the app.
func ownIDToken(t *testing.T, ts *testServer, app, secret, local string, scopes ...string) string {
	t.Helper()
	_, conf := codeFlow(t, ts, app, secret, scopes...)
	verifier := oauth2.GenerateVerifier()
	back := newBrowser(t).authorize(ts, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oidc.Nonce("n")), local)
	tok, err := conf.Exchange(tctx(t), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	idt, _ := tok.Extra("id_token").(string)
	if idt == "" {
		t.Fatal("no ID token")
	}
	return idt
}

// TestExchangePresencedIDToken: presenced's own ID token is exchanged by
// the app it was issued to, and by no other app.
func TestExchangePresencedIDToken(t *testing.T) {
	ts := startServer(t, nil)
	waitReady(t, ts)
	ts.user(t, "alice")
	ts.user(t, "bob") // another user of the app: the handle must find alice
	ctx := tctx(t)
	app, secret := registerApp(t, ts, "Calls", false, "presence:publish", "presence:read")
	must(t, ts.Hub.AllowApp(ctx, "bob@localhost", app, []string{"presence:read"}))
	idt := ownIDToken(t, ts, app, secret, "alice", "presence:publish", "presence:read")

	status, out := exchange(t, ts, app, secret, idt, url.Values{"scope": {"presence:publish"}})
	if status != 200 || out["scope"] != "presence:publish" {
		t.Fatalf("exchange of presenced's own ID token: %d %v", status, out)
	}
	s, err := client.New(ts.URL, out["access_token"].(string)).Connect(ctx, client.ConnectOptions{Device: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPresence(ctx, client.Presence{Availability: "available", Status: "via exchange"}); err != nil {
		t.Fatalf("presence: %v", err)
	}
	s.Close(ctx)
	if at, err := ts.OAuth.AccessToken(ctx, out["access_token"].(string)); err != nil || at.Account != "alice@localhost" || at.App != app {
		t.Fatalf("the exchanged token is %+v (%v), want alice's for the app", at, err)
	}

	other, otherSecret := registerApp(t, ts, "Game", false, "presence:read")
	must(t, ts.Hub.AllowApp(ctx, "alice@localhost", other, []string{"presence:read"}))
	status, out = exchange(t, ts, other, otherSecret, idt, nil)
	wantExchangeError(t, "another app's ID token", status, out, "invalid_request")
}
