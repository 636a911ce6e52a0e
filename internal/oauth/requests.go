package oauth

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/presenced/presenced/internal/clock"
)

// authRequest is an authorization request from /authorize until its code
// is exchanged (op.AuthRequest). It lives in memory for requestTTL: a
// restart between the consent and the exchange costs the user one more
// click, and nothing durable is half-made.
type authRequest struct {
	id          string
	clientID    string
	redirectURI string
	scopes      []string
	state       string
	nonce       string
	mode        oidc.ResponseMode
	challenge   *oidc.CodeChallenge
	created     time.Time
	browser     string // the browser that started it (consent.go)

	// set by the consent
	account  string
	subject  string // the account's pairwise handle for the app
	authTime time.Time
	done     bool
	family   string // the refresh-token family its exchange started
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

// requests holds the pending authorization requests, bounded, each for
// requestTTL, with their codes.
type requests struct {
	clk   clock.Clock
	mu    sync.Mutex
	byID  map[string]*authRequest
	codes map[string]string // code → request ID
	spent map[string]spentCode
}

// spentCode remembers an exchanged code for its lifetime: a second
// exchange of it is refused and revokes what the first one issued
// (OAuth 2.1 § 4.1.3).
type spentCode struct {
	family string // refresh-token family the exchange started, if any
	until  time.Time
}

func newRequests(clk clock.Clock) *requests {
	return &requests{clk: clk, byID: map[string]*authRequest{}, codes: map[string]string{}, spent: map[string]spentCode{}}
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// add stores a new request; false when too many are pending.
func (q *requests) add(a *authRequest) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sweepLocked()
	if len(q.byID) >= maxRequests {
		return false
	}
	a.id, a.created = randomID(24), q.clk.Now()
	q.byID[a.id] = a
	return true
}

// get returns a copy of a live request.
func (q *requests) get(id string) (*authRequest, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	a, ok := q.byID[id]
	if !ok || q.clk.Now().Sub(a.created) > requestTTL {
		return nil, false
	}
	c := *a
	c.scopes = slices.Clone(a.scopes)
	return &c, true
}

// update applies f to a live request.
func (q *requests) update(id string, f func(a *authRequest)) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	a, ok := q.byID[id]
	if ok {
		f(a)
	}
	return ok
}

func (q *requests) saveCode(id, code string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.byID[id]; !ok {
		return false
	}
	q.codes[code] = id
	return true
}

func (q *requests) byCode(code string) (*authRequest, bool) {
	q.mu.Lock()
	id, ok := q.codes[code]
	q.mu.Unlock()
	if !ok {
		return nil, false
	}
	return q.get(id)
}

// spend removes a request and its codes, remembering the codes as spent
// with the refresh family the exchange started.
func (q *requests) spend(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	a, ok := q.byID[id]
	if !ok {
		return
	}
	delete(q.byID, id)
	for code, rid := range q.codes {
		if rid == id {
			delete(q.codes, code)
			q.spent[code] = spentCode{family: a.family, until: q.clk.Now().Add(requestTTL)}
		}
	}
}

// replayed reports whether code was exchanged already, and the family
// that exchange started.
func (q *requests) replayed(code string) (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	s, ok := q.spent[code]
	return s.family, ok && q.clk.Now().Before(s.until)
}

func (q *requests) sweepLocked() {
	now := q.clk.Now()
	for id, a := range q.byID {
		if now.Sub(a.created) > requestTTL {
			delete(q.byID, id)
		}
	}
	for code, id := range q.codes {
		if _, ok := q.byID[id]; !ok {
			delete(q.codes, code)
		}
	}
	for code, s := range q.spent {
		if now.After(s.until) {
			delete(q.spent, code)
		}
	}
}
