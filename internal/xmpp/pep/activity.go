package pep

import (
	"encoding/json"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// activity is XEP-0108 User Activity: <activity><working><coding/></working>
// <text>…</text></activity>, the general category a child, the specific
// activity its child.
var activity = Kind{Node: "http://jabber.org/protocol/activity", Element: "activity", Topic: core.TopicActivity,
	toJSON: func(el *xmlstream.Element) any {
		a := core.ActivityItem{Text: child(el, "text")}
		if c := firstChild(el, "text"); c != nil {
			a.Category = c.Name.Local
			if s := firstChild(c); s != nil {
				a.Specific = s.Name.Local
			}
		}
		return a
	},
	toXML: func(el *xmlstream.Element, data []byte) error {
		var a core.ActivityItem
		if err := json.Unmarshal(data, &a); err != nil {
			return err
		}
		if a.Category != "" {
			c := xmlstream.New(el.Name.Space, a.Category)
			if a.Specific != "" {
				c.Add(xmlstream.New(el.Name.Space, a.Specific))
			}
			el.Add(c)
		}
		text(el, "text", a.Text)
		return nil
	},
}
