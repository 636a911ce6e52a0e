package c2s

// Iqs from the client (RFC 6120 § 8.2.3, § 10.3.3; RFC 6121 § 8.5): to
// another session, routed; to nobody or to the user's own bare address,
// handled by the server on behalf of the account; to the server's domain,
// handled by the server itself; to another account's bare address, handled
// on its behalf where a feature does (PEP items, last activity); to any
// other entity, refused. The handlers are the features' (registry.go). A
// reply comes from the entity the request was addressed to (see
// iqRequest.from).

import (
	"strings"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// addressee is the kind of entity an iq is addressed to.
type addressee int

const (
	toAccount   addressee = iota // no 'to', or the user's own bare address
	toServer                     // the server's domain
	toPeer                       // another account's bare address
	toOther                      // any other well-formed address
	toMalformed                  // not an address at all
)

// iqRequest is an iq of type get or set from the client.
type iqRequest struct {
	el      *xmlstream.Element
	payload *xmlstream.Element // the child the handler answers
	id, typ string
	to      addressee
	// from is the address replies carry, the entity the request was
	// addressed to. For a request to nobody it is the account's bare
	// address: RFC 6120 § 10.3.3 has the server answer "as if the server
	// were the bare JID of the sending entity", and § 8.1.2.1 (4) lets
	// such a reply carry either no 'from' or that bare JID; we choose the
	// bare JID so that every reply names its sender, the same way whether
	// the client left 'to' out or wrote its own bare address. A malformed
	// address is answered by the server itself (§ 8.1.2.1 (5)): echoing it
	// would put a non-address in 'from'. Empty only before a resource is
	// bound, where the RFC's examples (binding, XEP-0077) carry none.
	from string
}

// iqRequest reads the addressing of an iq from the client.
func (c *conn) iqRequest(el *xmlstream.Element) iqRequest {
	rq := iqRequest{el: el, id: el.AttrValue("id"), typ: el.AttrValue("type")}
	rq.to, rq.from = c.addressed(el.AttrValue("to"))
	return rq
}

// addressed classifies a stanza's 'to' and names the address its replies
// come from.
func (c *conn) addressed(to string) (addressee, string) {
	switch {
	case to == "":
		return toAccount, c.account
	case strings.EqualFold(to, c.domain):
		return toServer, c.domain
	case strings.Contains(to, "@"):
		bare, resource, err := addr.Parse(to)
		switch {
		case err != nil:
			return toMalformed, c.domain
		case resource != "":
			return toOther, bare + "/" + resource
		case bare == c.account:
			return toAccount, c.account
		}
		return toPeer, bare
	}
	domain, resource, full := strings.Cut(to, "/") // a domain address, perhaps with a resource
	domain = strings.ToLower(domain)
	if addr.Domain(domain) != nil || full && addr.Resource(resource) != nil {
		return toMalformed, c.domain
	}
	if full {
		return toOther, domain + "/" + resource
	}
	return toOther, domain
}

func (c *conn) onIQ(el *xmlstream.Element) error {
	id, typ, to := el.AttrValue("id"), el.AttrValue("type"), el.AttrValue("to")
	if bare, resource, err := addr.Parse(to); err == nil && resource != "" && (bare != c.account || resource != c.sess.Resource) {
		return c.routeIQ(el, id, typ, to) // RFC 6121 § 8.5.3: to that session, whatever it asks
	}
	if typ != "get" && typ != "set" {
		if c.isCapsResult(id) {
			return c.onCapsResult(el)
		}
		return nil // answers to roster and block pushes
	}
	rq := c.iqRequest(el)
	if rq.to == toMalformed {
		return c.iqError(rq, "modify", "jid-malformed") // RFC 6120 § 8.3.3.8
	}
	if rq.to == toPeer && c.s.Hub.Remote(rq.from) {
		return c.routeIQ(el, id, typ, rq.from) // its own server answers for it (federation)
	}
	f, payload := handlerFor(rq)
	if f == nil {
		return c.iqError(rq, "cancel", "service-unavailable") // RFC 6120 § 10.3.3 (2), § 8.3.3.19
	}
	rq.payload = payload
	if f.firstParty && c.app != nil {
		return c.iqForbidden(rq, notForApps)
	}
	return f.handle(c, rq)
}

// iqResult answers rq with a result holding payload, if any.
func (c *conn) iqResult(rq iqRequest, payload *xmlstream.Element) error {
	return c.write(iqReply(rq, "result").Add(payload))
}

// iqError answers rq with a stanza error (RFC 6120 § 8.3); extra follows
// the defined condition (an application-specific condition).
func (c *conn) iqError(rq iqRequest, typ, condition string, extra ...xmlstream.Node) error {
	return c.write(iqReply(rq, "error").Add(stanzaError(typ, condition, extra...)))
}

// iqForbidden answers rq with forbidden: an app's session may not (why).
func (c *conn) iqForbidden(rq iqRequest, why string) error {
	return c.write(iqReply(rq, "error").Add(forbidden(why)))
}

// notForApps is why an app's stream is refused what only presenced's own
// clients get (iqFeature.firstParty).
const notForApps = "apps do not get this: it reads or changes the account beyond what the app's grant covers"

func iqReply(rq iqRequest, typ string) *xmlstream.Element {
	el := xmlstream.New(nsClient, "iq").Set("type", typ).Set("id", rq.id)
	if rq.from != "" {
		el.Set("from", rq.from)
	}
	return el
}
