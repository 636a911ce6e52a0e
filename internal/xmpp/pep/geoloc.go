package pep

import (
	"encoding/json"
	"strconv"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// geoloc is XEP-0080 User Location: <geoloc><lat/><lon/><accuracy/>
// <country/>…</geoloc>, each field a child; an empty <geoloc/> stops it.
var geoloc = Kind{Node: "http://jabber.org/protocol/geoloc", Element: "geoloc", Topic: core.TopicGeoloc,
	toJSON: func(el *xmlstream.Element) any {
		num := func(name string) *float64 {
			if f, err := strconv.ParseFloat(child(el, name), 64); err == nil {
				return &f
			}
			return nil
		}
		return core.GeolocItem{Lat: num("lat"), Lon: num("lon"), Alt: num("alt"), Accuracy: num("accuracy"),
			Country: child(el, "country"), CountryCode: child(el, "countrycode"), Locality: child(el, "locality"),
			Region: child(el, "region"), Street: child(el, "street"), PostalCode: child(el, "postalcode"),
			Text: child(el, "text"), Timestamp: child(el, "timestamp"), URI: child(el, "uri")}
	},
	toXML: func(el *xmlstream.Element, data []byte) error {
		var g core.GeolocItem
		if err := json.Unmarshal(data, &g); err != nil {
			return err
		}
		num := func(name string, f *float64) {
			if f != nil {
				text(el, name, strconv.FormatFloat(*f, 'f', -1, 64))
			}
		}
		num("accuracy", g.Accuracy)
		num("alt", g.Alt)
		text(el, "country", g.Country)
		text(el, "countrycode", g.CountryCode)
		num("lat", g.Lat)
		text(el, "locality", g.Locality)
		num("lon", g.Lon)
		text(el, "postalcode", g.PostalCode)
		text(el, "region", g.Region)
		text(el, "street", g.Street)
		text(el, "text", g.Text)
		text(el, "timestamp", g.Timestamp)
		text(el, "uri", g.URI)
		return nil
	},
}
