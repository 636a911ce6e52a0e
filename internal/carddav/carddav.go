// Package carddav serves each account's address book over CardDAV (RFC 6352
// on WebDAV, RFC 4918), with well-known discovery (RFC 6764) and
// sync-collection (RFC 6578). The book is the one the REST API, the web page
// and the XMPP roster show: every read and write goes through core.Hub, and
// the cards' ETags are the contacts' versions, so an edit from any side with
// a stale ETag gets 412. See docs/contacts.md.
//
// It is written by hand on encoding/xml rather than on emersion/go-webdav
// (v0.6.0): that library's server has no sync-collection, no If-Match on
// DELETE, and hands the backend a parsed vCard (a map), losing the order and
// exact text of the lines this package keeps; its XML decoding has no size
// or depth limits of its own. The subset CardDAV clients use is small.
package carddav

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/vcard"
)

// Namespaces.
const (
	nsDAV  = "DAV:"
	nsCard = "urn:ietf:params:xml:ns:carddav"
	nsCS   = "http://calendarserver.org/ns/"
)

// Prefix is where the DAV tree is mounted; BookName the one address book.
const (
	Prefix   = "/dav/"
	BookName = "contacts"
)

// syncPrefix makes a sync token a URI (RFC 6578 § 3.2).
const syncPrefix = "https://presenced.dev/ns/sync/"

// Handler serves /.well-known/carddav and everything under Prefix.
type Handler struct {
	Hub  *core.Hub
	Auth *auth.Auth
	Log  *slog.Logger

	basic basicCache
}

// BookPath is the path of account's address book, what a client is given.
func BookPath(account string) string {
	return Prefix + "addressbooks/" + account + "/" + BookName + "/"
}

func principalPath(account string) string { return Prefix + "principals/" + account + "/" }
func homePath(account string) string      { return Prefix + "addressbooks/" + account + "/" }

// validName is what a card's resource name may be: no path separators, no
// leading dot (so no "." or ".."), bounded.
var validName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._@+=~-]{0,127}\.vcf$`)

func cardHref(account, id string) string { return BookPath(account) + url.PathEscape(id+".vcf") }

// ServeHTTP routes a request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/.well-known/carddav" {
		// RFC 6764 § 5: the context path; the client then asks it for
		// current-user-principal
		http.Redirect(w, r, Prefix, http.StatusMovedPermanently)
		return
	}
	if r.Method == http.MethodOptions {
		h.options(w)
		return
	}
	account := h.account(w, r)
	if account == "" {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	rest := strings.TrimPrefix(r.URL.Path, Prefix)
	parts := strings.Split(rest, "/")
	var res resource
	switch {
	case rest == "":
		res = resource{kind: kindRoot, href: Prefix}
	case len(parts) == 3 && parts[0] == "principals" && parts[2] == "":
		res = resource{kind: kindPrincipal, owner: parts[1], href: principalPath(parts[1])}
	case len(parts) == 3 && parts[0] == "addressbooks" && parts[2] == "":
		res = resource{kind: kindHome, owner: parts[1], href: homePath(parts[1])}
	case len(parts) == 4 && parts[0] == "addressbooks" && parts[2] == BookName && parts[3] == "":
		res = resource{kind: kindBook, owner: parts[1], href: BookPath(parts[1])}
	case len(parts) == 4 && parts[0] == "addressbooks" && parts[2] == BookName:
		if !validName.MatchString(parts[3]) {
			davError(w, http.StatusForbidden, "resource names are 1 to 128 letters, digits and ._@+=~- ending in .vcf", "")
			return
		}
		res = resource{kind: kindCard, owner: parts[1], id: strings.TrimSuffix(parts[3], ".vcf"), href: cardHref(parts[1], strings.TrimSuffix(parts[3], ".vcf"))}
	case len(parts) == 3 && parts[0] == "addressbooks" && parts[2] == BookName: // no trailing slash
		http.Redirect(w, r, BookPath(parts[1]), http.StatusMovedPermanently)
		return
	default:
		http.Error(w, "no such resource", http.StatusNotFound)
		return
	}
	if res.kind != kindRoot && res.owner != account {
		// one's own book only; another's does not exist for the caller
		http.Error(w, "no such resource", http.StatusNotFound)
		return
	}
	res.owner = account
	switch r.Method {
	case "PROPFIND":
		h.propfind(w, r, res)
	case "REPORT":
		h.report(w, r, res)
	case http.MethodGet, http.MethodHead:
		h.get(w, r, res)
	case http.MethodPut:
		h.put(w, r, res)
	case http.MethodDelete:
		h.delete(w, r, res)
	case "PROPPATCH":
		davError(w, http.StatusForbidden, "properties are read-only", "")
	default:
		w.Header().Set("Allow", allow)
		http.Error(w, r.Method+" is not supported here", http.StatusMethodNotAllowed)
	}
}

const allow = "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, REPORT"

func (h *Handler) options(w http.ResponseWriter) {
	w.Header().Set("DAV", "1, 3, addressbook")
	w.Header().Set("Allow", allow)
	w.WriteHeader(http.StatusOK)
}

type kind int

const (
	kindRoot kind = iota
	kindPrincipal
	kindHome
	kindBook
	kindCard
)

type resource struct {
	kind  kind
	owner string
	id    string // a card's contact ID
	href  string
}

// davError answers with a status and, when precondition is set, the
// RFC 4918 § 16 error body naming it (in the CardDAV or DAV namespace).
func davError(w http.ResponseWriter, status int, msg, precondition string) {
	if precondition == "" {
		http.Error(w, msg, status)
		return
	}
	ns, local, _ := strings.Cut(precondition, " ")
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="utf-8"?>`+"\n"+`<d:error xmlns:d="DAV:"><x:%s xmlns:x="%s"/><d:responsedescription>%s</d:responsedescription></d:error>`,
		local, ns, xmlEscape(msg))
}

// readBody reads a request body bounded by MaxBody and parses it; an
// empty body gives nil. It answers and returns ok false on bad input.
func readBody(w http.ResponseWriter, r *http.Request) (*node, bool) {
	b, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		davError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d MiB", MaxBody>>20), "")
		return nil, false
	}
	if err != nil {
		davError(w, http.StatusBadRequest, "cannot read the request body", "")
		return nil, false
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return nil, true
	}
	n, err := parseXML(b)
	if err != nil {
		davError(w, http.StatusBadRequest, err.Error(), "")
		return nil, false
	}
	return n, true
}

// fail answers a core error in HTTP terms.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch core.CodeOf(err) {
	case core.CodeNotFound:
		http.Error(w, "no such card", http.StatusNotFound)
	case core.CodeConflict, core.CodeExists:
		http.Error(w, "the card changed since you read it", http.StatusPreconditionFailed)
	case core.CodeInvalid, core.CodeTooLarge:
		davError(w, http.StatusForbidden, err.Error(), nsCard+" valid-address-data")
	case core.CodeLimit:
		http.Error(w, "the address book is full", http.StatusInsufficientStorage)
	default:
		h.Log.Error("carddav request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

// parseETag reads one entity tag as a version; -1 for one that names no
// version of this server (it then matches nothing).
func parseETag(s string) int64 {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	v, err := strconv.ParseInt(strings.Trim(s, `"`), 10, 64)
	if err != nil || v <= 0 {
		return -1
	}
	return v
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request, res resource) {
	if res.kind != kindCard {
		if res.kind == kindBook {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "This is %s's CardDAV address book: add %s to a CardDAV client.\n", res.owner, res.href)
			return
		}
		http.Error(w, "GET a card, or use PROPFIND", http.StatusMethodNotAllowed)
		return
	}
	c, err := h.Hub.Contact(r.Context(), res.owner, res.id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(c.Version))
	if inm := r.Header.Get("If-None-Match"); inm != "" && (inm == "*" || parseETag(inm) == c.Version) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := vcard.Encode(c)
	w.Header().Set("Content-Type", "text/vcard; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Header().Set("Last-Modified", c.Updated.UTC().Format(http.TimeFormat))
	if r.Method == http.MethodGet {
		io.WriteString(w, body)
	}
}

func (h *Handler) put(w http.ResponseWriter, r *http.Request, res resource) {
	if res.kind != kindCard {
		http.Error(w, "PUT a card: .../"+BookName+"/NAME.vcf", http.StatusMethodNotAllowed)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "text/vcard") && !strings.HasPrefix(strings.ToLower(ct), "text/x-vcard") {
		davError(w, http.StatusUnsupportedMediaType, "cards are text/vcard", nsCard+" supported-address-data")
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, vcard.MaxCard))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		davError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("a card may hold at most %d KiB", vcard.MaxCard>>10), nsCard+" max-resource-size")
		return
	}
	if err != nil {
		http.Error(w, "cannot read the card", http.StatusBadRequest)
		return
	}
	c, err := vcard.ParseCard(b)
	if err != nil {
		davError(w, http.StatusForbidden, err.Error(), nsCard+" valid-address-data")
		return
	}
	c.ID, c.Owner = res.id, res.owner
	ctx := r.Context()
	ifMatch, ifNone := strings.TrimSpace(r.Header.Get("If-Match")), strings.TrimSpace(r.Header.Get("If-None-Match"))
	var out store.Contact
	created := false
	switch {
	case ifNone == "*":
		out, err = h.Hub.CreateContactAt(ctx, res.owner, res.id, c)
		created = true
	case ifMatch != "":
		v := int64(0)
		if ifMatch != "*" {
			if v = parseETag(ifMatch); v < 0 {
				http.Error(w, "If-Match names no version of this card", http.StatusPreconditionFailed)
				return
			}
		}
		out, err = h.Hub.UpdateContact(ctx, c, v)
		if core.CodeOf(err) == core.CodeNotFound {
			http.Error(w, "no such card to match", http.StatusPreconditionFailed)
			return
		}
	default: // unconditional: replace or create
		out, err = h.Hub.UpdateContact(ctx, c, 0)
		if core.CodeOf(err) == core.CodeNotFound {
			out, err = h.Hub.CreateContactAt(ctx, res.owner, res.id, c)
			created = true
		}
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(out.Version))
	if created {
		w.WriteHeader(http.StatusCreated)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request, res resource) {
	if res.kind != kindCard {
		davError(w, http.StatusForbidden, "the address book cannot be deleted, only its cards", "")
		return
	}
	v := int64(0)
	if im := strings.TrimSpace(r.Header.Get("If-Match")); im != "" && im != "*" {
		if v = parseETag(im); v < 0 {
			http.Error(w, "If-Match names no version of this card", http.StatusPreconditionFailed)
			return
		}
	}
	if err := h.Hub.DeleteContact(r.Context(), res.owner, res.id, v); err != nil {
		h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// syncToken renders a book position as a sync token.
func syncToken(pos int64) string { return syncPrefix + strconv.FormatInt(pos, 10) }

// parseSyncToken reads a token of this server; ok false for anything else.
func parseSyncToken(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, true
	}
	rest, found := strings.CutPrefix(s, syncPrefix)
	if !found {
		return 0, false
	}
	v, err := strconv.ParseInt(rest, 10, 64)
	return v, err == nil && v > 0
}
