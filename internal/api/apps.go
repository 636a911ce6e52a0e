package api

// The caller's own apps, as their developer (docs/apps.md, "Register your
// app"): register, list, edit, replace the secret, delete. The rules are
// package appreg's; an app that is not the caller's is not found.

import (
	"net/http"

	"github.com/presenced/presenced/internal/appreg"
)

func (a *API) listApps(w http.ResponseWriter, r *http.Request) {
	apps, err := a.Apps.List(r.Context(), caller(r).Account)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"apps": apps})
}

func (a *API) registerApp(w http.ResponseWriter, r *http.Request) {
	var reg appreg.Registration
	if !decode(w, r, &reg) {
		return
	}
	app, err := a.Apps.Register(r.Context(), caller(r).Account, reg)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/apps/"+app.ID)
	writeJSON(w, http.StatusCreated, app)
}

func (a *API) getApp(w http.ResponseWriter, r *http.Request) {
	app, err := a.Apps.Get(r.Context(), caller(r).Account, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, app)
}

func (a *API) editApp(w http.ResponseWriter, r *http.Request) {
	var change appreg.Change
	if !decode(w, r, &change) {
		return
	}
	app, err := a.Apps.Edit(r.Context(), caller(r).Account, r.PathValue("id"), change)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, app)
}

func (a *API) newAppSecret(w http.ResponseWriter, r *http.Request) {
	app, err := a.Apps.NewSecret(r.Context(), caller(r).Account, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, app)
}

func (a *API) deleteApp(w http.ResponseWriter, r *http.Request) {
	if err := a.Apps.Delete(r.Context(), caller(r).Account, r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
