package pep

import "github.com/presenced/presenced/internal/xmpp/xmlstream"

// NSDiscoInfo is XEP-0030's namespace of entity information.
const NSDiscoInfo = "http://jabber.org/protocol/disco#info"

// ContactInfo is the XEP-0030 disco#info an account's server answers for
// the account (RFC 6120 § 10.3.3) to one that may see its presence, local
// or of another domain: a registered account that is a PEP service
// (XEP-0163 § 6.1) notifying those who see it, whose last activity
// (XEP-0012) may be asked. Anyone else is told service-unavailable, as for
// an account that does not exist.
func ContactInfo() *xmlstream.Element {
	q := xmlstream.New(NSDiscoInfo, "query").
		Add(xmlstream.New(NSDiscoInfo, "identity").Set("category", "account").Set("type", "registered")).
		Add(xmlstream.New(NSDiscoInfo, "identity").Set("category", "pubsub").Set("type", "pep"))
	for _, f := range []string{NSDiscoInfo, "jabber:iq:last", "http://jabber.org/protocol/pubsub#last-published", "http://jabber.org/protocol/pubsub#presence-notifications"} {
		q.Add(xmlstream.New(NSDiscoInfo, "feature").Set("var", f))
	}
	return q
}
