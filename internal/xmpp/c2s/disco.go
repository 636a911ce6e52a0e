package c2s

// XEP-0030 Service Discovery of the server and of the user's own account,
// from what the features registered (registry.go).

import (
	"context"
	"encoding/xml"

	"github.com/presenced/presenced/internal/xmpp/pep"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const (
	nsDiscoInfo = "http://jabber.org/protocol/disco#info"
	nsDiscoItem = "http://jabber.org/protocol/disco#items"
)

func init() {
	both := map[addressee][]string{toServer: {nsDiscoInfo, nsDiscoItem}, toAccount: {nsDiscoInfo, nsDiscoItem}}
	register(iqFeature{
		payloads: []xml.Name{{Space: nsDiscoInfo, Local: "query"}},
		types:    "get",
		at:       forAccount | forServer | forPeer,
		handle:   (*conn).discoInfo,
		features: both,
		identities: map[addressee][]identity{
			toServer:  {{category: "server", typ: "im", name: "presenced"}},
			toAccount: {{category: "account", typ: "registered"}},
		},
	})
	register(iqFeature{
		payloads: []xml.Name{{Space: nsDiscoItem, Local: "query"}},
		types:    "get",
		at:       forAccount | forServer,
		handle:   (*conn).discoItems,
	})
}

// discoInfo describes the server or the account (a request to nobody is
// about the account: RFC 6120 § 10.3.3).
func (c *conn) discoInfo(rq iqRequest) error {
	if rq.to == toPeer {
		return c.contactInfo(rq)
	}
	ids, features := announced(rq.to)
	q := xmlstream.New(nsDiscoInfo, "query")
	for _, id := range ids {
		el := xmlstream.New(nsDiscoInfo, "identity").Set("category", id.category).Set("type", id.typ)
		if id.name != "" {
			el.Set("name", id.name)
		}
		q.Add(el)
	}
	for _, f := range features {
		q.Add(xmlstream.New(nsDiscoInfo, "feature").Set("var", f))
	}
	return c.iqResult(rq, q)
}

// contactInfo describes another account to one that may see its presence
// (pep.ContactInfo); others get service-unavailable, as for nobody.
func (c *conn) contactInfo(rq iqRequest) error {
	if rq.payload.AttrValue("node") == "" {
		_, ok, err := c.s.Hub.Seen(context.Background(), c.account, rq.from)
		if err != nil {
			return err
		}
		if ok {
			return c.iqResult(rq, pep.ContactInfo())
		}
	}
	return c.iqError(rq, "cancel", "service-unavailable")
}

// discoItems lists the server's services (the multi-user chat service,
// muc.go, XEP-0045 § 6.1); an account has none.
func (c *conn) discoItems(rq iqRequest) error {
	q := xmlstream.New(nsDiscoItem, "query")
	if rq.to == toServer {
		q.Add(xmlstream.New(nsDiscoItem, "item").Set("jid", c.mucDomain()).Set("name", "Rooms"))
	}
	return c.iqResult(rq, q)
}
