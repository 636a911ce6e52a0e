package pep

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// NSEvent is the namespace of PEP notifications (XEP-0060 § 7.1.2).
const NSEvent = "http://jabber.org/protocol/pubsub#event"

// Event renders a personal event as the <event/> element of a PEP
// notification (XEP-0163 § 4.3): the item with its payload, or its
// retraction. ok is false for a topic with no XMPP form.
func Event(ev core.PersonalEvent) (el *xmlstream.Element, ok bool, err error) {
	k, ok := ByTopic(ev.Item.Topic)
	if !ok {
		return nil, false, nil
	}
	var item *xmlstream.Element
	if ev.Retracted {
		item = xmlstream.New(NSEvent, "retract").Set("id", ev.Item.ItemID)
	} else {
		payload, err := k.ToXML(ev.Item.Data)
		if err != nil {
			return nil, true, err
		}
		item = xmlstream.New(NSEvent, "item").Set("id", ev.Item.ItemID).Add(payload)
	}
	return xmlstream.New(NSEvent, "event").Add(xmlstream.New(NSEvent, "items").Set("node", k.Node).Add(item)), true, nil
}

// Notified is what a PEP notification says: the topic's item (its
// canonical JSON form), or that the item was retracted.
type Notified struct {
	Topic, ItemID string
	Data          json.RawMessage // nil when Retracted
	Retracted     bool
}

// ErrNotPersonal: the notification is of a node that is not a personal
// event's (a pubsub service's, another extension's).
var ErrNotPersonal = errors.New("pep: not a personal event's node")

// ParseEvent reads an <event/> element of a notification: one item, or
// one retraction, of a personal event's node. The payload is checked by
// the core (FromXML).
func ParseEvent(ev *xmlstream.Element) (Notified, error) {
	items := ev.Child(NSEvent, "items")
	if items == nil {
		return Notified{}, ErrNotPersonal
	}
	k, ok := ByNode(items.AttrValue("node"))
	if !ok {
		return Notified{}, ErrNotPersonal
	}
	n := Notified{Topic: k.Topic}
	if r := items.Child(NSEvent, "retract"); r != nil {
		n.ItemID, n.Retracted = r.AttrValue("id"), true
		return n, nil
	}
	it := items.Child(NSEvent, "item")
	if it == nil {
		return Notified{}, fmt.Errorf("pep: a notification of %s without an item", k.Node)
	}
	n.ItemID = it.AttrValue("id")
	var payload *xmlstream.Element
	for _, c := range it.Children {
		if e, ok := c.(*xmlstream.Element); ok {
			payload = e
			break
		}
	}
	data, err := k.FromXML(payload)
	if err != nil {
		return Notified{}, err
	}
	n.Data = data
	return n, nil
}
