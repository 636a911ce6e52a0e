package s2s

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// nullCore takes whatever the federation hands it, checking only what the
// translation promises: senders of the authenticated domain, recipients of
// this one.
type nullCore struct{ t *testing.T }

func (n nullCore) check(from, to string) {
	if domainOfAddress(from) != "a.test" || domainOfAddress(to) != "b.test" {
		n.t.Fatalf("core handed from=%q to=%q", from, to)
	}
}
func (n nullCore) RemotePresence(_ context.Context, from, to string, _ *core.Presence) error {
	n.check(from, to)
	return nil
}
func (n nullCore) RemoteProbe(_ context.Context, from, to string) error {
	n.check(from, to)
	return nil
}
func (n nullCore) RemoteSubscription(_ context.Context, from, to, _ string) error {
	n.check(from, to)
	return nil
}
func (n nullCore) RemoteMessage(_ context.Context, m core.Message) (int, error) {
	n.check(m.From, m.To)
	if m.Payload != "" { // what is relayed must parse again
		if _, err := xmlstream.Parse("<x>" + m.Payload + "</x>"); err != nil {
			n.t.Fatalf("payload %q does not parse: %v", m.Payload, err)
		}
	}
	return 0, core.Errorf(core.CodeUnavailable, "no")
}
func (n nullCore) RemotePersonalEvent(_ context.Context, from, to string, ev core.PersonalEvent) error {
	n.check(from, to)
	if ev.Item.Topic == "" || !ev.Retracted && !json.Valid([]byte(ev.Item.Data)) {
		n.t.Fatalf("personal event %+v", ev)
	}
	return nil
}
func (n nullCore) Seen(_ context.Context, viewer, subject string) (core.PresenceView, bool, error) {
	n.check(viewer, subject)
	return core.PresenceView{}, false, nil
}
func (nullCore) RemoteDomainGone(string)  {}
func (nullCore) RemoteOnline(string) bool { return false }
func (nullCore) RemoteResync(string)      {}

// occupant checks a room step: a full address of the authenticated domain,
// in a room named.
func (n nullCore) occupant(from, room string) {
	if domainOfAddress(from) != "a.test" || !strings.Contains(from, "/") || room == "" {
		n.t.Fatalf("room step from=%q room=%q", from, room)
	}
}
func (n nullCore) RemoteRoomJoin(_ context.Context, from string, o core.JoinOptions) error {
	n.occupant(from, o.Room)
	if o.Nick == "" || o.Presence == nil || o.Token != "" {
		n.t.Fatalf("join %+v", o)
	}
	return core.Errorf(core.CodeNotFound, "no")
}
func (n nullCore) RemoteRoomLeave(_ context.Context, from, room string) error {
	n.occupant(from, room)
	return nil
}
func (n nullCore) RemoteRoomSend(_ context.Context, from, room, _, _ string) (int, error) {
	n.occupant(from, room)
	return 0, nil
}
func (n nullCore) RemoteRoomSubject(_ context.Context, from, room, _ string) error {
	n.occupant(from, room)
	return nil
}
func (n nullCore) RemoteRoomAdmin(from string) (core.RoomModerator, error) {
	n.occupant(from, "-")
	return nullModerator{n}, nil
}

// nullModerator checks what a muc#admin request of another domain names.
type nullModerator struct{ n nullCore }

func (m nullModerator) Kick(_ context.Context, room, nick, _ string) error {
	if room == "" || nick == "" {
		m.n.t.Fatalf("kick room=%q nick=%q", room, nick)
	}
	return nil
}
func (m nullModerator) SetAffiliation(_ context.Context, room string, who core.RoomWho, aff, _ string) error {
	if room == "" || aff == "" || aff == "owner" || strings.Contains(who.Address, "/") {
		m.n.t.Fatalf("affiliation room=%q who=%+v aff=%q", room, who, aff)
	}
	return core.Errorf(core.CodeNotFound, "no")
}
func (m nullModerator) Affiliated(_ context.Context, room, aff string) ([]string, error) {
	return []string{"x@a.test"}, nil
}

// FromForeignRoom checks a room's stanza to a local session: from the
// authenticated domain to a full address here, with a payload that parses
// again; it takes none, so every stanza goes on to the ordinary path too.
func (n nullCore) FromForeignRoom(_ context.Context, st core.ForeignStanza) error {
	n.check(st.From, st.To)
	if !strings.Contains(st.To, "/") || st.Kind != "presence" && st.Kind != "message" || st.Lost {
		n.t.Fatalf("foreign room stanza %+v", st)
	}
	if _, err := xmlstream.Parse("<x>" + st.Payload + "</x>"); err != nil {
		n.t.Fatalf("payload %q does not parse: %v", st.Payload, err)
	}
	return core.Errorf(core.CodeNotFound, "not joined")
}

// RemoteInvite checks an invitation's parties; it takes none.
func (n nullCore) RemoteInvite(_ context.Context, from, to, room, _ string) error {
	n.check(from, to)
	return core.Errorf(core.CodeUnavailable, "no")
}

// RemoteRooms lists one room.
func (n nullCore) RemoteRooms(context.Context) ([]core.RoomInfo, error) {
	return []core.RoomInfo{{Name: "lounge", Mode: "open"}}, nil
}

// RemoteRoomInfo checks the asker is of the authenticated domain.
func (n nullCore) RemoteRoomInfo(_ context.Context, from, room string) (core.RoomInfo, error) {
	if domainOfAddress(from) != "a.test" || room == "" {
		n.t.Fatalf("room info for from=%q room=%q", from, room)
	}
	return core.RoomInfo{Name: room}, nil
}

// RemoteRoomPrivate checks a private message's parties.
func (n nullCore) RemoteRoomPrivate(_ context.Context, from, room, nick, _, _ string) (int, error) {
	if domainOfAddress(from) != "a.test" || room == "" || nick == "" {
		n.t.Fatalf("private message from=%q room=%q nick=%q", from, room, nick)
	}
	return 0, core.Errorf(core.CodeNotFound, "not in the room")
}

// InForeignRooms has every stanza to a full address read as a room's.
func (n nullCore) InForeignRooms(string) bool { return true }

// FuzzInboundStanza: any element an authenticated peer sends is either
// refused with a stream error or translated into core calls from its own
// domain to ours, without a panic.
func FuzzInboundStanza(f *testing.F) {
	for _, s := range []string{
		`<message xmlns='jabber:server' from='alice@a.test/x' to='bob@b.test' type='chat' id='1'><body>hi</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`,
		`<presence xmlns='jabber:server' from='alice@a.test/x' to='bob@b.test'><show>away</show><status>s</status><priority>5</priority></presence>`,
		`<presence xmlns='jabber:server' from='alice@a.test' to='bob@b.test' type='subscribe'/>`,
		`<presence xmlns='jabber:server' from='alice@a.test' to='bob@b.test' type='probe'/>`,
		`<iq xmlns='jabber:server' from='alice@a.test/x' to='b.test' type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`,
		`<iq xmlns='jabber:server' from='alice@a.test/x' to='bob@b.test/r' type='set' id='q'><query xmlns='x'/></iq>`,
		`<message xmlns='jabber:server' from='mallory@c.test' to='bob@b.test'><body>x</body></message>`,
		`<message xmlns='jabber:server' from='alice@a.test/x' to='bob@b.test' type='error'><body>x</body><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`,
		`<message xmlns='jabber:server' from='alice@a.test' to='bob@b.test' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='http://jabber.org/protocol/mood'><item id='i'><mood xmlns='http://jabber.org/protocol/mood'><happy/><text>t</text></mood></item></items></event></message>`,
		`<message xmlns='jabber:server' from='alice@a.test' to='bob@b.test/r' type='headline'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='http://jabber.org/protocol/tune'><retract id='i'/></items></event></message>`,
		`<message xmlns='jabber:server' from='alice@a.test' to='bob@b.test'><event xmlns='http://jabber.org/protocol/pubsub#event'><items node='http://jabber.org/protocol/geoloc'><item><geoloc xmlns='http://jabber.org/protocol/geoloc'><lat>1.5</lat></geoloc></item></items></event></message>`,
		`<iq xmlns='jabber:server' from='alice@a.test/x' to='bob@b.test' type='get' id='l'><query xmlns='jabber:iq:last'/></iq>`,
		`<iq xmlns='jabber:server' from='alice@a.test/x' to='bob@b.test' type='get' id='d'><query xmlns='http://jabber.org/protocol/disco#info' node='n'/></iq>`,
		// rooms across domains (muc.go)
		`<presence xmlns='jabber:server' from='alice@a.test/x' to='lounge@conference.b.test/alice'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='5'/><password>p</password></x><show>dnd</show></presence>`,
		`<presence xmlns='jabber:server' from='alice@a.test/x' to='lounge@conference.b.test' />`,
		`<presence xmlns='jabber:server' from='alice@a.test' to='lounge@conference.b.test/alice'/>`,
		`<presence xmlns='jabber:server' from='alice@a.test/x' to='lounge@conference.b.test/alice' type='unavailable'/>`,
		`<message xmlns='jabber:server' from='alice@a.test/x' to='lounge@conference.b.test' type='groupchat' id='g'><body>hi</body></message>`,
		`<message xmlns='jabber:server' from='alice@a.test/x' to='lounge@conference.b.test' type='groupchat'><subject>s</subject></message>`,
		`<message xmlns='jabber:server' from='alice@a.test/x' to='lounge@conference.b.test/bob' type='chat'><body>pm</body></message>`,
		`<iq xmlns='jabber:server' from='alice@a.test/x' to='conference.b.test' type='get' id='i'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
		`<iq xmlns='jabber:server' from='alice@a.test/x' to='lounge@conference.b.test' type='set' id='a'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast' jid='mallory@c.test/r'><reason>r</reason></item><item role='none' nick='bob'/><item affiliation='member' nick='carol'/></query></iq>`,
		`<iq xmlns='jabber:server' from='alice@a.test/x' to='lounge@conference.b.test' type='get' id='b'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast'/></query></iq>`,
		`<iq xmlns='jabber:server' from='alice@a.test/x' to='lounge@conference.b.test' type='set' id='c'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>`,
		`<presence xmlns='jabber:server' from='A.test/' to='@ConferenCe.B.test/0'/>`, // a room without a name (found by fuzzing)
		// rooms of a.test that users of b.test joined (foreign.go): a room is an address of the authenticated domain
		`<presence xmlns='jabber:server' from='lounge@a.test/bob' to='carol@b.test/r'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/><status code='110'/></x></presence>`,
		`<presence xmlns='jabber:server' from='lounge@a.test/bob' to='carol@b.test/r' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item nick='b2'/><status code='303'/><status code='110'/></x></presence>`,
		`<presence xmlns='jabber:server' from='lounge@a.test' to='carol@b.test/r' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><destroy jid='x@conference.a.test'><reason>r</reason></destroy></x></presence>`,
		`<message xmlns='jabber:server' from='lounge@a.test/bob' to='carol@b.test/r' type='groupchat' id='m'><body>hi</body><delay xmlns='urn:xmpp:delay' stamp='2026-01-01T00:00:00Z'/></message>`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		el, err := xmlstream.Parse(s)
		if err != nil || el.Name.Space != nsServer {
			return
		}
		srv := New(Config{Domain: "b.test", Log: slog.New(slog.DiscardHandler)}, nil)
		srv.SetCore(nullCore{t})
		close(srv.done) // nothing is sent: enqueue refuses once closed
		c := &inConn{s: srv, authed: map[string]bool{"a.test": true}}
		c.onStanza(el)
	})
}
