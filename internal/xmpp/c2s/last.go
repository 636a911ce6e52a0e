package c2s

// XEP-0012 Last Activity of contacts, through the privacy policy.

import (
	"context"
	"encoding/xml"
	"strconv"

	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const nsLast = "jabber:iq:last"

func init() {
	register(iqFeature{
		payloads: []xml.Name{{Space: nsLast, Local: "query"}},
		types:    "get",
		at:       forPeer,
		handle:   (*conn).lastActivity,
		// Hub.Presence reads the first-party view of the contact
		firstParty: true,
		features:   map[addressee][]string{toServer: {nsLast}},
	})
}

// lastActivity answers XEP-0012 about a contact from what the policy lets
// the user see: seconds since it went offline, 0 when online. Strangers,
// and contacts that block, hide or are invisible, get the same
// service-unavailable as an account that does not exist.
func (c *conn) lastActivity(rq iqRequest) error {
	v, ok, err := c.s.Hub.Seen(context.Background(), c.account, rq.from)
	if err != nil {
		return err
	}
	if ok {
		seconds, _ := v.SecondsAway(c.s.clock().Now())
		return c.iqResult(rq, xmlstream.New(nsLast, "query").Set("seconds", strconv.Itoa(seconds)))
	}
	return c.iqError(rq, "cancel", "service-unavailable")
}
