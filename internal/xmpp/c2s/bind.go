package c2s

import (
	"errors"
	"time"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// bind restarts the stream after SASL and binds a resource (RFC 6120 § 7).
func (c *conn) bind() error {
	if err := c.openStream(xmlstream.New(nsBind, "bind"), xmlstream.New(nsSession, "session").Add(xmlstream.New(nsSession, "optional")),
		xmlstream.New(nsRosterVer, "ver"), xmlstream.New(nsSM, "sm")); err != nil {
		return err
	}
	for c.live == nil { // until a resource is bound or a stream resumed (c.sess.Resource then)
		el, err := c.r.Next()
		if err != nil {
			return err
		}
		if el.Name.Space == nsSM && el.Name.Local == "resume" { // XEP-0198 § 5: instead of binding
			if _, err := c.resume(el); err != nil {
				return err
			}
			continue
		}
		id, typ := el.AttrValue("id"), el.AttrValue("type")
		b := el.Child(nsBind, "bind")
		if el.Name.Local != "iq" || typ != "set" || b == nil {
			if el.Name.Local == "iq" && (typ == "get" || typ == "set") {
				c.iqError(iqRequest{id: id}, "cancel", "not-allowed") // before binding, replies carry no from (RFC 6120 § 7 examples)
				continue
			}
			return &xmlstream.StreamError{Condition: "not-authorized", Text: "bind a resource first"}
		}
		resource := "" // none asked for, or not one we take: the server makes one up (§ 7.6)
		if r := b.Child(nsBind, "resource"); r != nil && len(r.Text()) <= 64 && addr.Resource(r.Text()) == nil {
			resource = r.Text() // a session already on it is replaced (§ 7.7.2.2)
		}
		if err := c.open(resource); err != nil {
			if core.CodeOf(err) == core.CodeUnauthorized { // the credential or the app's grant is gone
				return &xmlstream.StreamError{Condition: "not-authorized", Text: err.Error()}
			}
			c.iqError(iqRequest{id: id}, "wait", "resource-constraint")
			continue
		}
		if err := c.iqResult(iqRequest{id: id}, xmlstream.New(nsBind, "bind").Add(xmlstream.New(nsBind, "jid").AddText(c.sess.Address()))); err != nil {
			return err
		}
		c.bound()
	}
	return errBound
}

// errBound: negotiation is over, a resource is bound (serve runs the rest).
var errBound = errors.New("xmpp: bound")

// serveBound runs the bound stream until it ends or parks.
func (c *conn) serveBound() error {
	c.tlsState = nil // channel bindings were for SASL
	c.nc.SetDeadline(time.Time{})
	c.r.SetInput((*idleReader)(c))
	return c.serveStanzas()
}

// unhook gives the core session up once the stream ended with err: a clean
// close is a logout, anything else a dropped connection.
func (c *conn) unhook(err error) {
	c.unhooked.Store(true)
	if errors.Is(err, xmlstream.ErrClosed) {
		c.leaving.Store(true)
		if sm := c.sm.Load(); sm != nil && sm.id != "" {
			c.s.resume.drop(sm.id, c)
		}
		c.sess.CloseFrom(c) // contacts see it at once, unless another stream resumed it
	} else {
		c.sess.Detach(c) // offline after the grace period (the resumption window), unless resumed
		if sm := c.sm.Load(); sm != nil && sm.id != "" {
			// the resumption window starts now, with the core's (whose timer
			// starts first, so a stream marked dropped has its timer running)
			c.s.resume.dropped(sm.id, c, c.s.clock().Now().Add(c.s.resumeWindow()))
		}
	}
}
