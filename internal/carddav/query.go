package carddav

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/vcard"
)

// filter is an addressbook-query filter (RFC 6352 § 10.5): prop-filters
// combined by anyof (the default) or allof.
type filter struct {
	allof bool
	props []propFilter
}

type propFilter struct {
	name         string // upper case
	allof        bool
	notDefined   bool
	matches      []textMatch
	paramFilters int // not evaluated: see docs/contacts.md
}

type textMatch struct {
	text      string
	matchType string // equals, contains, starts-with, ends-with
	negate    bool
	octet     bool // i;octet: case-sensitive
}

func parseFilter(n *node) filter {
	var f filter
	if n == nil {
		return f
	}
	f.allof = attr(n, "test") == "allof"
	for _, pn := range n.all(nsCard, "prop-filter") {
		pf := propFilter{name: strings.ToUpper(attr(pn, "name")), allof: attr(pn, "test") == "allof",
			notDefined: pn.child(nsCard, "is-not-defined") != nil, paramFilters: len(pn.all(nsCard, "param-filter"))}
		for _, tn := range pn.all(nsCard, "text-match") {
			mt := attr(tn, "match-type")
			if mt == "" {
				mt = "contains"
			}
			pf.matches = append(pf.matches, textMatch{text: tn.text.String(), matchType: mt,
				negate: attr(tn, "negate-condition") == "yes", octet: attr(tn, "collation") == "i;octet"})
		}
		f.props = append(f.props, pf)
	}
	return f
}

func attr(n *node, local string) string {
	for _, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

func (m textMatch) match(v string) bool {
	t := m.text
	if !m.octet {
		v, t = strings.ToLower(v), strings.ToLower(t)
	}
	var ok bool
	switch m.matchType {
	case "equals":
		ok = v == t
	case "starts-with":
		ok = strings.HasPrefix(v, t)
	case "ends-with":
		ok = strings.HasSuffix(v, t)
	default:
		ok = strings.Contains(v, t)
	}
	return ok != m.negate
}

// values are the values of the card's lines named name.
func values(lines []string, name string) []string {
	var out []string
	for _, l := range lines {
		head, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		n, _, _ := strings.Cut(head, ";")
		if i := strings.LastIndexByte(n, '.'); i >= 0 {
			n = n[i+1:]
		}
		if strings.EqualFold(n, name) {
			out = append(out, strings.NewReplacer(`\,`, ",", `\;`, ";", `\n`, "\n", `\\`, `\`).Replace(v))
		}
	}
	return out
}

func (pf propFilter) match(lines []string) bool {
	vs := values(lines, pf.name)
	if pf.notDefined {
		return len(vs) == 0
	}
	if len(vs) == 0 {
		return false
	}
	if len(pf.matches) == 0 {
		return true
	}
	for _, m := range pf.matches {
		any := false
		for _, v := range vs {
			if m.match(v) {
				any = true
				break
			}
		}
		if any && !pf.allof {
			return true
		}
		if !any && pf.allof {
			return false
		}
	}
	return pf.allof
}

func (f filter) match(lines []string) bool {
	if len(f.props) == 0 {
		return true
	}
	for _, pf := range f.props {
		ok := pf.match(lines)
		if ok && !f.allof {
			return true
		}
		if !ok && f.allof {
			return false
		}
	}
	return f.allof
}

// query answers addressbook-query: every card is read and matched, one at
// a time (a book is bounded by the per-account contact limit).
func (h *Handler) query(w http.ResponseWriter, r *http.Request, res resource, body *node, q propRequest) {
	f := parseFilter(body.child(nsCard, "filter"))
	limit := -1
	if ln := body.child(nsCard, "limit"); ln != nil {
		if nr := ln.child(nsCard, "nresults"); nr != nil {
			if n, err := strconv.Atoi(strings.TrimSpace(nr.text.String())); err == nil && n >= 0 {
				limit = n
			}
		}
	}
	changes, _, err := h.Hub.ContactChanges(r.Context(), res.owner, 0)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ms := newMS(w)
	n := 0
	for _, ch := range changes {
		c, err := h.Hub.Contact(r.Context(), res.owner, ch.ID)
		if err != nil {
			if core.CodeOf(err) != core.CodeNotFound {
				h.Log.Error("carddav: read card", "err", err)
			}
			continue
		}
		if !f.match(vcard.Lines(c)) {
			continue
		}
		if limit >= 0 && n == limit {
			// RFC 6352 § 8.6.1: the truncation is reported on the request-URI
			ms.status(res.href, http.StatusInsufficientStorage)
			break
		}
		n++
		ms.props(target{resource: resource{kind: kindCard, owner: res.owner, id: c.ID, href: cardHref(res.owner, c.ID)}, c: &c}, q)
	}
	ms.end("")
}
