package core

import (
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestForeignRoomJSONSession: a JSON session joins a room of another
// domain with the join frame's call, by the room's address; what it says
// leaves read (ForeignRoomContent), and the room's answer — occupants,
// its own presence, history, subject — becomes one RoomSnapshot, then
// diffs, messages, subjects and RoomLeft, as for a room here. A refused
// join, a kick and a lost server end in RoomLeft with their reasons.
func TestForeignRoomJSONSession(t *testing.T) {
	e, rec := fedEnv(t)
	h := e.hub
	carol := e.connect("carol@a.test", avail)
	me := carol.s.Address()
	carol.take() // its own snapshot and presence
	from := func(nick, kind, typ string, c ForeignRoomContent) ForeignStanza {
		f := lounge
		if nick != "" {
			f += "/" + nick
		}
		return ForeignStanza{Kind: kind, Type: typ, From: f, To: me, Room: &c}
	}
	deliver := func(sts ...ForeignStanza) {
		t.Helper()
		for _, st := range sts {
			if err := h.FromForeignRoom(ctx, st); err != nil {
				t.Fatalf("%+v not taken: %v", st, err)
			}
		}
	}

	// the join leaves with the session's presence and the history wanted
	e.must(carol.s.Join(ctx, JoinOptions{Room: "Lounge@conference.b.test", Nick: "carol", History: 5}))
	sent := takeForeign(rec)
	if len(sent) != 1 || sent[0].to != (Target{Account: lounge, Resource: "carol"}) {
		t.Fatalf("join sent as %+v", sent)
	}
	if j := sent[0].ev.(ForeignStanza); !j.Join || j.From != me || j.Room == nil || j.Room.History != 5 || j.Room.Presence.Status != "hi" {
		t.Fatalf("join %+v", j)
	}
	if !carol.s.InForeignRoom(lounge) {
		t.Fatal("the join is not remembered")
	}

	// the room's answer is gathered until the subject, then one snapshot
	stamp := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	subject := "tea"
	bob := ForeignRoomContent{Presence: Presence{Availability: Away, Status: "lunch"}, Affiliation: "owner", Role: "moderator", Address: "bob@b.test"}
	deliver(
		from("bob", StanzaPresence, "", bob),
		from("carol", StanzaPresence, "", ForeignRoomContent{Presence: Presence{Availability: Available}, Affiliation: "none", Role: "participant", Codes: []int{110}}),
		from("bob", StanzaMessage, "groupchat", ForeignRoomContent{Body: "earlier", Delayed: stamp}),
	)
	if got := carol.take(); len(got) != 0 {
		t.Fatalf("before the subject: %+v", got)
	}
	deliver(from("bob", StanzaMessage, "groupchat", ForeignRoomContent{Subject: &subject}))
	snaps := eventsOf[RoomSnapshot](carol.take())
	want := RoomSnapshot{Room: lounge, Count: 2,
		Self:      RoomOccupant{Nick: "carol", Presence: Presence{Availability: Available}, Affiliation: "none", Role: "participant"},
		Occupants: []RoomOccupant{{Nick: "bob", Address: "bob@b.test", Presence: Presence{Availability: Away, Status: "lunch"}, Affiliation: "owner", Role: "moderator"}},
		History:   []RoomHistoryItem{{Nick: "bob", Body: "earlier", Sent: stamp}},
		Subject:   "tea", SubjectBy: "bob"}
	if len(snaps) != 1 || !reflect.DeepEqual(snaps[0], want) {
		t.Fatalf("snapshot %+v\nwant     %+v", snaps, want)
	}

	// live traffic: a message, a newcomer, its change, a subject, its kick
	deliver(
		from("bob", StanzaMessage, "groupchat", ForeignRoomContent{Body: "hello"}),
		from("dave", StanzaPresence, "", ForeignRoomContent{Presence: Presence{Availability: Available}, Affiliation: "none", Role: "participant"}),
		from("dave", StanzaPresence, "", ForeignRoomContent{Presence: Presence{Availability: DND}, Affiliation: "none", Role: "participant"}),
		from("bob", StanzaMessage, "groupchat", ForeignRoomContent{Subject: &subject}),
		from("dave", StanzaPresence, "unavailable", ForeignRoomContent{Affiliation: "none", Role: "none", Codes: []int{307}}),
		from("bob", StanzaMessage, "chat", ForeignRoomContent{Body: "psst"}),
		from("bob", StanzaMessage, "normal", ForeignRoomContent{Body: "no frame for it"}),
	)
	got := carol.take()
	if len(got) != 6 {
		t.Fatalf("live events %+v", got)
	}
	if m, ok := got[0].(RoomMessageEvent); !ok || m.Room != lounge || m.Message.Body != "hello" || m.Message.Nick != "bob" {
		t.Fatalf("message %+v", got[0])
	}
	if d, ok := got[1].(RoomDiff); !ok || len(d.Joined) != 1 || d.Joined[0].Nick != "dave" || d.Count != 3 {
		t.Fatalf("join diff %+v", got[1])
	}
	if d, ok := got[2].(RoomDiff); !ok || len(d.Changed) != 1 || d.Changed[0].Presence.Availability != DND || d.Count != 3 {
		t.Fatalf("change diff %+v", got[2])
	}
	if s, ok := got[3].(RoomSubjectEvent); !ok || s.Subject != "tea" || s.Nick != "bob" {
		t.Fatalf("subject %+v", got[3])
	}
	if d, ok := got[4].(RoomDiff); !ok || len(d.Left) != 1 || d.Left[0].Reason != LeftKicked || d.Count != 2 {
		t.Fatalf("departure diff %+v", got[4])
	}
	if p, ok := got[5].(RoomPrivateEvent); !ok || p.Room != lounge || p.Nick != "bob" || p.Body != "psst" {
		t.Fatalf("private message %+v", got[5])
	}

	// the session's message and subject leave as read content
	if n, err := carol.s.RoomSend(ctx, lounge, "m1", "hi all"); err != nil || n != 0 {
		t.Fatalf("room_message: %d, %v", n, err)
	}
	e.must(carol.s.SetSubject(ctx, lounge, "coffee"))
	if _, err := carol.s.RoomPrivate(ctx, lounge, "bob", "p1", "psst back"); err != nil {
		t.Fatalf("room_private: %v", err)
	}
	sent = takeForeign(rec)
	if len(sent) != 3 || sent[2].to != (Target{Account: lounge, Resource: "bob"}) || sent[2].ev.(ForeignStanza).Type != TypeChat || sent[2].ev.(ForeignStanza).Room.Body != "psst back" || sent[0].to.Account != lounge || sent[0].ev.(ForeignStanza).Room.Body != "hi all" || sent[0].ev.(ForeignStanza).Type != "groupchat" ||
		*sent[1].ev.(ForeignStanza).Room.Subject != "coffee" {
		t.Fatalf("sent %+v", sent)
	}
	// what rooms of other domains do not take from a JSON session
	if err := carol.s.Kick(ctx, lounge, "bob", ""); CodeOf(err) != CodeInvalid {
		t.Fatalf("kick: %v", err)
	}
	if err := carol.s.Join(ctx, JoinOptions{Room: lounge, Nick: "carol", Meta: []byte(`{"a":1}`)}); CodeOf(err) != CodeInvalid {
		t.Fatalf("metadata: %v", err)
	}
	if err := carol.s.Join(ctx, JoinOptions{Room: "lounge@a.test", Nick: "carol"}); CodeOf(err) != CodeInvalid {
		t.Fatalf("a room address of a served domain: %v", err)
	}
	if _, err := carol.s.RoomSend(ctx, "den@conference.b.test", "", "x"); CodeOf(err) != CodeNotFound {
		t.Fatalf("a room not joined: %v", err)
	}

	// leaving: the unavailable leaves; the room's confirmation is RoomLeft
	e.must(carol.s.Leave(ctx, lounge))
	if sent := takeForeign(rec); len(sent) != 1 || sent[0].ev.(ForeignStanza).Type != "unavailable" || sent[0].to.Resource != "carol" {
		t.Fatalf("leave sent %+v", sent)
	}
	bye := from("carol", StanzaPresence, "unavailable", ForeignRoomContent{Codes: []int{110}})
	bye.Left = true
	deliver(bye)
	if l := eventsOf[RoomLeft](carol.take()); len(l) != 1 || l[0].Reason != LeftLeft || l[0].Room != lounge || carol.s.InForeignRoom(lounge) {
		t.Fatalf("left %+v", l)
	}

	// a refused join
	e.must(carol.s.Join(ctx, JoinOptions{Room: lounge, Nick: "carol", History: -1}))
	deliver(from("carol", StanzaPresence, "error", ForeignRoomContent{Condition: "registration-required"}))
	if l := eventsOf[RoomLeft](carol.take()); len(l) != 1 || l[0].Reason != LeftRefused || l[0].Why != "registration-required" || carol.s.InForeignRoom(lounge) {
		t.Fatalf("refused %+v", l)
	}

	// the room's server is lost
	e.must(carol.s.Join(ctx, JoinOptions{Room: lounge, Nick: "carol", History: -1}))
	h.RemoteDomainGone("conference.b.test")
	if l := eventsOf[RoomLeft](carol.take()); len(l) != 1 || l[0].Reason != LeftGone || carol.s.InForeignRoom(lounge) {
		t.Fatalf("lost %+v", l)
	}

	// an app's session joins no room of another domain
	e.grant("carol@a.test", "app1", []string{ScopeRooms}, GrantChange{})
	app := e.openApp("carol@a.test", "app1", []string{ScopeRooms}, nil)
	if err := app.s.Join(ctx, JoinOptions{Room: lounge, Nick: "c", History: -1}); CodeOf(err) != CodeUnavailable {
		t.Fatalf("an app's join: %v", err)
	}
}

// TestForeignRoomJSONBounds: what a room of another domain sends a JSON
// session is kept within the bounds of a room here: a snapshot lists at
// most ListBound occupants and carries at most HistoryCount messages, and
// at most maxForeignKnown nicknames are remembered (counted).
func TestForeignRoomJSONBounds(t *testing.T) {
	e, _ := fedEnv(t)
	h := e.hub
	carol := e.connect("carol@a.test", avail)
	carol.take()
	e.must(carol.s.Join(ctx, JoinOptions{Room: lounge, Nick: "carol", History: -1}))
	in := func(nick, kind, typ string, c ForeignRoomContent) {
		t.Helper()
		from := lounge
		if nick != "" {
			from += "/" + nick
		}
		e.must(h.FromForeignRoom(ctx, ForeignStanza{Kind: kind, Type: typ, From: from, To: carol.s.Address(), Room: &c}))
	}
	for i := 0; i < maxForeignKnown+50; i++ {
		in("n"+strconv.Itoa(i), StanzaPresence, "", ForeignRoomContent{Presence: Presence{Availability: Available}})
	}
	in("carol", StanzaPresence, "", ForeignRoomContent{Presence: Presence{Availability: Available}, Codes: []int{110}})
	lim := h.roomLimits()
	for i := 0; i < lim.HistoryCount+10; i++ {
		in("n1", StanzaMessage, "groupchat", ForeignRoomContent{Body: "m" + strconv.Itoa(i), Delayed: time.Unix(int64(i), 0)})
	}
	subject := ""
	in("", StanzaMessage, "groupchat", ForeignRoomContent{Subject: &subject})
	snaps := eventsOf[RoomSnapshot](carol.take())
	if len(snaps) != 1 {
		t.Fatalf("snapshots %+v", snaps)
	}
	s := snaps[0]
	if len(s.Occupants) != lim.ListBound || s.Count != maxForeignKnown+1 || len(s.History) != lim.HistoryCount || s.History[0].Body != "m10" {
		t.Fatalf("snapshot: %d listed, count %d, %d history from %q", len(s.Occupants), s.Count, len(s.History), s.History[0].Body)
	}
}

// TestForeignRoomContentBounded: what a room of another domain says is
// cut to the bounds of rooms here before it becomes a JSON frame, and an
// address that is none is not shown.
func TestForeignRoomContentBounded(t *testing.T) {
	long := strings.Repeat("é", 40000) // two bytes a rune: cuts fall inside runes too
	subject := long
	c := bounded(&ForeignRoomContent{Presence: Presence{Status: long}, Body: long, Subject: &subject, Why: long, By: long,
		Address: "not an address", Affiliation: long, Role: long, Condition: long})
	for name, s := range map[string]struct {
		v   string
		max int
	}{"status": {c.Presence.Status, MaxStatus}, "body": {c.Body, MaxMessageBody}, "subject": {*c.Subject, MaxSubject},
		"why": {c.Why, MaxRoomReason}, "by": {c.By, MaxNick}, "affiliation": {c.Affiliation, 16}, "role": {c.Role, 16}, "condition": {c.Condition, 64}} {
		if len(s.v) > s.max || len(s.v) < s.max-1 || !utf8.ValidString(s.v) {
			t.Errorf("%s: %d bytes (bound %d), valid %v", name, len(s.v), s.max, utf8.ValidString(s.v))
		}
	}
	if c.Address != "" || subject != long {
		t.Errorf("address %q; the original subject changed: %v", c.Address, subject != long)
	}
	if c := bounded(&ForeignRoomContent{Address: "Bob@B.test"}); c.Address != "bob@b.test" {
		t.Errorf("address %q", c.Address)
	}
	if c := bounded(nil); c == nil || c.Body != "" {
		t.Errorf("nil read as %+v", c)
	}
}
