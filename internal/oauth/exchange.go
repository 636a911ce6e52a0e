package oauth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/presenced/presenced/internal/identity"
	"github.com/presenced/presenced/internal/store"
)

// The token exchange (RFC 8693, docs/apps.md): a confidential app trades
// an ID token of one of its users, from a trusted external provider or
// from presenced itself, for a short-lived access token of its own,
// limited to scopes the user already granted it. It never widens a grant
// and never makes one: a user who has not allowed the app on the consent
// page gets the app nothing.
//
// The grant type is handled here rather than by the library's token
// exchange (op.TokenExchangeStorage), whose ID-token path first tries the
// id_token_hint verifier (meant for logout hints: no audience check) and
// answers every failure of the subject token with the same "invalid"; here
// one verifier, with the audience the token must name, checks it and the
// app is told what was wrong. The library still parses the request and
// writes the errors.

// ExchangeTokenTTL is the lifetime of an access token from an exchange.
const ExchangeTokenTTL = 5 * time.Minute

// ExternalIdentities are the external providers whose ID tokens are
// exchanged (identity.Set).
type ExternalIdentities interface {
	Trusts(issuer string) bool
	VerifyIDToken(ctx context.Context, issuer, raw string) (*oidc.IDTokenClaims, error)
	AccountFor(ctx context.Context, issuer string, claims *oidc.IDTokenClaims) (string, error)
}

// maxTokenRequest bounds a token request's body.
const maxTokenRequest = 64 << 10

// tokenEndpoint takes the token exchange grant and hands every other to
// the library.
func (p *Provider) tokenEndpoint(lib http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxTokenRequest)
			if err := r.ParseForm(); err == nil && r.PostForm.Get("grant_type") == string(oidc.GrantTypeTokenExchange) {
				p.exchange(w, r)
				return
			}
		}
		lib.ServeHTTP(w, r)
	})
}

func (p *Provider) exchange(w http.ResponseWriter, r *http.Request) {
	ctx := op.ContextWithIssuer(r.Context(), p.Issuer())
	resp, err := p.exchangeToken(ctx, r)
	if err != nil {
		op.RequestError(w, r, err, p.Log)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(resp)
}

func (p *Provider) exchangeToken(ctx context.Context, r *http.Request) (*oidc.TokenExchangeResponse, error) {
	req, clientID, secret, err := op.ParseTokenExchangeRequest(r, p.op.Decoder())
	if err != nil {
		return nil, err
	}
	if clientID == "" { // client_secret_post
		clientID, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	app, err := p.exchangingApp(ctx, clientID, secret)
	if err != nil {
		return nil, err
	}
	switch {
	case req.SubjectToken == "":
		return nil, oidc.ErrInvalidRequest().WithDescription("subject_token is missing")
	case req.SubjectTokenType != oidc.IDTokenType:
		return nil, oidc.ErrInvalidRequest().WithDescription("subject_token_type must be %s: presenced exchanges ID tokens", oidc.IDTokenType)
	case req.RequestedTokenType != "" && req.RequestedTokenType != oidc.AccessTokenType:
		return nil, oidc.ErrInvalidRequest().WithDescription("requested_token_type must be %s (or absent)", oidc.AccessTokenType)
	case req.ActorToken != "" || req.ActorTokenType != "":
		return nil, oidc.ErrInvalidRequest().WithDescription("delegation (actor_token) is not supported")
	}
	for _, aud := range append(slices.Clone([]string(req.Audience)), req.Resource...) {
		if aud != p.Issuer() {
			return nil, (&oidc.Error{ErrorType: "invalid_target"}).WithDescription("presenced issues tokens for itself only (%s), not for %q", p.Issuer(), aud)
		}
	}
	account, err := p.subjectAccount(ctx, app, req.SubjectToken)
	if err != nil {
		return nil, err
	}
	g, err := p.Store.GetGrant(ctx, account, app.ID)
	noGrant := oidc.ErrInvalidGrant().WithDescription("the user has not allowed this app (or has no presenced account for this identity): sign them in with the authorization code flow first; an exchange never makes or widens a grant")
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, noGrant
	case err != nil:
		return nil, err
	case !g.ExpiresAt.IsZero() && !p.Clock.Now().Before(g.ExpiresAt):
		return nil, noGrant
	}
	scopes, err := exchangeScopes(req.Scopes, g.Scopes)
	if err != nil {
		return nil, err
	}
	st := &storage{p: p}
	id, exp, err := st.accessToken(ctx, grantOf{account: account, app: app.ID, scopes: scopes}, ExchangeTokenTTL)
	if errors.Is(err, store.ErrNotFound) { // revoked meanwhile
		return nil, noGrant
	}
	if err != nil {
		return nil, err
	}
	token, err := op.CreateBearerToken(id, p.handle(app.ID, account), p.op.Crypto())
	if err != nil {
		return nil, err
	}
	return &oidc.TokenExchangeResponse{AccessToken: token, IssuedTokenType: oidc.AccessTokenType, TokenType: oidc.BearerToken,
		ExpiresIn: uint64(exp.Sub(p.Clock.Now()).Round(time.Second).Seconds()), Scopes: scopes}, nil
}

// exchangingApp authenticates the app. Only confidential apps exchange:
// an ID token is a bearer credential that travels widely (through
// browsers, into logs, as a logout hint), and a public app proves nothing
// of itself, so for a public app every leaked ID token would be a key to
// its user's grant. A public app signs its user in with the code flow and
// PKCE instead.
func (p *Provider) exchangingApp(ctx context.Context, clientID, secret string) (store.App, error) {
	app, err := p.Store.GetApp(ctx, clientID)
	if err != nil {
		return app, oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	if app.Public {
		return app, oidc.ErrUnauthorizedClient().WithDescription("the token exchange is for confidential apps (with a client secret); a public app signs its user in with the authorization code flow and PKCE")
	}
	if err := (&storage{p: p}).AuthorizeClientIDSecret(ctx, clientID, secret); err != nil {
		return app, err
	}
	return app, nil
}

// subjectAccount checks the ID token fully and returns the account it
// names: presenced's own ID token must be issued to the exchanging app,
// an external provider's to presenced (its client ID there).
func (p *Provider) subjectAccount(ctx context.Context, app store.App, raw string) (string, error) {
	iss, err := unverifiedIssuer(raw)
	if err != nil {
		return "", oidc.ErrInvalidRequest().WithDescription("the subject_token is not an acceptable ID token: %v", err)
	}
	invalid := func(err error) error {
		return oidc.ErrInvalidRequest().WithDescription("the subject_token is not a valid ID token: %v", err)
	}
	if iss == p.Issuer() {
		keys := &op.OpenIDKeySet{Storage: &storage{p: p}}
		claims, err := rp.VerifyIDToken[*oidc.IDTokenClaims](ctx, raw, identity.NewVerifier(p.Issuer(), app.ID, keys))
		if err != nil {
			return "", invalid(err)
		}
		return p.accountOfHandle(ctx, app.ID, claims.Subject)
	}
	if p.Identities == nil || !p.Identities.Trusts(iss) {
		return "", oidc.ErrInvalidRequest().WithDescription("the subject_token's issuer %q is not one this server trusts", iss)
	}
	claims, err := p.Identities.VerifyIDToken(ctx, iss, raw)
	if err != nil {
		return "", invalid(err)
	}
	account, err := p.Identities.AccountFor(ctx, iss, claims)
	if errors.Is(err, identity.ErrNoAccount) {
		return "", oidc.ErrInvalidGrant().WithDescription("the user has not allowed this app (or has no presenced account for this identity): sign them in with the authorization code flow first; an exchange never makes or widens a grant")
	}
	return account, err
}

// unverifiedIssuer reads iss from a compact JWS signed with one of the
// accepted algorithms, to choose the keys that must have signed it; the
// verifier then checks everything. go-jose refuses "none" and every
// algorithm not listed (HMAC ones included) here already.
func unverifiedIssuer(raw string) (string, error) {
	algs := make([]jose.SignatureAlgorithm, len(identity.SigningAlgorithms))
	for i, a := range identity.SigningAlgorithms {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSignedCompact(raw, algs)
	var alg *jose.ErrUnexpectedSignatureAlgorithm
	switch {
	case errors.As(err, &alg) || errors.Is(err, jose.ErrUnsupportedAlgorithm):
		return "", fmt.Errorf("its signature algorithm must be one of %s", strings.Join(identity.SigningAlgorithms, ", "))
	case err != nil:
		return "", fmt.Errorf("it is not a signed JWT: %w", err)
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &c); err != nil || c.Iss == "" {
		return "", errors.New("it has no issuer (iss)")
	}
	return c.Iss, nil
}

// accountOfHandle finds the account whose handle for app is subject among
// those that granted app (a handle is an HMAC: it is recomputed, not
// reversed). The cost grows with the app's users; an index of handles
// comes with the handles of contacts (issue 10).
func (p *Provider) accountOfHandle(ctx context.Context, app, subject string) (string, error) {
	accounts, err := p.Store.GrantingAccounts(ctx, app)
	if err != nil {
		return "", err
	}
	for _, a := range accounts {
		if subtle.ConstantTimeCompare([]byte(p.handle(app, a)), []byte(subject)) == 1 {
			return a, nil
		}
	}
	return "", oidc.ErrInvalidGrant().WithDescription("the user has not allowed this app (or has no presenced account for this identity): sign them in with the authorization code flow first; an exchange never makes or widens a grant")
}

// exchangeScopes are the scopes asked for, each of which the grant must
// hold (none asked: all the grant's). offline_access is never given: an
// exchange issues no refresh token.
func exchangeScopes(asked, granted []string) ([]string, error) {
	if len(asked) == 0 {
		return slices.DeleteFunc(slices.Clone(granted), func(s string) bool { return s == oidc.ScopeOfflineAccess }), nil
	}
	out := []string{}
	for _, s := range asked {
		switch {
		case s == oidc.ScopeOfflineAccess:
			return nil, oidc.ErrInvalidScope().WithDescription("offline_access: an exchange issues no refresh token")
		case !slices.Contains(granted, s):
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not one the user granted this app; an exchange never widens a grant", s)
		case !slices.Contains(out, s):
			out = append(out, s)
		}
	}
	return out, nil
}
