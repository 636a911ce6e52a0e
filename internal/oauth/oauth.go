// Package oauth makes presenced an OAuth 2.1 authorization server and
// OpenID Connect provider for apps (docs/apps.md). The protocol machinery is
// zitadel/oidc's op package; this package is what it asks of a deployment:
// the storage of authorization requests, codes and tokens (our store), the
// apps as clients, the signing keys, the pairwise subjects, the consent
// page where a user grants an app what it asked for, and the contact
// picker where the user shares contacts with it (picker.go).
//
// Where the library's defaults are looser than OAuth 2.1 or than presenced
// wants, they are tightened here, each with a test: PKCE with S256 is
// required of every client (plain and no PKCE are refused), discovery says
// exactly what is supported, unknown scopes are refused rather than
// dropped, CORS is limited to the token-side endpoints, refresh tokens
// rotate and a reused one revokes its family, and subjects are pairwise.
//
// Access tokens are opaque: the library's AES-GCM sealing of the token's
// ID (and subject) under a key derived from the server secret, looked up in
// the store on every use, so revoking one (or its grant) takes effect at
// once, and the store holds no usable secret.
package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/store"
)

// Lifetimes of what the provider issues.
const (
	AccessTokenTTL  = 10 * time.Minute
	RefreshTokenTTL = 30 * 24 * time.Hour
	IDTokenTTL      = time.Hour
	requestTTL      = 10 * time.Minute // an authorization request and its code
	maxRequests     = 10000            // pending authorization requests held at once
)

// Store is what the provider keeps durably, shared by every node: a
// sign-in may begin on one node and end on another.
type Store interface {
	store.Apps
	store.Tokens
	store.Secrets      // the signing keys (keys.go)
	store.AuthRequests // pending authorization requests and codes (requests.go)
}

// Sessions is the web page's sign-in, which the consent page shares.
type Sessions interface {
	// Account is the account signed in on r's browser, if any.
	Account(r *http.Request) (string, bool)
	// SignIn checks a password sign-in from the consent page and signs
	// the browser in as the web page would.
	SignIn(w http.ResponseWriter, r *http.Request, address, password string) (string, error)
}

// Grants records the user's consent (core.Hub.AllowApp): grants are the
// core's, which their privacy rule reads.
type Grants interface {
	AllowApp(ctx context.Context, account, app string, scopes []string) error
}

// Provider is presenced's OAuth/OIDC provider.
type Provider struct {
	Store    Store
	Grants   Grants
	Sessions Sessions
	Clock    clock.Clock
	Log      *slog.Logger
	// Secret is the server's secret: the keys of the pairwise subjects,
	// the token sealing and the consent page's CSRF tokens derive from it.
	Secret []byte
	// KeyDir is the data directory where an older presenced kept the
	// signing keys (KeyFile), taken into a Store that has none (keys.go).
	KeyDir string
	// Identities are the external providers whose ID tokens the token
	// exchange takes (exchange.go); nil: presenced's own only.
	Identities ExternalIdentities
	// Picker is the core's side of the contact picker (picker.go); nil:
	// no picker.
	Picker Picker

	issuer   atomic.Pointer[string]
	op       *op.Provider
	requests *requests
	keys     *keyring
	handler  http.Handler
}

// Paths of the provider's endpoints. Discovery is at the root, as OpenID
// Connect Discovery puts it for an issuer without a path.
const (
	PathDiscovery  = "/.well-known/openid-configuration"
	PathAuthorize  = "/oauth/authorize"
	PathToken      = "/oauth/token"
	PathIntrospect = "/oauth/introspect"
	PathRevoke     = "/oauth/revoke"
	PathUserinfo   = "/oauth/userinfo"
	PathKeys       = "/oauth/keys"
	PathEndSession = "/oauth/end_session"
	PathConsent    = "/oauth/consent"
)

// New builds the provider. The issuer (the server's public URL) may be
// given later with SetIssuer, once the listener's address is known.
func New(ctx context.Context, p *Provider) (*Provider, error) {
	if p.Clock == nil {
		p.Clock = clock.Real{}
	}
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	p.requests = &requests{st: p.Store, clk: p.Clock}
	keys, err := loadKeys(ctx, p.Store, p.KeyDir, p.Clock.Now(), p.Log)
	if err != nil {
		return nil, err
	}
	p.keys = keys
	cfg := &op.Config{
		CodeMethodS256:        true,
		AuthMethodPost:        true,
		GrantTypeRefreshToken: true,
		SupportedScopes:       store.KnownScopes,
	}
	provider, err := op.NewProvider(cfg, &storage{p: p}, p.issuerFromRequest,
		op.WithAllowInsecure(), // only loopback issuers are allowed over http (SetIssuer)
		op.WithCustomEndpoints(op.NewEndpoint(PathAuthorize), op.NewEndpoint(PathToken), op.NewEndpoint(PathUserinfo),
			op.NewEndpoint(PathRevoke), op.NewEndpoint(PathEndSession), op.NewEndpoint(PathKeys)),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint(PathIntrospect)),
		op.WithCORSOptions(&corsOptions),
		// sealed with AES-GCM only: the library's default also opens its
		// old unauthenticated AES-CFB format, which presenced never made
		op.WithCrypto(op.NewAES256GCMCrypto(derive(p.Secret, "oauth token sealing"), "1")),
	)
	if err != nil {
		return nil, fmt.Errorf("oauth provider: %w", err)
	}
	p.op = provider
	p.handler = p.routes()
	return p, nil
}

// AccessToken resolves an app's access token to its stored token
// (auth.AppTokens): the sealed ID is opened, and the token must exist (not
// revoked) and be unexpired.
func (p *Provider) AccessToken(ctx context.Context, bearer string) (store.Token, error) {
	plain, err := p.op.Crypto().Decrypt(bearer)
	if err != nil {
		return store.Token{}, errInvalidToken
	}
	id, _, ok := strings.Cut(plain, ":")
	if !ok {
		return store.Token{}, errInvalidToken
	}
	return (&storage{p: p}).liveToken(ctx, id)
}

var errInvalidToken = errors.New("invalid app access token")

// SetIssuer sets the public URL apps reach the server at: https, or http
// on a loopback host only (a development set-up).
func (p *Provider) SetIssuer(issuer string) error {
	if err := CheckIssuer(issuer); err != nil {
		return err
	}
	p.issuer.Store(&issuer)
	return nil
}

// Issuer is the issuer set, "" before.
func (p *Provider) Issuer() string {
	if s := p.issuer.Load(); s != nil {
		return *s
	}
	return ""
}

func (p *Provider) issuerFromRequest(bool) (op.IssuerFromRequest, error) {
	return func(*http.Request) string { return p.Issuer() }, nil
}

// CheckIssuer accepts an absolute https URL without path, query or
// fragment, or http on a loopback host.
func CheckIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("the public URL must be scheme://host[:port] and nothing more, not %q", issuer)
	}
	if u.Scheme == "https" {
		return nil
	}
	if u.Scheme == "http" && Loopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("the public URL %q must be https (http only on a loopback address)", issuer)
}

// Loopback reports whether host names this machine only.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// derive is a key for one purpose, from the server secret.
func derive(secret []byte, purpose string) [32]byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("presenced oauth: " + purpose))
	var k [32]byte
	copy(k[:], m.Sum(nil))
	return k
}

// ServeHTTP serves the provider's endpoints and the consent page.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

// Routes registers the provider's paths on mux.
func (p *Provider) Routes(mux *http.ServeMux) {
	mux.Handle(PathDiscovery, p)
	mux.Handle("/oauth/", p)
}
