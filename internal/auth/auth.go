// Package auth signs users in: argon2id password hashes (never the password)
// and opaque bearer tokens stored only as SHA-256 hashes.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/store"
)

// Errors returned to callers; messages are safe to show to the user.
var (
	// ErrInvalidCredentials covers an unknown account and a wrong password
	// alike, so sign-in does not reveal which accounts exist.
	ErrInvalidCredentials = errors.New("invalid address or password")
	ErrInvalidToken       = errors.New("invalid or expired token")
	ErrWeakPassword       = errors.New("password must be 8 to 1024 bytes of UTF-8")
)

const tokenPrefix = "pd_"

// Auth manages accounts' credentials.
type Auth struct {
	// AppTokens, if set, resolves apps' access tokens for VerifySession.
	AppTokens AppTokens
	Store     store.Store
	Clock     clock.Clock
	Hasher    *Hasher
	TokenTTL  time.Duration // lifetime of new tokens; 0 means no expiry
	Throttle  *Throttle     // failed sign-ins (see Throttle); nil: none
	// Domain is the server's primary domain: a password sign-in with a
	// user name without @ is for that name on it ("": the name must be
	// a whole address).
	Domain string
}

// MinPasswordLength is the shortest password accepted, in bytes.
const MinPasswordLength = 8

// CheckPassword enforces the password policy.
func CheckPassword(pw string) error {
	if len(pw) < MinPasswordLength || len(pw) > 1024 || !utf8.ValidString(pw) {
		return ErrWeakPassword
	}
	return nil
}

// CreateAccount adds an account with a password.
func (a *Auth) CreateAccount(ctx context.Context, address, password string) (string, error) {
	bare, err := addr.Bare(address)
	if err != nil {
		return "", err
	}
	if err := CheckPassword(password); err != nil {
		return "", err
	}
	hash, err := a.Hasher.Hash(ctx, password)
	if err != nil {
		return "", err
	}
	return bare, a.Store.CreateAccount(ctx, store.Account{Address: bare, PasswordHash: hash, Scram: NewScramCredentials(password), CreatedAt: a.Clock.Now()})
}

// SetPassword changes an account's password (its argon2id hash and SCRAM
// credentials) and revokes all its tokens, in one store transaction.
func (a *Auth) SetPassword(ctx context.Context, address, password string) error {
	if err := CheckPassword(password); err != nil {
		return err
	}
	hash, err := a.Hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	return a.Store.SetCredentials(ctx, address, hash, NewScramCredentials(password))
}

// Client is who signs in, for the throttle: the IP address, and a valid
// token the client presented with the sign-in (a signed-in page or app
// signing in again), if any.
type Client struct {
	IP    string
	Token *store.Token
}

// Login checks a password and issues a new bearer token labelled label.
// The returned secret is shown once; only its hash is stored.
// The token is created only if the password checked is still the
// account's: a sign-in racing a password change gets no token.
func (a *Auth) Login(ctx context.Context, from Client, address, password, label string) (string, store.Token, error) {
	bare, proof, err := a.checkPassword(ctx, from, address, password)
	if err != nil {
		return "", store.Token{}, err
	}
	secret, t, err := a.issueToken(ctx, bare, label, proof)
	if errors.Is(err, store.ErrStale) {
		return "", store.Token{}, ErrInvalidCredentials // the password it knew is no longer the account's
	}
	return secret, t, err
}

// Attempt is the throttle's name for from signing in to address.
// Every invalid address counts as one account (its key would otherwise be
// as long as the client makes it), and an IPv6 client as its /64 (one
// host holds a whole /64, and would otherwise have millions of IPs).
func (from Client) Attempt(address string) Attempt {
	at := Attempt{Account: "(an invalid address)", IP: ipBlock(from.IP)}
	if bare, err := addr.Bare(address); err == nil {
		at.Account = bare
		if from.Token != nil && from.Token.Account == bare {
			at.Token = from.Token.ID
		}
	}
	return at
}

// ipBlock is the part of an IP address one client controls: IPv4 as is,
// IPv6 its /64.
func ipBlock(ip string) string {
	p := net.ParseIP(ip)
	if p == nil || p.To4() != nil {
		return ip
	}
	return p.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// CheckPassword verifies a password (throttled: see Throttle) and returns
// the normalized account address. An unknown account costs the same hash
// and gets the same answer as a wrong password.
func (a *Auth) CheckPassword(ctx context.Context, from Client, address, password string) (string, error) {
	bare, _, err := a.checkPassword(ctx, from, address, password)
	return bare, err
}

// checkPassword is CheckPassword also returning the password hash it
// verified against (Token.Proof).
func (a *Auth) checkPassword(ctx context.Context, from Client, address, password string) (string, string, error) {
	address = addr.Qualify(address, a.Domain)
	bare, err := addr.Bare(address)
	ticket, terr := a.Throttle.Begin(from.Attempt(address))
	if terr != nil {
		return "", "", terr
	}
	var acct store.Account
	if err == nil {
		acct, err = a.Store.GetAccount(ctx, bare)
	}
	ok, verr := false, error(nil)
	if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, addr.ErrInvalid) {
		ok, verr = a.Hasher.Verify(ctx, acct.PasswordHash, password) // runs even for unknown accounts
	} else {
		verr = err // the store failed
	}
	switch {
	case verr != nil:
		ticket.Abandoned() // not the client's failure
		return "", "", verr
	case err != nil || !ok:
		ticket.Failed()
		return "", "", ErrInvalidCredentials
	}
	ticket.Succeeded()
	return bare, acct.PasswordHash, nil
}

// MaxTokensPerAccount bounds an account's bearer tokens. Every sign-in
// issues one (the web page, the API, a script that logs in on each run),
// and without a bound the table grew with every login until the tokens
// expired, or forever with token_ttl = 0. Issuing one more deletes the
// account's oldest.
const MaxTokensPerAccount = 100

// IssueToken creates a token for an account without a password check (for
// the CLI, which has the data directory, and for tests). An account at
// MaxTokensPerAccount loses its oldest tokens first.
func (a *Auth) IssueToken(ctx context.Context, account, label string) (string, store.Token, error) {
	return a.issueToken(ctx, account, label, "")
}

// issueToken creates a token, only while the account's password hash is
// proof when proof is set (store.Token.Proof).
func (a *Auth) issueToken(ctx context.Context, account, label, proof string) (string, store.Token, error) {
	if err := a.pruneTokens(ctx, account, MaxTokensPerAccount-1); err != nil {
		return "", store.Token{}, fmt.Errorf("issue token: %w", err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	id := make([]byte, 8)
	rand.Read(id)
	if len(label) > 64 || !utf8.ValidString(label) {
		label = "token"
	}
	now := a.Clock.Now()
	t := store.Token{ID: hex.EncodeToString(id), Hash: hashToken(secret), Account: account, Label: label, CreatedAt: now, Proof: proof}
	if a.TokenTTL > 0 {
		t.ExpiresAt = now.Add(a.TokenTTL)
	}
	if err := a.Store.CreateToken(ctx, t); err != nil {
		return "", store.Token{}, fmt.Errorf("issue token: %w", err)
	}
	t.Proof = ""
	return secret, t, nil
}

// pruneTokens deletes account's oldest tokens until at most keep remain.
// It runs before a token is created, so a failure leaves no token behind
// the caller's error; sign-ins racing each other may briefly leave a few
// more than the bound, which the next one removes.
func (a *Auth) pruneTokens(ctx context.Context, account string, keep int) error {
	toks, err := a.Tokens(ctx, account) // apps' tokens are their grants' business
	if err != nil || len(toks) <= keep {
		return err
	}
	// oldest first; the store's order is not part of its contract
	sort.SliceStable(toks, func(i, j int) bool { return toks[i].CreatedAt.Before(toks[j].CreatedAt) })
	for _, t := range toks[:len(toks)-keep] {
		if err := a.Store.DeleteToken(ctx, account, t.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return nil
}

// DeleteExpiredTokens deletes every token that has expired by the clock's
// now; the server runs it periodically (Verify refuses them anyway, but
// they would stay in the database).
func (a *Auth) DeleteExpiredTokens(ctx context.Context) (int, error) {
	return a.Store.DeleteExpiredTokens(ctx, a.Clock.Now())
}

// AppTokens resolves the access tokens apps get from the OAuth provider
// (internal/oauth), which are not presenced's own bearer tokens.
type AppTokens interface {
	AccessToken(ctx context.Context, bearer string) (store.Token, error)
}

// VerifySession is Verify for opening a session (JSON protocol hello,
// WebSocket upgrade, long-poll): it also takes an app's access token, and
// the token it returns then names the app and its scopes (store.Token.App),
// which the session is limited to. Everything else (the REST API, CardDAV,
// the web page's cookie) takes presenced's own tokens only, through Verify.
func (a *Auth) VerifySession(ctx context.Context, secret string) (store.Token, error) {
	if strings.HasPrefix(secret, tokenPrefix) || a.AppTokens == nil {
		return a.Verify(ctx, secret)
	}
	if len(secret) > maxAppToken {
		return store.Token{}, ErrInvalidToken
	}
	t, err := a.AppTokens.AccessToken(ctx, secret)
	if errors.Is(err, store.ErrUnavailable) {
		return store.Token{}, err // not the token's fault
	}
	if err != nil || t.App == "" {
		return store.Token{}, ErrInvalidToken
	}
	return t, nil
}

// maxAppToken bounds what is handed to the app token resolver.
const maxAppToken = 1024

// Verify resolves one of presenced's own bearer secrets to its token
// (never an app's).
func (a *Auth) Verify(ctx context.Context, secret string) (store.Token, error) {
	if !strings.HasPrefix(secret, tokenPrefix) || len(secret) > 128 {
		return store.Token{}, ErrInvalidToken
	}
	t, err := a.Store.TokenByHash(ctx, hashToken(secret))
	if errors.Is(err, store.ErrNotFound) {
		return t, ErrInvalidToken
	}
	if err != nil {
		return t, err
	}
	if !t.ExpiresAt.IsZero() && !a.Clock.Now().Before(t.ExpiresAt) {
		return store.Token{}, ErrInvalidToken
	}
	return t, nil
}

// Tokens lists an account's own tokens (sign-ins, the CLI's); apps'
// tokens are not among them: an app is revoked through its grant.
func (a *Auth) Tokens(ctx context.Context, account string) ([]store.Token, error) {
	all, err := a.Store.ListTokens(ctx, account)
	return slices.DeleteFunc(all, func(t store.Token) bool { return t.App != "" }), err
}

// RevokeAll deletes every token of account in one transaction ("sign out
// everywhere"); the sessions opened with them end.
func (a *Auth) RevokeAll(ctx context.Context, account string) error {
	_, err := a.Store.DeleteTokens(ctx, account)
	return err
}

// Revoke deletes one of account's tokens; store.ErrNotFound if it has none
// by that id.
func (a *Auth) Revoke(ctx context.Context, account, id string) error {
	return a.Store.DeleteToken(ctx, account, id)
}

// BearerToken returns the token of an "Authorization: Bearer" header, or "".
func BearerToken(h string) string {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

func hashToken(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
