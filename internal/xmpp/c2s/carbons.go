package c2s

// XEP-0280 Message Carbons on the core's copies: a session that enables
// carbons is sent what the user's other sessions send and receive in chat,
// wrapped as XEP-0297 forwarded messages.

import (
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const (
	nsCarbons = "urn:xmpp:carbons:2"
	nsForward = "urn:xmpp:forward:0"
	nsHints   = "urn:xmpp:hints" // XEP-0334: <no-copy/>
)

// carbons answers enable and disable.
func (c *conn) carbons(rq iqRequest) error {
	c.sess.SetCarbons(rq.el.Child(nsCarbons, "enable") != nil)
	return c.iqResult(rq, "")
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
	return c.write(`<message from='%s' to='%s' type='%s'><%s xmlns='%s'><forwarded xmlns='%s'>%s</forwarded></%s></message>`,
		esc(c.account), esc(c.sess.Address()), typ, kind, nsCarbons, nsForward, messageXML(m, nsClient, m.To), kind)
}
