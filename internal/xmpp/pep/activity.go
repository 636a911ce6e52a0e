package pep

import (
	"encoding/json"
	"strings"

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
	toXML: func(b *strings.Builder, data []byte) error {
		var a core.ActivityItem
		if err := json.Unmarshal(data, &a); err != nil {
			return err
		}
		if a.Category != "" {
			b.WriteString("<" + a.Category + ">")
			if a.Specific != "" {
				b.WriteString("<" + a.Specific + "/>")
			}
			b.WriteString("</" + a.Category + ">")
		}
		text(b, "text", a.Text)
		return nil
	},
}
