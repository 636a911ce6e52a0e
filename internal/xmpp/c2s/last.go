package c2s

// XEP-0012 Last Activity of contacts, through the privacy policy.

import (
	"context"
	"encoding/xml"
	"strconv"

	"github.com/presenced/presenced/internal/core"
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
	views, err := c.s.Hub.Presence(context.Background(), c.account, []string{rq.from})
	if err != nil {
		return err
	}
	if len(views) == 1 {
		v := views[0]
		seconds := -1
		switch {
		case v.Availability != core.Unavailable:
			seconds = 0
		case !v.LastSeen.IsZero():
			seconds = int(c.s.clock().Now().Sub(v.LastSeen).Seconds())
		}
		if seconds >= 0 {
			return c.iqResult(rq, xmlstream.New(nsLast, "query").Set("seconds", strconv.Itoa(seconds)))
		}
	}
	return c.iqError(rq, "cancel", "service-unavailable")
}
