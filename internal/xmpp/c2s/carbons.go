package c2s

// XEP-0280 Message Carbons on the core's copies: a session that enables
// carbons is sent what the user's other sessions send and receive in chat,
// wrapped as XEP-0297 forwarded messages.

import (
	"encoding/xml"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const (
	nsCarbons = "urn:xmpp:carbons:2"
	nsForward = "urn:xmpp:forward:0"
	nsHints   = "urn:xmpp:hints" // XEP-0334: <no-copy/>
)

func init() {
	register(iqFeature{
		payloads: []xml.Name{{Space: nsCarbons, Local: "enable"}, {Space: nsCarbons, Local: "disable"}},
		types:    "set",
		at:       forAccount,
		handle:   (*conn).carbons,
		features: map[addressee][]string{toServer: {nsCarbons}},
	})
}

// carbons answers enable and disable.
func (c *conn) carbons(rq iqRequest) error {
	c.sess.SetCarbons(rq.payload.Name.Local == "enable")
	return c.iqResult(rq, nil)
}

// private: the sender asked for no copies.
func private(el *xmlstream.Element) bool {
	return el.Child(nsCarbons, "private") != nil || el.Child(nsHints, "no-copy") != nil
}

// carbonCopy writes a copy of a message another of the user's sessions sent
// or received.
func (c *conn) carbonCopy(m core.Message, kind string) error {
	typ := m.Type
	if typ == "" {
		typ = core.TypeChat
	}
	return c.write(xmlstream.New(nsClient, "message").Set("from", c.account).Set("to", c.sess.Address()).Set("type", typ).
		Add(xmlstream.New(nsCarbons, kind).Add(xmlstream.New(nsForward, "forwarded").Add(messageStanza(m, m.To)))))
}
