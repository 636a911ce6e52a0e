// Package oidctest runs a small OpenID Connect provider on loopback for
// tests: zitadel/oidc's op with an in-memory storage, one user at a time
// who is signed in without a page (the authorization request is approved
// at once), and the provider's signing key at hand so that a test can
// also make tokens it would not issue (expired, for another audience …).
// It is a real provider over HTTP: discovery, keys, authorization, token
// endpoint; nothing is mocked.
package oidctest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is who signs in at the provider.
type User struct {
	Subject       string
	Email         string
	EmailVerified bool
}

// Issuer is a running provider.
type Issuer struct {
	URL   string // the issuer, http://127.0.0.1:PORT
	Key   *rsa.PrivateKey
	KeyID string

	provider *op.Provider
	mu       sync.Mutex
	user     User
	clients  map[string]*client
	requests map[string]*authRequest
	codes    map[string]string
}

// Start runs a provider until the test ends.
func Start(t testing.TB) *Issuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	is := &Issuer{URL: "http://" + ln.Addr().String(), Key: key, KeyID: "test-key-1",
		clients: map[string]*client{}, requests: map[string]*authRequest{}, codes: map[string]string{}}
	var cryptoKey [32]byte
	rand.Read(cryptoKey[:])
	is.provider, err = op.NewProvider(&op.Config{CryptoKey: cryptoKey, CodeMethodS256: true, AuthMethodPost: true},
		&storage{is}, op.StaticIssuer(is.URL), op.WithAllowInsecure())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", is.login)
	mux.Handle("/", is.provider)
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return is
}

// Rotate replaces the provider's signing key with a new one, under a new
// key ID: it signs and publishes only that one from now on.
func (is *Issuer) Rotate(t testing.TB) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.Key, is.KeyID = key, randomID()
}

// current is the signing key and its ID.
func (is *Issuer) current() (*rsa.PrivateKey, string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.Key, is.KeyID
}

// AddClient registers a client with a secret.
func (is *Issuer) AddClient(id, secret string, redirectURIs ...string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	h := sha256.Sum256([]byte(secret))
	is.clients[id] = &client{id: id, secretHash: h[:], redirects: redirectURIs}
}

// SignInAs makes u the user every following authorization request signs in.
func (is *Issuer) SignInAs(u User) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.user = u
}

// Claims are an ID token's, for Sign.
type Claims struct {
	Issuer        string   `json:"iss,omitempty"`
	Subject       string   `json:"sub,omitempty"`
	Audience      []string `json:"aud,omitempty"`
	Expiry        int64    `json:"exp,omitempty"`
	IssuedAt      int64    `json:"iat,omitempty"`
	Email         string   `json:"email,omitempty"`
	EmailVerified *bool    `json:"email_verified,omitempty"`
}

// IDToken is an ID token for u, to audience, valid from now for ttl (a
// negative ttl makes an expired one), signed with the provider's key.
func (is *Issuer) IDToken(t testing.TB, u User, audience string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	c := Claims{Issuer: is.URL, Subject: u.Subject, Audience: []string{audience}, IssuedAt: now.Add(min(ttl, 0) - time.Minute).Unix(),
		Expiry: now.Add(ttl).Unix(), Email: u.Email, EmailVerified: &u.EmailVerified}
	return is.Sign(t, c)
}

// Sign signs any claims with the provider's key (RS256, its key ID).
func (is *Issuer) Sign(t testing.TB, c any) string {
	t.Helper()
	key, kid := is.current()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// login signs the current user in for the authorization request and
// sends the browser on to the library's callback, which issues the code.
func (is *Issuer) login(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	is.mu.Lock()
	a, ok := is.requests[id]
	if ok {
		a.user, a.done, a.authTime = is.user, true, time.Now()
	}
	is.mu.Unlock()
	if !ok {
		http.Error(w, "unknown request", http.StatusBadRequest)
		return
	}
	http.Redirect(w, r, op.AuthCallbackURL(is.provider)(op.ContextWithIssuer(r.Context(), is.URL), id), http.StatusFound)
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

type client struct {
	id         string
	secretHash []byte
	redirects  []string
}

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return c.redirects }
func (c *client) PostLogoutRedirectURIs() []string    { return nil }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType         { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) LoginURL(id string) string            { return "/login?id=" + id }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration       { return time.Hour }
func (c *client) DevMode() bool                        { return true }
func (c *client) IsScopeAllowed(string) bool           { return true }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

type authRequest struct {
	id, clientID, redirectURI, state, nonce string
	scopes                                  []string
	challenge                               *oidc.CodeChallenge
	user                                    User
	done                                    bool
	authTime                                time.Time
}

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return oidc.ResponseTypeCode }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return oidc.ResponseModeQuery }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.user.Subject }
func (a *authRequest) Done() bool                            { return a.done }

type signingKey struct {
	key *rsa.PrivateKey
	kid string
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.kid }

type publicKey struct{ signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

// storage is op.Storage in memory: authorization requests and codes; the
// tokens it issues are not kept (the tests use ID tokens only).
type storage struct{ is *Issuer }

var _ op.Storage = (*storage)(nil)
var _ op.CanSetUserinfoFromRequest = (*storage)(nil)

func (s *storage) CreateAuthRequest(_ context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	a := &authRequest{id: randomID(), clientID: req.ClientID, redirectURI: req.RedirectURI, state: req.State, nonce: req.Nonce,
		scopes: req.Scopes, challenge: &oidc.CodeChallenge{Challenge: req.CodeChallenge, Method: req.CodeChallengeMethod}}
	s.is.mu.Lock()
	defer s.is.mu.Unlock()
	s.is.requests[a.id] = a
	return a, nil
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.is.mu.Lock()
	defer s.is.mu.Unlock()
	if a, ok := s.is.requests[id]; ok {
		c := *a
		return &c, nil
	}
	return nil, oidc.ErrInvalidRequest().WithDescription("unknown request")
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.is.mu.Lock()
	id, ok := s.is.codes[code]
	s.is.mu.Unlock()
	if !ok {
		return nil, oidc.ErrInvalidGrant().WithDescription("unknown code")
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.is.mu.Lock()
	defer s.is.mu.Unlock()
	s.is.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.is.mu.Lock()
	defer s.is.mu.Unlock()
	delete(s.is.requests, id)
	for code, rid := range s.is.codes {
		if rid == id {
			delete(s.is.codes, code)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(context.Context, op.TokenRequest) (string, time.Time, error) {
	return randomID(), time.Now().Add(5 * time.Minute), nil
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, oidc.ErrUnsupportedGrantType()
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (s *storage) TerminateSession(context.Context, string, string) error { return nil }
func (s *storage) RevokeToken(context.Context, string, string, string) *oidc.Error {
	return nil
}
func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}
func (s *storage) SigningKey(context.Context) (op.SigningKey, error) {
	key, kid := s.is.current()
	return signingKey{key, kid}, nil
}
func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}
func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	key, kid := s.is.current()
	return []op.Key{publicKey{signingKey{key, kid}}}, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	s.is.mu.Lock()
	defer s.is.mu.Unlock()
	if c, ok := s.is.clients[id]; ok {
		return c, nil
	}
	return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	s.is.mu.Lock()
	defer s.is.mu.Unlock()
	h := sha256.Sum256([]byte(secret))
	if c, ok := s.is.clients[id]; ok && string(c.secretHash) == string(h[:]) {
		return nil
	}
	return oidc.ErrInvalidClient().WithDescription("client authentication failed")
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest puts the user's e-mail in the ID token.
func (s *storage) SetUserinfoFromRequest(_ context.Context, info *oidc.UserInfo, req op.IDTokenRequest, _ []string) error {
	info.Subject = req.GetSubject()
	if a, ok := req.(*authRequest); ok {
		info.Email, info.EmailVerified = a.user.Email, oidc.Bool(a.user.EmailVerified)
	}
	return nil
}

func (s *storage) SetUserinfoFromToken(context.Context, *oidc.UserInfo, string, string, string) error {
	return nil
}
func (s *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return nil
}
func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, oidc.ErrUnauthorizedClient()
}
func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnauthorizedClient()
}
func (s *storage) Health(context.Context) error { return nil }
