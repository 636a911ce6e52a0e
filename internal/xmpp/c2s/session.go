package c2s

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// RFC 6121 and XEP namespaces handled on a bound stream.
const (
	nsRoster = "jabber:iq:roster"
	nsLast   = "jabber:iq:last" // XEP-0012
	nsPing   = "urn:xmpp:ping"
	// nsSignal carries the JSON protocol's signals (opaque JSON) to XMPP
	// clients, inside <message type='headline'>.
	nsSignal = "urn:presenced:signal:0"
)

// live is a bound stream's core session and what it has told the client:
// the state a resumed stream (XEP-0198) takes over from the one it resumes.
type live struct {
	sess      *core.Session
	available atomic.Bool // the client sent initial presence (RFC 6121 § 4.2)
	pushID    atomic.Uint64
	sm        atomic.Pointer[smState] // stream management, once enabled (sm.go)

	fmu    sync.Mutex          // held by a flush: one at a time, even across a resumption
	shown  map[string][]string // contact → resources last announced as available; under fmu
	blocks []string            // the block list as last told; under fmu

	capsVer   string // entity capabilities last seen in presence; reader only
	capsQuery string // id of our disco#info query about them, if one is out; reader only
}

// open starts the core session for the bound stream. Nothing is flushed
// until started: the bind result must go out first.
func (c *conn) open(resource string) error {
	c.writing.Store(true)
	l := &live{}
	c.live = l // before the session exists, so the core's calls on c find it
	s, err := c.s.Hub.Connect(context.Background(), c.account,
		core.SessionOptions{Transport: "xmpp", Device: "xmpp", Resource: resource, Payloads: true, Topics: []string{}, Credential: core.CredentialPassword}, c)
	if err != nil {
		c.writing.Store(false)
		c.live = nil
		return err
	}
	l.sess = s
	return nil
}

// started lets events flow once the bind result is out.
func (c *conn) started() {
	c.writing.Store(false)
	c.Wake()
}

// Wake (core.Sink) flushes events on a goroutine of their own while any wait.
func (c *conn) Wake() {
	if c.writing.CompareAndSwap(false, true) {
		go c.flush()
	}
}

// Close (core.Sink) ends the stream, unless the client is ending it.
func (c *conn) Close(g core.Goaway) {
	c.unhooked.Store(true) // the core calls this as it takes the session from us
	if c.leaving.Load() {
		return
	}
	go func() {
		cond := "reset"
		switch {
		case g.Reason == core.GoawayConflict:
			cond = "conflict" // RFC 6120 § 4.9.3.3
		case g.Reconnect:
			cond = "system-shutdown"
		}
		c.end(cond, g.Reason)
		c.nc.Close()
	}()
}

// flush writes events until none wait. After giving up the writing flag
// it looks again, for events that arrived while it held the flag (their
// Wake found it taken). Pending counts the outbox whoever its sink is now:
// once this connection is unhooked, Pull gives it nothing, so looking again
// would spin for as long as another sink (or none, after a drop) leaves
// events unsent.
func (c *conn) flush() {
	for {
		if err := c.flushBatches(); err != nil {
			c.nc.Close()
			c.writing.Store(false)
			return
		}
		c.writing.Store(false)
		if c.unhooked.Load() || !c.sess.Pending() || !c.writing.CompareAndSwap(false, true) {
			return
		}
	}
}

// flushBatches writes what the session has queued. Without stream
// management, written is delivered (TCP); with it, the client's acks say
// what arrived (sm.go).
func (c *conn) flushBatches() error {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	sm := c.sm.Load()
	for {
		batch := c.sess.Pull(c, 64)
		if len(batch) == 0 {
			break
		}
		for _, d := range batch {
			if err := c.deliver(d.Event); err != nil {
				return err
			}
			if sm != nil {
				sm.mark(d.Seq)
			}
		}
		if sm == nil {
			c.sess.Ack(batch[len(batch)-1].Seq)
		}
	}
	if sm != nil {
		return c.requestAck(sm)
	}
	return nil
}

// deliver turns one core event into stanzas.
func (c *conn) deliver(ev core.Event) error {
	me := c.sess.Address()
	switch ev := ev.(type) {
	case core.PresenceEvent:
		if !c.available.Load() {
			return nil // presence goes to available resources only (RFC 6121 § 4.2.2)
		}
		v := ev.View
		if v.Address == c.account { // the user's other resources, not this one
			var others []core.SessionPresence
			for _, s := range v.Sessions {
				if s.Resource != c.sess.Resource {
					others = append(others, s)
				}
			}
			v.Sessions = others
		}
		return c.presence(v)
	case core.MessageEvent:
		m := ev.Message
		if m.Kind == core.KindIQ {
			return c.write(`<iq from='%s' to='%s' type='%s' id='%s'>%s</iq>`, esc(m.From), esc(me), m.Type, esc(m.ID), m.Payload)
		}
		if m.Kind == core.KindSignal {
			return c.write(`<message from='%s' to='%s' type='headline' id='%s'><signal xmlns='%s'>%s</signal></message>`,
				esc(m.From), esc(me), esc(m.ID), nsSignal, esc(string(m.Data)))
		}
		if ev.Carbon != "" {
			return c.carbonCopy(m, ev.Carbon)
		}
		return c.message(m)
	case core.Snapshot:
		c.blocks = ev.Privacy.Blocks // what the client will ask for with blocklist get
		return c.lastItems(ev.Items)
	case core.PersonalEvent:
		return c.notify(ev)
	case core.PrivacyEvent:
		return c.blockPush(ev.Privacy)
	case core.SubscriptionEvent:
		if err := c.rosterPush(ev.View.Address); err != nil {
			return err
		}
		for _, typ := range inboundSubscription(ev) {
			if err := c.write(`<presence from='%s' to='%s' type='%s'/>`, esc(ev.View.Address), esc(me), typ); err != nil {
				return err
			}
		}
	case core.ContactEvent:
		if ev.Contact.Address != "" { // the roster shows the card's name and groups
			return c.rosterPush(ev.Contact.Address)
		}
	}
	return nil
}

// message writes a message from another session.
func (c *conn) message(m core.Message) error {
	return c.write("%s", messageXML(m, "", c.sess.Address()))
}

// messageXML is a message as a stanza from m.From to to: its body, then the
// extension elements an XMPP sender attached. ns declares the namespace
// when the stanza is nested in another (a forwarded carbon copy).
func messageXML(m core.Message, ns, to string) string {
	typ := m.Type
	if typ == "" {
		typ = core.TypeChat
	}
	var b strings.Builder
	b.WriteString("<message")
	if ns != "" {
		b.WriteString(" xmlns='" + ns + "'")
	}
	b.WriteString(" from='" + esc(m.From) + "' to='" + esc(to) + "' type='" + typ + "'")
	if m.ID != "" {
		b.WriteString(" id='" + esc(m.ID) + "'")
	}
	b.WriteString(">")
	if m.Body != "" {
		b.WriteString("<body>" + esc(m.Body) + "</body>")
	}
	b.WriteString(m.Payload + "</message>")
	return b.String()
}

// presence announces a contact's sessions, and the end of those gone.
func (c *conn) presence(v core.PresenceView) error {
	me := c.sess.Address()
	if c.shown == nil {
		c.shown = map[string][]string{}
	}
	var now []string
	for _, s := range v.Sessions {
		now = append(now, s.Resource)
		show := ""
		if s.Availability != core.Available {
			show = "<show>" + string(s.Availability) + "</show>"
		}
		status := ""
		if s.Status != "" {
			status = "<status>" + esc(s.Status) + "</status>"
		}
		if err := c.write(`<presence from='%s' to='%s'>%s%s<priority>%d</priority></presence>`,
			esc(v.Address+"/"+s.Resource), esc(me), show, status, s.Priority); err != nil {
			return err
		}
	}
	for _, r := range c.shown[v.Address] {
		if !slices.Contains(now, r) {
			if err := c.write(`<presence from='%s' to='%s' type='unavailable'/>`, esc(v.Address+"/"+r), esc(me)); err != nil {
				return err
			}
		}
	}
	if len(now) == 0 {
		delete(c.shown, v.Address)
	} else {
		c.shown[v.Address] = now
	}
	return nil
}

// inboundSubscription is what RFC 6121 § 3 delivers to the user when the
// contact changed their relationship: a request, an approval, the end of
// the contact's subscription, or (after the contact removed the user) the
// end of the user's. A refusal or withdrawn approval is silent: the user's
// request just stays pending (docs/privacy.md).
func inboundSubscription(ev core.SubscriptionEvent) []string {
	was, now := ev.Before, ev.View
	var out []string
	if now.PendingIn && !was.PendingIn {
		out = append(out, "subscribe")
	}
	if ev.Mine {
		return out
	}
	if now.To && !was.To {
		out = append(out, "subscribed")
	}
	if was.From && !now.From {
		out = append(out, "unsubscribe")
	}
	if was.To && !now.To && !now.PendingOut {
		out = append(out, "unsubscribed")
	}
	return out
}

// serveStanzas handles the bound stream until it ends.
func (c *conn) serveStanzas() error {
	for {
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
		} else {
			switch el.Name.Local {
			case "presence":
				err = c.onPresence(el)
			case "message":
				err = c.onMessage(el)
			case "iq":
				err = c.onIQ(el)
			}
			if sm := c.sm.Load(); sm != nil && isStanza("<"+el.Name.Local) {
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
		if err := c.sess.SetPresence(p); err != nil {
			return nil // a bad presence is ignored, as RFC 6121 lets servers do
		}
		if !c.available.Swap(true) { // initial presence: contacts' presence, then pending requests
			if err := c.sess.Probe(ctx); err != nil {
				return err
			}
			if err := c.pendingRequests(ctx); err != nil {
				return err
			}
		}
		return c.onCaps(el)
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

// pendingRequests redelivers subscription requests still unanswered, as
// RFC 6121 § 3.1.3 asks on every initial presence.
func (c *conn) pendingRequests(ctx context.Context) error {
	subs, err := c.s.Hub.Subscriptions(ctx, c.account)
	if err != nil {
		return err
	}
	for _, v := range subs {
		if v.PendingIn {
			if err := c.write(`<presence from='%s' to='%s' type='subscribe'/>`, esc(v.Address), esc(c.sess.Address())); err != nil {
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
	switch typ {
	case core.TypeChat, core.TypeHeadline, core.TypeError:
	case "groupchat":
		return c.messageError(to, id, "cancel", "service-unavailable") // no multi-user chat here
	default:
		typ = core.TypeNormal
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
	if _, _, err := addr.Parse(to); err != nil && !strings.EqualFold(to, c.s.Domain) && typ != core.TypeError {
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
	return c.messageError(to, id, "cancel", "service-unavailable") // unknown, offline, not sharing presence: all alike
}

func (c *conn) messageError(from, id, typ, condition string) error {
	return c.write(`<message type='error' from='%s' id='%s'><error type='%s'><%s xmlns='%s'/></error></message>`,
		esc(from), esc(id), typ, condition, nsStanzas)
}

// routeIQ relays an iq to another session (of a contact, or of the user),
// under the same rule as a message; a request that cannot be delivered is
// answered service-unavailable, like one to nobody.
func (c *conn) routeIQ(el *xmlstream.Element, id, typ, to string) error {
	var payload strings.Builder
	for _, n := range el.Children {
		if ch, ok := n.(*xmlstream.Element); ok {
			payload.WriteString(ch.String(nsClient))
		}
	}
	_, err := c.sess.Send(core.Message{ID: id, Kind: core.KindIQ, Type: typ, To: to, Payload: payload.String()})
	if err != nil && (typ == "get" || typ == "set") {
		return c.write(`<iq type='error' id='%s' from='%s'><error type='cancel'><service-unavailable xmlns='%s'/></error></iq>`, esc(id), esc(to), nsStanzas)
	}
	return nil // a result or error that cannot be delivered is dropped
}

// lastActivity answers XEP-0012 about a contact from what the policy lets
// the user see: seconds since it went offline, 0 when online. Strangers,
// and contacts that block, hide or are invisible, get the same
// service-unavailable as an account that does not exist.
func (c *conn) lastActivity(rq iqRequest, contact string) error {
	views, err := c.s.Hub.Presence(context.Background(), c.account, []string{contact})
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
			return c.iqResult(rq, fmt.Sprintf(`<query xmlns='%s' seconds='%d'/>`, nsLast, seconds))
		}
	}
	return c.iqError(rq, "cancel", "service-unavailable")
}

func childText(el *xmlstream.Element, local string) string {
	return strings.TrimSpace(el.ChildText(nsClient, local))
}
