package c2s

// SASL OAUTHBEARER (RFC 7628): an app signs its user in with the access
// token presenced's OAuth provider gave it, and the stream is the app's
// session (docs/apps.md, "XMPP apps"): its channel, its scopes, ended when
// the token or the grant is revoked. The token is checked by the code the
// JSON protocol uses (auth.VerifySession). Offered only under TLS, and only
// when the server has apps (Auth.AppTokens).
//
// Only apps' access tokens are taken. presenced's own tokens (pd_…) are
// refused like an invalid one: a first-party XMPP client signs in with the
// password (SCRAM, PLAIN), whose session lives and dies with the password,
// and the own tokens stay keys to the web page, the REST API and the JSON
// protocol alone.

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/sasl"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// offersBearer: OAUTHBEARER is among the mechanisms.
func (c *conn) offersBearer() bool {
	return c.encrypted() && c.s.Auth != nil && c.s.Auth.AppTokens != nil
}

// appSignIn is what an app's token proved: the stream's session is the
// app's.
type appSignIn struct {
	app        string
	scopes     []string
	credential string // the token's ID: revoking it ends the session
}

// channel is the core channel of the stream's session.
func (c *conn) channel() core.Channel {
	if c.app == nil {
		return core.Channel{}
	}
	return core.Channel{App: c.app.app}
}

// credential is what the stream signed in with (core.SessionOptions).
func (c *conn) credential() string {
	if c.app == nil {
		return core.CredentialPassword
	}
	return c.app.credential
}

// oauthBearer runs OAUTHBEARER from the client's initial response in and
// returns the account. A well-formed message whose token is refused gets
// the error challenge first, and the failure once the client answered it
// (§ 3.2.3).
func (c *conn) oauthBearer(in []byte) (string, error) {
	if !c.offersBearer() {
		return "", &sasl.Failure{Condition: "invalid-mechanism", Text: "OAUTHBEARER is offered only over TLS on a server with apps"}
	}
	if len(in) == 0 { // no initial response (RFC 6120 § 6.4.2): ask for it
		var err error
		if in, err = c.saslResponse(nil); err != nil {
			return "", err
		}
	}
	msg, err := sasl.ParseOAuthBearer(in)
	if err != nil {
		return "", err
	}
	tok, err := c.s.Auth.VerifySession(context.Background(), msg.Token)
	var (
		refusal = sasl.BearerError{Status: "invalid_token"}
		fail    = &sasl.Failure{Condition: "not-authorized", Text: "invalid or expired token"}
	)
	_, domain, _ := strings.Cut(tok.Account, "@")
	switch {
	case err != nil, tok.App == "": // presenced's own tokens are not taken here (above)
	case !strings.EqualFold(domain, c.domain):
		fail.Text = "the token is for another domain than the stream's"
	case msg.AuthzID != "" && !sameAccount(msg.AuthzID, tok.Account):
		refusal.Status, fail = "invalid_request", &sasl.Failure{Condition: "invalid-authzid", Text: "cannot act for another account"}
	case !slices.Contains(tok.Scopes, core.ScopeAddresses):
		// XMPP shows real addresses; handles have no XMPP form
		refusal.Status, refusal.Scope = "insufficient_scope", core.ScopeAddresses
		fail.Text = "the app's grant lacks the addresses permission, which XMPP needs: it shows real addresses"
	default:
		c.app = &appSignIn{app: tok.App, scopes: slices.Clone(tok.Scopes), credential: tok.ID}
		return tok.Account, c.write(xmlstream.New(nsSASL, "success"))
	}
	if c.s.Issuer != nil {
		if iss := c.s.Issuer(); iss != "" {
			refusal.OpenIDConfiguration = iss + "/.well-known/openid-configuration"
		}
	}
	ack, err := c.saslResponse(refusal.Challenge())
	if err != nil {
		return "", err
	}
	if !sasl.IsBearerAbort(ack) {
		return "", &sasl.Failure{Condition: "malformed-request", Text: "an error challenge is answered with %x01"}
	}
	return "", fail
}

// saslResponse sends a challenge and reads the client's response: its
// decoded data, or the failure an abort or anything else is.
func (c *conn) saslResponse(challenge []byte) ([]byte, error) {
	if err := c.write(xmlstream.New(nsSASL, "challenge").AddText(base64.StdEncoding.EncodeToString(challenge))); err != nil {
		return nil, err
	}
	resp, err := c.r.Next()
	if err != nil {
		return nil, err
	}
	if resp.Name.Space == nsSASL && resp.Name.Local == "abort" {
		return nil, &sasl.Failure{Condition: "aborted", Text: "aborted by the client"}
	}
	if resp.Name.Space != nsSASL || resp.Name.Local != "response" {
		return nil, &sasl.Failure{Condition: "malformed-request", Text: "expected <response/>"}
	}
	out, err := base64.StdEncoding.DecodeString(strings.TrimSpace(resp.Text()))
	if err != nil {
		return nil, &sasl.Failure{Condition: "incorrect-encoding", Text: "bad base64"}
	}
	return out, nil
}

// sameAccount: the authzid names the account, as a bare address (a full
// one is not an identity to authorize as).
func sameAccount(authzid, account string) bool {
	bare, err := addr.Bare(authzid)
	return err == nil && bare == account && !strings.Contains(authzid, "/")
}
