package api

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/problem"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/vcard"
	"github.com/presenced/presenced/internal/wire"
)

func (a *API) listContacts(w http.ResponseWriter, r *http.Request) {
	q := store.ContactQuery{Text: r.URL.Query().Get("q"), Group: r.URL.Query().Get("group")}
	cs, err := a.Hub.Contacts(r.Context(), caller(r).Account, q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"contacts": wire.Contacts(cs)})
}

func (a *API) writeContact(w http.ResponseWriter, status int, c store.Contact) {
	w.Header().Set("ETag", etag(c.Version))
	if status == http.StatusCreated {
		w.Header().Set("Location", "/v1/contacts/"+c.ID)
	}
	writeJSON(w, status, wire.Contact(c))
}

func (a *API) createContact(w http.ResponseWriter, r *http.Request) {
	var in wire.ContactJSON
	if !decode(w, r, &in) {
		return
	}
	cs, err := a.Hub.CreateContacts(r.Context(), caller(r).Account, []store.Contact{in.StoreContact("")})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeContact(w, http.StatusCreated, cs[0])
}

func (a *API) getContact(w http.ResponseWriter, r *http.Request) {
	c, err := a.Hub.Contact(r.Context(), caller(r).Account, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if r.Header.Get("If-None-Match") == etag(c.Version) {
		w.Header().Set("ETag", etag(c.Version))
		w.WriteHeader(http.StatusNotModified)
		return
	}
	a.writeContact(w, http.StatusOK, c)
}

func (a *API) putContact(w http.ResponseWriter, r *http.Request) {
	v, ok := ifMatch(w, r)
	if !ok {
		return
	}
	var in wire.ContactJSON
	if !decode(w, r, &in) {
		return
	}
	c := in.StoreContact(caller(r).Account)
	c.ID = r.PathValue("id")
	c, err := a.Hub.UpdateContact(r.Context(), c, v)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.writeContact(w, http.StatusOK, c)
}

func (a *API) deleteContact(w http.ResponseWriter, r *http.Request) {
	v, ok := ifMatch(w, r)
	if !ok {
		return
	}
	if err := a.Hub.DeleteContact(r.Context(), caller(r).Account, r.PathValue("id"), v); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type importReport struct {
	Imported int               `json:"imported"`
	Failed   []vcard.CardError `json:"failed"`
}

// importContacts adds every readable, valid card of a vCard file and
// reports each card it could not take, with its position.
func (a *API) importContacts(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxImport))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		problem.Write(w, core.CodeTooLarge, fmt.Sprintf("vCard file larger than %d MiB", MaxImport>>20))
		return
	}
	if err != nil {
		problem.Write(w, core.CodeInvalid, "cannot read the request body")
		return
	}
	cards, bad, err := vcard.Parse(bytes.NewReader(body))
	if err != nil {
		problem.Write(w, core.CodeInvalid, "cannot read vCard: "+err.Error())
		return
	}
	rep := importReport{Failed: bad}
	var good []store.Contact
	for i, c := range cards {
		if err := core.ValidateContact(&cards[i].Contact); err != nil {
			rep.Failed = append(rep.Failed, vcard.CardError{Card: c.Index, Line: c.Line, Err: err.Error()})
			continue
		}
		good = append(good, cards[i].Contact)
	}
	if len(good) > 0 {
		if _, err := a.Hub.CreateContacts(r.Context(), caller(r).Account, good); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	rep.Imported = len(good)
	if rep.Failed == nil {
		rep.Failed = []vcard.CardError{}
	}
	writeJSON(w, http.StatusOK, rep)
}

func (a *API) exportContacts(w http.ResponseWriter, r *http.Request) {
	cs, err := a.Hub.Contacts(r.Context(), caller(r).Account, store.ContactQuery{})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/vcard; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="contacts.vcf"`)
	vcard.Write(w, cs)
}
