package pep

import (
	"encoding/json"
	"strconv"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// tune is XEP-0118 User Tune: <tune><artist/><length/><rating/><source/>
// <title/><track/><uri/></tune>; an empty <tune/> means the music stopped.
var tune = Kind{Node: "http://jabber.org/protocol/tune", Element: "tune", Topic: core.TopicTune,
	toJSON: func(el *xmlstream.Element) any {
		t := core.TuneItem{Artist: child(el, "artist"), Source: child(el, "source"), Title: child(el, "title"),
			Track: child(el, "track"), URI: child(el, "uri")}
		t.Length, _ = strconv.Atoi(child(el, "length"))
		t.Rating, _ = strconv.Atoi(child(el, "rating"))
		return t
	},
	toXML: func(el *xmlstream.Element, data []byte) error {
		var t core.TuneItem
		if err := json.Unmarshal(data, &t); err != nil {
			return err
		}
		text(el, "artist", t.Artist)
		if t.Length > 0 {
			text(el, "length", strconv.Itoa(t.Length))
		}
		if t.Rating > 0 {
			text(el, "rating", strconv.Itoa(t.Rating))
		}
		text(el, "source", t.Source)
		text(el, "title", t.Title)
		text(el, "track", t.Track)
		text(el, "uri", t.URI)
		return nil
	},
}
