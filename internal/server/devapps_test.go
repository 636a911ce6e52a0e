package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/appreg"
	"github.com/presenced/presenced/internal/store"
)

// devApp is an app as /v1/apps answers it.
type devApp = appreg.App

// wantCode fails unless err is a REST problem with the HTTP status and code.
func wantCode(t *testing.T, what string, err error, status int, code string) *client.Error {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != status || ce.Code != code {
		t.Fatalf("%s: %v, want %d %s", what, err, status, code)
	}
	return ce
}

// signInWith runs the code flow for app (secret "" for a public one) as
// alice and exchanges the code; it returns the token or the exchange's
// error.
func signInWith(t *testing.T, ts *testServer, app, secret string, scopes ...string) (*oauth2.Token, error) {
	t.Helper()
	_, conf := codeFlow(t, ts, app, secret, scopes...)
	verifier := oauth2.GenerateVerifier()
	back := newBrowser(t).authorize(ts, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(verifier)), "alice")
	return conf.Exchange(tctx(t), back.Query().Get("code"), oauth2.VerifierOption(verifier))
}

// TestDevAppsRegisterAndRotate: a user registers a confidential app over
// the REST API; its secret is in that answer only, and signs users in at
// the token endpoint; a new secret (shown once again) works there and the
// old one no longer does, while the tokens it got stay valid.
func TestDevAppsRegisterAndRotate(t *testing.T) {
	ts := startServer(t, nil)
	waitReady(t, ts)
	ts.user(t, "alice")
	dev := ts.user(t, "dev")
	ctx := tctx(t)

	var app devApp
	hdr, err := dev.DoHeader(ctx, "POST", "/v1/apps", nil, map[string]any{"name": "Calls", "redirect_uris": []string{appRedirect, appRedirect},
		"scopes": []string{"presence:read", "signal"}, "logo": "https://calls.example/logo.png", "description": "ring your friends"}, &app)
	must(t, err)
	if app.ID == "" || app.Name != "Calls" || app.Owner != "dev@localhost" || app.Public || !strings.HasPrefix(app.Secret, "pds_") ||
		!slices.Equal(app.RedirectURIs, []string{appRedirect}) || !slices.Equal(app.Scopes, []string{"presence:read", "signal"}) ||
		hdr.Get("Location") != "/v1/apps/"+app.ID {
		t.Fatalf("registered %+v, Location %q", app, hdr.Get("Location"))
	}
	stored, err := ts.Store.GetApp(ctx, app.ID)
	must(t, err)
	if stored.Owner != "dev@localhost" || len(stored.SecretHash) != 32 || strings.Contains(string(stored.SecretHash), app.Secret) {
		t.Fatalf("stored %+v", stored)
	}

	// shown once: neither the app nor the list carries it again
	var got devApp
	must(t, dev.Do(ctx, "GET", "/v1/apps/"+app.ID, nil, &got))
	var list struct{ Apps []devApp }
	must(t, dev.Do(ctx, "GET", "/v1/apps", nil, &list))
	if got.Secret != "" || got.ID != app.ID || got.Description != "ring your friends" || len(list.Apps) != 1 || list.Apps[0].Secret != "" || list.Apps[0].ID != app.ID {
		t.Fatalf("app %+v, list %+v", got, list)
	}
	var raw []byte
	must(t, dev.Do(ctx, "GET", "/v1/apps", nil, &raw))
	if strings.Contains(string(raw), "secret") || strings.Contains(string(raw), app.Secret) {
		t.Fatalf("the list shows a secret: %s", raw)
	}

	tok, err := signInWith(t, ts, app.ID, app.Secret, "presence:read")
	if err != nil {
		t.Fatalf("signing in with the registered secret: %v", err)
	}

	var rotated devApp
	must(t, dev.Do(ctx, "POST", "/v1/apps/"+app.ID+"/secret", nil, &rotated))
	if rotated.ID != app.ID || !strings.HasPrefix(rotated.Secret, "pds_") || rotated.Secret == app.Secret {
		t.Fatalf("rotated %+v", rotated)
	}
	var re *oauth2.RetrieveError
	if _, err := signInWith(t, ts, app.ID, app.Secret, "presence:read"); !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
		t.Fatalf("the old secret at the token endpoint: %v, want invalid_client", err)
	}
	if _, err := signInWith(t, ts, app.ID, rotated.Secret, "presence:read"); err != nil {
		t.Fatalf("the new secret at the token endpoint: %v", err)
	}
	provider, _ := codeFlow(t, ts, app.ID, rotated.Secret)
	if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil {
		t.Fatalf("a token got with the old secret stopped working: %v", err)
	}
	must(t, dev.Do(ctx, "GET", "/v1/apps/"+app.ID, nil, &got))
	if got.Secret != "" {
		t.Fatalf("the new secret is shown again: %+v", got)
	}

	// a public app has no secret, neither at registration nor to rotate
	var pub devApp
	must(t, dev.Do(ctx, "POST", "/v1/apps", map[string]any{"name": "Web", "redirect_uris": []string{"https://web.example/cb"}, "public": true}, &pub))
	if !pub.Public || pub.Secret != "" {
		t.Fatalf("public app %+v", pub)
	}
	wantCode(t, "a new secret for a public app", dev.Do(ctx, "POST", "/v1/apps/"+pub.ID+"/secret", nil, nil), 400, "invalid")
}

// TestDevAppsOwnerOnly: another user, and the app's owner for an
// operator's app, get 404, exactly as for an app that does not exist,
// whatever they try; an app's token is no key to /v1/apps either.
func TestDevAppsOwnerOnly(t *testing.T) {
	ts := startServer(t, nil)
	waitReady(t, ts)
	ts.user(t, "alice")
	dev, other := ts.user(t, "dev"), ts.user(t, "mallory")
	ctx := tctx(t)
	var app devApp
	must(t, dev.Do(ctx, "POST", "/v1/apps", map[string]any{"name": "Calls", "redirect_uris": []string{appRedirect}, "scopes": []string{"presence:read"}}, &app))
	operators, _ := registerApp(t, ts, "Operator's", false, "presence:read")

	var list struct{ Apps []devApp }
	must(t, other.Do(ctx, "GET", "/v1/apps", nil, &list))
	if len(list.Apps) != 0 {
		t.Fatalf("mallory lists %+v", list.Apps)
	}
	for _, c := range []struct {
		who  *client.Client
		name string
		id   string
	}{{other, "another user", app.ID}, {dev, "the operator's app", operators}, {dev, "no such app", "0123456789abcdef0123456789abcdef"}} {
		for _, req := range []struct {
			method, path string
			body         any
		}{
			{"GET", "/v1/apps/" + c.id, nil},
			{"PATCH", "/v1/apps/" + c.id, map[string]any{"name": "Mine now"}},
			{"POST", "/v1/apps/" + c.id + "/secret", nil},
			{"DELETE", "/v1/apps/" + c.id, nil},
		} {
			wantCode(t, c.name+": "+req.method+" "+req.path, c.who.Do(ctx, req.method, req.path, req.body, nil), http.StatusNotFound, "not_found")
		}
	}
	// the same words whether the app exists or not
	var e1, e2 *client.Error
	errors.As(other.Do(ctx, "GET", "/v1/apps/"+app.ID, nil, nil), &e1)
	errors.As(other.Do(ctx, "GET", "/v1/apps/"+strings.Repeat("0", 32), nil, nil), &e2)
	if strings.ReplaceAll(e1.Message, app.ID, "ID") != strings.ReplaceAll(e2.Message, strings.Repeat("0", 32), "ID") {
		t.Errorf("another's app and no app are told apart: %q, %q", e1.Message, e2.Message)
	}
	// nothing changed
	stored, err := ts.Store.GetApp(ctx, app.ID)
	must(t, err)
	if stored.Name != "Calls" {
		t.Fatalf("mallory renamed the app: %+v", stored)
	}
	if op, err := ts.Store.GetApp(ctx, operators); err != nil || op.Name != "Operator's" {
		t.Fatalf("the operator's app: %+v %v", op, err)
	}

	// an app's access token is refused, like everywhere in the REST API but the presence routes
	appTok, _, _ := appToken(t, ts, "Viewer", "presence:read")
	wantCode(t, "an app token on /v1/apps", client.New(ts.URL, appTok).Do(ctx, "GET", "/v1/apps", nil, nil), http.StatusForbidden, "forbidden")
	wantCode(t, "no token on /v1/apps", client.New(ts.URL, "").Do(ctx, "POST", "/v1/apps", map[string]any{"name": "x"}, nil), http.StatusUnauthorized, "unauthorized")
}

// TestDevAppsValidation: what the CLI refuses, the API refuses, naming
// every problem in one invalid; an edit is checked the same way and
// changes nothing when refused; the client type does not change; past
// the per-account limit, a typed limit error.
func TestDevAppsValidation(t *testing.T) {
	ts := startServer(t, nil)
	waitReady(t, ts)
	dev := ts.user(t, "dev")
	ctx := tctx(t)
	for _, c := range []struct {
		body map[string]any
		want []string
	}{
		{map[string]any{"redirect_uris": []string{"https://a.example/cb"}}, []string{"needs a name"}},
		{map[string]any{"name": "A"}, []string{"at least one redirect URI"}},
		{map[string]any{"name": "A", "redirect_uris": []string{"http://a.example/cb", "https://a.example/cb#x", "/cb"}, "scopes": []string{"admin"},
			"logo": "http://a.example/logo.png"},
			[]string{"must be https, or http on a loopback host", "must not have a fragment", "must be an absolute URL", `unknown scope "admin"`, "must be an https URL"}},
		{map[string]any{"name": strings.Repeat("n", 101), "redirect_uris": []string{"https://a.example/cb"}}, []string{"name: at most 100 characters"}},
		{map[string]any{"name": "A", "redirect_uris": []string{"https://a.example/cb"}, "description": "bad\x00text"}, []string{"description: at most 1000 characters"}},
		{map[string]any{"name": "A", "redirect_uris": []string{"https://a.example/cb"}, "owner": "someone@localhost"}, []string{`unknown field "owner"`}},
		{map[string]any{"name": "A", "redirect_uris": []string{"https://a.example/cb"}, "secret": "pds_mine"}, []string{`unknown field "secret"`}},
	} {
		ce := wantCode(t, fmt.Sprint(c.body), dev.Do(ctx, "POST", "/v1/apps", c.body, nil), http.StatusBadRequest, "invalid")
		for _, w := range c.want {
			if !strings.Contains(ce.Message, w) {
				t.Errorf("%v: %q does not say %q", c.body, ce.Message, w)
			}
		}
	}
	var list struct{ Apps []devApp }
	must(t, dev.Do(ctx, "GET", "/v1/apps", nil, &list))
	if len(list.Apps) != 0 {
		t.Fatalf("refused registrations were stored: %+v", list.Apps)
	}

	// loopback http is fine (native apps), and edits
	var app devApp
	must(t, dev.Do(ctx, "POST", "/v1/apps", map[string]any{"name": "Native", "redirect_uris": []string{"http://127.0.0.1:8765/cb", "http://[::1]/cb", "http://localhost/cb"},
		"public": true}, &app))
	var edited devApp
	must(t, dev.Do(ctx, "PATCH", "/v1/apps/"+app.ID, map[string]any{"name": "Native 2", "description": "now with words", "scopes": []string{"message"}}, &edited))
	if edited.Name != "Native 2" || edited.Description != "now with words" || !slices.Equal(edited.Scopes, []string{"message"}) || len(edited.RedirectURIs) != 3 || !edited.Public {
		t.Fatalf("edited %+v", edited)
	}
	ce := wantCode(t, "a bad edit", dev.Do(ctx, "PATCH", "/v1/apps/"+app.ID, map[string]any{"name": "", "redirect_uris": []string{"ftp://x/cb"}}, nil), http.StatusBadRequest, "invalid")
	if !strings.Contains(ce.Message, "needs a name") || !strings.Contains(ce.Message, "ftp://x/cb") {
		t.Errorf("a bad edit: %q", ce.Message)
	}
	wantCode(t, "a public app made confidential", dev.Do(ctx, "PATCH", "/v1/apps/"+app.ID, map[string]any{"public": false}, nil), http.StatusBadRequest, "invalid")
	var got devApp
	must(t, dev.Do(ctx, "GET", "/v1/apps/"+app.ID, nil, &got))
	if got.Name != "Native 2" || len(got.RedirectURIs) != 3 || !got.Public {
		t.Fatalf("a refused edit changed the app: %+v", got)
	}

	// the limit
	for i := 1; i < store.MaxAppsPerOwner; i++ {
		must(t, ts.Store.CreateApp(ctx, store.App{ID: fmt.Sprintf("filler%03d", i), Name: "filler", Owner: "dev@localhost",
			RedirectURIs: []string{"https://a.example/cb"}, Public: true, CreatedAt: time.Now()}))
	}
	ce = wantCode(t, "an app past the limit", dev.Do(ctx, "POST", "/v1/apps", map[string]any{"name": "One more", "redirect_uris": []string{"https://a.example/cb"}}, nil),
		http.StatusUnprocessableEntity, "limit")
	if !strings.Contains(ce.Message, fmt.Sprint(store.MaxAppsPerOwner)) {
		t.Errorf("the limit error does not name the limit: %q", ce.Message)
	}
	must(t, dev.Do(ctx, "DELETE", "/v1/apps/filler001", nil, nil))
	must(t, dev.Do(ctx, "POST", "/v1/apps", map[string]any{"name": "One more", "redirect_uris": []string{"https://a.example/cb"}}, nil))
}

// TestDevAppsDeleteAndNarrowRevoke: deleting an app ends its users'
// sessions, kills its tokens and takes its grants; taking a scope from an
// app does the same to the grants that held it.
func TestDevAppsDeleteAndNarrowRevoke(t *testing.T) {
	ts := startServer(t, nil)
	waitReady(t, ts)
	alice := ts.user(t, "alice")
	dev := ts.user(t, "dev")
	ctx := tctx(t)
	register := func(name string) devApp {
		var app devApp
		must(t, dev.Do(ctx, "POST", "/v1/apps", map[string]any{"name": name, "redirect_uris": []string{appRedirect},
			"scopes": []string{"presence:publish", "message"}, "public": true}, &app))
		return app
	}
	ended := func(what string, app devApp, change func()) {
		t.Helper()
		tok, err := signInWith(t, ts, app.ID, "", "presence:publish", "message")
		must(t, err)
		s, err := client.New(ts.URL, tok.AccessToken).Connect(ctx, client.ConnectOptions{Device: "app"})
		if err != nil {
			t.Fatalf("%s: connect: %v", what, err)
		}
		change()
		if _, err := s.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "goaway" }); err != nil {
			t.Fatalf("%s: the app's session did not end: %v", what, err)
		}
		provider, _ := codeFlow(t, ts, app.ID, "")
		if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Fatalf("%s: the app's token still works", what)
		}
	}

	narrowed := register("Narrowed")
	ended("a scope taken from the app", narrowed, func() {
		must(t, dev.Do(ctx, "PATCH", "/v1/apps/"+narrowed.ID, map[string]any{"scopes": []string{"presence:publish"}}, nil))
	})
	var grants struct {
		Grants []struct {
			Scopes []string `json:"scopes"`
		} `json:"grants"`
	}
	must(t, alice.Do(ctx, "GET", "/v1/grants", nil, &grants))
	if len(grants.Grants) != 1 || slices.Contains(grants.Grants[0].Scopes, "message") || !slices.Contains(grants.Grants[0].Scopes, "presence:publish") {
		t.Fatalf("alice's grant after the app lost a scope: %+v", grants)
	}

	deleted := register("Deleted")
	ended("the app deleted", deleted, func() { must(t, dev.Do(ctx, "DELETE", "/v1/apps/"+deleted.ID, nil, nil)) })
	must(t, alice.Do(ctx, "GET", "/v1/grants", nil, &grants))
	if len(grants.Grants) != 1 {
		t.Fatalf("alice's grants after the app was deleted: %+v", grants)
	}
	wantCode(t, "the deleted app", dev.Do(ctx, "GET", "/v1/apps/"+deleted.ID, nil, nil), http.StatusNotFound, "not_found")
	if _, err := ts.Store.GetApp(context.Background(), deleted.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the deleted app is stored: %v", err)
	}
}
