package pep

import (
	"testing"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

func parse(t *testing.T, x string) *xmlstream.Element {
	t.Helper()
	el, err := xmlstream.Parse(x)
	if err != nil {
		t.Fatal(err)
	}
	return el
}

// TestExamples takes each XEP's own example payload to the core's JSON form
// and back to the same payload.
func TestExamples(t *testing.T) {
	for _, tc := range []struct{ node, payload, json string }{
		{"http://jabber.org/protocol/mood", `<mood xmlns='http://jabber.org/protocol/mood'><annoyed/><text>curse my nurse!</text></mood>`,
			`{"mood":"annoyed","text":"curse my nurse!"}`},
		{"http://jabber.org/protocol/mood", `<mood xmlns='http://jabber.org/protocol/mood'></mood>`, `{}`},
		{"http://jabber.org/protocol/activity", `<activity xmlns='http://jabber.org/protocol/activity'><relaxing><partying/></relaxing><text>My nurse&apos;s birthday!</text></activity>`,
			`{"category":"relaxing","specific":"partying","text":"My nurse's birthday!"}`},
		{"http://jabber.org/protocol/tune", `<tune xmlns='http://jabber.org/protocol/tune'><artist>Yes</artist><length>686</length><rating>8</rating><source>Yessongs</source><title>Heart of the Sunrise</title><track>3</track><uri>http://www.yesworld.com/lyrics/Fragile.html#9</uri></tune>`,
			`{"artist":"Yes","length":686,"rating":8,"source":"Yessongs","title":"Heart of the Sunrise","track":"3","uri":"http://www.yesworld.com/lyrics/Fragile.html#9"}`},
		{"http://jabber.org/protocol/geoloc", `<geoloc xmlns='http://jabber.org/protocol/geoloc'><accuracy>20</accuracy><country>Italy</country><lat>45.44</lat><locality>Venice</locality><lon>12.33</lon></geoloc>`,
			`{"lat":45.44,"lon":12.33,"accuracy":20,"country":"Italy","locality":"Venice"}`},
		{"urn:xmpp:avatar:metadata", `<metadata xmlns='urn:xmpp:avatar:metadata'><info bytes='12345' height='64' id='111f4b3c50d7b0df729d299bc6f8e9ef9066971f' type='image/png' width='64'/></metadata>`,
			`{"id":"111f4b3c50d7b0df729d299bc6f8e9ef9066971f","type":"image/png","bytes":12345,"width":64,"height":64}`},
	} {
		k, ok := ByNode(tc.node)
		if !ok {
			t.Fatalf("no kind for %s", tc.node)
		}
		data, err := k.FromXML(parse(t, tc.payload))
		if err != nil || string(data) != tc.json {
			t.Fatalf("%s: %s %v", tc.node, data, err)
		}
		back, err := k.ToXML(string(data))
		if err != nil {
			t.Fatalf("%s back: %v", tc.node, err)
		}
		if got, want := back.String(""), parse(t, tc.payload).String(""); got != want {
			t.Fatalf("%s back:\n%s\nwant\n%s", tc.node, got, want)
		}
	}
}

func TestRefusesWhatCannotBeAnElementName(t *testing.T) {
	k, _ := ByTopic("mood")
	if _, err := k.FromXML(parse(t, `<mood xmlns='http://jabber.org/protocol/mood'><happy/></mood>`)); err != nil {
		t.Fatal(err)
	}
	if _, err := k.FromXML(parse(t, `<tune xmlns='http://jabber.org/protocol/tune'/>`)); err == nil {
		t.Fatal("a tune payload was taken for a mood")
	}
}

// TestEventRoundTrip: a notification rendered by Event reads back the same
// with ParseEvent, item and retraction; other nodes are not personal.
func TestEventRoundTrip(t *testing.T) {
	it := store.PersonalItem{Account: "a@x", Topic: core.TopicActivity, ItemID: "i1", Data: `{"category":"working","specific":"coding"}`}
	for _, retracted := range []bool{false, true} {
		el, ok, err := Event(core.PersonalEvent{Item: it, Retracted: retracted})
		if !ok || err != nil {
			t.Fatalf("Event: %v %v", ok, err)
		}
		parsed, err := xmlstream.Parse(el.String(""))
		if err != nil {
			t.Fatal(err)
		}
		n, err := ParseEvent(parsed)
		if err != nil || n.Topic != it.Topic || n.ItemID != "i1" || n.Retracted != retracted || !retracted && string(n.Data) != it.Data {
			t.Fatalf("read back %+v %v", n, err)
		}
	}
	other, _ := xmlstream.Parse(`<event xmlns='http://jabber.org/protocol/pubsub#event'><items node='urn:xmpp:bookmarks:1'><item id='x'/></items></event>`)
	if _, err := ParseEvent(other); err != ErrNotPersonal {
		t.Fatalf("bookmarks: %v", err)
	}
}
