package api

// A user's grants to apps (docs/apps.md): list, narrow, revoke.

import (
	"net/http"

	"github.com/presenced/presenced/internal/core"
)

func (a *API) listGrants(w http.ResponseWriter, r *http.Request) {
	gs, err := a.Hub.Grants(r.Context(), caller(r).Account)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"grants": gs})
}

func (a *API) editGrant(w http.ResponseWriter, r *http.Request) {
	var change core.GrantChange
	if !decode(w, r, &change) {
		return
	}
	g, err := a.Hub.EditGrant(r.Context(), caller(r).Account, r.PathValue("app"), change)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (a *API) revokeGrant(w http.ResponseWriter, r *http.Request) {
	if err := a.Hub.RevokeGrant(r.Context(), caller(r).Account, r.PathValue("app")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
