package c2s

// Routing of what a bound stream receives (RFC 6121): presence and
// subscriptions, messages, iqs to other sessions; iqs for the server or the
// account go to the handlers features register (iq.go, registry.go).

import (
	"context"
	"strconv"
	"strings"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// serveStanzas handles the bound stream until it ends.
func (c *conn) serveStanzas() error {
	for {
		if err := c.awaitStanza(); err != nil {
			return err
		}
		el, err := c.r.Next()
		if err != nil {
			return err
		}
		if el.Name.Space == nsSM {
			err = c.onSM(el)
		} else if ok, abusive := c.sess.Spend(); !ok { // the same request budget as the JSON protocol
			if abusive {
				return &xmlstream.StreamError{Condition: "policy-violation", Text: "too many stanzas"}
			}
			err = c.refuse(el)
		} else if room, nick, ok := c.mucAddress(el.AttrValue("to")); ok {
			err = c.onMUC(el, room, nick) // the multi-user chat service (muc.go)
			if sm := c.sm.Load(); sm != nil && isStanza(el) {
				sm.in.Add(1)
			}
		} else {
			switch el.Name.Local {
			case "presence":
				err = c.onPresence(el)
			case "message":
				err = c.onMessage(el)
			case "iq":
				err = c.onIQ(el)
			}
			if sm := c.sm.Load(); sm != nil && isStanza(el) {
				sm.in.Add(1) // XEP-0198 § 4: handled
			}
		}
		if err != nil {
			return err
		}
	}
}

// refuse answers a stanza over the rate limit (RFC 6120 § 8.3.3.18); a
// presence is dropped.
func (c *conn) refuse(el *xmlstream.Element) error {
	id, typ := el.AttrValue("id"), el.AttrValue("type")
	switch {
	case el.Name.Local == "iq" && (typ == "get" || typ == "set"):
		return c.iqError(c.iqRequest(el), "wait", "resource-constraint")
	case el.Name.Local == "message" && typ != "error":
		return c.messageError(el.AttrValue("to"), id, "wait", "resource-constraint")
	}
	return nil
}

// onPresence handles presence the client sends (RFC 6121 § 3, § 4).
func (c *conn) onPresence(el *xmlstream.Element) error {
	ctx, to := context.Background(), el.AttrValue("to")
	if typ := el.AttrValue("type"); to != "" && (typ == "" || typ == "unavailable") {
		if handled, err := c.toForeign(el); handled { // a room of another domain (foreign.go)
			return err
		}
	}
	switch typ := el.AttrValue("type"); typ {
	case "":
		if to != "" {
			c.sess.Direct(to, true) // refused or invalid: silently dropped, as RFC 6121 § 4.6 lets servers do
			return nil
		}
		p := core.Presence{Availability: core.Available, Status: childText(el, "status")}
		if show := childText(el, "show"); show != "" && show != "chat" {
			p.Availability = core.Availability(show)
		}
		p.Priority, _ = strconv.Atoi(childText(el, "priority"))
		if !c.available.Load() { // initial presence: what it brings leaves in one flush
			return c.gathered(func() error { return c.setPresence(ctx, el, p) })
		}
		return c.setPresence(ctx, el, p)
	case "unavailable":
		if to != "" {
			c.sess.Direct(to, false)
			return nil
		}
		c.available.Store(false) // § 4.5: the stream stays; presence stops flowing both ways
		c.sess.Unavailable()
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		op := map[string]func(*core.Hub, context.Context, string, string) error{
			"subscribe": (*core.Hub).Subscribe, "subscribed": (*core.Hub).Approve,
			"unsubscribe": (*core.Hub).Unsubscribe, "unsubscribed": (*core.Hub).Deny,
		}[typ]
		if bare, _, err := addr.Parse(to); err == nil {
			op(c.s.Hub, ctx, c.account, bare) // errors leave nothing to tell the sender (RFC 6121 § 3)
		}
	}
	return nil
}

// setPresence sets the session's presence from the client's el; the
// first time, it also gets the client its contacts' presence and the
// requests waiting for an answer.
func (c *conn) setPresence(ctx context.Context, el *xmlstream.Element, p core.Presence) error {
	if err := c.sess.SetPresence(p); err != nil {
		why, ok := refusal(err)
		if !ok {
			return nil // a bad presence is ignored, as RFC 6121 lets servers do
		}
		// an app's session without presence:publish: told so (RFC 6120
		// § 8.3.1), and nobody sees it; what it may see of others still
		// follows its initial presence, as the core decides
		if err := c.write(xmlstream.New(nsClient, "presence").Set("type", "error").Add(forbidden(why))); err != nil {
			return err
		}
	}
	if !c.available.Swap(true) { // initial presence: contacts' presence, then pending requests
		boot := c.boot
		c.boot = nil // from now on, what the client was told follows events
		if err := c.sess.Probe(ctx, boot); err != nil {
			return err
		}
		if err := c.pendingRequests(ctx, boot); err != nil {
			return err
		}
	}
	return c.onCaps(el)
}

// pendingRequests redelivers subscription requests still unanswered, as
// RFC 6121 § 3.1.3 asks on every initial presence.
func (c *conn) pendingRequests(ctx context.Context, boot *core.View) error {
	subs, err := c.sess.Subscriptions(ctx, boot)
	if err != nil {
		return err
	}
	for _, v := range subs {
		if v.PendingIn {
			if err := c.write(presenceStanza(v.Address, c.sess.Address(), "subscribe")); err != nil {
				return err
			}
		}
	}
	return nil
}

// onMessage routes a message (RFC 6121 § 5, § 8.5): its body to any
// session, its other children to XMPP sessions as they are.
func (c *conn) onMessage(el *xmlstream.Element) error {
	to, id, typ := el.AttrValue("to"), el.AttrValue("id"), el.AttrValue("type")
	if handled, err := c.toForeign(el); handled { // a room of another domain (foreign.go)
		return err
	}
	switch typ {
	case core.TypeChat, core.TypeHeadline, core.TypeError:
	case "groupchat":
		return c.messageError(to, id, "cancel", "service-unavailable") // no multi-user chat here
	default:
		typ = core.TypeNormal
	}
	if x := el.Child(nsConference, "x"); x != nil && typ != core.TypeError && !c.foreignRoomJID(x.AttrValue("jid")) {
		return c.onDirectInvite(el, x) // XEP-0249 (muc.go); to another domain's room, a message as it is
	}
	m := core.Message{ID: id, Kind: core.KindMessage, Type: typ, To: to, Private: private(el)}
	var payload strings.Builder
	for _, n := range el.Children {
		if ch, ok := n.(*xmlstream.Element); ok {
			if ch.Name.Space == nsClient && ch.Name.Local == "body" && m.Body == "" {
				m.Body = ch.Text()
			} else {
				payload.WriteString(ch.String(nsClient))
			}
		}
	}
	m.Payload = payload.String()
	if to == "" || m.Body == "" && m.Payload == "" {
		return nil // to the server itself, or empty: nothing to do
	}
	if _, _, err := addr.Parse(to); err != nil && !strings.EqualFold(to, c.domain) && typ != core.TypeError {
		return c.messageError(to, id, "modify", "jid-malformed") // RFC 6120 § 8.3.3.8
	}
	_, err := c.sess.Send(m)
	if bare, resource, perr := addr.Parse(to); core.CodeOf(err) == core.CodeUnavailable && perr == nil && resource != "" && (typ == core.TypeChat || typ == core.TypeNormal) {
		m.To = bare // § 8.5.3.2.1: the resource is gone, the account may have others
		_, err = c.sess.Send(m)
	}
	switch {
	case err == nil, typ == core.TypeError, typ == core.TypeHeadline:
		return nil // errors are never answered with errors; headlines are dropped silently
	case core.CodeOf(err) == core.CodeInvalid:
		return c.messageError(to, id, "modify", "bad-request")
	}
	if why, ok := refusal(err); ok { // an app's session without the message scope
		return c.write(messageErrorStanza(to, id).Add(forbidden(why)))
	}
	return c.messageError(to, id, "cancel", "service-unavailable") // unknown, offline, not sharing presence: all alike
}

func (c *conn) messageError(from, id, typ, condition string) error {
	return c.write(messageErrorStanza(from, id).Add(stanzaError(typ, condition)))
}

func messageErrorStanza(from, id string) *xmlstream.Element {
	return xmlstream.New(nsClient, "message").Set("type", "error").Set("from", from).Set("id", id)
}

// routeIQ relays an iq to another session (of a contact, or of the user),
// under the same rule as a message; a request that cannot be delivered is
// answered service-unavailable, like one to nobody.
func (c *conn) routeIQ(el *xmlstream.Element, id, typ, to string) error {
	if handled, err := c.toForeign(el); handled { // a room of another domain (foreign.go)
		return err
	}
	var payload strings.Builder
	for _, n := range el.Children {
		if ch, ok := n.(*xmlstream.Element); ok {
			payload.WriteString(ch.String(nsClient))
		}
	}
	_, err := c.sess.Send(core.Message{ID: id, Kind: core.KindIQ, Type: typ, To: to, Payload: payload.String()})
	if why, ok := refusal(err); ok && (typ == "get" || typ == "set") {
		return c.iqForbidden(iqRequest{id: id, from: to}, why)
	}
	if err != nil && (typ == "get" || typ == "set") {
		return c.iqError(iqRequest{id: id, from: to}, "cancel", "service-unavailable")
	}
	return nil // a result or error that cannot be delivered is dropped
}

func childText(el *xmlstream.Element, local string) string {
	return strings.TrimSpace(el.ChildText(nsClient, local))
}
