package muc

// Service discovery (XEP-0030) of the MUC service and its rooms (XEP-0045
// § 6), as a client stream's and another domain's users alike are
// answered: what they may see is decided by the core (core.RoomInfo).

import (
	"strconv"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// Namespaces of service discovery, data forms and direct invitations.
const (
	NSDiscoInfo  = "http://jabber.org/protocol/disco#info"
	NSDiscoItems = "http://jabber.org/protocol/disco#items"
	NSData       = "jabber:x:data"
	NSConference = "jabber:x:conference" // XEP-0249
)

func feature(q *xmlstream.Element, vars ...string) *xmlstream.Element {
	for _, v := range vars {
		q.Add(xmlstream.New(NSDiscoInfo, "feature").Set("var", v))
	}
	return q
}

// ServiceInfo is the disco#info query of the MUC service (§ 6.2).
func ServiceInfo() *xmlstream.Element {
	q := xmlstream.New(NSDiscoInfo, "query").
		Add(xmlstream.New(NSDiscoInfo, "identity").Set("category", "conference").Set("type", "text").Set("name", "Rooms"))
	return feature(q, NSDiscoInfo, NSDiscoItems, NS, NSConference)
}

// RoomInfo is the disco#info query of a room (§ 6.4): its features and a
// muc#roominfo form with the subject and the number of occupants.
func RoomInfo(info core.RoomInfo) *xmlstream.Element {
	q := xmlstream.New(NSDiscoInfo, "query").
		Add(xmlstream.New(NSDiscoInfo, "identity").Set("category", "conference").Set("type", "text").Set("name", info.Name))
	feature(q, NSDiscoInfo, NSDiscoItems, NS, "muc_persistent", "muc_unmoderated", "muc_unsecured")
	if info.Mode == store.RoomMembers {
		feature(q, "muc_membersonly", "muc_nonanonymous", "muc_hidden")
	} else {
		feature(q, "muc_open", "muc_semianonymous", "muc_public")
	}
	form := xmlstream.New(NSData, "x").Set("type", "result").
		Add(DataField("FORM_TYPE", "hidden", "http://jabber.org/protocol/muc#roominfo")).
		Add(DataField("muc#roominfo_subject", "", info.Subject)).
		Add(DataField("muc#roominfo_occupants", "", strconv.Itoa(info.Count)))
	return q.Add(form)
}

// Items is the disco#items query of the service (§ 6.3): the rooms
// listed, named with their number of occupants.
func (v Service) Items(rooms []core.RoomInfo) *xmlstream.Element {
	q := xmlstream.New(NSDiscoItems, "query")
	for _, r := range rooms {
		name := r.Name
		if r.Count > 0 {
			name += " (" + strconv.Itoa(r.Count) + ")"
		}
		q.Add(xmlstream.New(NSDiscoItems, "item").Set("jid", v.JID(r.Name, "")).Set("name", name))
	}
	return q
}

// DataField is a field of a data form (XEP-0004) with one value.
func DataField(v, typ, value string) *xmlstream.Element {
	f := xmlstream.New(NSData, "field").Set("var", v)
	if typ != "" {
		f.Set("type", typ)
	}
	return f.Add(xmlstream.New(NSData, "value").AddText(value))
}
