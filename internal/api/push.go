package api

// A user's devices woken by Web Push (docs/push.md): the server's VAPID
// key to subscribe with, and the subscriptions.

import (
	"errors"
	"net/http"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/problem"
	"github.com/presenced/presenced/internal/store"
)

func (a *API) pushKey(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"key": a.Push.Keys.Public})
}

// pushJSON is a subscription as the API shows it: never its keys.
type pushJSON struct {
	ID       string    `json:"id"`
	Endpoint string    `json:"endpoint"`
	Device   string    `json:"device,omitempty"`
	Created  time.Time `json:"created"`
}

func (a *API) listPushSubscriptions(w http.ResponseWriter, r *http.Request) {
	subs, err := a.Push.Store.PushSubscriptionsOf(r.Context(), caller(r).Account)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]pushJSON, 0, len(subs))
	for _, p := range subs {
		out = append(out, pushJSON{ID: p.ID, Endpoint: p.Endpoint, Device: p.Device, Created: p.Created})
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscriptions": out})
}

// subscribePush takes a browser's PushSubscription.toJSON(), with an
// optional device name.
func (a *API) subscribePush(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Endpoint       string `json:"endpoint"`
		ExpirationTime *int64 `json:"expirationTime"`
		Keys           struct {
			P256dh string `json:"p256dh"`
			Auth   string `json:"auth"`
		} `json:"keys"`
		Device string `json:"device"`
	}
	if !decode(w, r, &in) {
		return
	}
	p, err := a.Push.Subscribe(r.Context(), caller(r).Account, in.Endpoint, in.Keys.P256dh, in.Keys.Auth, in.Device)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, pushJSON{ID: p.ID, Endpoint: p.Endpoint, Device: p.Device, Created: p.Created})
}

func (a *API) unsubscribePush(w http.ResponseWriter, r *http.Request) {
	err := a.Push.Store.DeletePushSubscription(r.Context(), caller(r).Account, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		problem.Write(w, core.CodeNotFound, "no such push subscription")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
