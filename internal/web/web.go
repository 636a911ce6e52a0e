// Package web serves presenced's own web page and its sign-in: an HttpOnly
// session cookie (SameSite=Strict, Secure under TLS) holding a bearer token,
// and signed double-submit CSRF tokens for every state-changing request
// made with that cookie. The page itself is static HTML/CSS/JS embedded in
// the binary; it speaks the JSON protocol through the browser SDK.
package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	jsclient "github.com/presenced/presenced/clients/js"
	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/problem"
	"github.com/presenced/presenced/internal/store"
)

//go:embed static
var static embed.FS

const (
	sessionCookie = "presenced_session"
	csrfCookie    = "presenced_csrf"
	csrfHeader    = "X-CSRF-Token"
)

// Web serves the page and its session endpoints.
type Web struct {
	Auth   *auth.Auth
	Key    []byte // HMAC key for CSRF tokens
	Secure bool   // served over TLS: cookies get Secure
	Signup bool
	// Domains are the served domains, the primary first: sign-up takes an
	// address of any of them, a bare name is one of the primary's.
	Domains []string
	Log     *slog.Logger
}

// Routes registers the page, its assets, the SDK and the session endpoints.
func (wb *Web) Routes(mux *http.ServeMux) {
	sub, _ := fs.Sub(static, "static")
	mux.HandleFunc("GET /{$}", wb.index)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(sub)))
	mux.HandleFunc("GET /sdk/presenced.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write(jsclient.Source)
	})
	mux.HandleFunc("GET /sdk/presenced.d.ts", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/typescript; charset=utf-8")
		w.Write(jsclient.Types)
	})
	mux.HandleFunc("GET /web/session", wb.session)
	mux.HandleFunc("GET /web/info", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"signup": wb.Signup, "domain": wb.Domains[0], "domains": wb.Domains})
	})
	mux.HandleFunc("POST /web/login", wb.login)
	mux.HandleFunc("POST /web/signup", wb.signup)
	mux.HandleFunc("POST /web/logout", wb.logout)
}

func (wb *Web) index(w http.ResponseWriter, r *http.Request) {
	wb.ensureCSRF(w, r)
	w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeFileFS(w, r, static, "static/index.html")
}

func (wb *Web) sign(nonce string) string {
	m := hmac.New(sha256.New, wb.Key)
	m.Write([]byte("csrf:" + nonce))
	return nonce + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (wb *Web) validCSRF(v string) bool {
	nonce, _, ok := strings.Cut(v, ".")
	return ok && hmac.Equal([]byte(wb.sign(nonce)), []byte(v))
}

// ensureCSRF gives the browser a signed CSRF cookie if it has none.
func (wb *Web) ensureCSRF(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && wb.validCSRF(c.Value) {
		return c.Value
	}
	b := make([]byte, 16)
	rand.Read(b)
	v := wb.sign(base64.RawURLEncoding.EncodeToString(b))
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", SameSite: http.SameSiteStrictMode, Secure: wb.Secure})
	return v
}

// CheckCSRF reports whether r carries the CSRF header matching its cookie.
func (wb *Web) CheckCSRF(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	h := r.Header.Get(csrfHeader)
	return err == nil && h != "" && subtle.ConstantTimeCompare([]byte(c.Value), []byte(h)) == 1 && wb.validCSRF(h)
}

// CookieToken resolves the session cookie, or returns nil if there is none
// or it is no longer valid.
func (wb *Web) CookieToken(r *http.Request) *store.Token {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	t, err := wb.Auth.Verify(r.Context(), c.Value)
	if err != nil {
		return nil
	}
	return &t
}

func (wb *Web) session(w http.ResponseWriter, r *http.Request) {
	csrf := wb.ensureCSRF(w, r)
	t := wb.CookieToken(r)
	w.Header().Set("Cache-Control", "no-store")
	if t == nil {
		problem.Write(w, core.CodeUnauthorized, "not signed in")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"account": t.Account, "csrf": csrf, "signup": wb.Signup})
}

// credentials reads a CSRF-checked {address, password} form.
func (wb *Web) credentials(w http.ResponseWriter, r *http.Request) (address, password string, ok bool) {
	if !wb.CheckCSRF(r) {
		problem.Write(w, core.CodeUnauthorized, "missing or bad CSRF token: reload the page")
		return "", "", false
	}
	var c struct{ Address, Password string }
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10)).Decode(&c); err != nil {
		problem.Write(w, core.CodeInvalid, "body must be {\"address\":…, \"password\":…}")
		return "", "", false
	}
	return c.Address, c.Password, true
}

// signup creates an account on this server's domain, if self sign-up is
// on, and signs it in.
func (wb *Web) signup(w http.ResponseWriter, r *http.Request) {
	if !wb.Signup {
		problem.Write(w, core.CodeNotFound, "self sign-up is disabled on this server")
		return
	}
	address, password, ok := wb.credentials(w, r)
	if !ok {
		return
	}
	address = addr.Qualify(address, wb.Domains[0])
	if bare, err := addr.Bare(address); err != nil || !slices.Contains(wb.Domains, addr.DomainOf(bare)) {
		problem.Write(w, core.CodeInvalid, "choose an address like name@"+strings.Join(wb.Domains, " or name@"))
		return
	}
	_, err := wb.Auth.CreateAccount(r.Context(), address, password)
	switch {
	case errors.Is(err, store.ErrExists):
		problem.Write(w, core.CodeExists, "that address is taken")
		return
	case err != nil:
		wb.fail(w, err)
		return
	}
	wb.signIn(w, r, address, password)
}

func (wb *Web) login(w http.ResponseWriter, r *http.Request) {
	if address, password, ok := wb.credentials(w, r); ok {
		wb.signIn(w, r, address, password)
	}
}

func (wb *Web) fail(w http.ResponseWriter, err error) {
	if problem.Error(w, err) {
		wb.Log.Error("web sign-in", "err", err)
	}
}

// signIn checks the password and sets the session cookie.
func (wb *Web) signIn(w http.ResponseWriter, r *http.Request, address, password string) {
	if _, err := wb.SignIn(w, r, address, password); err != nil {
		wb.fail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// SignIn checks a password sign-in and sets the session cookie, for this
// page and for the OAuth consent page (oauth.Sessions); it returns the
// account signed in.
func (wb *Web) SignIn(w http.ResponseWriter, r *http.Request, address, password string) (string, error) {
	secret, t, err := wb.Auth.Login(r.Context(), auth.Client{IP: auth.ClientIP(r), Token: wb.CookieToken(r)}, address, password, "web")
	if err != nil {
		return "", err
	}
	wb.setSession(w, secret)
	return t.Account, nil
}

// SignInAccount signs r's browser in to account without a password, with
// the session cookie SignIn sets: an external identity provider vouched
// for the account (internal/identity).
func (wb *Web) SignInAccount(w http.ResponseWriter, r *http.Request, account string) error {
	secret, _, err := wb.Auth.IssueToken(r.Context(), account, "web")
	if err != nil {
		return err
	}
	wb.setSession(w, secret)
	return nil
}

func (wb *Web) setSession(w http.ResponseWriter, secret string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: secret, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: wb.Secure, MaxAge: int(wb.Auth.TokenTTL.Seconds())})
}

// Account is the account signed in on r's browser (oauth.Sessions).
func (wb *Web) Account(r *http.Request) (string, bool) {
	if t := wb.CookieToken(r); t != nil {
		return t.Account, true
	}
	return "", false
}

func (wb *Web) logout(w http.ResponseWriter, r *http.Request) {
	if !wb.CheckCSRF(r) {
		problem.Write(w, core.CodeUnauthorized, "missing or bad CSRF token: reload the page")
		return
	}
	if t := wb.CookieToken(r); t != nil {
		wb.Auth.Revoke(r.Context(), t.Account, t.ID)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: wb.Secure, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}
