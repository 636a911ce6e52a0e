// Package api is presenced's HTTP REST API (/v1/…): sign-in and tokens,
// contacts with ETag/If-Match and vCard, subscriptions, blocks, privacy,
// grants, the caller's own apps and presence queries. Handlers
// authenticate, decode, call the core (or package appreg, for apps) and
// encode; the rules live there. openapi.json documents each route.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/appreg"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/jsonerr"
	"github.com/presenced/presenced/internal/metrics"
	"github.com/presenced/presenced/internal/problem"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/webpush"
	"github.com/presenced/presenced/internal/wire"
)

// MaxBody bounds a JSON request body; imports have their own limit.
const MaxBody = 64 << 10

// MaxImport bounds a vCard import.
const MaxImport = 16 << 20

// API serves the REST endpoints.
type API struct {
	Hub    *core.Hub
	Auth   *auth.Auth
	Log    *slog.Logger
	Signup bool // self sign-up allowed
	// Authenticate resolves a request's credentials (bearer token, or web
	// cookie with CSRF check) to a token; nil means not signed in.
	Authenticate func(*http.Request) (*store.Token, error)
	Metrics      *metrics.Registry
	Apps         *appreg.Registry // the caller's own apps (apps.go)
	Push         *webpush.Service // devices' Web Push subscriptions (push.go)
}

// Token is the signed-in caller, put in the request context.
type ctxKey struct{}

func caller(r *http.Request) store.Token { return r.Context().Value(ctxKey{}).(store.Token) }

// Routes registers every endpoint on mux and returns their patterns.
func (a *API) Routes(mux *http.ServeMux) []string {
	var patterns []string
	open := func(pattern string, h http.HandlerFunc) {
		patterns = append(patterns, pattern)
		mux.Handle(pattern, a.observe(pattern, h))
	}
	authed := func(pattern string, h http.HandlerFunc) { open(pattern, a.signedIn(h, false)) }
	// apps: the routes an app's access token may use too (docs/apps.md)
	apps := func(pattern string, h http.HandlerFunc) { open(pattern, a.signedIn(h, true)) }

	open("POST /v1/auth/login", a.login)
	open("POST /v1/auth/signup", a.signup)
	authed("POST /v1/auth/logout", a.logout)
	authed("GET /v1/auth/tokens", a.listTokens)
	authed("DELETE /v1/auth/tokens", a.signOutEverywhere)
	authed("DELETE /v1/auth/tokens/{id}", a.revokeToken)
	authed("GET /v1/auth/sessions", a.listSessions)
	authed("DELETE /v1/auth/sessions/{resource}", a.endSession)
	authed("POST /v1/auth/password", a.changePassword)
	authed("GET /v1/me", a.me)

	authed("GET /v1/contacts", a.listContacts)
	authed("POST /v1/contacts", a.createContact)
	authed("GET /v1/contacts/{id}", a.getContact)
	authed("PUT /v1/contacts/{id}", a.putContact)
	authed("DELETE /v1/contacts/{id}", a.deleteContact)
	authed("POST /v1/contacts/import", a.importContacts)
	authed("GET /v1/contacts/export", a.exportContacts)

	authed("GET /v1/subscriptions", a.listSubscriptions)
	authed("POST /v1/subscriptions/{address}/{action}", a.subscriptionAction)
	authed("GET /v1/blocks", a.listBlocks)
	authed("PUT /v1/blocks/{address}", a.graphOp((*core.Hub).Block))
	authed("DELETE /v1/blocks/{address}", a.graphOp((*core.Hub).Unblock))
	authed("GET /v1/privacy", a.getPrivacy)
	authed("PUT /v1/privacy/invisible", a.putInvisible)
	authed("PUT /v1/privacy/hidden/{address}", a.graphOp((*core.Hub).Hide))
	authed("DELETE /v1/privacy/hidden/{address}", a.graphOp((*core.Hub).Unhide))

	authed("GET /v1/grants", a.listGrants)
	authed("PATCH /v1/grants/{app}", a.editGrant)
	authed("DELETE /v1/grants/{app}", a.revokeGrant)

	authed("GET /v1/apps", a.listApps)
	authed("POST /v1/apps", a.registerApp)
	authed("GET /v1/apps/{id}", a.getApp)
	authed("PATCH /v1/apps/{id}", a.editApp)
	authed("DELETE /v1/apps/{id}", a.deleteApp)
	authed("POST /v1/apps/{id}/secret", a.newAppSecret)

	authed("GET /v1/history", a.getHistory)
	authed("PUT /v1/history", a.putHistory)
	authed("DELETE /v1/history", a.eraseHistory)

	authed("GET /v1/push/key", a.pushKey)
	authed("GET /v1/push/subscriptions", a.listPushSubscriptions)
	authed("POST /v1/push/subscriptions", a.subscribePush)
	authed("DELETE /v1/push/subscriptions/{id}", a.unsubscribePush)

	apps("GET /v1/presence", a.getPresence)
	apps("POST /v1/presence/query", a.queryPresence)
	return patterns
}

// observe records latency per route.
func (a *API) observe(route string, h http.Handler) http.Handler {
	hist := a.Metrics.Histogram("presenced_http_request_duration_seconds", "HTTP request latency by route.", metrics.DefaultLatency, "route", route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		hist.Since(start)
	})
}

func (a *API) signedIn(h http.HandlerFunc, apps bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, err := a.Authenticate(r)
		if err != nil {
			problem.Error(w, err)
			return
		}
		if tok == nil {
			problem.Write(w, core.CodeUnauthorized, "sign in: send Authorization: Bearer <token>")
			return
		}
		if tok.App != "" && !apps {
			problem.Write(w, core.CodeForbidden, "an app's token reaches the presence routes and the JSON protocol, not this route: it is its user's own")
			return
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, *tok)))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decode reads a bounded JSON body into v, rejecting unknown fields,
// invalid UTF-8 (encoding/json would silently store U+FFFD in its place)
// and anything after the object. Errors name the field in words, not Go
// types.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		problem.Write(w, core.CodeTooLarge, "request body is larger than 64 KiB")
		return false
	case err != nil:
		problem.Write(w, core.CodeInvalid, "cannot read the request body")
		return false
	case !utf8.Valid(body):
		problem.Write(w, core.CodeInvalid, "request body is not valid UTF-8")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		problem.Write(w, core.CodeInvalid, "request body: "+jsonerr.Describe(err))
		return false
	}
	if _, err := dec.Token(); err != io.EOF {
		problem.Write(w, core.CodeInvalid, "request body: one JSON object, and nothing after it")
		return false
	}
	return true
}

// fail writes err, logging the ones that are not the client's fault.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	if problem.Error(w, err) {
		a.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}

// Sign-in

type credentials struct {
	Address  string `json:"address"`
	Password string `json:"password"`
	Label    string `json:"label,omitempty"`
}

type tokenJSON struct {
	ID        string     `json:"id"`
	Label     string     `json:"label"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Current   bool       `json:"current,omitempty"`
}

type loginJSON struct {
	Token   string    `json:"token"`
	Account string    `json:"account"`
	Info    tokenJSON `json:"info"`
}

func toTokenJSON(t store.Token) tokenJSON {
	j := tokenJSON{ID: t.ID, Label: t.Label, CreatedAt: t.CreatedAt}
	if !t.ExpiresAt.IsZero() {
		j.ExpiresAt = &t.ExpiresAt
	}
	return j
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var c credentials
	if !decode(w, r, &c) {
		return
	}
	if c.Label == "" {
		c.Label = "api"
	}
	// a client that signs in again with a valid token of the account (its
	// owner) is throttled by its own failures only (auth.Throttle)
	from := auth.Client{IP: auth.ClientIP(r)}
	if held, err := a.Authenticate(r); err == nil && (held == nil || held.App == "") {
		from.Token = held
	}
	secret, tok, err := a.Auth.Login(r.Context(), from, c.Address, c.Password, c.Label)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, loginJSON{Token: secret, Account: tok.Account, Info: toTokenJSON(tok)})
}

func (a *API) signup(w http.ResponseWriter, r *http.Request) {
	if !a.Signup {
		problem.Write(w, core.CodeNotFound, "self sign-up is disabled on this server")
		return
	}
	var c credentials
	if !decode(w, r, &c) {
		return
	}
	c.Address = addr.Qualify(c.Address, a.Hub.Domain()) // a bare name: on the primary domain
	if bare, err := addr.Bare(c.Address); err == nil && !a.Hub.Serves(addr.DomainOf(bare)) {
		problem.Write(w, core.CodeInvalid, "this server hosts "+strings.Join(a.Hub.Domains(), ", "))
		return
	}
	bare, err := a.Auth.CreateAccount(r.Context(), c.Address, c.Password)
	if errors.Is(err, store.ErrExists) {
		problem.Write(w, core.CodeExists, "that address is taken")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"account": bare})
}

func (a *API) logout(w http.ResponseWriter, r *http.Request) {
	t := caller(r)
	if err := a.Auth.Revoke(r.Context(), t.Account, t.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) listTokens(w http.ResponseWriter, r *http.Request) {
	t := caller(r)
	toks, err := a.Auth.Tokens(r.Context(), t.Account)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := []tokenJSON{}
	for _, x := range toks {
		j := toTokenJSON(x)
		j.Current = x.ID == t.ID
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

func (a *API) revokeToken(w http.ResponseWriter, r *http.Request) {
	err := a.Auth.Revoke(r.Context(), caller(r).Account, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		problem.Write(w, core.CodeNotFound, "no such token")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// signOutEverywhere revokes every token of the caller's account (this
// request's too) and ends every live session, also those signed in with
// the password (XMPP).
func (a *API) signOutEverywhere(w http.ResponseWriter, r *http.Request) {
	account := caller(r).Account
	// one transaction, finished even if the client goes away meanwhile
	if err := a.Auth.RevokeAll(context.WithoutCancel(r.Context()), account); err != nil {
		a.fail(w, r, err)
		return
	}
	a.Hub.EndAllSessions(account)
	w.WriteHeader(http.StatusNoContent)
}

type sessionJSON struct {
	Resource     string    `json:"resource"`
	Device       string    `json:"device"`
	Transport    string    `json:"transport"`
	Token        string    `json:"token,omitempty"` // the ID of the token it signed in with; absent for a password sign-in
	Started      time.Time `json:"started"`
	Availability string    `json:"availability"`
	Current      bool      `json:"current,omitempty"` // signed in with this request's token
}

func (a *API) listSessions(w http.ResponseWriter, r *http.Request) {
	t := caller(r)
	out := []sessionJSON{}
	for _, s := range a.Hub.Sessions(t.Account) {
		j := sessionJSON{Resource: s.Resource, Device: s.Device, Transport: s.Transport, Started: s.Started.UTC(),
			Availability: string(s.Availability), Current: s.Credential == t.ID}
		if s.Credential != core.CredentialPassword {
			j.Token = s.Credential
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

func (a *API) endSession(w http.ResponseWriter, r *http.Request) {
	if err := a.Hub.EndSession(caller(r).Account, r.PathValue("resource")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// changePassword checks the current password (throttled like a sign-in),
// sets the new one and, with it, revokes every token: all sessions end,
// this request's token stops working, and the caller signs in again.
func (a *API) changePassword(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Password    string `json:"password"`
		NewPassword string `json:"new_password"`
	}
	if !decode(w, r, &body) {
		return
	}
	tok := caller(r)
	account := tok.Account
	// the owner, holding a valid token, meets only its own failures (auth.Throttle)
	if _, err := a.Auth.CheckPassword(r.Context(), auth.Client{IP: auth.ClientIP(r), Token: &tok}, account, body.Password); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.Auth.SetPassword(context.WithoutCancel(r.Context()), account, body.NewPassword); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *API) me(w http.ResponseWriter, r *http.Request) {
	t := caller(r)
	p, err := a.Hub.Privacy(r.Context(), t.Account)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": t.Account, "privacy": wire.Privacy(p)})
}

// Subscriptions, blocks, privacy, presence

func (a *API) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	subs, err := a.Hub.Subscriptions(r.Context(), caller(r).Account)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscriptions": wire.Subscriptions(subs)})
}

var subscriptionActions = map[string]func(*core.Hub, context.Context, string, string) error{
	"subscribe": (*core.Hub).Subscribe, "approve": (*core.Hub).Approve, "deny": (*core.Hub).Deny,
	"unsubscribe": (*core.Hub).Unsubscribe, "remove": (*core.Hub).Remove,
}

func (a *API) subscriptionAction(w http.ResponseWriter, r *http.Request) {
	op, ok := subscriptionActions[r.PathValue("action")]
	if !ok {
		problem.Write(w, core.CodeNotFound, "action must be subscribe, approve, deny, unsubscribe or remove")
		return
	}
	a.graphOp(op)(w, r)
}

// graphOp runs a relationship change on {address} and answers with the
// caller's resulting view of it.
func (a *API) graphOp(op func(*core.Hub, context.Context, string, string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		me, other := caller(r).Account, r.PathValue("address")
		if err := op(a.Hub, r.Context(), me, other); err != nil {
			a.fail(w, r, err)
			return
		}
		other, _ = addr.Bare(other)
		subs, err := a.Hub.Subscriptions(r.Context(), me)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		view := wire.SubscriptionJSON{Address: other, Subscription: "none"}
		for _, s := range subs {
			if s.Address == other {
				view = wire.Subscription(s)
			}
		}
		writeJSON(w, http.StatusOK, view)
	}
}

func (a *API) listBlocks(w http.ResponseWriter, r *http.Request) {
	p, err := a.Hub.Privacy(r.Context(), caller(r).Account)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"blocks": wire.Privacy(p).Blocks})
}

func (a *API) getPrivacy(w http.ResponseWriter, r *http.Request) {
	p, err := a.Hub.Privacy(r.Context(), caller(r).Account)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wire.Privacy(p))
}

func (a *API) putInvisible(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Invisible *bool `json:"invisible"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.Invisible == nil {
		problem.Write(w, core.CodeInvalid, "invisible (true or false) is required")
		return
	}
	if err := a.Hub.SetInvisible(r.Context(), caller(r).Account, *body.Invisible); err != nil {
		a.fail(w, r, err)
		return
	}
	a.getPrivacy(w, r)
}

// MaxPresenceQuery bounds how many addresses one presence query names.
const MaxPresenceQuery = 1000

func (a *API) getPresence(w http.ResponseWriter, r *http.Request) {
	a.presence(w, r, r.URL.Query()["address"])
}

func (a *API) queryPresence(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Addresses []string `json:"addresses"`
	}
	if !decode(w, r, &body) {
		return
	}
	a.presence(w, r, body.Addresses)
}

// presence answers what the caller may see now of the named addresses (all
// that approved it when none are named). Addresses it may not see are left
// out, exactly like unknown ones.
func (a *API) presence(w http.ResponseWriter, r *http.Request, only []string) {
	if len(only) > MaxPresenceQuery {
		problem.Write(w, core.CodeInvalid, "at most "+strconv.Itoa(MaxPresenceQuery)+" addresses per query")
		return
	}
	tok := caller(r)
	ch := core.Channel{App: tok.App, Scopes: core.ScopesOf(tok.Scopes)}
	for i, s := range only {
		if !ch.FirstParty() && core.IsHandle(s) {
			continue // an app names contacts by their handles
		}
		bare, err := addr.Bare(s)
		if err != nil {
			problem.Write(w, core.CodeInvalid, err.Error())
			return
		}
		only[i] = bare
	}
	views, err := a.Hub.PresenceOn(r.Context(), tok.Account, ch, only)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if r.URL.Query().Get("online") == "true" {
		kept := views[:0]
		for _, v := range views {
			if v.Availability != core.Unavailable {
				kept = append(kept, v)
			}
		}
		views = kept
	}
	writeJSON(w, http.StatusOK, map[string]any{"presence": wire.Presences(views)})
}

func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

// ifMatch parses If-Match: 0 when absent or "*", else the version. A
// malformed header is answered with a problem and ok false.
func ifMatch(w http.ResponseWriter, r *http.Request) (version int64, ok bool) {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return 0, true
	}
	v, err := strconv.ParseInt(strings.Trim(strings.TrimPrefix(h, "W/"), `"`), 10, 64)
	if err != nil || v <= 0 {
		problem.Write(w, core.CodeInvalid, `If-Match must be an ETag from this API ("3") or *`)
		return 0, false
	}
	return v, true
}
