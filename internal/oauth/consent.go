package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/cors"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/presenced/presenced/internal/store"
)

// browserCookie binds an authorization request to the browser that made
// it: the consent page answers only that browser, so a link to someone
// else's pending request (consent phishing, login CSRF) leads nowhere.
const browserCookie = "pd_oauth_browser"

// corsOptions let apps' pages call the token-side endpoints (token,
// revocation, introspection, userinfo, keys, discovery) from their own
// origin, without credentials; the authorization and consent endpoints are
// navigations, never fetched.
var corsOptions = cors.Options{
	AllowedOrigins:   []string{"*"},
	AllowedMethods:   []string{http.MethodGet, http.MethodPost},
	AllowedHeaders:   []string{"Authorization", "Content-Type"},
	AllowCredentials: false,
}

func (p *Provider) routes() http.Handler {
	lib := p.op.HttpHandler()
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathDiscovery, p.discovery)
	mux.HandleFunc("GET "+PathConsent, p.consentPage)
	mux.HandleFunc("POST "+PathConsent, p.consentAnswer)
	if p.Picker != nil {
		mux.Handle("GET "+PathPick, p.bindBrowser(http.HandlerFunc(p.pickPage)))
		mux.HandleFunc("POST "+PathPick, p.pickAnswer)
		mux.HandleFunc("GET "+PathPickScript, servePickScript)
	}
	mux.Handle(PathAuthorize, p.bindBrowser(lib))
	mux.Handle(PathUserinfo, p.liveTokenOnly(lib))
	mux.Handle(PathToken, p.tokenEndpoint(lib))
	mux.Handle("/oauth/", lib)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.Issuer() == "" {
			http.Error(w, "apps are off on this server: its operator has not set public_url", http.StatusServiceUnavailable)
			return
		}
		if r.URL.Query().Has("access_token") {
			// RFC 6750 § 2.3 allows it; tokens in URLs end up in logs
			http.Error(w, "send the access token in the Authorization header, never in the URL", http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Frame-Options", "DENY") // clickjacking on the consent page
		w.Header().Set("Content-Security-Policy", "frame-ancestors 'none'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		mux.ServeHTTP(w, r)
	})
}

// discovery is the library's document, narrowed to what presenced does.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	ctx := op.ContextWithIssuer(r.Context(), p.Issuer())
	d := op.CreateDiscoveryConfig(ctx, p.op, &storage{p: p})
	d.ScopesSupported = store.KnownScopes
	d.ResponseTypesSupported = []string{string(oidc.ResponseTypeCode)}
	d.ResponseModesSupported = []string{"query"}
	d.GrantTypesSupported = []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeTokenExchange}
	d.SubjectTypesSupported = []string{"pairwise"}
	d.IDTokenSigningAlgValuesSupported = []string{"RS256"}
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	d.TokenEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodNone, oidc.AuthMethodBasic, oidc.AuthMethodPost}
	d.RevocationEndpointAuthMethodsSupported = d.TokenEndpointAuthMethodsSupported
	d.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost}
	d.TokenEndpointAuthSigningAlgValuesSupported = nil
	d.RevocationEndpointAuthSigningAlgValuesSupported = nil
	d.IntrospectionEndpointAuthSigningAlgValuesSupported = nil
	d.RequestObjectSigningAlgValuesSupported = nil
	d.RequestParameterSupported = false
	d.DeviceAuthorizationEndpoint = ""
	d.EndSessionEndpoint = ""
	d.ClaimsSupported = []string{"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "azp", "at_hash", ClaimAddress}
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(d)
}

// liveTokenOnly answers a revoked or expired access token at userinfo as
// RFC 6750 § 3.1 says, 401 invalid_token (the library answers 403).
func (p *Provider) liveTokenOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			if _, err := p.AccessToken(r.Context(), strings.TrimSpace(h[7:])); err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="the access token is revoked, expired or not one of this server's"`)
				http.Error(w, "invalid access token", http.StatusUnauthorized)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// bindBrowser gives the browser a binding cookie (a random value, the
// same for all its requests) before /authorize makes the request, and
// puts it in the context where CreateAuthRequest records it.
func (p *Provider) bindBrowser(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := ""
		if c, err := r.Cookie(browserCookie); err == nil && len(c.Value) == 32 {
			b = c.Value
		} else {
			b = randomID(24)
			// Lax: the navigation from the app's page to /authorize is
			// cross-site; the consent form's POST is same-site
			http.SetCookie(w, &http.Cookie{Name: browserCookie, Value: b, Path: "/oauth/", HttpOnly: true,
				Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode})
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), browserKey{}, b)))
	})
}

// pendingFor returns the request id names if r's browser made it.
func (p *Provider) pendingFor(r *http.Request, id string) (*authRequest, bool) {
	a, err := p.requests.get(r.Context(), id)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			p.Log.Warn("oauth: read authorization request", "err", err)
		}
		return nil, false
	}
	c, err := r.Cookie(browserCookie)
	if err != nil || a.browser == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(a.browser)) != 1 {
		return nil, false
	}
	return a, true
}

// csrf is the consent form's token for request id in r's browser: an HMAC
// of both, so it is valid for that form only.
func (p *Provider) csrf(browser, id string) string {
	key := derive(p.Secret, "consent csrf")
	m := hmac.New(sha256.New, key[:])
	m.Write([]byte(browser + "\x00" + id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// scopeText says in words what each scope lets an app do.
var scopeText = map[string]string{
	"openid":           "know that it is you (by an identifier for this app alone)",
	"profile":          "see your profile",
	"offline_access":   "stay signed in when you are away",
	"presence:publish": "set your presence through it",
	"presence:read":    "see the presence of the contacts you share with it",
	"message":          "send messages to those contacts",
	"signal":           "send signals (calls) to those contacts",
	"contacts:pick":    "ask you to pick contacts to share with it",
	"events:publish":   "publish what you do (mood, activity, tune) through it",
	"events:read":      "see what those contacts publish",
	"rooms":            "join rooms for you",
	"addresses":        "see real addresses (yours and your shared contacts') instead of identifiers for this app alone",
}

type consentView struct {
	App      store.App
	Scopes   []string
	ID, CSRF string
	Account  string
	Error    string
}

var consentTmpl = template.Must(template.New("consent").Funcs(template.FuncMap{"say": func(s string) string { return scopeText[s] }}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Allow {{.App.Name}}? — presenced</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}img{max-width:4rem;max-height:4rem}
button{font:inherit;padding:.4rem 1rem;margin-right:.5rem}label{display:block;margin:.5rem 0}input{font:inherit}.error{color:#a00}</style></head>
<body><main>
<h1>{{if .App.Logo}}<img src="{{.App.Logo}}" alt=""> {{end}}Allow {{.App.Name}}?</h1>
{{if .App.Description}}<p>{{.App.Description}}</p>{{end}}
{{if .App.Owner}}<p id="owner">Registered by {{.App.Owner}}, one of this server's users.</p>{{end}}
<p>{{.App.Name}} asks to:</p>
<ul>{{range .Scopes}}<li id="scope-{{.}}">{{say .}}</li>{{end}}</ul>
<p>It sees no contact until you share some with it, and you can change or revoke this at any time.</p>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post">
<input type="hidden" name="id" value="{{.ID}}"><input type="hidden" name="csrf" value="{{.CSRF}}">
{{if .Account}}<p>You are signed in as <strong>{{.Account}}</strong>.</p>{{else}}
<p>Sign in to answer:</p>
<label>Address <input name="address" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>{{end}}
<button name="decision" value="allow" id="allow">Allow</button><button name="decision" value="deny" id="deny" formnovalidate>Deny</button>
</form></main></body></html>
`))

// reloadPage loads the consent page again from itself. The page is
// reached from the app's site, so the browser holds back the web page's
// session cookie (SameSite=Strict) from it; loaded from the page itself,
// it sends it, and a signed-in user is not asked for a password.
const reloadPage = `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=%s"><title>presenced</title>`

func (p *Provider) consentPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if _, signedIn := p.Sessions.Account(r); !signedIn && q.Get("again") == "" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, reloadPage, template.HTMLEscapeString(PathConsent+"?id="+url.QueryEscape(q.Get("id"))+"&again=1"))
		return
	}
	p.renderConsent(w, r, q.Get("id"), "")
}

func (p *Provider) renderConsent(w http.ResponseWriter, r *http.Request, id, problem string) {
	a, ok := p.pendingFor(r, id)
	if !ok {
		http.Error(w, "this sign-in request is unknown, expired, or was started in another browser: start again from the app", http.StatusBadRequest)
		return
	}
	app, err := p.Store.GetApp(r.Context(), a.clientID)
	if err != nil {
		http.Error(w, "the app is no longer registered", http.StatusBadRequest)
		return
	}
	account, _ := p.Sessions.Account(r)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	consentTmpl.Execute(w, consentView{App: app, Scopes: a.scopes, ID: id, CSRF: p.csrf(a.browser, id), Account: account, Error: problem})
}

// consentAnswer records the user's decision: allow signs in (if needed),
// records the grant and lets the library issue the code; deny sends the
// app access_denied.
func (p *Provider) consentAnswer(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	id := r.PostFormValue("id")
	a, ok := p.pendingFor(r, id)
	if !ok || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(p.csrf(a.browser, id))) != 1 {
		http.Error(w, "this form is stale or was not sent from the consent page: start again from the app", http.StatusForbidden)
		return
	}
	if r.PostFormValue("decision") != "allow" {
		if err := p.requests.deny(r.Context(), id); err != nil && !errors.Is(err, store.ErrNotFound) {
			p.Log.Warn("oauth: end denied authorization request", "err", err)
		}
		op.AuthRequestError(w, r, a, oidc.ErrAccessDenied().WithDescription("the user denied the request"), p.op)
		return
	}
	account, signedIn := p.Sessions.Account(r)
	if !signedIn {
		var err error
		if account, err = p.Sessions.SignIn(w, r, r.PostFormValue("address"), r.PostFormValue("password")); err != nil {
			p.renderConsent(w, r, id, "That address and password do not match.")
			return
		}
	}
	if err := p.Grants.AllowApp(r.Context(), account, a.clientID, a.scopes); err != nil {
		p.Log.Error("oauth: record grant", "err", err)
		http.Error(w, "the grant could not be recorded; try again", http.StatusInternalServerError)
		return
	}
	subject, now := p.handle(a.clientID, account), p.Clock.Now()
	a.account, a.subject, a.authTime, a.done = account, subject, now, true
	if err := p.requests.consented(r.Context(), a); err != nil {
		// gone meanwhile (expired, or answered in another tab)
		http.Error(w, "this sign-in request is unknown or expired: start again from the app", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, op.AuthCallbackURL(p.op)(op.ContextWithIssuer(r.Context(), p.Issuer()), id), http.StatusSeeOther)
}
