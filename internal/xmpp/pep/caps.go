package pep

// XEP-0115 entity capabilities: the verification string that names a
// disco#info description (c2s checks its clients' with it), and the
// capabilities presenced's federation announces for its users' sessions.

import (
	"crypto/sha1"
	"encoding/base64"
	"sort"
	"strings"

	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// NSCaps is XEP-0115's namespace.
const NSCaps = "http://jabber.org/protocol/caps"

const nsDataForms = "jabber:x:data"

// CapsNode is the node of the capabilities presenced announces to other
// servers for its users' sessions.
const CapsNode = "https://github.com/presenced/presenced"

// SessionInfo is the description other servers are given of a local
// user's session (answered by the server, not the client: JSON and web
// sessions have no XMPP client to ask): an interest in every personal
// event presenced carries (NODE+notify, XEP-0163 § 4.3). A PEP service of
// another server (Prosody's mod_pep, ejabberd's mod_pubsub with mod_caps)
// sends notifications only to the resources whose capabilities say so;
// presenced then gives each notification to the sessions that take its
// topic, as it does for local publishers.
func SessionInfo() *xmlstream.Element {
	q := xmlstream.New(NSDiscoInfo, "query").
		Add(xmlstream.New(NSDiscoInfo, "identity").Set("category", "client").Set("type", "pc").Set("name", "presenced"))
	features := []string{NSDiscoInfo, NSCaps}
	for _, n := range Nodes() {
		features = append(features, n+"+notify")
	}
	for _, f := range features {
		q.Add(xmlstream.New(NSDiscoInfo, "feature").Set("var", f))
	}
	return q
}

// sessionVer is SessionInfo's verification string.
var sessionVer = VerString(SessionInfo())

// SessionCaps is the capabilities element of a local session's presence
// to another server: SessionInfo by its hash.
func SessionCaps() *xmlstream.Element {
	return xmlstream.New(NSCaps, "c").Set("hash", "sha-1").Set("node", CapsNode).Set("ver", sessionVer)
}

// IsSessionInfoQuery reports whether a disco#info query asks for
// SessionInfo (its node is CapsNode#ver).
func IsSessionInfoQuery(q *xmlstream.Element) bool {
	return q != nil && q.Name.Space == NSDiscoInfo && q.AttrValue("node") == CapsNode+"#"+sessionVer
}

// VerString computes the XEP-0115 § 5.1 verification string of a disco#info
// result, hashed with SHA-1 and base64-encoded.
func VerString(q *xmlstream.Element) string {
	var ids, features []string
	forms := map[string]string{}
	var formTypes []string
	for _, n := range q.Children {
		el, ok := n.(*xmlstream.Element)
		if !ok {
			continue
		}
		switch {
		case el.Name.Local == "identity":
			ids = append(ids, el.AttrValue("category")+"/"+el.AttrValue("type")+"/"+langOf(el)+"/"+el.AttrValue("name"))
		case el.Name.Local == "feature":
			features = append(features, el.AttrValue("var"))
		case el.Name.Space == nsDataForms && el.Name.Local == "x":
			ft, s := formString(el)
			if ft == "" {
				continue // forms without FORM_TYPE are left out (§ 5.4)
			}
			formTypes = append(formTypes, ft)
			forms[ft] = s
		}
	}
	sort.Strings(ids)
	sort.Strings(features)
	sort.Strings(formTypes)
	var b strings.Builder
	for _, s := range ids {
		b.WriteString(s + "<")
	}
	for _, s := range features {
		b.WriteString(s + "<")
	}
	for _, ft := range formTypes {
		b.WriteString(forms[ft])
	}
	sum := sha1.Sum([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(sum[:])
}

func langOf(el *xmlstream.Element) string {
	for _, a := range el.Attr {
		if a.Name.Local == "lang" && a.Name.Space != "" {
			return a.Value
		}
	}
	return ""
}

// formString is one extended form's part of the verification string.
func formString(x *xmlstream.Element) (formType, s string) {
	type field struct {
		name   string
		values []string
	}
	var fields []field
	for _, n := range x.Children {
		f, ok := n.(*xmlstream.Element)
		if !ok || f.Name.Local != "field" {
			continue
		}
		var values []string
		for _, m := range f.Children {
			if v, ok := m.(*xmlstream.Element); ok && v.Name.Local == "value" {
				values = append(values, v.Text())
			}
		}
		if f.AttrValue("var") == "FORM_TYPE" {
			if len(values) > 0 {
				formType = values[0]
			}
			continue
		}
		sort.Strings(values)
		fields = append(fields, field{f.AttrValue("var"), values})
	}
	sort.Slice(fields, func(i, j int) bool { return fields[i].name < fields[j].name })
	var b strings.Builder
	b.WriteString(formType + "<")
	for _, f := range fields {
		b.WriteString(f.name + "<")
		for _, v := range f.values {
			b.WriteString(v + "<")
		}
	}
	return formType, b.String()
}
