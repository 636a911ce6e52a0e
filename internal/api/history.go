package api

// A user's 1-1 message history (docs/offline.md): whether it is kept, and
// erasing it. Reading it is the JSON protocol's history frame or XMPP's
// message archive (XEP-0313).

import (
	"net/http"

	"github.com/presenced/presenced/internal/core"
)

var errOnRequired = core.Errorf(core.CodeInvalid, "on (true or false) is required")

func (a *API) getHistory(w http.ResponseWriter, r *http.Request) {
	on, err := a.Hub.HistoryOn(r.Context(), caller(r).Account)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"on": on})
}

func (a *API) putHistory(w http.ResponseWriter, r *http.Request) {
	var in struct {
		On *bool `json:"on"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.On == nil {
		a.fail(w, r, errOnRequired)
		return
	}
	if err := a.Hub.SetHistory(r.Context(), caller(r).Account, *in.On); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"on": *in.On})
}

func (a *API) eraseHistory(w http.ResponseWriter, r *http.Request) {
	n, err := a.Hub.EraseHistory(r.Context(), caller(r).Account)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"erased": n})
}
