package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
)

func TestDecodeRoomFrames(t *testing.T) {
	f, err := Decode([]byte(`{"type":"join","id":"1","room":"doc-42","nick":"al","metadata":{"cursor":3},"history":5,"presence":{"availability":"away"}}`))
	if err != nil || f.Room != "doc-42" || f.Nick != "al" || string(f.Metadata) != `{"cursor":3}` || *f.History != 5 || f.Presence.Availability != "away" {
		t.Fatalf("%+v %v", f, err)
	}
	f, err = Decode([]byte(`{"type":"subject","room":"r","subject":""}`))
	if err != nil || f.Subject == nil || *f.Subject != "" {
		t.Fatalf("an empty subject must be told from none: %+v %v", f, err)
	}
	if _, err := Decode([]byte(`{"type":"join","room":"r","nick":7}`)); core.CodeOf(err) != core.CodeInvalid {
		t.Fatalf("nick as a number: %v", err)
	}
}

// TestRoomEventsEncode: every room event becomes one JSON frame with its
// type and seq, a shared diff or message encoded once for all.
func TestRoomEventsEncode(t *testing.T) {
	occ := core.RoomOccupant{Nick: "al", Presence: core.Presence{Availability: core.Away, Status: "tea"}, Meta: json.RawMessage(`{"x":1}`),
		Affiliation: "owner", Role: core.RoleModerator}
	sent := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	memo := &core.Memo{}
	for _, c := range []struct {
		ev   core.Event
		want string
	}{
		{core.RoomSnapshot{Room: "r", Self: occ, Count: 1, Mode: "open"}, `{"type":"room_snapshot","seq":4,"room":"r","self":{"nick":"al","availability":"away","status":"tea","metadata":{"x":1},"affiliation":"owner","role":"moderator"},"occupants":[],"count":1,"mode":"open","history":[]}`},
		{core.RoomDiff{Room: "r", Joined: []core.RoomOccupant{occ}, JoinedCount: 1, Count: 2, Listed: true}, `{"type":"room_diff","seq":4,"room":"r","joined":[{"nick":"al","availability":"away","status":"tea","metadata":{"x":1},"affiliation":"owner","role":"moderator"}],"joined_count":1,"left_count":0,"count":2,"listed":true}`},
		{core.RoomMessageEvent{Room: "r", Message: core.RoomHistoryItem{ID: "m", Nick: "al", Body: "hi", Sent: sent}}, `{"type":"room_message","seq":4,"room":"r","id":"m","nick":"al","body":"hi","sent":"2026-12-02T10:00:00Z"}`},
		{core.RoomSubjectEvent{Room: "r", Subject: "s", Nick: "al"}, `{"type":"room_subject","seq":4,"room":"r","subject":"s","nick":"al"}`},
		{core.RoomLeft{Room: "r", Nick: "bo", Reason: core.LeftKicked, By: "al"}, `{"type":"room_left","seq":4,"room":"r","nick":"bo","reason":"kicked","by":"al"}`},
		{core.RoomInvite{Room: "r", From: "a@x/w", Reason: "come"}, `{"type":"room_invite","seq":4,"room":"r","from":"a@x/w","reason":"come"}`},
		{core.RoomPrivateEvent{Room: "r", Nick: "al", ID: "p", Body: "psst", Sent: sent}, `{"type":"room_private","seq":4,"room":"r","id":"p","nick":"al","body":"psst","sent":"2026-12-02T10:00:00Z"}`},
		{core.RoomSnapshot{Room: "lounge@conference.b.test", Self: occ, Count: 1}, `{"type":"room_snapshot","seq":4,"room":"lounge@conference.b.test","self":{"nick":"al","availability":"away","status":"tea","metadata":{"x":1},"affiliation":"owner","role":"moderator"},"occupants":[],"count":1,"history":[]}`},
	} {
		ev, want := c.ev, c.want
		m := (*core.Memo)(nil)
		if _, ok := ev.(core.RoomDiff); ok {
			m = memo
		}
		got := string(Event(core.Delivery{Seq: 4, Event: ev, Memo: m}))
		if got != want {
			t.Errorf("%T:\n got %s\nwant %s", ev, got, want)
		}
		if again := string(Event(core.Delivery{Seq: 9, Event: ev, Memo: m})); !strings.Contains(again, `"seq":9`) {
			t.Errorf("%T: the shared encoding kept the first seq: %s", ev, again)
		}
	}
}
