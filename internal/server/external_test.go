package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/identity"
	"github.com/presenced/presenced/internal/identity/oidctest"
)

// externalSignIn runs a browser (b, or a new one) through "Sign in with
// Test IdP" as u and returns the final status and page.
func externalSignIn(t *testing.T, ts *testServer, idp *oidctest.Issuer, b *http.Client, u oidctest.User) (int, string) {
	t.Helper()
	idp.SignInAs(u)
	resp, err := b.Get(ts.URL + identity.PathSignIn + "?issuer=" + url.QueryEscape(idp.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func jarClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

// signedInAs is the account the browser's session cookie signs in, "" if none.
func signedInAs(t *testing.T, ts *testServer, b *http.Client) string {
	t.Helper()
	resp, err := b.Get(ts.URL + "/web/session")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct{ Account string }
	json.NewDecoder(resp.Body).Decode(&s)
	return s.Account
}

// TestExternalSignIn: "Sign in with" a trusted provider (code flow with
// PKCE, state and nonce, against a real provider on loopback) signs in to
// the account whose address is the identity's verified e-mail, with the
// web page's session cookie; an unverified e-mail, or a verified one of
// no account, is refused with the same page, which does not say whether
// an account exists; the page lists the provider.
func TestExternalSignIn(t *testing.T) {
	ts, idp := startWithIdP(t)
	ts.user(t, "alice")
	ts.user(t, "bob")

	resp, err := http.Get(ts.URL + identity.PathProviders)
	must(t, err)
	var list struct {
		Providers []struct{ Name, Issuer, Signin string }
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Providers) != 1 || list.Providers[0].Name != "Test IdP" || list.Providers[0].Issuer != idp.URL {
		t.Fatalf("providers: %+v", list)
	}

	b := jarClient()
	status, page := externalSignIn(t, ts, idp, b, oidctest.User{Subject: "ext-alice", Email: "ALICE@localhost", EmailVerified: true})
	if status != 200 || !strings.Contains(page, "<html") {
		t.Fatalf("after the sign-in: %d %.200s", status, page)
	}
	if who := signedInAs(t, ts, b); who != "alice@localhost" {
		t.Fatalf("signed in as %q, want alice@localhost", who)
	}
	// the same cookie as a password sign-in: it opens the REST API's cookie
	// side and the JSON protocol like any web session
	var cookie *http.Cookie
	u, _ := url.Parse(ts.URL)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "presenced_session" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie")
	}
	if tok, err := ts.Auth.Verify(tctx(t), cookie.Value); err != nil || tok.Account != "alice@localhost" || tok.Label != "web" {
		t.Fatalf("the session cookie is %+v (%v)", tok, err)
	}

	// refusals: one page for all, telling nothing of the accounts
	var pages []string
	for _, u := range []oidctest.User{
		{Subject: "ext-1", Email: "bob@localhost", EmailVerified: false},    // bob exists
		{Subject: "ext-2", Email: "nobody@localhost", EmailVerified: false}, // nobody does not
		{Subject: "ext-3", Email: "nobody@localhost", EmailVerified: true},  // verified, no account
		{Subject: "ext-4", Email: "ｂｏｂ@localhost", EmailVerified: true},     // maps to bob's address, is not it
		{Subject: "ext-5", Email: "bob@elsewhere.example", EmailVerified: true},
	} {
		b := jarClient()
		status, page := externalSignIn(t, ts, idp, b, u)
		if status != http.StatusForbidden || !strings.Contains(page, "No presenced account is linked") {
			t.Errorf("%+v: %d %.300s", u, status, page)
		}
		if who := signedInAs(t, ts, b); who != "" {
			t.Errorf("%+v signed in as %s", u, who)
		}
		pages = append(pages, page)
	}
	for _, p := range pages[1:] {
		if p != pages[0] {
			t.Errorf("refusals differ (account enumeration):\n%s\n%s", pages[0], p)
		}
	}
}

// TestExternalSignInLinked: a signed-in user links an identity whose
// e-mail is not theirs (or unverified); it then signs in to their account.
// Linking needs the page's CSRF token, a link belongs to one account, and
// a flow finished in another browser than the one that started it is
// refused.
func TestExternalSignInLinked(t *testing.T) {
	ts, idp := startWithIdP(t)
	ts.user(t, "carol")
	ts.user(t, "dave")
	carolAtIdP := oidctest.User{Subject: "ext-carol", Email: "carol.c@mail.example", EmailVerified: false}

	// not linked yet: refused
	if status, _ := externalSignIn(t, ts, idp, jarClient(), carolAtIdP); status != http.StatusForbidden {
		t.Fatalf("an unlinked identity: %d", status)
	}

	carol := newBrowserLike(t, ts)
	if r := carol.post("/web/login", `{"address":"carol@localhost","password":"password-carol"}`, true); r.StatusCode != 204 {
		t.Fatalf("password sign-in: %d", r.StatusCode)
	}
	link := "/web/external/link?issuer=" + url.QueryEscape(idp.URL)
	if r := carol.post(link, "", false); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a link without the CSRF token: %d, want 401", r.StatusCode)
	}
	startLink := func(b *browserLike) string {
		req, _ := http.NewRequest("POST", ts.URL+link, nil)
		req.Header.Set("X-CSRF-Token", b.csrf)
		resp, err := b.hc.Do(req)
		must(t, err)
		defer resp.Body.Close()
		var out struct{ URL string }
		json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 200 || out.URL == "" {
			t.Fatalf("link: %d %+v", resp.StatusCode, out)
		}
		return out.URL
	}

	// login CSRF: the flow carol started, finished by another browser
	idp.SignInAs(oidctest.User{Subject: "ext-mallory"})
	stop := jarClient()
	stop.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), ts.URL+identity.PathCallback) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	resp, err := stop.Get(startLink(carol))
	must(t, err)
	resp.Body.Close()
	callback := resp.Header.Get("Location")
	if !strings.HasPrefix(callback, ts.URL+identity.PathCallback) {
		t.Fatalf("the provider did not send back to the callback: %d %s", resp.StatusCode, callback)
	}
	resp, err = jarClient().Get(callback)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a callback in another browser: %d, want 400", resp.StatusCode)
	}

	// the real link
	idp.SignInAs(carolAtIdP)
	resp, err = carol.hc.Get(startLink(carol))
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Request.URL.Path != "/" {
		t.Fatalf("after linking: %d %s", resp.StatusCode, resp.Request.URL)
	}
	b := jarClient()
	if status, page := externalSignIn(t, ts, idp, b, carolAtIdP); status != 200 {
		t.Fatalf("sign-in with the linked identity: %d %.300s", status, page)
	}
	if who := signedInAs(t, ts, b); who != "carol@localhost" {
		t.Fatalf("signed in as %q, want carol@localhost", who)
	}
	// the link wins over a verified e-mail of another account
	if status, _ := externalSignIn(t, ts, idp, b, oidctest.User{Subject: "ext-carol", Email: "dave@localhost", EmailVerified: true}); status != 200 || signedInAs(t, ts, b) != "carol@localhost" {
		t.Fatal("a linked identity signed in to the account of its e-mail")
	}

	// dave cannot take carol's identity
	dave := newBrowserLike(t, ts)
	if r := dave.post("/web/login", `{"address":"dave@localhost","password":"password-dave"}`, true); r.StatusCode != 204 {
		t.Fatal(r.StatusCode)
	}
	idp.SignInAs(carolAtIdP)
	resp, err = dave.hc.Get(startLink(dave))
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("linking an identity linked to another account: %d, want 409", resp.StatusCode)
	}
}
