package c2s

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// bind restarts the stream after SASL and binds a resource (RFC 6120 § 7).
func (c *conn) bind() error {
	if err := c.openStream(`<bind xmlns='` + nsBind + `'/><session xmlns='` + nsSession + `'><optional/></session>`); err != nil {
		return err
	}
	for c.resource == "" {
		el, err := c.r.Next()
		if err != nil {
			return err
		}
		id, typ := el.AttrValue("id"), el.AttrValue("type")
		b := el.Child(nsBind, "bind")
		if el.Name.Local != "iq" || typ != "set" || b == nil {
			if el.Name.Local == "iq" && (typ == "get" || typ == "set") {
				c.iqError(id, "cancel", "not-allowed")
				continue
			}
			return &xmlstream.StreamError{Condition: "not-authorized", Text: "bind a resource first"}
		}
		resource := ""
		if r := b.Child(nsBind, "resource"); r != nil {
			resource = r.Text()
		}
		if resource == "" || addr.Resource(resource) != nil {
			x := make([]byte, 4)
			rand.Read(x)
			resource = "xmpp-" + hex.EncodeToString(x)
		}
		c.resource = resource
		if err := c.write(`<iq type='result' id='%s'><bind xmlns='%s'><jid>%s</jid></bind></iq>`,
			esc(id), nsBind, esc(c.account+"/"+c.resource)); err != nil {
			return err
		}
	}
	c.nc.SetDeadline(time.Time{})
	return c.serveStanzas()
}

func (c *conn) iqError(id, typ, condition string) error {
	return c.write(`<iq type='error' id='%s'><error type='%s'><%s xmlns='%s'/></error></iq>`, esc(id), typ, condition, nsStanzas)
}

// serveStanzas handles the bound stream. Only the legacy session
// establishment is answered for now; other requests get
// service-unavailable (RFC 6120 § 8.3.3.19) until the core is wired in.
func (c *conn) serveStanzas() error {
	for {
		el, err := c.r.Next()
		if err != nil {
			return err
		}
		id, typ := el.AttrValue("id"), el.AttrValue("type")
		if el.Name.Local != "iq" || (typ != "get" && typ != "set") {
			continue
		}
		if el.Child(nsSession, "session") != nil {
			c.write(`<iq type='result' id='%s'/>`, esc(id))
			continue
		}
		if err := c.iqError(id, "cancel", "service-unavailable"); err != nil {
			return err
		}
	}
}
