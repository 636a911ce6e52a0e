// Package appreg registers apps (OAuth clients, docs/apps.md): by the
// operator (presenced app add) and by developers, each for their own
// account (the REST API's /v1/apps and the web page's "Your apps"). Both
// make an app here, so an app is checked the same way whoever registers it
// (store.ValidateApp), gets a client ID and a secret the same way, and only
// the secret's hash is ever stored.
package appreg

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/roomtoken"
	"github.com/presenced/presenced/internal/store"
)

// SecretPrefix marks a client secret, so that one pasted where it does not
// belong is recognised (by people and by secret scanners).
const SecretPrefix = "pds_"

// Registration is what whoever registers an app says of it.
type Registration struct {
	Name         string   `json:"name"`
	RedirectURIs []string `json:"redirect_uris"`
	Scopes       []string `json:"scopes"`
	Logo         string   `json:"logo,omitempty"`
	Description  string   `json:"description,omitempty"`
	// Public: a client that cannot keep a secret (a browser or mobile
	// app), which signs in with PKCE alone.
	Public bool `json:"public"`
	// RoomKey is the public JSON Web Key the app signs room tokens with
	// (docs/rooms.md); given, the app authorizes who joins its rooms.
	RoomKey json.RawMessage `json:"room_key,omitempty"`
}

// Change edits an app's registration; nil fields stay as they are. The
// client type cannot change: Public, if given, must be the app's.
type Change struct {
	Name         *string   `json:"name,omitempty"`
	RedirectURIs *[]string `json:"redirect_uris,omitempty"`
	Scopes       *[]string `json:"scopes,omitempty"`
	Logo         *string   `json:"logo,omitempty"`
	Description  *string   `json:"description,omitempty"`
	Public       *bool     `json:"public,omitempty"`
	// RoomKey replaces the room key; JSON null removes it.
	RoomKey json.RawMessage `json:"room_key,omitempty"`
}

// App is an app as its owner (or the operator) sees it. Secret is set only
// in the answer that created it: when the app is registered and when its
// secret is replaced.
type App struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Owner        string          `json:"owner,omitempty"`
	RedirectURIs []string        `json:"redirect_uris"`
	Scopes       []string        `json:"scopes"`
	Logo         string          `json:"logo,omitempty"`
	Description  string          `json:"description,omitempty"`
	Public       bool            `json:"public"`
	RoomKey      json.RawMessage `json:"room_key,omitempty"`
	CreatedAt    time.Time       `json:"created_at"`
	Secret       string          `json:"secret,omitempty"`
}

// View is a's public description, without its secret.
func View(a store.App) App {
	v := App{ID: a.ID, Name: a.Name, Owner: a.Owner, RedirectURIs: a.RedirectURIs, Scopes: a.Scopes,
		Logo: a.Logo, Description: a.Description, Public: a.Public, RoomKey: a.RoomKey, CreatedAt: a.CreatedAt}
	if v.RedirectURIs == nil {
		v.RedirectURIs = []string{}
	}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	return v
}

// New makes the app r describes, owned by owner ("" for the operator),
// with a new client ID (128 random bits, in hex: a shell or a flag parser
// never takes it for something else, as it would a base64url ID starting
// with "-") and, for a confidential app, a new secret (256 bits) of which
// only the SHA-256 is kept. Redirect URIs and scopes named twice are kept
// once. An app store.ValidateApp refuses is a *core.Error (CodeInvalid)
// naming every problem.
func New(r Registration, owner string, now time.Time) (store.App, string, error) {
	id := make([]byte, 16)
	rand.Read(id)
	a := store.App{ID: hex.EncodeToString(id), Name: r.Name, Owner: owner, RedirectURIs: unique(r.RedirectURIs),
		Scopes: unique(r.Scopes), Logo: r.Logo, Description: r.Description, Public: r.Public, RoomKey: roomKey(r.RoomKey),
		CreatedAt: now.UTC().Truncate(time.Millisecond)} // as stored
	var secret string
	if !r.Public {
		secret, a.SecretHash = newSecret()
	}
	if err := validate(a); err != nil {
		return store.App{}, "", err
	}
	return a, secret, nil
}

func newSecret() (string, []byte) {
	b := make([]byte, 32)
	rand.Read(b)
	secret := SecretPrefix + base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(secret))
	return secret, h[:]
}

func unique(l []string) []string {
	var out []string
	for _, s := range l {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func validate(a store.App) error {
	if err := store.ValidateApp(a); err != nil {
		return core.Errorf(core.CodeInvalid, "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if a.RoomKey != nil {
		if _, err := roomtoken.ParseKey(a.RoomKey); err != nil {
			return core.Errorf(core.CodeInvalid, "%v", err)
		}
	}
	return nil
}

// roomKey is the room key to keep of what was given: none for JSON null.
func roomKey(raw json.RawMessage) []byte {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

// Registry is a developer's side of the apps: each account registers,
// lists, edits and deletes its own apps, and never sees or changes
// another's, nor the operator's. An app that is not the caller's is
// answered exactly like one that does not exist (CodeNotFound), so that
// nobody learns which client IDs exist.
type Registry struct {
	Store store.Apps
	Now   func() time.Time
}

// Register registers r for owner and returns it with its secret (for a
// confidential app), which is never shown again. Past
// store.MaxAppsPerOwner apps it fails with CodeLimit.
func (g *Registry) Register(ctx context.Context, owner string, r Registration) (App, error) {
	a, secret, err := New(r, owner, g.Now())
	if err != nil {
		return App{}, err
	}
	switch err := g.Store.CreateApp(ctx, a); {
	case errors.Is(err, store.ErrLimit):
		return App{}, core.Errorf(core.CodeLimit, "you have registered %d apps, the most one account may: delete one first", store.MaxAppsPerOwner)
	case err != nil:
		return App{}, err
	}
	v := View(a)
	v.Secret = secret
	return v, nil
}

// List lists owner's apps, by name.
func (g *Registry) List(ctx context.Context, owner string) ([]App, error) {
	if owner == "" {
		return nil, core.Errorf(core.CodeNotFound, "no owner")
	}
	apps, err := g.Store.ListApps(ctx, owner)
	if err != nil {
		return nil, err
	}
	out := make([]App, 0, len(apps))
	for _, a := range apps {
		out = append(out, View(a))
	}
	return out, nil
}

// own returns owner's app id.
func (g *Registry) own(ctx context.Context, owner, id string) (store.App, error) {
	a, err := g.Store.GetApp(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (a.Owner == "" || a.Owner != owner)) {
		return store.App{}, core.Errorf(core.CodeNotFound, "you have no app %q", id)
	}
	return a, err
}

// Get returns owner's app id.
func (g *Registry) Get(ctx context.Context, owner, id string) (App, error) {
	a, err := g.own(ctx, owner, id)
	if err != nil {
		return App{}, err
	}
	return View(a), nil
}

// Edit applies c to owner's app id. A scope the app loses is taken from
// its users' grants, with the tokens that carried it (store.UpdateApp).
func (g *Registry) Edit(ctx context.Context, owner, id string, c Change) (App, error) {
	a, err := g.own(ctx, owner, id)
	if err != nil {
		return App{}, err
	}
	if c.Public != nil && *c.Public != a.Public {
		return App{}, core.Errorf(core.CodeInvalid, "an app's client type (public or confidential) is chosen when it is registered: register a new app to change it")
	}
	if c.Name != nil {
		a.Name = *c.Name
	}
	if c.RedirectURIs != nil {
		a.RedirectURIs = unique(*c.RedirectURIs)
	}
	if c.Scopes != nil {
		a.Scopes = unique(*c.Scopes)
	}
	if c.Logo != nil {
		a.Logo = *c.Logo
	}
	if c.Description != nil {
		a.Description = *c.Description
	}
	if c.RoomKey != nil {
		a.RoomKey = roomKey(c.RoomKey)
	}
	if err := validate(a); err != nil {
		return App{}, err
	}
	if err := g.Store.UpdateApp(ctx, a); errors.Is(err, store.ErrNotFound) {
		return App{}, core.Errorf(core.CodeNotFound, "you have no app %q", id) // deleted meanwhile
	} else if err != nil {
		return App{}, err
	}
	return View(a), nil
}

// NewSecret gives owner's confidential app id a new secret, returned with
// the app and never shown again: the old secret stops working at once,
// the tokens the app holds stay valid.
func (g *Registry) NewSecret(ctx context.Context, owner, id string) (App, error) {
	a, err := g.own(ctx, owner, id)
	if err != nil {
		return App{}, err
	}
	if a.Public {
		return App{}, core.Errorf(core.CodeInvalid, "a public app has no secret: it signs in with PKCE alone")
	}
	secret, hash := newSecret()
	if err := g.Store.SetAppSecret(ctx, id, hash); errors.Is(err, store.ErrNotFound) {
		return App{}, core.Errorf(core.CodeNotFound, "you have no app %q", id)
	} else if err != nil {
		return App{}, err
	}
	v := View(a)
	v.Secret = secret
	return v, nil
}

// Delete deletes owner's app id with its users' grants and every token
// issued to it: its sessions end (store.DeleteApp logs each token as
// revoked).
func (g *Registry) Delete(ctx context.Context, owner, id string) error {
	if _, err := g.own(ctx, owner, id); err != nil {
		return err
	}
	if err := g.Store.DeleteApp(ctx, id); errors.Is(err, store.ErrNotFound) {
		return core.Errorf(core.CodeNotFound, "you have no app %q", id)
	} else if err != nil {
		return err
	}
	return nil
}
