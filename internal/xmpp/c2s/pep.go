package c2s

// XEP-0163 Personal Eventing Protocol on the core's personal events: the
// user's bare address is a PEP service with one node per topic the core
// knows (internal/xmpp/pep). Publishing and retracting go to the core,
// which keeps the last item and delivers it under the privacy policy;
// notifications go out as headline messages from the publisher's bare
// address to sessions whose entity capabilities asked for them (caps.go).
// Only the "presence" access model exists: a publish-options asking for
// another (open, whitelist …) is refused, so nothing meant for fewer people
// is shown to contacts.

import (
	"context"
	"encoding/xml"
	"strings"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/xmpp/pep"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const (
	nsPubsub       = "http://jabber.org/protocol/pubsub"
	nsPubsubEvent  = pep.NSEvent
	nsPubsubErrors = "http://jabber.org/protocol/pubsub#errors"
	nsDataForms    = "jabber:x:data"
)

func init() {
	register(iqFeature{
		payloads: []xml.Name{{Space: nsPubsub, Local: "pubsub"}},
		at:       forAccount | forPeer,
		handle:   (*conn).pubsub,
		// the account is a PEP service (XEP-0163 § 6.1) with these pubsub features
		features: map[addressee][]string{toAccount: {nsPubsub + "#publish", nsPubsub + "#retract-items", nsPubsub + "#retrieve-items",
			nsPubsub + "#last-published", nsPubsub + "#auto-create", nsPubsub + "#publish-options", nsPubsub + "#presence-notifications"}},
		identities: map[addressee][]identity{toAccount: {{category: "pubsub", typ: "pep"}}},
	})
}

// pubsub answers a PEP request addressed to the user's account or, for
// retrieval, a contact's.
func (c *conn) pubsub(rq iqRequest) error {
	ctx, typ, q, owner := context.Background(), rq.typ, rq.payload, rq.from
	switch {
	case typ == "set" && owner == c.account && q.Child(nsPubsub, "publish") != nil:
		return c.publish(ctx, rq, q)
	case typ == "set" && owner == c.account && q.Child(nsPubsub, "retract") != nil:
		r := q.Child(nsPubsub, "retract")
		k, ok := pep.ByNode(r.AttrValue("node"))
		if !ok {
			return c.pubsubError(rq, "cancel", "item-not-found", "")
		}
		if err := c.sess.Retract(ctx, k.Topic); err != nil {
			if why, ok := refusal(err); ok {
				return c.iqForbidden(rq, why)
			}
			return c.iqError(rq, "wait", "internal-server-error")
		}
		return c.iqResult(rq, nil)
	case typ == "get" && q.Child(nsPubsub, "items") != nil:
		if c.app != nil { // Hub.PersonalItems reads the first-party view; an app's comes with the core's per-app view
			return c.iqForbidden(rq, notForApps)
		}
		return c.pepItems(ctx, rq, owner, q.Child(nsPubsub, "items").AttrValue("node"))
	}
	return c.pubsubError(rq, "cancel", "feature-not-implemented", "")
}

func (c *conn) publish(ctx context.Context, rq iqRequest, q *xmlstream.Element) error {
	p := q.Child(nsPubsub, "publish")
	node := p.AttrValue("node")
	k, ok := pep.ByNode(node)
	if !ok {
		return c.pubsubError(rq, "cancel", "feature-not-implemented", "publish")
	}
	if !presenceAccessOnly(q.Child(nsPubsub, "publish-options")) {
		return c.pubsubError(rq, "cancel", "conflict", "precondition-not-met")
	}
	item := p.Child(nsPubsub, "item")
	var payload *xmlstream.Element
	if item != nil {
		for _, n := range item.Children {
			if el, ok := n.(*xmlstream.Element); ok {
				payload = el
				break
			}
		}
	}
	data, err := k.FromXML(payload)
	if err != nil {
		return c.pubsubError(rq, "modify", "bad-request", "invalid-payload")
	}
	itemID := ""
	if item != nil {
		itemID = item.AttrValue("id")
	}
	it, err := c.sess.Publish(ctx, k.Topic, itemID, data)
	if err != nil {
		if core.CodeOf(err) == core.CodeInvalid {
			return c.pubsubError(rq, "modify", "bad-request", "invalid-payload")
		}
		if why, ok := refusal(err); ok {
			return c.iqForbidden(rq, why)
		}
		return c.iqError(rq, "wait", "internal-server-error")
	}
	return c.iqResult(rq, xmlstream.New(nsPubsub, "pubsub").Add(xmlstream.New(nsPubsub, "publish").Set("node", node).
		Add(xmlstream.New(nsPubsub, "item").Set("id", it.ItemID))))
}

// presenceAccessOnly: publish-options (XEP-0223) ask for nothing but the
// presence access model.
func presenceAccessOnly(opts *xmlstream.Element) bool {
	if opts == nil {
		return true
	}
	x := opts.Child(nsDataForms, "x")
	if x == nil {
		return true
	}
	for _, n := range x.Children {
		if f, ok := n.(*xmlstream.Element); ok && f.AttrValue("var") == "pubsub#access_model" {
			if v := f.Child(nsDataForms, "value"); v == nil || strings.TrimSpace(v.Text()) != "presence" {
				return false
			}
		}
	}
	return true
}

// pepItems returns owner's last item on node, if the user may see it; an
// item it may not see answers exactly like one that does not exist.
func (c *conn) pepItems(ctx context.Context, rq iqRequest, owner, node string) error {
	k, ok := pep.ByNode(node)
	if !ok {
		return c.pubsubError(rq, "cancel", "item-not-found", "")
	}
	items, err := c.s.Hub.PersonalItems(ctx, c.account, owner)
	if err != nil {
		return c.iqError(rq, "wait", "internal-server-error")
	}
	for _, it := range items {
		if it.Topic == k.Topic {
			payload, err := k.ToXML(it.Data)
			if err != nil {
				break
			}
			return c.iqResult(rq, xmlstream.New(nsPubsub, "pubsub").Add(xmlstream.New(nsPubsub, "items").Set("node", node).
				Add(xmlstream.New(nsPubsub, "item").Set("id", it.ItemID).Add(payload))))
		}
	}
	return c.iqError(rq, "cancel", "item-not-found")
}

func (c *conn) pubsubError(rq iqRequest, typ, condition, pubsubCondition string) error {
	switch pubsubCondition {
	case "":
		return c.iqError(rq, typ, condition)
	case "publish":
		return c.iqError(rq, typ, condition, xmlstream.New(nsPubsubErrors, "unsupported").Set("feature", "publish"))
	}
	return c.iqError(rq, typ, condition, xmlstream.New(nsPubsubErrors, pubsubCondition))
}

// notify writes a PEP notification of a personal event.
func (c *conn) notify(ev core.PersonalEvent) error {
	event, ok, err := pep.Event(ev)
	if !ok {
		return nil
	}
	if err != nil {
		c.s.Log.Warn("personal event without an XMPP form", "topic", ev.Item.Topic, "err", err)
		return nil
	}
	return c.write(xmlstream.New(nsClient, "message").Set("from", ev.Item.Account).Set("to", c.sess.Address()).Set("type", core.TypeHeadline).Add(event))
}

// lastItems sends a snapshot's personal items (filtered by the core to the
// topics the session takes): none at bind, since an XMPP session takes no
// topic until its capabilities are known; the last items after a
// resumption that had to resynchronise.
func (c *conn) lastItems(items []store.PersonalItem) error {
	for _, it := range items {
		if err := c.notify(core.PersonalEvent{Item: it}); err != nil {
			return err
		}
	}
	return nil
}
