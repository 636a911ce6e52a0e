package s2s

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/muc"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// discoCore keeps the open room lounge and a members-only club that
// names nobody of a.test.
type discoCore struct{ nullCore }

func (discoCore) RemoteRooms(context.Context) ([]core.RoomInfo, error) {
	return []core.RoomInfo{{Name: "lounge", Mode: "open", Count: 2}}, nil
}

func (d discoCore) RemoteRoomInfo(_ context.Context, from, room string) (core.RoomInfo, error) {
	if domainOfAddress(from) != "a.test" {
		d.t.Fatalf("room info asked for %q", from)
	}
	if room != "lounge" {
		return core.RoomInfo{}, core.Errorf(core.CodeNotFound, "no such room")
	}
	return core.RoomInfo{Name: room, Mode: "open", Subject: "tea", Count: 2}, nil
}

// TestMUCDiscoFromOtherDomains: disco#info and disco#items of the rooms
// service and of its rooms, asked by a user (or the server) of another
// domain, are answered on the stream to that domain with what the core
// lets a stranger see; a room it may not see is item-not-found; an
// occupant's items and other nodes are not answered here.
func TestMUCDiscoFromOtherDomains(t *testing.T) {
	s := New(Config{Domain: "b.test", Resolver: noDNS{}, Log: slog.New(slog.DiscardHandler)}, nil)
	s.SetCore(discoCore{nullCore{t}})
	defer s.Close()
	p := &peer{s: s, local: s.localOf("conference.b.test"), domain: "a.test", wake: make(chan struct{}, 8), stop: make(chan struct{})}
	s.mu.Lock()
	s.peers[link{p.local, "a.test"}] = p // no goroutine: the queue is read here
	s.mu.Unlock()
	ask := func(from, to, ns string) *xmlstream.Element {
		t.Helper()
		el, err := xmlstream.Parse(`<iq xmlns='jabber:server' type='get' id='q1' from='` + from + `' to='` + to + `'><query xmlns='` + ns + `'/></iq>`)
		if err != nil {
			t.Fatal(err)
		}
		s.onMUC(context.Background(), el, from, to)
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(p.queue) != 1 {
			t.Fatalf("%s of %s: %d answers", ns, to, len(p.queue))
		}
		out := p.queue[0]
		p.queue = nil
		if out.AttrValue("id") != "q1" || out.AttrValue("to") != from || out.AttrValue("from") != to {
			t.Fatalf("answer addressed %s", out.String(""))
		}
		return out
	}
	str := func(el *xmlstream.Element) string { return el.String("") }

	info := str(ask("dave@a.test/x", "conference.b.test", muc.NSDiscoInfo))
	if !strings.Contains(info, "type='result'") || !strings.Contains(info, "category='conference'") || !strings.Contains(info, "var='"+muc.NS+"'") {
		t.Fatalf("the service's info: %s", info)
	}
	if items := str(ask("a.test", "conference.b.test", muc.NSDiscoItems)); !strings.Contains(items, "jid='lounge@conference.b.test'") || !strings.Contains(items, "name='lounge (2)'") {
		t.Fatalf("the service's items, asked by a server: %s", items)
	}
	room := str(ask("dave@a.test/x", "lounge@conference.b.test", muc.NSDiscoInfo))
	for _, want := range []string{"type='result'", "var='muc_open'", "<value>tea</value>", "<value>2</value>"} {
		if !strings.Contains(room, want) {
			t.Fatalf("the room's info has no %s: %s", want, room)
		}
	}
	if items := str(ask("dave@a.test/x", "lounge@conference.b.test", muc.NSDiscoItems)); !strings.Contains(items, "type='result'") || strings.Contains(items, "<item") {
		t.Fatalf("the room's items (no occupants listed): %s", items)
	}
	if club := str(ask("dave@a.test/x", "club@conference.b.test", muc.NSDiscoInfo)); !strings.Contains(club, "type='error'") || !strings.Contains(club, "item-not-found") {
		t.Fatalf("a room not shown: %s", club)
	}
	if occ := str(ask("dave@a.test/x", "lounge@conference.b.test/bob", muc.NSDiscoInfo)); !strings.Contains(occ, "service-unavailable") {
		t.Fatalf("an occupant's info: %s", occ)
	}
}
