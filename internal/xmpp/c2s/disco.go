package c2s

// XEP-0030 Service Discovery of the server and of the user's own account
// (the PEP service, XEP-0163 § 6.1).

import "strings"

const (
	nsDiscoInfo = "http://jabber.org/protocol/disco#info"
	nsDiscoItem = "http://jabber.org/protocol/disco#items"
)

// serverFeatures the server advertises in disco#info.
var serverFeatures = []string{nsDiscoInfo, nsDiscoItem, nsBlocking, nsPing, nsRoster, nsLast, nsCarbons}

// disco answers disco#info and disco#items about the server or the user's
// own account (a request to nobody is about the account: RFC 6120
// § 10.3.3).
func (c *conn) disco(rq iqRequest) error {
	var identities string
	var features []string
	switch rq.to {
	case toServer:
		identities, features = `<identity category='server' type='im' name='presenced'/>`, serverFeatures
	case toAccount:
		identities = `<identity category='account' type='registered'/><identity category='pubsub' type='pep'/>`
		features = append([]string{nsDiscoInfo, nsDiscoItem}, pepFeatures...)
	default:
		return c.iqError(rq, "cancel", "service-unavailable")
	}
	if rq.el.Child(nsDiscoItem, "query") != nil {
		return c.iqResult(rq, `<query xmlns='`+nsDiscoItem+`'/>`)
	}
	var b strings.Builder
	b.WriteString(identities)
	for _, f := range features {
		b.WriteString(`<feature var='` + f + `'/>`)
	}
	return c.iqResult(rq, `<query xmlns='`+nsDiscoInfo+`'>`+b.String()+`</query>`)
}
