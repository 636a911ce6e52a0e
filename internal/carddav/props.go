package carddav

import (
	"bufio"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/vcard"
)

func name(space, local string) xml.Name { return xml.Name{Space: space, Local: local} }

var (
	pResourceType   = name(nsDAV, "resourcetype")
	pDisplayName    = name(nsDAV, "displayname")
	pPrincipal      = name(nsDAV, "current-user-principal")
	pPrincipalURL   = name(nsDAV, "principal-URL")
	pOwner          = name(nsDAV, "owner")
	pPrivileges     = name(nsDAV, "current-user-privilege-set")
	pReports        = name(nsDAV, "supported-report-set")
	pSyncToken      = name(nsDAV, "sync-token")
	pETag           = name(nsDAV, "getetag")
	pContentType    = name(nsDAV, "getcontenttype")
	pContentLength  = name(nsDAV, "getcontentlength")
	pLastModified   = name(nsDAV, "getlastmodified")
	pCTag           = name(nsCS, "getctag")
	pHomeSet        = name(nsCard, "addressbook-home-set")
	pDescription    = name(nsCard, "addressbook-description")
	pAddressData    = name(nsCard, "address-data")
	pSupportedData  = name(nsCard, "supported-address-data")
	pMaxSize        = name(nsCard, "max-resource-size")
	allPropsOf      = map[kind][]xml.Name{kindRoot: {pResourceType, pPrincipal}, kindPrincipal: {pResourceType, pDisplayName, pPrincipal, pPrincipalURL, pHomeSet}, kindHome: {pResourceType, pDisplayName, pPrincipal}, kindBook: {pResourceType, pDisplayName, pOwner, pSyncToken, pCTag, pSupportedData, pMaxSize, pReports}, kindCard: {pResourceType, pETag, pContentType, pContentLength, pLastModified}}
	needsCardData   = map[xml.Name]bool{pAddressData: true, pContentLength: true, pLastModified: true}
	prefixes        = map[string]string{nsDAV: "d", nsCard: "card", nsCS: "cs"}
	multistatusHead = `<?xml version="1.0" encoding="utf-8"?>` + "\n" + `<d:multistatus xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav" xmlns:cs="http://calendarserver.org/ns/">`
)

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// tag writes <name>inner</name>, with a prefix for the namespaces of
// multistatusHead and a local declaration for any other.
func tag(n xml.Name, inner string) string {
	p, ok := prefixes[n.Space]
	decl := ""
	if !ok {
		p, decl = "x", ` xmlns:x="`+xmlEscape(n.Space)+`"`
	}
	if inner == "" {
		return "<" + p + ":" + n.Local + decl + "/>"
	}
	return "<" + p + ":" + n.Local + decl + ">" + inner + "</" + p + ":" + n.Local + ">"
}

func href(p string) string { return "<d:href>" + xmlEscape(p) + "</d:href>" }

// target is a resource with what its properties need: a card's contact
// (Card data only when asked for) and a book's sync position.
type target struct {
	resource
	c   *store.Contact
	pos int64
}

// value is the XML inside property n of t, and whether t has n.
func value(t target, n xml.Name) (string, bool) {
	switch n {
	case pPrincipal:
		return href(principalPath(t.owner)), true
	case pResourceType:
		switch t.kind {
		case kindPrincipal:
			return "<d:principal/>", true
		case kindCard:
			return "", true
		case kindBook:
			return "<d:collection/><card:addressbook/>", true
		}
		return "<d:collection/>", true
	}
	switch t.kind {
	case kindPrincipal:
		switch n {
		case pPrincipalURL:
			return href(principalPath(t.owner)), true
		case pDisplayName:
			return xmlEscape(t.owner), true
		case pHomeSet:
			return href(homePath(t.owner)), true
		}
	case kindHome:
		if n == pDisplayName {
			return "Address books", true
		}
		if n == pPrivileges {
			return "<d:privilege><d:read/></d:privilege>", true
		}
	case kindBook:
		switch n {
		case pDisplayName:
			return "Contacts", true
		case pDescription:
			return "The presenced address book of " + xmlEscape(t.owner), true
		case pOwner:
			return href(principalPath(t.owner)), true
		case pSyncToken:
			return xmlEscape(syncToken(t.pos)), true
		case pCTag:
			return strconv.FormatInt(t.pos, 10), true
		case pSupportedData:
			return `<card:address-data-type content-type="text/vcard" version="3.0"/><card:address-data-type content-type="text/vcard" version="4.0"/>`, true
		case pMaxSize:
			return strconv.Itoa(vcard.MaxCard), true
		case pReports:
			var b strings.Builder
			for _, r := range []string{"<card:addressbook-query/>", "<card:addressbook-multiget/>", "<d:sync-collection/>"} {
				b.WriteString("<d:supported-report><d:report>" + r + "</d:report></d:supported-report>")
			}
			return b.String(), true
		case pPrivileges:
			return privileges, true
		}
	case kindCard:
		switch n {
		case pETag:
			return xmlEscape(etag(t.c.Version)), true
		case pContentType:
			return "text/vcard; charset=utf-8", true
		case pPrivileges:
			return privileges, true
		case pContentLength:
			return strconv.Itoa(len(vcard.Encode(*t.c))), true
		case pLastModified:
			return t.c.Updated.UTC().Format(http.TimeFormat), true
		case pAddressData:
			return xmlEscape(vcard.Encode(*t.c)), true
		}
	}
	return "", false
}

const privileges = "<d:privilege><d:read/></d:privilege><d:privilege><d:write/></d:privilege><d:privilege><d:write-content/></d:privilege>" +
	"<d:privilege><d:bind/></d:privilege><d:privilege><d:unbind/></d:privilege><d:privilege><d:read-current-user-privilege-set/></d:privilege>"

// propRequest is what a PROPFIND or REPORT asks for: names, or all
// (allprop), or only names (propname).
type propRequest struct {
	names    []xml.Name
	all      bool
	nameOnly bool
}

func (q propRequest) wantsData() bool {
	for _, n := range q.names {
		if needsCardData[n] {
			return true
		}
	}
	return q.all
}

func propRequestOf(n *node) propRequest {
	if n == nil {
		return propRequest{all: true}
	}
	if n.child(nsDAV, "propname") != nil {
		return propRequest{nameOnly: true}
	}
	p := n.child(nsDAV, "prop")
	if p == nil {
		return propRequest{all: true}
	}
	var q propRequest
	for _, c := range p.children {
		q.names = append(q.names, c.Name)
	}
	return q
}

// msWriter streams a multistatus: a response at a time, so a listing of
// a large book holds one card in memory, not the book.
type msWriter struct {
	w   *bufio.Writer
	hdr bool
	rw  http.ResponseWriter
}

func newMS(w http.ResponseWriter) *msWriter {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	return &msWriter{w: bufio.NewWriterSize(w, 32<<10), rw: w}
}

func (m *msWriter) start() {
	if !m.hdr {
		m.hdr = true
		m.rw.WriteHeader(http.StatusMultiStatus)
		m.w.WriteString(multistatusHead)
	}
}

func (m *msWriter) props(t target, q propRequest) {
	m.start()
	m.w.WriteString("<d:response>" + href(t.href))
	names := q.names
	if q.all || q.nameOnly {
		names = allPropsOf[t.kind]
	}
	var found, missing strings.Builder
	for _, n := range names {
		if q.nameOnly {
			found.WriteString(tag(n, ""))
			continue
		}
		if v, ok := value(t, n); ok {
			found.WriteString(tag(n, v))
		} else {
			missing.WriteString(tag(n, ""))
		}
	}
	if found.Len() > 0 || missing.Len() == 0 {
		m.w.WriteString("<d:propstat><d:prop>" + found.String() + "</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>")
	}
	if missing.Len() > 0 {
		m.w.WriteString("<d:propstat><d:prop>" + missing.String() + "</d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>")
	}
	m.w.WriteString("</d:response>")
}

func (m *msWriter) status(hrefPath string, status int) {
	m.start()
	m.w.WriteString("<d:response>" + href(hrefPath) + "<d:status>HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) + "</d:status></d:response>")
}

func (m *msWriter) end(extra string) {
	m.start()
	m.w.WriteString(extra + "</d:multistatus>\n")
	m.w.Flush()
}

func (h *Handler) propfind(w http.ResponseWriter, r *http.Request, res resource) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if body != nil && (body.Space != nsDAV || body.Local != "propfind") {
		davError(w, http.StatusBadRequest, "a PROPFIND body is a DAV:propfind element", "")
		return
	}
	q := propRequestOf(body)
	depth := r.Header.Get("Depth")
	if depth == "" {
		depth = "infinity"
	}
	if depth != "0" && depth != "1" && res.kind != kindCard {
		davError(w, http.StatusForbidden, "Depth: infinity is not supported; use 0 or 1", nsDAV+" propfind-finite-depth")
		return
	}
	ctx := r.Context()
	t := target{resource: res}
	switch res.kind {
	case kindCard:
		c, err := h.Hub.Contact(ctx, res.owner, res.id)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		t.c = &c
	case kindBook:
		changes, pos, err := h.Hub.ContactChanges(ctx, res.owner, 0)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		t.pos = pos
		ms := newMS(w)
		ms.props(t, q)
		if depth == "1" {
			h.cards(r, ms, res.owner, changes, q) // logged; a PROPFIND gives no sync token
		}
		ms.end("")
		return
	}
	ms := newMS(w)
	ms.props(t, q)
	if res.kind == kindHome && depth == "1" {
		_, pos, err := h.Hub.ContactChanges(ctx, res.owner, 0)
		if err != nil {
			h.Log.Error("carddav: book position", "err", err)
		}
		ms.props(target{resource: resource{kind: kindBook, owner: res.owner, href: BookPath(res.owner)}, pos: pos}, q)
	}
	ms.end("")
}

// cards writes a response for each listed card, reading a card's data
// only when a requested property needs it. A card it could not read is
// left out, and the first such error returned (the others are logged).
func (h *Handler) cards(r *http.Request, ms *msWriter, owner string, changes []store.ContactChange, q propRequest) error {
	data := q.wantsData()
	var failed error
	for _, ch := range changes {
		res := resource{kind: kindCard, owner: owner, id: ch.ID, href: cardHref(owner, ch.ID)}
		if ch.Deleted {
			ms.status(res.href, http.StatusNotFound)
			continue
		}
		c := store.Contact{ID: ch.ID, Version: ch.Version}
		if data {
			var err error
			if c, err = h.Hub.Contact(r.Context(), res.owner, ch.ID); err != nil {
				if core.CodeOf(err) == core.CodeNotFound { // deleted meanwhile
					ms.status(res.href, http.StatusNotFound)
					continue
				}
				h.Log.Error("carddav: read card", "err", err)
				if failed == nil {
					failed = err
				}
				continue
			}
		}
		ms.props(target{resource: res, c: &c}, q)
	}
	return failed
}

func (h *Handler) report(w http.ResponseWriter, r *http.Request, res resource) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	if body == nil {
		davError(w, http.StatusBadRequest, "a REPORT needs a body", "")
		return
	}
	if res.kind != kindBook {
		davError(w, http.StatusForbidden, "REPORTs are answered on the address book "+BookPath(res.owner), nsDAV+" supported-report")
		return
	}
	q := propRequestOf(body)
	if q.all {
		q = propRequest{names: []xml.Name{pETag}}
	}
	switch {
	case body.Space == nsCard && body.Local == "addressbook-multiget":
		h.multiget(w, r, res, body, q)
	case body.Space == nsCard && body.Local == "addressbook-query":
		h.query(w, r, res, body, q)
	case body.Space == nsDAV && body.Local == "sync-collection":
		h.syncCollection(w, r, res, body, q)
	default:
		davError(w, http.StatusForbidden, "supported reports: addressbook-multiget, addressbook-query, sync-collection", nsDAV+" supported-report")
	}
}

// cardOfHref maps an href of a multiget to a card of owner's book, or
// "" if it names none.
func cardOfHref(owner, h string) string {
	h = strings.TrimSpace(h)
	if u, err := url.Parse(h); err == nil {
		h = u.Path
	}
	name, found := strings.CutPrefix(h, BookPath(owner))
	if !found || !validName.MatchString(name) {
		return ""
	}
	return strings.TrimSuffix(name, ".vcf")
}

func (h *Handler) multiget(w http.ResponseWriter, r *http.Request, res resource, body *node, q propRequest) {
	hrefs := body.all(nsDAV, "href")
	// a book holds at most MaxContacts cards: more hrefs than that name
	// none a client needs, and each may read a 256 KiB card
	if max := h.Hub.MaxContacts(); max > 0 && len(hrefs) > max {
		davError(w, http.StatusForbidden, fmt.Sprintf("at most %d hrefs in a multiget, as many as a book holds", max), "")
		return
	}
	ms := newMS(w)
	seen := make(map[string]bool, len(hrefs))
	for _, hn := range hrefs {
		id := cardOfHref(res.owner, hn.text.String())
		key := "/" + id // one answer per card, however its href is spelt
		if id == "" {
			key = strings.TrimSpace(hn.text.String())
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		if id == "" {
			ms.status(strings.TrimSpace(hn.text.String()), http.StatusNotFound)
			continue
		}
		c, err := h.Hub.Contact(r.Context(), res.owner, id)
		if err != nil {
			if core.CodeOf(err) != core.CodeNotFound {
				h.Log.Error("carddav: read card", "err", err)
			}
			ms.status(cardHref(res.owner, id), http.StatusNotFound)
			continue
		}
		ms.props(target{resource: resource{kind: kindCard, owner: res.owner, id: id, href: cardHref(res.owner, id)}, c: &c}, q)
	}
	ms.end("")
}

func (h *Handler) syncCollection(w http.ResponseWriter, r *http.Request, res resource, body *node, q propRequest) {
	tn := body.child(nsDAV, "sync-token")
	token := ""
	if tn != nil {
		token = tn.text.String()
	}
	since, ok := parseSyncToken(token)
	if !ok {
		davError(w, http.StatusForbidden, "not a sync token of this address book", nsDAV+" valid-sync-token")
		return
	}
	changes, pos, err := h.Hub.ContactChanges(r.Context(), res.owner, since)
	if errors.Is(err, store.ErrSyncExpired) {
		davError(w, http.StatusForbidden, "sync token too old: sync again without one", nsDAV+" valid-sync-token")
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ms := newMS(w)
	if err := h.cards(r, ms, res.owner, changes, q); err != nil {
		// a card left out: the new token would say the client has it.
		// The responses have begun (207 is sent), so the client gets the
		// token it came with and is given the changes again next time.
		// After an initial sync (no token) that is position 0, which
		// parseSyncToken refuses (403 valid-sync-token): the client
		// lists the book again, deletions included
		pos = since
	}
	ms.end("<d:sync-token>" + xmlEscape(syncToken(pos)) + "</d:sync-token>")
}
