package pep

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// Kind is one extension: its PEP node (also the payload's namespace), the
// payload's element name and the core topic it carries.
type Kind struct {
	Node, Element, Topic string
	toJSON               func(*xmlstream.Element) any
	toXML                func(el *xmlstream.Element, data []byte) error // fills the payload element
}

var kinds = []Kind{mood, activity, tune, geoloc, avatar}

// ByNode finds the kind of a PEP node.
func ByNode(node string) (Kind, bool) {
	for _, k := range kinds {
		if k.Node == node {
			return k, true
		}
	}
	return Kind{}, false
}

// ByTopic finds the kind of a core topic.
func ByTopic(topic string) (Kind, bool) {
	for _, k := range kinds {
		if k.Topic == topic {
			return k, true
		}
	}
	return Kind{}, false
}

// Nodes lists the PEP nodes served, for service discovery.
func Nodes() []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.Node
	}
	return out
}

// FromXML turns an item's payload into the topic's JSON form, checked by
// the core.
func (k Kind) FromXML(payload *xmlstream.Element) (json.RawMessage, error) {
	if payload == nil || payload.Name.Space != k.Node || payload.Name.Local != k.Element {
		return nil, fmt.Errorf("the payload of %s is <%s xmlns='%s'/>", k.Node, k.Element, k.Node)
	}
	raw, err := json.Marshal(k.toJSON(payload))
	if err != nil {
		return nil, err
	}
	return core.CanonicalItem(k.Topic, raw)
}

// ToXML renders the topic's JSON form as the item's payload.
func (k Kind) ToXML(data string) (*xmlstream.Element, error) {
	el := xmlstream.New(k.Node, k.Element)
	if err := k.toXML(el, []byte(data)); err != nil {
		return nil, err
	}
	return el, nil
}

// child is the text of a child of the payload in its own namespace.
func child(el *xmlstream.Element, local string) string {
	return strings.TrimSpace(el.ChildText(el.Name.Space, local))
}

// firstChild is the first child element other than those named.
func firstChild(el *xmlstream.Element, except ...string) *xmlstream.Element {
	for _, n := range el.Children {
		if c, ok := n.(*xmlstream.Element); ok && c.Name.Space == el.Name.Space && !slices.Contains(except, c.Name.Local) {
			return c
		}
	}
	return nil
}

// text adds <name>value</name> to the payload when value is not empty.
func text(el *xmlstream.Element, name, value string) {
	if value != "" {
		el.Add(xmlstream.New(el.Name.Space, name).AddText(value))
	}
}
