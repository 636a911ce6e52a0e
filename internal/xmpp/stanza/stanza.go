// Package stanza builds the presence stanzas that a client's stream
// (internal/xmpp/c2s), a server's stream (internal/xmpp/s2s) and a
// multi-user chat service (internal/xmpp/muc) send alike: only the
// stream's content namespace (jabber:client, jabber:server) differs.
package stanza

import (
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
