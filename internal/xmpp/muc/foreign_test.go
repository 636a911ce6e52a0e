package muc

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const nsClient = "jabber:client"

// reparse writes el and parses it again, as it crosses a stream.
func reparse(t testing.TB, el *xmlstream.Element) *xmlstream.Element {
	t.Helper()
	out, err := xmlstream.Parse(el.String(""))
	if err != nil {
		t.Fatalf("%s: %v", el.String(""), err)
	}
	return out
}

// TestReadContent reads the stanzas this package's own room service sends
// (what a presenced room says to an occupant of another domain) back into
// what they say.
func TestReadContent(t *testing.T) {
	v := Service{NS: nsClient, Domain: "conference.b.test", To: "alice@a.test/w"}
	stamp := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	bob := core.RoomOccupant{Nick: "bob", Address: "bob@b.test", Presence: core.Presence{Availability: core.DND, Status: "host"}, Affiliation: "owner", Role: "moderator"}
	me := core.RoomOccupant{Nick: "alice", Presence: core.Presence{Availability: core.Available}, Affiliation: "none", Role: "participant"}
	subject, empty := "tea", ""
	for _, c := range []struct {
		name string
		el   *xmlstream.Element
		want core.ForeignRoomContent
	}{
		{"an occupant", v.OccupantPresence("lounge", bob),
			core.ForeignRoomContent{Presence: bob.Presence, Affiliation: "owner", Role: "moderator", Address: "bob@b.test"}},
		{"itself, creating it", v.OccupantPresence("lounge", me, Status(110), Status(201)),
			core.ForeignRoomContent{Presence: me.Presence, Affiliation: "none", Role: "participant", Codes: []int{110, 201}}},
		{"kicked", v.Departure("lounge", me, core.LeftKicked, "bob", "tidy up", true),
			core.ForeignRoomContent{Presence: core.Presence{Availability: core.Unavailable}, Affiliation: "none", Role: "none", Codes: []int{307, 110}, By: "bob", Why: "tidy up"}},
		{"history", v.Groupchat("lounge", core.RoomHistoryItem{ID: "h1", Nick: "bob", Body: "earlier", Sent: stamp}, true),
			core.ForeignRoomContent{Body: "earlier", Delayed: stamp}},
		{"a live message", v.Groupchat("lounge", core.RoomHistoryItem{Nick: "bob", Body: "now"}, false), core.ForeignRoomContent{Body: "now"}},
		{"the subject", v.Subject("lounge", "bob", "tea"), core.ForeignRoomContent{Subject: &subject}},
		{"no subject", v.Subject("lounge", "", ""), core.ForeignRoomContent{Subject: &empty}},
		{"a refusal", v.PresenceError("lounge", "alice", "auth", "registration-required"), core.ForeignRoomContent{Condition: "registration-required"}},
	} {
		c.want.History = -1
		got := ReadContent(reparse(t, c.el), nsClient)
		if !reflect.DeepEqual(*got, c.want) {
			t.Errorf("%s: read %+v\nwant %+v", c.name, *got, c.want)
		}
	}

	// a renamed occupant, a destroyed room, a bound on status codes
	renamed, _ := xmlstream.Parse(`<presence xmlns='jabber:client' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant' nick='al'/><status code='303'/><status code='110'/></x></presence>`)
	if c := ReadContent(renamed, nsClient); c.NewNick != "al" || !reflect.DeepEqual(c.Codes, []int{303, 110}) {
		t.Errorf("rename %+v", c)
	}
	destroyed, _ := xmlstream.Parse(`<presence xmlns='jabber:client' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/><destroy><reason>closing</reason></destroy></x></presence>`)
	if c := ReadContent(destroyed, nsClient); !c.Destroyed || c.Why != "closing" {
		t.Errorf("destroyed %+v", c)
	}
	many, _ := xmlstream.Parse(`<presence xmlns='jabber:client'><x xmlns='http://jabber.org/protocol/muc#user'>` + strings.Repeat(`<status code='100'/>`, 40) + `</x></presence>`)
	if c := ReadContent(many, nsClient); len(c.Codes) != core.MaxForeignCodes {
		t.Errorf("%d codes kept", len(c.Codes))
	}
}

// TestWriteContent: a JSON session's join, presence change, departure,
// message and subject, as the stanzas an XMPP client sends.
func TestWriteContent(t *testing.T) {
	subject := "coffee"
	for _, c := range []struct {
		el   *xmlstream.Element
		join bool
		c    core.ForeignRoomContent
		want string
	}{
		{xmlstream.New(nsClient, "presence"), true, core.ForeignRoomContent{Presence: core.Presence{Availability: core.Away, Status: "tea"}, History: 5},
			`<presence xmlns='jabber:client'><show>away</show><status>tea</status><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='5'/></x></presence>`},
		{xmlstream.New(nsClient, "presence"), true, core.ForeignRoomContent{Presence: core.Presence{Availability: core.Available}, History: -1},
			`<presence xmlns='jabber:client'><x xmlns='http://jabber.org/protocol/muc'/></presence>`},
		{xmlstream.New(nsClient, "presence"), false, core.ForeignRoomContent{Presence: core.Presence{Availability: core.DND}},
			`<presence xmlns='jabber:client'><show>dnd</show></presence>`},
		{xmlstream.New(nsClient, "presence").Set("type", "unavailable"), false, core.ForeignRoomContent{Presence: core.Presence{Availability: core.DND}},
			`<presence xmlns='jabber:client' type='unavailable'/>`},
		{xmlstream.New(nsClient, "message"), false, core.ForeignRoomContent{Body: "hi <all>"},
			`<message xmlns='jabber:client'><body>hi &lt;all&gt;</body></message>`},
		{xmlstream.New(nsClient, "message"), false, core.ForeignRoomContent{Subject: &subject},
			`<message xmlns='jabber:client'><subject>coffee</subject></message>`},
	} {
		if got := WriteContent(c.el, nsClient, c.join, &c.c).String(""); got != c.want {
			t.Errorf("wrote %s\nwant  %s", got, c.want)
		}
	}
}

// FuzzReadContent: any presence or message a room sends is read without a
// panic, its status codes bounded.
func FuzzReadContent(f *testing.F) {
	f.Add(`<presence xmlns='jabber:client' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none' jid='a@b/c' nick='n'><actor nick='m'/><reason>r</reason></item><status code='110'/><destroy/></x></presence>`)
	f.Add(`<message xmlns='jabber:client' type='groupchat'><body>b</body><subject/><delay xmlns='urn:xmpp:delay' stamp='2026-12-02T10:00:00Z'/></message>`)
	f.Add(`<presence xmlns='jabber:client' type='error'><error type='auth'><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`)
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xmlstream.Parse(s)
		if err != nil {
			return
		}
		if c := ReadContent(el, nsClient); len(c.Codes) > core.MaxForeignCodes {
			t.Fatalf("%d codes", len(c.Codes))
		}
	})
}
