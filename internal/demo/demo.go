// Package demo is the two demo apps presenced serves under /demo/
// (docs/demos.md): a calling app and a chat app. Each is an ordinary
// public app (an OAuth client with PKCE, docs/apps.md) registered by the
// operator with a client ID of its own, so that each has its own grant and
// shows the per-app privacy working; its pages are plain HTML and ES
// modules that use the browser SDK served at /sdk/presenced.js, as an app
// on another origin would use its copy. Nothing here decides what anyone
// sees: the pages get what the core lets their app's sessions see.
package demo

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"slices"
	"time"

	"github.com/presenced/presenced/internal/store"
)

//go:embed static
var static embed.FS

// The demo apps' client IDs. They are fixed, so that registering them at
// every start finds the same apps (and their users' grants) again, and
// the pages know them without asking.
const (
	CallApp = "presenced-demo-call"
	ChatApp = "presenced-demo-chat"
)

// Prefix is where the demos are served.
const Prefix = "/demo/"

// Apps are the demo apps' registrations for a server reached at issuer
// (scheme://host[:port]): each page is its app's redirect URI.
func Apps(issuer string, now time.Time) []store.App {
	return []store.App{{
		ID: CallApp, Name: "presenced demo: Calls", Public: true, CreatedAt: now,
		Description:  "A demo calling app: see which of the contacts you pick are online, and call them (video, WebRTC).",
		RedirectURIs: []string{issuer + Prefix + "call/"},
		Scopes:       []string{"openid", "presence:read", "presence:publish", "signal", "contacts:pick"},
	}, {
		ID: ChatApp, Name: "presenced demo: Chat", Public: true, CreatedAt: now,
		Description: "A demo chat app: messages to the contacts you pick, kept for them while they are away, and group chats " +
			"that XMPP clients can join too (so it sees addresses, as XMPP does).",
		RedirectURIs: []string{issuer + Prefix + "chat/"},
		Scopes:       []string{"openid", "presence:read", "presence:publish", "message", "rooms", "contacts:pick", "addresses"},
	}}
}

// Register registers the demo apps for issuer, or brings their
// registration up to date (a server now reached at another address, a
// newer presenced's scopes). It is idempotent: registering them again
// changes nothing, and their users' grants stay.
func Register(ctx context.Context, st store.Apps, issuer string, now time.Time) error {
	for _, want := range Apps(issuer, now.UTC().Truncate(time.Millisecond)) {
		if err := store.ValidateApp(want); err != nil {
			return fmt.Errorf("demo app %s: %w", want.ID, err)
		}
		have, err := st.GetApp(ctx, want.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			err = st.CreateApp(ctx, want)
		case err != nil:
		case have.Owner != "" || !have.Public:
			// not ours: an account registered an app under this ID
			// (IDs of accounts' apps are random hex, so only by hand)
			err = fmt.Errorf("the app %s exists and is not the demo's", want.ID)
		case have.Name != want.Name || have.Description != want.Description ||
			!slices.Equal(have.RedirectURIs, want.RedirectURIs) || !slices.Equal(have.Scopes, want.Scopes):
			err = st.UpdateApp(ctx, want)
		}
		if err != nil {
			return fmt.Errorf("demo app %s: %w", want.ID, err)
		}
	}
	return nil
}

// Routes serves the demo pages under Prefix.
func Routes(mux *http.ServeMux) {
	sub, _ := fs.Sub(static, "static")
	files := http.StripPrefix(Prefix, http.FileServerFS(sub))
	mux.HandleFunc("GET "+Prefix, func(w http.ResponseWriter, r *http.Request) {
		// the pages' scripts are their own files and the SDK, both from
		// here; media are the page's own streams (srcObject)
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer") // the code in the redirect's URL goes nowhere else
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	})
}
