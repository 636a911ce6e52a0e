package pep

import (
	"encoding/json"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// mood is XEP-0107 User Mood: <mood><happy/><text>…</text></mood>, the
// mood a child element named by its value.
var mood = Kind{Node: "http://jabber.org/protocol/mood", Element: "mood", Topic: core.TopicMood,
	toJSON: func(el *xmlstream.Element) any {
		m := core.MoodItem{Text: child(el, "text")}
		if c := firstChild(el, "text"); c != nil {
			m.Mood = c.Name.Local
		}
		return m
	},
	toXML: func(el *xmlstream.Element, data []byte) error {
		var m core.MoodItem
		if err := json.Unmarshal(data, &m); err != nil {
			return err
		}
		if m.Mood != "" {
			el.Add(xmlstream.New(el.Name.Space, m.Mood))
		}
		text(el, "text", m.Text)
		return nil
	},
}
