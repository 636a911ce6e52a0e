package c2s

// XEP-0030 Service Discovery of the server and of the user's own account
// (the PEP service, XEP-0163 § 6.1).

import (
	"strings"

	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const (
	nsDiscoInfo = "http://jabber.org/protocol/disco#info"
	nsDiscoItem = "http://jabber.org/protocol/disco#items"
)

// serverFeatures the server advertises in disco#info.
var serverFeatures = []string{nsDiscoInfo, nsDiscoItem, nsBlocking, nsPing, nsRoster, nsLast, nsCarbons}

// disco answers disco#info and disco#items about the server or the user's
// own account; other accounts answer service-unavailable.
func (c *conn) disco(id, to string, el *xmlstream.Element) error {
	var identities string
	var features []string
	from := c.s.Domain
	switch owner, ok := c.pepOwner(to); {
	case to == "" || strings.EqualFold(to, c.s.Domain):
		identities, features = `<identity category='server' type='im' name='presenced'/>`, serverFeatures
	case ok && owner == c.account:
		from = owner
		identities = `<identity category='account' type='registered'/><identity category='pubsub' type='pep'/>`
		features = append([]string{nsDiscoInfo, nsDiscoItem}, pepFeatures...)
	default:
		return c.iqError(id, "cancel", "service-unavailable")
	}
	if el.Child(nsDiscoItem, "query") != nil {
		return c.write(`<iq type='result' id='%s' from='%s'><query xmlns='%s'/></iq>`, esc(id), esc(from), nsDiscoItem)
	}
	var b strings.Builder
	b.WriteString(identities)
	for _, f := range features {
		b.WriteString(`<feature var='` + f + `'/>`)
	}
	return c.write(`<iq type='result' id='%s' from='%s'><query xmlns='%s'>%s</query></iq>`, esc(id), esc(from), nsDiscoInfo, b.String())
}
