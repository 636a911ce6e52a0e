package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/presenced/presenced/internal/store"
)

// storage is what op asks of presenced (op.Storage).
type storage struct{ p *Provider }

var _ op.Storage = (*storage)(nil)
var _ op.CanSetUserinfoFromRequest = (*storage)(nil)

// browserKey carries the browser binding of /authorize (consent.go) to
// CreateAuthRequest.
type browserKey struct{}

func (s *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	app, err := s.p.Store.GetApp(ctx, req.ClientID)
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client_id")
	}
	if req.ResponseType != oidc.ResponseTypeCode {
		return nil, oidc.ErrInvalidRequest().WithDescription("only response_type=code is supported")
	}
	// OAuth 2.1 § 4.1.1: PKCE for every client, and S256 (plain would
	// hand the verifier to whoever sees the authorization request)
	if req.CodeChallenge == "" || req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE is required: send code_challenge with code_challenge_method=S256")
	}
	for _, sc := range req.Scopes {
		if !allowed(app, sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not one this app may ask for", sc)
		}
	}
	browser, _ := ctx.Value(browserKey{}).(string)
	a := &authRequest{clientID: app.ID, redirectURI: req.RedirectURI, scopes: slices.Clone(req.Scopes), state: req.State,
		nonce: req.Nonce, mode: req.ResponseMode, browser: browser,
		challenge: &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: req.CodeChallengeMethod}}
	switch err := s.p.requests.add(ctx, a); {
	case errors.Is(err, errTooMany):
		return nil, oidc.ErrServerError().WithDescription("too many sign-ins at once; try again in a minute")
	case err != nil:
		return nil, err
	}
	return a, nil
}

// allowed: a scope presenced knows and the app was registered for (the
// OpenID Connect scopes are every app's).
func allowed(app store.App, scope string) bool {
	switch scope {
	case oidc.ScopeOpenID, oidc.ScopeOfflineAccess:
		return true
	}
	return slices.Contains(store.KnownScopes, scope) && slices.Contains(app.Scopes, scope)
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	a, err := s.p.requests.get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, oidc.ErrInvalidRequest().WithDescription("unknown or expired authorization request")
	}
	return a, err
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	a, family, err := s.p.requests.byCode(ctx, code)
	switch {
	case err == nil:
		return a, nil
	case errors.Is(err, store.ErrStale):
		// OAuth 2.1 § 4.1.3: a code used twice was stolen; what its
		// first use gave is revoked
		if family != "" {
			if err := s.p.Store.DeleteRefreshFamily(ctx, family); err != nil {
				s.p.Log.Warn("oauth: revoke after code replay", "err", err)
			}
		}
		return nil, oidc.ErrInvalidGrant().WithDescription("the code was used already; what it gave is revoked")
	case errors.Is(err, store.ErrNotFound):
		return nil, oidc.ErrInvalidGrant().WithDescription("unknown or expired code")
	}
	return nil, err
}

func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	err := s.p.requests.saveCode(ctx, id, code)
	if errors.Is(err, store.ErrNotFound) {
		return oidc.ErrInvalidRequest().WithDescription("unknown or expired authorization request")
	}
	return err
}

// DeleteAuthRequest has nothing to do: the exchange spent the request
// (spendCode), which the store keeps to recognise a replayed code.
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

// grantOf is who a token request is for: the account, the app, the
// scopes, and the refresh family it belongs to.
type grantOf struct {
	account, app, family string
	scopes               []string
	authTime             time.Time
}

func (s *storage) grantOf(req op.TokenRequest) (grantOf, error) {
	switch r := req.(type) {
	case *authRequest:
		return grantOf{account: r.account, app: r.clientID, scopes: r.scopes, authTime: r.authTime}, nil
	case *refreshRequest:
		return grantOf{account: r.rt.Account, app: r.rt.App, family: r.rt.Family, scopes: r.scopes, authTime: r.rt.AuthTime}, nil
	}
	return grantOf{}, oidc.ErrServerError().WithDescription("unexpected token request %T", req)
}

// spendCode spends the code of req if it is a code's exchange, before
// any token is made: the library asks for tokens only once the client
// and its PKCE verifier were checked, so a failed attempt leaves the code
// to the rightful client, and of two exchanges of one code, on any nodes,
// one gets tokens.
func (s *storage) spendCode(ctx context.Context, req op.TokenRequest) error {
	a, ok := req.(*authRequest)
	if !ok {
		return nil
	}
	switch err := s.p.requests.spend(ctx, a.id); {
	case errors.Is(err, store.ErrStale):
		return oidc.ErrInvalidGrant().WithDescription("the code was used already")
	case errors.Is(err, store.ErrNotFound):
		return oidc.ErrInvalidGrant().WithDescription("unknown or expired code")
	default:
		return err
	}
}

func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	g, err := s.grantOf(req)
	if err != nil {
		return "", time.Time{}, err
	}
	if err := s.spendCode(ctx, req); err != nil {
		return "", time.Time{}, err
	}
	return s.accessToken(ctx, g, AccessTokenTTL)
}

// accessToken stores a new access token of g and returns its ID: the
// library seals the ID into the token the app gets.
func (s *storage) accessToken(ctx context.Context, g grantOf, ttl time.Duration) (string, time.Time, error) {
	now := s.p.Clock.Now()
	id := randomID(16)
	t := store.Token{ID: id, Hash: tokenHash("access:" + id), Account: g.account, Label: "app " + g.app,
		CreatedAt: now, ExpiresAt: now.Add(ttl), App: g.app, Scopes: g.scopes, Family: g.family}
	if err := s.p.Store.CreateToken(ctx, t); err != nil {
		return "", time.Time{}, err
	}
	return id, t.ExpiresAt, nil
}

// refreshPrefix marks presenced's refresh tokens.
const refreshPrefix = "pdr_"

func tokenHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	g, err := s.grantOf(req)
	if err != nil {
		return "", "", time.Time{}, err
	}
	if err := s.spendCode(ctx, req); err != nil {
		return "", "", time.Time{}, err
	}
	now := s.p.Clock.Now()
	secret := refreshPrefix + randomID(32)
	next := store.RefreshToken{ID: randomID(16), Hash: tokenHash(secret), Account: g.account, App: g.app, Scopes: g.scopes,
		AuthTime: g.authTime, CreatedAt: now, ExpiresAt: now.Add(RefreshTokenTTL)}
	if current == "" { // a new family, from a code
		next.Family = next.ID
		if err := s.p.Store.CreateRefreshToken(ctx, next); err != nil {
			return "", "", time.Time{}, err
		}
		if a, ok := req.(*authRequest); ok {
			if err := s.p.requests.startedFamily(ctx, a.id, next.ID); err != nil {
				return "", "", time.Time{}, err
			}
		}
	} else { // a rotation
		next.Family = g.family
		switch err := s.p.Store.UseRefreshToken(ctx, tokenHash(current), next); {
		case errors.Is(err, store.ErrStale):
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("the refresh token was used already: its sign-in is revoked")
		case errors.Is(err, store.ErrNotFound):
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("unknown or expired refresh token")
		case err != nil:
			return "", "", time.Time{}, err
		}
	}
	g.family = next.Family
	id, exp, err := s.accessToken(ctx, g, AccessTokenTTL)
	return id, secret, exp, err
}

// refreshRequest is a refresh token presented for use (op.RefreshTokenRequest).
type refreshRequest struct {
	rt      store.RefreshToken
	subject string
	scopes  []string
}

func (r *refreshRequest) GetAMR() []string             { return []string{"pwd"} }
func (r *refreshRequest) GetAudience() []string        { return []string{r.rt.App} }
func (r *refreshRequest) GetAuthTime() time.Time       { return r.rt.AuthTime }
func (r *refreshRequest) GetClientID() string          { return r.rt.App }
func (r *refreshRequest) GetScopes() []string          { return r.scopes }
func (r *refreshRequest) GetSubject() string           { return r.subject }
func (r *refreshRequest) SetCurrentScopes(sc []string) { r.scopes = sc }

func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	rt, err := s.refreshToken(ctx, token)
	if err != nil {
		return nil, err
	}
	return &refreshRequest{rt: rt, subject: s.p.handle(rt.App, rt.Account), scopes: slices.Clone(rt.Scopes)}, nil
}

// refreshToken finds a live refresh token; a used one is reuse, which
// revokes its family (OAuth 2.1 § 4.3.1).
func (s *storage) refreshToken(ctx context.Context, token string) (store.RefreshToken, error) {
	if !strings.HasPrefix(token, refreshPrefix) {
		return store.RefreshToken{}, op.ErrInvalidRefreshToken
	}
	rt, err := s.p.Store.RefreshTokenByHash(ctx, tokenHash(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return rt, oidc.ErrInvalidGrant().WithDescription("unknown or expired refresh token")
	case err != nil:
		return rt, err
	case rt.Used:
		if err := s.p.Store.DeleteRefreshFamily(ctx, rt.Family); err != nil {
			return rt, err
		}
		return rt, oidc.ErrInvalidGrant().WithDescription("the refresh token was used already: its sign-in is revoked")
	case !s.p.Clock.Now().Before(rt.ExpiresAt):
		return rt, oidc.ErrInvalidGrant().WithDescription("the refresh token expired")
	}
	return rt, nil
}

func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

// RevokeToken revokes an access token by its ID, or a refresh token with
// its family (RFC 7009 § 2.1 lets the server revoke what came with it).
func (s *storage) RevokeToken(ctx context.Context, tokenOrID, _ string, clientID string) *oidc.Error {
	if strings.HasPrefix(tokenOrID, refreshPrefix) {
		rt, err := s.p.Store.RefreshTokenByHash(ctx, tokenHash(tokenOrID))
		if err != nil || rt.App != clientID {
			return nil // RFC 7009 § 2.2: an invalid token is answered like a revoked one
		}
		if err := s.p.Store.DeleteRefreshFamily(ctx, rt.Family); err != nil {
			return oidc.ErrServerError()
		}
		return nil
	}
	t, err := s.p.Store.TokenByID(ctx, tokenOrID)
	if err != nil || t.App != clientID {
		return nil
	}
	if err := s.p.Store.DeleteToken(ctx, t.Account, t.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return oidc.ErrServerError()
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	if !strings.HasPrefix(token, refreshPrefix) {
		return "", "", op.ErrInvalidRefreshToken
	}
	rt, err := s.p.Store.RefreshTokenByHash(ctx, tokenHash(token))
	if err != nil || rt.App != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return s.p.handle(rt.App, rt.Account), rt.ID, nil
}

func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	return s.p.keys.signing(ctx, s.p.Clock.Now())
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	return s.p.keys.public(ctx, s.p.Clock.Now()), nil
}

func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	app, err := s.p.Store.GetApp(ctx, id)
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client_id")
	}
	return &client{app: app}, nil
}

func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	app, err := s.p.Store.GetApp(ctx, id)
	if err != nil || app.Public || len(app.SecretHash) == 0 {
		return oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	if subtle.ConstantTimeCompare(tokenHash(secret), app.SecretHash) != 1 {
		return oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, subject, _ string, _ []string) error {
	info.Subject = subject
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims: the pairwise
// subject, and the real address only with the addresses scope.
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	info.Subject = req.GetSubject()
	if slices.Contains(scopes, ScopeAddresses) {
		g, err := s.grantOf(req)
		if err != nil {
			return err
		}
		info.AppendClaims(ClaimAddress, g.account)
	}
	return nil
}

// ScopeAddresses lets an app see real addresses; ClaimAddress carries
// the user's own in the ID token and userinfo.
const (
	ScopeAddresses = "addresses"
	ClaimAddress   = "presence_address"
)

func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	t, err := s.liveToken(ctx, tokenID)
	if err != nil {
		return err
	}
	info.Subject = subject
	if slices.Contains(t.Scopes, ScopeAddresses) {
		info.AppendClaims(ClaimAddress, t.Account)
	}
	return nil
}

func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	t, err := s.liveToken(ctx, tokenID)
	if err != nil || t.App != clientID {
		return oidc.ErrInvalidRequest().WithDescription("inactive")
	}
	resp.Active, resp.Scope, resp.ClientID, resp.Subject = true, t.Scopes, t.App, subject
	resp.Expiration, resp.IssuedAt = oidc.FromTime(t.ExpiresAt), oidc.FromTime(t.CreatedAt)
	resp.Audience = []string{t.App}
	resp.TokenType = oidc.BearerToken
	return nil
}

// liveToken is an app's access token that is neither revoked nor expired.
func (s *storage) liveToken(ctx context.Context, id string) (store.Token, error) {
	t, err := s.p.Store.TokenByID(ctx, id)
	if err != nil || t.App == "" || !s.p.Clock.Now().Before(t.ExpiresAt) {
		return store.Token{}, oidc.ErrInvalidRequest().WithDescription("the token is not valid")
	}
	return t, nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID refuses JWT profile grants and private_key_jwt:
// apps authenticate with a secret or, when public, with PKCE alone.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, oidc.ErrUnauthorizedClient().WithDescription("JWT assertions are not accepted")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnauthorizedClient().WithDescription("JWT assertions are not accepted")
}

func (s *storage) Health(context.Context) error { return nil }
