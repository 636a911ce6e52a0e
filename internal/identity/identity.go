// Package identity lets people sign in to presenced with an account at an
// external OpenID Connect provider the operator trusts (the
// identity_providers setting, docs/operations.md), and checks those
// providers' ID tokens for the token exchange (internal/oauth,
// docs/apps.md).
//
// An external identity (issuer and subject) signs in to a presenced
// account when it is linked to it (store.Identities: the user linked it
// while signed in) or, failing that, when the provider vouches for an
// e-mail that is the account's address (AccountFor says exactly how). It
// never creates an account. JOSE is the libraries': go-jose parses and
// checks signatures, restricted to SigningAlgorithms; zitadel/oidc's rp
// package checks the claims and runs the sign-in (authorization code with
// PKCE, state and nonce).
package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client"
	"github.com/zitadel/oidc/v3/pkg/client/rp"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/store"
)

// SigningAlgorithms are the ID token signatures accepted, from presenced
// itself and from external providers alike: asymmetric ones only. "none"
// and the HMAC algorithms (HS256 …) are refused before any key is looked
// up, so a token "signed" with an issuer's public key as an HMAC secret
// (key confusion) goes nowhere; go-jose refuses any algorithm not listed.
var SigningAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Leeway is the clock difference between presenced and an issuer that is
// tolerated: an ID token may be issued up to Leeway in the future, and is
// taken as expired Leeway before its exp (erring on the safe side).
const Leeway = 30 * time.Second

// NewVerifier checks ID tokens of issuer whose audience must contain
// audience, signed by a key of keys with one of SigningAlgorithms, unexpired
// and not issued in the future (with Leeway). No nonce is expected (the
// token exchange has none) and azp is not checked: a token issued to
// another party of the same issuer is acceptable when its audience names
// presenced.
func NewVerifier(issuer, audience string, keys oidc.KeySet) *rp.IDTokenVerifier {
	v := rp.NewIDTokenVerifier(issuer, audience, keys,
		rp.WithSupportedSigningAlgorithms(SigningAlgorithms...),
		rp.WithIssuedAtOffset(Leeway),
		rp.WithAZPVerifier(func(string) error { return nil }))
	v.Nonce = nil
	return v
}

// Store is what the package keeps and reads.
type Store interface {
	store.Identities
	store.AuthRequests // sign-ins in progress (signin.go)
	GetAccount(ctx context.Context, address string) (store.Account, error)
}

// Set is the configured providers.
type Set struct {
	Store Store
	// Sessions signs a browser in (the web page's session cookie) and
	// says who is signed in (signin.go).
	Sessions Sessions
	Log      *slog.Logger
	// BaseURL is presenced's public URL (the OAuth issuer): the redirect
	// URI registered at each provider is BaseURL + PathCallback.
	BaseURL func() string
	// HTTP fetches the providers' documents and keys and calls their
	// token endpoints; nil: a client with a 10 second timeout.
	HTTP *http.Client
	// KeyRefresh is the least time between two fetches of a provider's
	// keys; 0: 10 seconds.
	KeyRefresh time.Duration

	providers []*provider
	flows     *flows
}

// New builds the set of providers.
func New(s *Set, providers []config.IdentityProvider) *Set {
	if s.HTTP == nil {
		s.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if s.KeyRefresh == 0 {
		s.KeyRefresh = minRefresh
	}
	s.flows = &flows{st: s.Store}
	for _, c := range providers {
		s.providers = append(s.providers, &provider{IdentityProvider: c, set: s})
	}
	return s
}

// Providers lists the configured providers' names and issuers.
func (s *Set) Providers() []config.IdentityProvider {
	out := make([]config.IdentityProvider, len(s.providers))
	for i, p := range s.providers {
		out[i] = config.IdentityProvider{Name: p.Name, Issuer: p.Issuer}
	}
	return out
}

func (s *Set) provider(issuer string) (*provider, bool) {
	for _, p := range s.providers {
		if p.Issuer == issuer {
			return p, true
		}
	}
	return nil, false
}

// Trusts reports whether issuer is a configured provider.
func (s *Set) Trusts(issuer string) bool {
	_, ok := s.provider(issuer)
	return ok
}

// VerifyIDToken checks an ID token of the configured provider issuer whose
// audience must contain presenced's client ID at that provider
// (NewVerifier says what else).
func (s *Set) VerifyIDToken(ctx context.Context, issuer, raw string) (*oidc.IDTokenClaims, error) {
	p, ok := s.provider(issuer)
	if !ok {
		return nil, fmt.Errorf("%q is not an identity provider this server trusts", issuer)
	}
	keys, _, err := p.ready(ctx)
	if err != nil {
		return nil, err
	}
	return rp.VerifyIDToken[*oidc.IDTokenClaims](ctx, raw, NewVerifier(p.Issuer, p.ClientID, keys))
}

// ErrNoAccount: the external identity is linked to no account and vouches
// for no account's address. It says nothing of whether an account exists.
var ErrNoAccount = errors.New("no presenced account is linked to this identity")

// AccountFor is the account the identity (issuer and the verified ID
// token's claims) signs in to: the account it is linked to, if any;
// otherwise the account whose address its e-mail is, if the provider says
// the e-mail is verified (email_verified true). An e-mail matches an
// address when it is ASCII and equal to it but for the case of letters
// (Alice@Example.org is alice@example.org); any other e-mail (one with
// characters an address would map to others, say full-width letters)
// matches no account. ErrNoAccount otherwise.
func (s *Set) AccountFor(ctx context.Context, issuer string, claims *oidc.IDTokenClaims) (string, error) {
	link, err := s.Store.IdentityByIssuerSubject(ctx, issuer, claims.Subject)
	switch {
	case err == nil:
		return link.Account, nil
	case !errors.Is(err, store.ErrNotFound):
		return "", err
	}
	address, ok := EmailAddress(claims.Email, bool(claims.EmailVerified))
	if !ok {
		return "", ErrNoAccount
	}
	switch _, err := s.Store.GetAccount(ctx, address); {
	case err == nil:
		return address, nil
	case errors.Is(err, store.ErrNotFound):
		return "", ErrNoAccount
	default:
		return "", err
	}
}

// EmailAddress is the account address an e-mail names (AccountFor), if
// it is verified and can name one.
func EmailAddress(email string, verified bool) (string, bool) {
	if !verified || email == "" {
		return "", false
	}
	for i := 0; i < len(email); i++ {
		if email[i] >= 0x80 || email[i] < 0x21 {
			return "", false
		}
	}
	lower := strings.ToLower(email)
	bare, err := addr.Bare(lower)
	if err != nil || bare != lower {
		return "", false
	}
	return bare, true
}

// provider is a configured provider, its discovery made on first use (a
// provider down when presenced starts costs its users nothing else).
type provider struct {
	config.IdentityProvider
	set *Set

	mu      sync.Mutex
	keys    *remoteKeys
	rp      rp.RelyingParty
	tried   time.Time // the last failed discovery
	lastErr error
}

// ready returns the provider's keys and relying party, discovering them
// first if needed; after a failure, discovery is tried again at most every
// minRefresh.
func (p *provider) ready(ctx context.Context) (*remoteKeys, rp.RelyingParty, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rp != nil {
		return p.keys, p.rp, nil
	}
	if time.Since(p.tried) < minRefresh && p.lastErr != nil {
		return nil, nil, p.lastErr
	}
	keys, party, err := p.discover(ctx)
	if err != nil {
		p.tried, p.lastErr = time.Now(), fmt.Errorf("identity provider %s is unreachable or misconfigured: %w", p.Issuer, err)
		p.set.Log.Warn("identity provider discovery", "issuer", p.Issuer, "err", err)
		return nil, nil, p.lastErr
	}
	p.keys, p.rp = keys, party
	return keys, party, nil
}

func (p *provider) discover(ctx context.Context) (*remoteKeys, rp.RelyingParty, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	d, err := client.Discover(ctx, p.Issuer, p.set.HTTP)
	if err != nil {
		return nil, nil, err
	}
	if d.JwksURI == "" || d.AuthorizationEndpoint == "" || d.TokenEndpoint == "" {
		return nil, nil, errors.New("its discovery document lacks jwks_uri, authorization_endpoint or token_endpoint")
	}
	keys := &remoteKeys{url: d.JwksURI, client: p.set.HTTP, every: p.set.KeyRefresh}
	party, err := rp.NewRelyingPartyOIDC(ctx, p.Issuer, p.ClientID, p.ClientSecret,
		strings.TrimSuffix(p.set.BaseURL(), "/")+PathCallback, []string{oidc.ScopeOpenID, oidc.ScopeEmail},
		rp.WithHTTPClient(p.set.HTTP),
		rp.WithVerifierOpts(
			rp.WithSupportedSigningAlgorithms(SigningAlgorithms...),
			rp.WithIssuedAtOffset(Leeway),
			rp.WithNonce(nonceOf),
			func(v *rp.IDTokenVerifier) { v.KeySet = keys }, // one cache of the provider's keys
		))
	if err != nil {
		return nil, nil, err
	}
	return keys, party, nil
}
