package oauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/store"
)

// authRequest is an authorization request from /authorize until its code
// is exchanged (op.AuthRequest). It lives in the store (requests) for
// requestTTL, so any node may carry on a flow another began: a restart
// between the consent and the exchange costs nothing, and nothing durable
// is half-made.
type authRequest struct {
	id          string
	clientID    string
	redirectURI string
	scopes      []string
	state       string
	nonce       string
	mode        oidc.ResponseMode
	challenge   *oidc.CodeChallenge
	browser     string // the browser that started it (consent.go)

	// set by the consent
	account  string
	subject  string // the account's pairwise handle for the app
	authTime time.Time
	done     bool
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
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.mode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) Done() bool                            { return a.done }

// requests are the pending authorization requests, kept in the store
// (store.AuthRequests), bounded, each for requestTTL, with their codes as
// SHA-256 hashes: whoever reads the store cannot redeem a code.
type requests struct {
	st  store.AuthRequests
	clk clock.Clock
}

// requestData is an authRequest as the store keeps it (AuthRequest.Data).
type requestData struct {
	ClientID    string            `json:"client_id"`
	RedirectURI string            `json:"redirect_uri"`
	Scopes      []string          `json:"scopes"`
	State       string            `json:"state,omitempty"`
	Nonce       string            `json:"nonce,omitempty"`
	Mode        oidc.ResponseMode `json:"mode,omitempty"`
	Challenge   string            `json:"challenge"`
	Method      string            `json:"method"`
	Browser     string            `json:"browser"`
	Account     string            `json:"account,omitempty"`
	Subject     string            `json:"subject,omitempty"`
	AuthTime    time.Time         `json:"auth_time,omitzero"`
	Done        bool              `json:"done,omitempty"`
}

func encodeRequest(a *authRequest) []byte {
	d := requestData{ClientID: a.clientID, RedirectURI: a.redirectURI, Scopes: a.scopes, State: a.state, Nonce: a.nonce, Mode: a.mode,
		Browser: a.browser, Account: a.account, Subject: a.subject, AuthTime: a.authTime, Done: a.done}
	if a.challenge != nil {
		d.Challenge, d.Method = a.challenge.Challenge, string(a.challenge.Method)
	}
	b, _ := json.Marshal(d)
	return b
}

func decodeRequest(r store.AuthRequest) (*authRequest, error) {
	var d requestData
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return nil, fmt.Errorf("authorization request %s: %w", r.ID, err)
	}
	return &authRequest{id: r.ID, clientID: d.ClientID, redirectURI: d.RedirectURI, scopes: d.Scopes, state: d.State, nonce: d.Nonce,
		mode: d.Mode, challenge: &oidc.CodeChallenge{Challenge: d.Challenge, Method: oidc.CodeChallengeMethod(d.Method)}, browser: d.Browser,
		account: d.Account, subject: d.Subject, authTime: d.AuthTime, done: d.Done}, nil
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// errTooMany: maxRequests are pending.
var errTooMany = errors.New("too many pending authorization requests")

// add stores a new request, setting its ID.
func (q *requests) add(ctx context.Context, a *authRequest) error {
	now := q.clk.Now()
	a.id = randomID(24)
	err := q.st.CreateAuthRequest(ctx, store.AuthRequest{ID: a.id, Data: encodeRequest(a), Expires: now.Add(requestTTL)}, maxRequests, now)
	if errors.Is(err, store.ErrLimit) {
		return errTooMany
	}
	return err
}

// get returns a live request (store.ErrNotFound if there is none).
func (q *requests) get(ctx context.Context, id string) (*authRequest, error) {
	r, err := q.st.AuthRequest(ctx, id, q.clk.Now())
	if err != nil {
		return nil, err
	}
	return decodeRequest(r)
}

// consented records the consent to a live request.
func (q *requests) consented(ctx context.Context, a *authRequest) error {
	return q.st.UpdateAuthRequest(ctx, a.id, encodeRequest(a), q.clk.Now())
}

func (q *requests) saveCode(ctx context.Context, id, code string) error {
	return q.st.SetAuthCode(ctx, id, codeHash(code), q.clk.Now())
}

func codeHash(code string) []byte { return tokenHash("code:" + code) }

// byCode returns the request of code. A code exchanged already is
// store.ErrStale, with the refresh family that exchange started (OAuth
// 2.1 § 4.1.3: a second exchange of it is refused and revokes what the
// first one issued); it stays remembered for requestTTL after its
// exchange.
func (q *requests) byCode(ctx context.Context, code string) (a *authRequest, family string, err error) {
	r, err := q.st.AuthRequestByCode(ctx, codeHash(code), q.clk.Now())
	switch {
	case err != nil:
		return nil, "", err
	case r.Spent:
		return nil, r.Family, store.ErrStale
	}
	a, err = decodeRequest(r)
	return a, "", err
}

// spend marks the code of request id exchanged, once on every node: of
// two exchanges of one code, even on two nodes at once, one gets
// store.ErrStale.
func (q *requests) spend(ctx context.Context, id string) error {
	now := q.clk.Now()
	return q.st.SpendAuthCode(ctx, id, now, now.Add(requestTTL))
}

// deny ends a request without a code.
func (q *requests) deny(ctx context.Context, id string) error {
	return q.st.SpendAuthRequest(ctx, id, q.clk.Now())
}

// startedFamily records the refresh family a code's exchange started.
func (q *requests) startedFamily(ctx context.Context, id, family string) error {
	return q.st.SetAuthFamily(ctx, id, family)
}
