package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/store"
)

// appRedirect is where the test apps' authorization responses go; nothing
// listens there: the test browser stops before following it.
const appRedirect = "http://127.0.0.1:9/callback"

// registerApp stores an app as `presenced app add` does and returns its ID
// and, for a confidential app, its secret.
func registerApp(t *testing.T, ts *testServer, name string, public bool, scopes ...string) (string, string) {
	t.Helper()
	return registerAppWith(t, ts, name, appRedirect, public, scopes...)
}

// registerAppAt registers a public app whose redirect URI is redirect.
func registerAppAt(t *testing.T, ts *testServer, name, redirect string, scopes ...string) (string, string) {
	t.Helper()
	return registerAppWith(t, ts, name, redirect, true, scopes...)
}

func registerAppWith(t *testing.T, ts *testServer, name, redirect string, public bool, scopes ...string) (string, string) {
	t.Helper()
	id, secret := randomString(16), ""
	app := store.App{ID: id, Name: name, RedirectURIs: []string{redirect}, Scopes: scopes, Public: public, CreatedAt: time.Now()}
	if !public {
		secret = "pds_" + randomString(32)
		h := sha256.Sum256([]byte(secret))
		app.SecretHash = h[:]
	}
	if err := ts.Store.CreateApp(context.Background(), app); err != nil {
		t.Fatal(err)
	}
	return id, secret
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// browser is a stand-in for a user's browser: cookies, redirects followed
// up to the app's redirect URI, which it reports instead of loading.
type browser struct {
	t      *testing.T
	c      *http.Client
	landed *url.URL // the app redirect reached
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: t}
	b.c = &http.Client{Jar: jar, Timeout: 15 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), appRedirect) {
			b.landed = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

var (
	refreshMeta = regexp.MustCompile(`http-equiv="refresh" content="0;url=([^"]+)"`)
	hiddenInput = regexp.MustCompile(`<input type="hidden" name="(id|csrf)" value="([^"]*)">`)
)

// open loads u and returns the final page's status and body.
func (b *browser) open(u string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(u)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := refreshMeta.FindStringSubmatch(string(body)); m != nil { // the consent page loads itself again
		next, _ := url.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
		return b.open(resp.Request.URL.ResolveReference(next).String())
	}
	return resp.StatusCode, string(body)
}

// consent answers the consent page at page (its HTML, loaded from
// pageURL) with decision, signing in with address and password.
func (b *browser) consent(pageURL, page, decision, address, password string) (int, string) {
	b.t.Helper()
	form := url.Values{"decision": {decision}, "address": {address}, "password": {password}}
	for _, m := range hiddenInput.FindAllStringSubmatch(page, -1) {
		form.Set(m[1], m[2])
	}
	return b.post(pageURL, form)
}

// authorize runs the browser's part of the code flow: the authorization
// URL, the consent page, allow; it returns the redirect to the app.
func (b *browser) authorize(ts *testServer, authURL, local string) *url.URL {
	b.t.Helper()
	status, page := b.open(authURL)
	if status != http.StatusOK || !strings.Contains(page, "Allow") {
		b.t.Fatalf("consent page: %d %s", status, page)
	}
	b.landed = nil
	b.consent(ts.URL+"/oauth/consent", page, "allow", local+"@localhost", "password-"+local)
	if b.landed == nil {
		b.t.Fatal("the consent did not lead back to the app")
	}
	return b.landed
}

// codeFlow sets up an OpenID Connect client (go-oidc and x/oauth2, a
// client library this project did not write) for app.
func codeFlow(t *testing.T, ts *testServer, app, secret string, scopes ...string) (*oidc.Provider, *oauth2.Config) {
	t.Helper()
	p, err := oidc.NewProvider(tctx(t), ts.URL) // discovery, checking the issuer
	if err != nil {
		t.Fatal(err)
	}
	return p, &oauth2.Config{ClientID: app, ClientSecret: secret, Endpoint: p.Endpoint(), RedirectURL: appRedirect,
		Scopes: append([]string{oidc.ScopeOpenID}, scopes...)}
}

// TestOAuthCodeFlowWithOIDCClient: an app signs a user in with the code
// flow and PKCE through the consent page, verifies the ID token against
// the published keys, reads userinfo, refreshes (rotating the refresh
// token) and revokes; a reused refresh token revokes its whole sign-in.
func TestOAuthCodeFlowWithOIDCClient(t *testing.T) {
	ts := startServer(t, nil)
	waitReady(t, ts)
	ts.user(t, "alice")
	app, _ := registerApp(t, ts, "Chat", true, "presence:read", "message")
	provider, conf := codeFlow(t, ts, app, "", oidc.ScopeOfflineAccess, "presence:read")
	ctx := tctx(t)

	verifier, state, nonce := oauth2.GenerateVerifier(), randomString(8), randomString(8)
	back := newBrowser(t).authorize(ts, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)), "alice")
	if back.Query().Get("state") != state || back.Query().Get("code") == "" {
		t.Fatalf("redirect back to the app: %s", back)
	}
	tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: app}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("ID token: %v", err)
	}
	if idt.Nonce != nonce || idt.Subject == "" || strings.Contains(idt.Subject, "alice") {
		t.Fatalf("ID token: nonce %q, subject %q (pairwise, never the address)", idt.Nonce, idt.Subject)
	}
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil || info.Subject != idt.Subject {
		t.Fatalf("userinfo: %+v, %v", info, err)
	}

	// refresh: a new refresh token each time
	old := tok.RefreshToken
	tok2, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: old, Expiry: time.Now().Add(-time.Hour)}).Token()
	if err != nil || tok2.RefreshToken == "" || tok2.RefreshToken == old || tok2.AccessToken == tok.AccessToken {
		t.Fatalf("refresh: %+v, %v", tok2, err)
	}
	// the old one again: reuse, which ends the whole sign-in
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: old, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
		t.Fatal("a used refresh token was accepted again")
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok2.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
		t.Fatal("after a reuse, the family's newest refresh token still works")
	}
	if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok2)); err == nil {
		t.Fatal("after a reuse, the family's access token still works")
	}

	// a fresh sign-in (consent remembered in the grant), then revocation (RFC 7009)
	verifier = oauth2.GenerateVerifier()
	back = newBrowser(t).authorize(ts, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier)), "alice")
	tok3, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if raw, _ := tok3.Extra("id_token").(string); raw != "" {
		if again, err := provider.Verifier(&oidc.Config{ClientID: app}).Verify(ctx, raw); err != nil || again.Subject != idt.Subject {
			t.Fatalf("the subject is not stable across sign-ins: %v", err)
		}
	}
	revoke(t, provider, app, tok3.AccessToken)
	if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok3)); err == nil {
		t.Fatal("a revoked access token still works")
	}
}

// revoke posts a token to the revocation endpoint as a public client.
func revoke(t *testing.T, p *oidc.Provider, app, token string) {
	t.Helper()
	var meta struct {
		Revocation string `json:"revocation_endpoint"`
	}
	p.Claims(&meta)
	resp, err := http.PostForm(meta.Revocation, url.Values{"token": {token}, "client_id": {app}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation: %d", resp.StatusCode)
	}
}

// TestOAuthDiscoveryIsExact: discovery says what presenced does and no
// more: PKCE with S256 only, pairwise subjects, the code flow.
func TestOAuthDiscoveryIsExact(t *testing.T) {
	ts := startServer(t, nil)
	waitReady(t, ts)
	resp, err := http.Get(ts.URL + "/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"code_challenge_methods_supported": {"S256"},
		"subject_types_supported":          {"pairwise"},
		"response_types_supported":         {"code"},
		"grant_types_supported":            {"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:token-exchange"},
	}
	for key, w := range want {
		var got []string
		for _, v := range d[key].([]any) {
			got = append(got, v.(string))
		}
		if !slices.Equal(got, w) {
			t.Errorf("%s = %q, want %q", key, got, w)
		}
	}
	if d["issuer"] != ts.URL {
		t.Errorf("issuer %v, want %s", d["issuer"], ts.URL)
	}
}

// TestOAuthRefusals: what an attacker or a sloppy app tries is refused
// with the standard error: no PKCE, plain PKCE, an unregistered redirect
// URI, a scope the app was not registered for, a code used twice (which
// also revokes what its first use gave), a consent answered from another
// browser or without the form's CSRF token, a wrong client secret, and a
// token in the URL.
func TestOAuthRefusals(t *testing.T) {
	ts := startServer(t, nil)
	waitReady(t, ts)
	ts.user(t, "alice")
	app, _ := registerApp(t, ts, "Chat", true, "presence:read")
	_, conf := codeFlow(t, ts, app, "", oidc.ScopeOfflineAccess)
	ctx := tctx(t)

	errorOf := func(authURL string) string {
		b := newBrowser(t)
		status, body := b.open(authURL)
		if b.landed != nil {
			return b.landed.Query().Get("error")
		}
		return strings.TrimSpace(http.StatusText(status) + ": " + body)
	}
	if e := errorOf(conf.AuthCodeURL("s")); e != "invalid_request" {
		t.Errorf("no PKCE: %q, want invalid_request", e)
	}
	plain := conf.AuthCodeURL("s", oauth2.SetAuthURLParam("code_challenge", "abc"), oauth2.SetAuthURLParam("code_challenge_method", "plain"))
	if e := errorOf(plain); e != "invalid_request" {
		t.Errorf("plain PKCE: %q, want invalid_request", e)
	}
	verifier := oauth2.GenerateVerifier()
	wrongRedirect := strings.Replace(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), url.QueryEscape(appRedirect), url.QueryEscape("http://127.0.0.1:9/elsewhere"), 1)
	if e := errorOf(wrongRedirect); !strings.HasPrefix(e, "Bad Request") {
		t.Errorf("unregistered redirect URI: %q; want a 400 page, never a redirect", e)
	}
	badScope := *conf
	badScope.Scopes = append(badScope.Scopes, "rooms")
	if e := errorOf(badScope.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier))); e != "invalid_scope" {
		t.Errorf("unregistered scope: %q, want invalid_scope", e)
	}

	// a code used twice
	back := newBrowser(t).authorize(ts, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice")
	code := back.Query().Get("code")
	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	_, err = conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("a code used twice: %v, want invalid_grant", err)
	}
	if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
		t.Fatal("what the first use of a replayed code gave still works")
	}

	// the consent page of another browser's request, and a form without its CSRF token
	victim, attacker := newBrowser(t), newBrowser(t)
	status, page := attacker.open(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)))
	if status != http.StatusOK {
		t.Fatal(status, page)
	}
	id := hiddenInput.FindStringSubmatch(page)[2]
	if status, _ := victim.open(ts.URL + "/oauth/consent?again=1&id=" + url.QueryEscape(id)); status != http.StatusBadRequest {
		t.Errorf("another browser's consent page: %d, want 400", status)
	}
	if status, _ := victim.consent(ts.URL+"/oauth/consent", page, "allow", "alice@localhost", "password-alice"); status != http.StatusForbidden {
		t.Errorf("another browser answering the consent: %d, want 403", status)
	}
	if status, _ := attacker.consent(ts.URL+"/oauth/consent", strings.Replace(page, `name="csrf"`, `name="x"`, 1), "allow", "alice@localhost", "password-alice"); status != http.StatusForbidden {
		t.Errorf("a consent without its CSRF token: %d, want 403", status)
	}

	// a confidential app with a wrong secret
	capp, secret := registerApp(t, ts, "Calls", false, "signal")
	_, cconf := codeFlow(t, ts, capp, secret+"x")
	back = newBrowser(t).authorize(ts, cconf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice")
	if _, err := cconf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier)); !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
		t.Errorf("a wrong client secret: %v, want invalid_client", err)
	}

	resp, err := http.Get(ts.URL + "/oauth/userinfo?access_token=" + url.QueryEscape(tok.AccessToken))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a token in the URL: %d, want 400", resp.StatusCode)
	}
}

// TestOAuthPairwiseSubjects: two apps know the same user by different,
// stable identifiers.
func TestOAuthPairwiseSubjects(t *testing.T) {
	ts := startServer(t, nil)
	waitReady(t, ts)
	ts.user(t, "alice")
	ctx := tctx(t)
	var subjects []string
	for _, name := range []string{"Chat", "Game"} {
		app, _ := registerApp(t, ts, name, true, "presence:read")
		provider, conf := codeFlow(t, ts, app, "")
		verifier := oauth2.GenerateVerifier()
		back := newBrowser(t).authorize(ts, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice")
		tok, err := conf.Exchange(ctx, back.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := provider.Verifier(&oidc.Config{ClientID: app}).Verify(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		subjects = append(subjects, idt.Subject)
	}
	if subjects[0] == subjects[1] {
		t.Fatalf("two apps got the same subject %q", subjects[0])
	}
}

// appToken signs alice in to a new app registered for scopes, asking for
// them all, and returns the app's access token.
func appToken(t *testing.T, ts *testServer, name string, scopes ...string) (string, *oidc.Provider, string) {
	t.Helper()
	app, _ := registerApp(t, ts, name, true, scopes...)
	token, provider := appTokenOf(t, ts, app, "alice", scopes...)
	return token, provider, app
}

// appTokenOf runs the code flow of the public app for the user local,
// who allows it, and returns the access token.
func appTokenOf(t *testing.T, ts *testServer, app, local string, scopes ...string) (string, *oidc.Provider) {
	t.Helper()
	provider, conf := codeFlow(t, ts, app, "", scopes...)
	verifier := oauth2.GenerateVerifier()
	back := newBrowser(t).authorize(ts, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), local)
	tok, err := conf.Exchange(tctx(t), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken, provider
}

// TestOAuthAppTokenOpensAScopedSession: an app's access token opens a
// JSON-protocol session (WebSocket and long-polling) that may do only what
// its user granted (forbidden otherwise), it is no key to the REST API,
// and revoking it ends the live session.
func TestOAuthAppTokenOpensAScopedSession(t *testing.T) {
	ts := startServer(t, nil)
	waitReady(t, ts)
	ts.user(t, "alice")
	ctx := tctx(t)
	readOnly, _, _ := appToken(t, ts, "Viewer", "presence:read")
	publisher, provider, app := appToken(t, ts, "Status", "presence:publish")

	for _, poll := range []bool{false, true} {
		c := client.New(ts.URL, readOnly)
		connect := c.Connect
		if poll {
			connect = c.ConnectPoll
		}
		s, err := connect(ctx, client.ConnectOptions{Device: "app"})
		if err != nil {
			t.Fatalf("an app token's session (long-poll %v): %v", poll, err)
		}
		var ce *client.Error
		if err := s.SetPresence(ctx, client.Presence{Availability: "available"}); !errors.As(err, &ce) || ce.Code != "forbidden" {
			t.Errorf("presence from an app without presence:publish (long-poll %v): %v, want forbidden", poll, err)
		}
		s.Close(ctx)
	}
	if _, err := client.New(ts.URL, readOnly).Subscriptions(ctx); err == nil {
		t.Error("an app token was accepted by the REST API")
	}

	s, err := client.New(ts.URL, publisher).Connect(ctx, client.ConnectOptions{Device: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPresence(ctx, client.Presence{Availability: "available"}); err != nil {
		t.Fatalf("presence from an app with presence:publish: %v", err)
	}
	revoke(t, provider, app, publisher)
	if _, err := s.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "goaway" }); err != nil {
		t.Fatalf("the session of a revoked app token did not end: %v", err)
	}
}

// TestGrantsSeenNarrowedAndRevoked: the user sees the grant the consent
// made, and narrowing it (a scope taken away) or revoking it ends the
// app's live session at once and kills its tokens.
func TestGrantsSeenNarrowedAndRevoked(t *testing.T) {
	ts := startServer(t, nil)
	waitReady(t, ts)
	alice := ts.user(t, "alice")
	ctx := tctx(t)
	token, provider, app := appToken(t, ts, "Status", "presence:publish", "message")

	var list struct {
		Grants []struct {
			App struct {
				ID, Name string
			} `json:"app"`
			Scopes   []string `json:"scopes"`
			Contacts string   `json:"contacts"`
		} `json:"grants"`
	}
	if err := alice.Do(ctx, "GET", "/v1/grants", nil, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Grants) != 1 || list.Grants[0].App.ID != app || list.Grants[0].App.Name != "Status" || list.Grants[0].Contacts != "none" ||
		!slices.Contains(list.Grants[0].Scopes, "message") {
		t.Fatalf("grants after the consent: %+v", list)
	}

	ended := func(what string, change func()) {
		t.Helper()
		s, err := client.New(ts.URL, token).Connect(ctx, client.ConnectOptions{Device: "app"})
		if err != nil {
			t.Fatalf("%s: connect: %v", what, err)
		}
		change()
		if _, err := s.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "goaway" }); err != nil {
			t.Fatalf("%s: the app's session did not end: %v", what, err)
		}
		if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: token})); err == nil {
			t.Fatalf("%s: the app's token still works", what)
		}
	}
	ended("narrowed", func() {
		var g map[string]any
		if err := alice.Do(ctx, "PATCH", "/v1/grants/"+app, map[string]any{"scopes": []string{"openid", "presence:publish"}}, &g); err != nil {
			t.Fatal(err)
		}
	})
	var ce *client.Error
	if err := alice.Do(ctx, "PATCH", "/v1/grants/"+app, map[string]any{"scopes": []string{"openid", "presence:publish", "rooms"}}, nil); !errors.As(err, &ce) || ce.Code != "invalid" {
		t.Errorf("widening a grant through the API: %v, want invalid", err)
	}
	token, _, app = appToken(t, ts, "Status 2", "presence:publish")
	ended("revoked", func() {
		if err := alice.Do(ctx, "DELETE", "/v1/grants/"+app, nil, nil); err != nil {
			t.Fatal(err)
		}
	})
	if err := alice.Do(ctx, "DELETE", "/v1/grants/"+app, nil, nil); !errors.As(err, &ce) || ce.Code != "not_found" {
		t.Errorf("revoking a revoked grant: %v, want not_found", err)
	}
}

// TestDocsAppsExamples runs the shell examples of docs/apps.md against a
// server, as a reader would: 127.0.0.1:8080 is the test server, $TOKEN
// the user's token, APP_ID an app she allowed and $APP_TOKEN its token,
// YOUR_APP_ID one she registered. None may answer an error.
func TestDocsAppsExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skipf("the examples need curl: %v", err)
	}
	ts := startServer(t, nil)
	waitReady(t, ts)
	ts.user(t, "alice")
	token, _, err := ts.Auth.IssueToken(context.Background(), "alice@localhost", "docs")
	if err != nil {
		t.Fatal(err)
	}
	appTok, _, app := appToken(t, ts, "Chat", "presence:read", "message")
	// the token exchange's: a confidential app alice allowed, and her ID token for it
	calls, secret := registerApp(t, ts, "Calls", false, "presence:read")
	idToken := ownIDToken(t, ts, calls, secret, "alice", "presence:read")
	var mine struct{ ID string }
	must(t, client.New(ts.URL, token).Do(tctx(t), "POST", "/v1/apps", map[string]any{"name": "Mine", "redirect_uris": []string{"https://mine.example/cb"}}, &mine))
	blocks := codeBlocks(repoFile(t, "docs/apps.md"), "sh")
	if len(blocks) < 2 {
		t.Fatalf("docs/apps.md has %d sh blocks", len(blocks))
	}
	host := strings.TrimPrefix(ts.URL, "http://")
	for _, b := range blocks {
		script := strings.NewReplacer("127.0.0.1:8080", host, "YOUR_APP_ID", mine.ID, "APP_ID", app).Replace(b)
		cmd := exec.Command("bash", "-c", "set -eu\n"+script)
		cmd.Env = append(os.Environ(), "TOKEN="+token, "APP_TOKEN="+appTok, "CLIENT_ID="+calls, "CLIENT_SECRET="+secret, "ID_TOKEN="+idToken)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), `"code":`) || strings.Contains(string(out), `"error"`) {
			t.Errorf("docs/apps.md example failed: %v\n%s\n%s", err, script, out)
		}
		if strings.Contains(b, "openid-configuration") && !strings.Contains(string(out), `"issuer":"`+ts.URL+`"`) {
			t.Errorf("the discovery example did not show the issuer:\n%s", out)
		}
		if strings.Contains(b, "token-exchange") && !strings.Contains(string(out), `"access_token":"`) {
			t.Errorf("the token exchange example gave no access token:\n%s", out)
		}
	}
}
