package oauth

import (
	"net/url"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/presenced/presenced/internal/store"
)

// client is a registered app as op sees it: the code flow only, exact
// redirect URIs, opaque access tokens.
type client struct{ app store.App }

var _ op.Client = (*client)(nil)

func (c *client) GetID() string                    { return c.app.ID }
func (c *client) RedirectURIs() []string           { return c.app.RedirectURIs }
func (c *client) PostLogoutRedirectURIs() []string { return nil }
func (c *client) ApplicationType() op.ApplicationType {
	if c.app.Public {
		return op.ApplicationTypeUserAgent
	}
	return op.ApplicationTypeWeb
}
func (c *client) AuthMethod() oidc.AuthMethod {
	if c.app.Public {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}
func (c *client) LoginURL(id string) string           { return PathConsent + "?id=" + id }
func (c *client) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration      { return IDTokenTTL }

// DevMode lets the library accept http redirect URIs, which it refuses
// public clients: presenced registers http ones on loopback hosts only
// (RFC 8252 § 7.3), and matches them exactly like the others. An app whose
// http redirect URIs are not all loopback does not get it.
func (c *client) DevMode() bool {
	for _, r := range c.app.RedirectURIs {
		if u, err := url.Parse(r); err != nil || (u.Scheme == "http" && !Loopback(u.Hostname())) {
			return false
		}
	}
	return true
}

func (c *client) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c *client) ClockSkew() time.Duration             { return 0 }

// IsScopeAllowed lets every scope through to CreateAuthRequest, which
// refuses with invalid_scope those the app may not ask for: the library
// would drop them silently, and the app would not learn why.
func (c *client) IsScopeAllowed(string) bool { return true }

func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
