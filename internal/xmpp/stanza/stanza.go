// Package stanza builds the presence stanzas that a client's stream
// (internal/xmpp/c2s), a server's stream (internal/xmpp/s2s) and a
// multi-user chat service (internal/xmpp/muc) send alike: only the
// stream's content namespace (jabber:client, jabber:server) differs.
package stanza

import (
	"encoding/xml"
	"strconv"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// Presence is a presence in namespace ns from from to to, of type typ
// ("": available).
func Presence(ns, from, to, typ string) *xmlstream.Element {
	p := xmlstream.New(ns, "presence").Set("from", from).Set("to", to)
	if typ != "" {
		p.Set("type", typ)
	}
	return p
}

// AddShow adds to p the show of availability a (none for available) and
// status, if any (RFC 6121 § 4.7.2).
func AddShow(p *xmlstream.Element, ns string, a core.Availability, status string) *xmlstream.Element {
	if a != core.Available && a != "" {
		p.Add(xmlstream.New(ns, "show").AddText(string(a)))
	}
	if status != "" {
		p.Add(xmlstream.New(ns, "status").AddText(status))
	}
	return p
}

// Resource is the presence of one session of subject (a bare address) to
// to: its show, status and priority.
func Resource(ns, subject, to string, s core.SessionPresence) *xmlstream.Element {
	p := Presence(ns, subject+"/"+s.Resource, to, "")
	p.Children = make([]xmlstream.Node, 0, 3) // show, status, priority: grown once
	p = AddShow(p, ns, s.Availability, s.Status)
	return p.Add(xmlstream.New(ns, "priority").AddText(strconv.Itoa(s.Priority)))
}

// ResourceTree builds Resource stanzas in one tree, refilled for each: a
// stream writes a stanza out before it builds the next, so a writer that
// keeps a tree (in a sync.Pool) allocates next to nothing per presence,
// where Resource allocates seven objects. A contact's presence is most of
// what a login and a fan-out write.
type ResourceTree struct {
	presence, show, status, priority xmlstream.Element
	attrs                            [2]xml.Attr       // from, to
	children                         [3]xmlstream.Node // show, status, priority
	texts                            [3][1]xmlstream.Node
}

// Resource is Resource(ns, subject, to, s), built in t: valid until t
// builds the next.
func (t *ResourceTree) Resource(ns, subject, to string, s core.SessionPresence) *xmlstream.Element {
	p := &t.presence
	*p = xmlstream.Element{Name: xml.Name{Space: ns, Local: "presence"}, Attr: t.attrs[:0], Children: t.children[:0]}
	p.Set("from", subject+"/"+s.Resource).Set("to", to)
	if s.Availability != core.Available && s.Availability != "" { // as AddShow
		p.Add(t.leaf(&t.show, 0, ns, "show", string(s.Availability)))
	}
	if s.Status != "" {
		p.Add(t.leaf(&t.status, 1, ns, "status", s.Status))
	}
	return p.Add(t.leaf(&t.priority, 2, ns, "priority", strconv.Itoa(s.Priority)))
}

// leaf refills el as <local>text</local>, its text in t's i-th slot.
func (t *ResourceTree) leaf(el *xmlstream.Element, i int, ns, local, text string) *xmlstream.Element {
	*el = xmlstream.Element{Name: xml.Name{Space: ns, Local: local}, Children: t.texts[i][:0]}
	return el.AddText(text)
}
