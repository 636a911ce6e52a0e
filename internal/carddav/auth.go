package carddav

import (
	"crypto/sha256"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/auth"
)

// Basic authentication sends the password with every request, and a sync
// makes many: checking each with argon2id would cost a CPU-second a card.
// A successful check is remembered for basicTTL under a hash of the
// address, the password and the account's stored password hash, so a
// password change (a new stored hash) ends it at once. Bounded.
const (
	basicTTL     = 10 * time.Minute
	basicEntries = 4096
)

type basicCache struct {
	mu sync.Mutex
	m  map[[32]byte]time.Time // until
}

func basicKey(account, password, stored string) [32]byte {
	return sha256.Sum256([]byte(account + "\x00" + password + "\x00" + stored))
}

func (c *basicCache) ok(k [32]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	until, ok := c.m[k]
	if ok && now.After(until) {
		delete(c.m, k)
		return false
	}
	return ok
}

func (c *basicCache) add(k [32]byte, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[[32]byte]time.Time{}
	}
	if len(c.m) >= basicEntries {
		for old := range c.m { // any one: a forgotten entry costs one hash
			delete(c.m, old)
			break
		}
	}
	c.m[k] = until
}

// secure reports whether a password may be sent on r: over TLS, or from
// the loopback (a client on the same machine, or a reverse proxy that
// terminated TLS in front of presenced).
func secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	ip := net.ParseIP(auth.ClientIP(r))
	return ip != nil && ip.IsLoopback()
}

// account authenticates r: Basic with the account's password (throttled
// like every sign-in) or a bearer token. It returns "" and writes the
// answer when r is not authenticated.
func (h *Handler) account(w http.ResponseWriter, r *http.Request) string {
	authz := r.Header.Get("Authorization")
	scheme, _, _ := strings.Cut(authz, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		t, err := h.Auth.Verify(r.Context(), auth.BearerToken(authz))
		if err == nil {
			return t.Account
		}
	case strings.EqualFold(scheme, "Basic"):
		if !secure(r) {
			http.Error(w, "Basic authentication needs TLS: connect with https", http.StatusForbidden)
			return ""
		}
		user, pw, ok := r.BasicAuth()
		if !ok {
			break
		}
		user = addr.Qualify(user, h.Hub.Domain()) // clients ask for a user name: one of the primary domain
		if a, ok := h.checkBasic(w, r, user, pw); ok {
			return a
		} else if a == "-" {
			return ""
		}
	}
	if !secure(r) {
		// Basic would be refused here: offering it would invite a client
		// to send the password in clear first
		w.Header().Set("WWW-Authenticate", `Bearer realm="presenced"`)
		http.Error(w, "sign in with a bearer token, or connect with https to use your password", http.StatusUnauthorized)
		return ""
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="presenced", charset="UTF-8"`)
	w.Header().Add("WWW-Authenticate", `Bearer realm="presenced"`)
	http.Error(w, "sign in with your address and password (or a bearer token)", http.StatusUnauthorized)
	return ""
}

// checkBasic returns the account and true, or "-" when it has answered
// (the throttle said wait), or "" to ask for credentials again.
func (h *Handler) checkBasic(w http.ResponseWriter, r *http.Request, user, pw string) (string, bool) {
	now := h.Auth.Clock.Now()
	acct, err := h.Auth.Store.GetAccount(r.Context(), strings.ToLower(user))
	var k [32]byte
	if err == nil {
		k = basicKey(acct.Address, pw, acct.PasswordHash)
		if h.basic.ok(k, now) {
			return acct.Address, true
		}
	}
	bare, err := h.Auth.CheckPassword(r.Context(), auth.Client{IP: auth.ClientIP(r)}, user, pw)
	if err != nil {
		var th *auth.ThrottledError
		if errors.As(err, &th) {
			w.Header().Set("Retry-After", strconv.Itoa(int((th.Wait+time.Second-1)/time.Second)))
			http.Error(w, err.Error(), http.StatusTooManyRequests)
			return "-", false
		}
		if !errors.Is(err, auth.ErrInvalidCredentials) {
			h.Log.Error("carddav: password check failed", "err", err)
		}
		return "", false
	}
	if acct.Address == bare {
		h.basic.add(k, now.Add(basicTTL))
	}
	return bare, true
}
