package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/oauth2"

	"github.com/presenced/presenced/internal/store"
)

// Paths of the sign-in with an external provider, under the web page's.
const (
	PathProviders = "/web/external"          // GET: the providers, and the signed-in account's links
	PathSignIn    = "/web/external/signin"   // GET ?issuer=: go and sign in there
	PathLink      = "/web/external/link"     // POST ?issuer= (signed in, CSRF): link an identity; DELETE ?issuer=&subject=: unlink
	PathCallback  = "/web/external/callback" // the redirect URI registered at every provider
)

// Sessions is the web page's sign-in (internal/web).
type Sessions interface {
	// Account is the account signed in on r's browser, if any.
	Account(r *http.Request) (string, bool)
	// CheckCSRF reports whether r carries the page's CSRF token.
	CheckCSRF(r *http.Request) bool
	// SignInAccount signs r's browser in to account: the session cookie
	// a password sign-in gives.
	SignInAccount(w http.ResponseWriter, r *http.Request, account string) error
}

// flowCookie binds a sign-in in progress to the browser that started it,
// so that a callback URL carried to another browser (login CSRF: signing a
// victim in to the attacker's account, or linking the attacker's identity
// to the victim's account) leads nowhere. Lax: the provider's redirect
// back is a cross-site navigation.
const flowCookie = "pd_external"

const (
	flowTTL  = 10 * time.Minute // from the start to the callback
	maxFlows = 10000            // sign-ins in progress at once
)

// flow is a sign-in in progress at a provider, kept in the store until
// its callback, so the callback may reach another node of a cluster than
// the start did.
type flow struct {
	Issuer   string `json:"issuer"`
	Verifier string `json:"verifier"` // PKCE
	Nonce    string `json:"nonce"`
	Browser  string `json:"browser"` // flowCookie's value
	Link     string `json:"link"`    // the account to link the identity to; "" to sign in
}

// flows keeps the flows among the store's pending authorization requests
// (store.AuthRequests), under the hash of their state: whoever reads the
// store cannot complete one. The bound (maxFlows) is of those and the
// OAuth provider's together.
type flows struct{ st store.AuthRequests }

// errTooMany: maxFlows are in progress.
var errTooMany = errors.New("too many sign-ins in progress")

func flowID(state string) string {
	h := sha256.Sum256([]byte(state))
	return "external:" + base64.RawURLEncoding.EncodeToString(h[:])
}

// add stores f under a new state, which it returns.
func (fs *flows) add(ctx context.Context, f flow) (string, error) {
	now := time.Now()
	state := randomID(24)
	data, _ := json.Marshal(f)
	err := fs.st.CreateAuthRequest(ctx, store.AuthRequest{ID: flowID(state), Data: data, Expires: now.Add(flowTTL)}, maxFlows, now)
	if errors.Is(err, store.ErrLimit) {
		return "", errTooMany
	}
	return state, err
}

// take returns the live flow of state and ends it: a state is good once,
// on whichever node.
func (fs *flows) take(ctx context.Context, state string) (flow, bool) {
	now := time.Now()
	r, err := fs.st.AuthRequest(ctx, flowID(state), now)
	if err != nil || fs.st.SpendAuthRequest(ctx, r.ID, now) != nil {
		return flow{}, false
	}
	var f flow
	return f, json.Unmarshal(r.Data, &f) == nil
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// nonceKey carries the flow's nonce to the ID token verifier (rp.WithNonce).
type nonceKey struct{}

func nonceOf(ctx context.Context) string {
	n, _ := ctx.Value(nonceKey{}).(string)
	return n
}

// Routes registers the sign-in paths on mux.
func (s *Set) Routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathProviders, s.list)
	mux.HandleFunc("GET "+PathSignIn, s.signIn)
	mux.HandleFunc("POST "+PathLink, s.link)
	mux.HandleFunc("DELETE "+PathLink, s.unlink)
	mux.HandleFunc("GET "+PathCallback, s.callback)
}

type providerView struct {
	Name   string `json:"name"`
	Issuer string `json:"issuer"`
	SignIn string `json:"signin"` // the URL that starts a sign-in
}

type linkView struct {
	Issuer  string    `json:"issuer"`
	Name    string    `json:"name"`
	Subject string    `json:"subject"`
	Email   string    `json:"email,omitempty"`
	Created time.Time `json:"created"`
}

// list answers the providers, and for a signed-in browser its account's
// links.
func (s *Set) list(w http.ResponseWriter, r *http.Request) {
	out := struct {
		Providers []providerView `json:"providers"`
		Links     []linkView     `json:"links,omitempty"`
	}{Providers: []providerView{}}
	for _, p := range s.providers {
		out.Providers = append(out.Providers, providerView{Name: p.Name, Issuer: p.Issuer, SignIn: PathSignIn + "?issuer=" + url.QueryEscape(p.Issuer)})
	}
	if account, ok := s.Sessions.Account(r); ok {
		links, err := s.Store.ListIdentities(r.Context(), account)
		if err != nil {
			s.Log.Error("list linked identities", "err", err)
			http.Error(w, "the linked identities could not be read", http.StatusInternalServerError)
			return
		}
		out.Links = []linkView{}
		for _, l := range links {
			name := l.Issuer
			if p, ok := s.provider(l.Issuer); ok {
				name = p.Name
			}
			out.Links = append(out.Links, linkView{Issuer: l.Issuer, Name: name, Subject: l.Subject, Email: l.Email, Created: l.CreatedAt})
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

// signIn sends the browser to the provider to sign in.
func (s *Set) signIn(w http.ResponseWriter, r *http.Request) {
	target, status, msg := s.start(w, r, r.URL.Query().Get("issuer"), "")
	if target == "" {
		s.page(w, status, "Sign-in", msg)
		return
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// link starts linking an identity at the provider to the signed-in
// account: a POST with the page's CSRF token (a link made by a forged
// request would hand the account to whoever owns the identity), answered
// with the URL the page then opens.
func (s *Set) link(w http.ResponseWriter, r *http.Request) {
	account, ok := s.Sessions.Account(r)
	if !ok || !s.Sessions.CheckCSRF(r) {
		http.Error(w, "sign in first, from the web page (with its CSRF token)", http.StatusUnauthorized)
		return
	}
	target, status, msg := s.start(w, r, r.URL.Query().Get("issuer"), account)
	if target == "" {
		http.Error(w, msg, status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"url": target})
}

// unlink removes one of the signed-in account's links.
func (s *Set) unlink(w http.ResponseWriter, r *http.Request) {
	account, ok := s.Sessions.Account(r)
	if !ok || !s.Sessions.CheckCSRF(r) {
		http.Error(w, "sign in first, from the web page (with its CSRF token)", http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	switch err := s.Store.UnlinkIdentity(r.Context(), account, q.Get("issuer"), q.Get("subject")); {
	case errors.Is(err, store.ErrNotFound):
		http.Error(w, "no such linked identity", http.StatusNotFound)
	case err != nil:
		s.Log.Error("unlink identity", "err", err)
		http.Error(w, "the link could not be removed", http.StatusInternalServerError)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// start makes a flow at the provider of issuer and returns the provider's
// authorization URL, or "" with a status and a message.
func (s *Set) start(w http.ResponseWriter, r *http.Request, issuer, link string) (string, int, string) {
	p, ok := s.provider(issuer)
	if !ok {
		return "", http.StatusNotFound, "This server has no such identity provider."
	}
	_, party, err := p.ready(r.Context())
	if err != nil {
		return "", http.StatusBadGateway, p.Name + " cannot be reached now. Try again later, or sign in with your password."
	}
	browser := ""
	if c, err := r.Cookie(flowCookie); err == nil && len(c.Value) == 32 {
		browser = c.Value
	} else {
		browser = randomID(24)
		http.SetCookie(w, &http.Cookie{Name: flowCookie, Value: browser, Path: "/web/external/", HttpOnly: true,
			Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode, MaxAge: int(flowTTL.Seconds())})
	}
	f := flow{Issuer: p.Issuer, Verifier: oauth2.GenerateVerifier(), Nonce: randomID(24), Browser: browser, Link: link}
	state, err := s.flows.add(r.Context(), f)
	switch {
	case errors.Is(err, errTooMany):
		return "", http.StatusServiceUnavailable, "Too many sign-ins at once; try again in a minute."
	case err != nil:
		s.Log.Error("external sign-in: store the flow", "err", err)
		return "", http.StatusServiceUnavailable, "The sign-in could not be started; try again in a minute."
	}
	return rp.AuthURL(state, party, rp.WithCodeChallenge(oauth2.S256ChallengeFromVerifier(f.Verifier)),
		func() []oauth2.AuthCodeOption {
			return []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("nonce", f.Nonce)}
		}), 0, ""
}

// Refused is what a browser is told when the identity signs in to no
// account: the same words whether or not an account with its e-mail
// exists, verified or not.
const Refused = "No presenced account is linked to that identity. If you have an account here, sign in with your password and link it in Account."

// callback finishes a flow: the code is exchanged (with the PKCE
// verifier), the ID token checked (signature, issuer, audience, expiry,
// nonce), and the browser signed in to the identity's account, or the
// identity linked to the account that started the flow.
func (s *Set) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, ok := s.flows.take(r.Context(), q.Get("state"))
	c, err := r.Cookie(flowCookie)
	if !ok || err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(f.Browser)) != 1 {
		s.page(w, http.StatusBadRequest, "Sign-in", "This sign-in is unknown, expired, or was started in another browser. Start again from the sign-in page.")
		return
	}
	p, ok := s.provider(f.Issuer)
	if !ok {
		s.page(w, http.StatusBadRequest, "Sign-in", "This identity provider is no longer configured.")
		return
	}
	if e := q.Get("error"); e != "" {
		s.page(w, http.StatusForbidden, "Sign-in", p.Name+" did not sign you in ("+e+").")
		return
	}
	_, party, err := p.ready(r.Context())
	if err != nil {
		s.page(w, http.StatusBadGateway, "Sign-in", p.Name+" cannot be reached now. Try again later, or sign in with your password.")
		return
	}
	tokens, err := rp.CodeExchange[*oidc.IDTokenClaims](context.WithValue(r.Context(), nonceKey{}, f.Nonce), q.Get("code"), party, rp.WithCodeVerifier(f.Verifier))
	if err != nil {
		s.Log.Warn("external sign-in: code exchange", "issuer", p.Issuer, "err", err)
		s.page(w, http.StatusForbidden, "Sign-in", p.Name+"'s answer could not be verified. Start again from the sign-in page.")
		return
	}
	claims := tokens.IDTokenClaims
	if f.Link != "" {
		s.finishLink(w, r, p, f.Link, claims)
		return
	}
	account, err := s.AccountFor(r.Context(), p.Issuer, claims)
	switch {
	case errors.Is(err, ErrNoAccount):
		s.page(w, http.StatusForbidden, "Sign-in", Refused)
		return
	case err != nil:
		s.Log.Error("external sign-in: find the account", "err", err)
		s.page(w, http.StatusInternalServerError, "Sign-in", "Something went wrong; try again.")
		return
	}
	if err := s.Sessions.SignInAccount(w, r, account); err != nil {
		s.Log.Error("external sign-in: session", "err", err)
		s.page(w, http.StatusInternalServerError, "Sign-in", "Something went wrong; try again.")
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Set) finishLink(w http.ResponseWriter, r *http.Request, p *provider, account string, claims *oidc.IDTokenClaims) {
	email := ""
	if claims.EmailVerified {
		email = claims.Email
	}
	err := s.Store.LinkIdentity(r.Context(), store.Identity{Issuer: p.Issuer, Subject: claims.Subject, Account: account,
		Email: email, CreatedAt: time.Now()})
	if errors.Is(err, store.ErrExists) {
		if l, lerr := s.Store.IdentityByIssuerSubject(r.Context(), p.Issuer, claims.Subject); lerr == nil && l.Account == account {
			err = nil // linked already: done
		}
	}
	switch {
	case errors.Is(err, store.ErrExists):
		s.page(w, http.StatusConflict, "Link", "That "+p.Name+" identity is linked to another presenced account already: unlink it there first.")
	case errors.Is(err, store.ErrLimit):
		s.page(w, http.StatusConflict, "Link", "This account has as many linked identities as it may; unlink one first.")
	case errors.Is(err, store.ErrNotFound):
		s.page(w, http.StatusBadRequest, "Link", "The account that asked for this link no longer exists.")
	case err != nil:
		s.Log.Error("link identity", "err", err)
		s.page(w, http.StatusInternalServerError, "Link", "Something went wrong; try again.")
	default:
		http.Redirect(w, r, "/#account", http.StatusSeeOther)
	}
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} — presenced</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem}</style></head>
<body><main><h1>{{.Title}}</h1><p role="alert">{{.Message}}</p><p><a href="/">Back to presenced</a></p></main></body></html>
`))

func (s *Set) page(w http.ResponseWriter, status int, title, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the callback's URL holds the code
	w.WriteHeader(status)
	pageTmpl.Execute(w, struct{ Title, Message string }{title, msg})
}
