package core

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/store"
)

// roomEvents keeps the room events among evs.
func roomEvents(evs []Event) []Event {
	var out []Event
	for _, ev := range evs {
		switch ev.(type) {
		case RoomSnapshot, RoomDiff, RoomMessageEvent, RoomSubjectEvent, RoomLeft, RoomInvite:
			out = append(out, ev)
		}
	}
	return out
}

func (e *env) join(k *sink, room, nick string) {
	e.t.Helper()
	e.must(k.s.Join(ctx, JoinOptions{Room: room, Nick: nick, History: -1}))
}

// window closes the diff window.
func (e *env) window() { e.clk.Advance(e.hub.roomLimits().DiffWindow) }

func nicks(occs []RoomOccupant) []string {
	var out []string
	for _, o := range occs {
		out = append(out, o.Nick)
	}
	slices.Sort(out)
	return out
}

func wantCode(t *testing.T, err error, code Code) {
	t.Helper()
	if CodeOf(err) != code {
		t.Fatalf("got %v, want %s", err, code)
	}
}

// TestRoomJoinSeeTalkLeave: the first join creates the room (owner); the
// second sees the first in its snapshot, the first sees the second in the
// next diff, not before; messages reach both (the sender too) and are kept;
// a leave is told to the leaver at once and to the others in a diff.
func TestRoomJoinSeeTalkLeave(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	a, b := e.connect("alice@x", avail), e.connect("bob@x", nil)
	a.take()
	b.take()
	e.must(a.s.Join(ctx, JoinOptions{Room: "Doc-42", Nick: "al", Meta: json.RawMessage(`{"cursor":3}`)}))
	evs := roomEvents(a.take())
	snap, ok := evs[0].(RoomSnapshot)
	if len(evs) != 1 || !ok || !snap.Created || snap.Room != "doc-42" || snap.Self.Affiliation != store.AffOwner || snap.Self.Role != RoleModerator ||
		snap.Count != 1 || snap.Self.Presence.Status != "hi" || string(snap.Self.Meta) != `{"cursor":3}` {
		t.Fatalf("alice's snapshot %+v", evs)
	}
	e.must(b.s.Join(ctx, JoinOptions{Room: "doc-42", Nick: "bo", Presence: &Presence{Availability: Away, Status: "reading"}}))
	evs = roomEvents(b.take())
	snap = evs[0].(RoomSnapshot)
	if snap.Created || snap.Count != 2 || len(snap.Occupants) != 1 || snap.Occupants[0].Nick != "al" || snap.Occupants[0].Address != "" ||
		snap.Self.Affiliation != store.AffNone || snap.Self.Role != RoleParticipant {
		t.Fatalf("bob's snapshot (an open room hides addresses from participants) %+v", snap)
	}
	if evs := roomEvents(a.take()); len(evs) != 0 {
		t.Fatalf("diffs wait for the window: %+v", evs)
	}
	e.window()
	evs = roomEvents(a.take())
	d, ok := evs[0].(RoomDiff)
	if len(evs) != 1 || !ok || nicks(d.Joined) != nil && nicks(d.Joined)[0] != "bo" || d.JoinedCount != 1 || d.Count != 2 ||
		d.Joined[0].Address != "bob@x" || d.Joined[0].Presence.Status != "reading" {
		t.Fatalf("alice's diff (the owner sees addresses) %+v", evs)
	}
	if evs := roomEvents(b.take()); len(evs) != 0 {
		t.Fatalf("bob is told nothing he knows: %+v", evs)
	}

	n, err := b.s.RoomSend(ctx, "doc-42", "m1", "hello room")
	if err != nil || n != 2 {
		t.Fatalf("send: %d %v", n, err)
	}
	for _, k := range []*sink{a, b} {
		evs := roomEvents(k.take())
		if len(evs) != 1 || evs[0].(RoomMessageEvent).Message.Body != "hello room" || evs[0].(RoomMessageEvent).Message.Nick != "bo" {
			t.Fatalf("message %+v", evs)
		}
	}
	if h, _ := e.st.RoomHistory(ctx, "", "doc-42"); len(h) != 1 || h[0].Nick != "bo" {
		t.Fatalf("history %+v", h)
	}

	// presence that follows the session's; then a leave
	e.must(a.s.SetPresence(Presence{Availability: DND, Status: "focus"}))
	e.window()
	evs = roomEvents(b.take())
	if d := evs[0].(RoomDiff); len(d.Changed) != 1 || d.Changed[0].Presence.Availability != DND {
		t.Fatalf("alice's presence follows hers: %+v", evs)
	}
	a.take()
	e.must(b.s.Leave(ctx, "doc-42"))
	if evs := roomEvents(b.take()); len(evs) != 1 || evs[0].(RoomLeft).Reason != LeftLeft {
		t.Fatalf("bob's leave %+v", evs)
	}
	e.window()
	evs = roomEvents(a.take())
	if d := evs[0].(RoomDiff); len(d.Left) != 1 || d.Left[0].Nick != "bo" || d.Left[0].Reason != LeftLeft || d.Count != 1 {
		t.Fatalf("alice sees bob leave %+v", evs)
	}
	wantCode(t, b.s.Leave(ctx, "doc-42"), CodeNotFound)
	_, err = b.s.RoomSend(ctx, "doc-42", "", "not in it")
	wantCode(t, err, CodeNotFound)

	// a new join gets the history; the ending session leaves
	c := e.connect("bob@x", nil)
	e.must(c.s.Join(ctx, JoinOptions{Room: "doc-42", Nick: "bo2", History: -1}))
	if snap := roomEvents(c.take())[0].(RoomSnapshot); len(snap.History) != 1 || snap.History[0].Body != "hello room" || snap.History[0].Address != "" {
		t.Fatalf("history on join %+v", snap)
	}
	c.s.Close()
	e.window()
	if evs := roomEvents(a.take()); len(evs) != 0 {
		t.Fatalf("a join and an end within one window are nothing to alice: %+v", evs)
	}
}

// TestRoomDiffsFromEachSnapshot: within one window, those who joined see
// only what changed after their own snapshot; a nick that came and went
// before someone's snapshot is nothing to it.
func TestRoomDiffsFromEachSnapshot(t *testing.T) {
	e := newEnv(t, "a@x", "b@x", "c@x", "d@x")
	a, b, c, d := e.connect("a@x", avail), e.connect("b@x", avail), e.connect("c@x", avail), e.connect("d@x", avail)
	e.join(a, "r", "A")
	e.window()
	e.join(b, "r", "B")
	e.join(c, "r", "C")
	e.must(b.s.Leave(ctx, "r"))
	e.join(d, "r", "D")
	e.window()
	dA := roomEvents(a.take())
	if len(dA) != 2 || !slices.Equal(nicks(dA[1].(RoomDiff).Joined), []string{"C", "D"}) || dA[1].(RoomDiff).LeftCount != 0 {
		t.Fatalf("A (before the window): %+v", dA)
	}
	dC := roomEvents(c.take())
	if len(dC) != 2 || !slices.Equal(nicks(dC[0].(RoomSnapshot).Occupants), []string{"A", "B"}) ||
		!slices.Equal(nicks(dC[1].(RoomDiff).Left), []string{"B"}) || !slices.Equal(nicks(dC[1].(RoomDiff).Joined), []string{"D"}) {
		t.Fatalf("C (saw B in its snapshot): %+v", dC)
	}
	dD := roomEvents(d.take())
	if len(dD) != 1 || !slices.Equal(nicks(dD[0].(RoomSnapshot).Occupants), []string{"A", "C"}) {
		t.Fatalf("D (joined last) needs no diff: %+v", dD)
	}
}

// TestRoomJoinStormIsBatched: a storm of joins costs each occupant one
// diff per window, and beyond the list bound only counts.
func TestRoomJoinStormIsBatched(t *testing.T) {
	const n, windows = 400, 4
	accounts := make([]string, n)
	for i := range accounts {
		accounts[i] = fmt.Sprintf("u%d@x", i)
	}
	e := newEnv(t, accounts...)
	e.hub.cfg.Rooms = RoomLimits{ListBound: 50}
	sinks := make([]*sink, n)
	for i, acc := range accounts {
		sinks[i] = e.connect(acc, avail)
		sinks[i].take()
	}
	for w := 0; w < windows; w++ {
		for i := w * n / windows; i < (w+1)*n/windows; i++ {
			e.join(sinks[i], "storm", fmt.Sprint("n", i))
		}
		e.window()
	}
	total := 0
	for i, k := range sinks {
		evs := roomEvents(k.take())
		total += len(evs)
		snap := evs[0].(RoomSnapshot)
		if snap.Count != i+1 || len(snap.Occupants) > 50 {
			t.Fatalf("%d's snapshot: count %d, listed %d", i, snap.Count, len(snap.Occupants))
		}
		// one diff per window after its own (the last window's joiners
		// get one, for those after them, except the very last)
		if len(evs) > 1+windows {
			t.Fatalf("%d got %d events", i, len(evs))
		}
		for _, ev := range evs[1:] {
			d := ev.(RoomDiff)
			if d.Count > 50 && (d.Listed || d.Joined != nil) {
				t.Fatalf("a large room's diff lists occupants: %+v", d)
			}
		}
	}
	if total > n*(1+windows) {
		t.Fatalf("%d events for %d joins", total, n)
	}
	last := roomEvents(sinks[0].take())
	if len(last) != 0 {
		t.Fatalf("nothing more: %+v", last)
	}
}

// TestRoomModeration: the owner makes the room members-only (non-members
// leave), admins and members are named, kick and ban; a banned account
// cannot come back; a participant moderates nothing.
func TestRoomModeration(t *testing.T) {
	e := newEnv(t, "owner@x", "bob@x", "carol@x", "dave@x")
	o, b, c := e.connect("owner@x", avail), e.connect("bob@x", avail), e.connect("carol@x", avail)
	e.join(o, "club", "boss")
	e.join(b, "club", "bob")
	e.join(c, "club", "carol")
	e.window()
	wantCode(t, b.s.Kick(ctx, "club", "carol", ""), CodeForbidden)
	wantCode(t, b.s.SetSubject(ctx, "club", "mine"), CodeForbidden)
	wantCode(t, b.s.SetRoomMode(ctx, "club", store.RoomMembers), CodeForbidden)
	e.must(o.s.SetAffiliation(ctx, "club", RoomWho{Nick: "bob"}, store.AffAdmin, ""))
	e.must(b.s.SetSubject(ctx, "club", "rules"))
	wantCode(t, b.s.SetAffiliation(ctx, "club", RoomWho{Address: "owner@x"}, store.AffOutcast, ""), CodeForbidden)
	for _, k := range []*sink{o, b, c} {
		k.take()
	}
	e.must(o.s.SetRoomMode(ctx, "club", store.RoomMembers))
	if evs := roomEvents(c.take()); len(evs) != 1 || evs[0].(RoomLeft).Reason != LeftMembership {
		t.Fatalf("carol, no member, leaves %+v", evs)
	}
	err := c.s.Join(ctx, JoinOptions{Room: "club", Nick: "carol"})
	if !IsRoomMembersOnly(err) {
		t.Fatalf("carol rejoins: %v", err)
	}
	e.must(b.s.SetAffiliation(ctx, "club", RoomWho{Address: "carol@x"}, store.AffMember, ""))
	e.join(c, "club", "carol")
	if snap := roomEvents(c.take())[0].(RoomSnapshot); snap.Subject != "rules" || snap.SubjectBy != "bob" || snap.Occupants[0].Address == "" {
		t.Fatalf("members-only rooms show addresses, and the subject: %+v", snap)
	}
	wantCode(t, c.s.Kick(ctx, "club", "bob", ""), CodeForbidden)
	e.must(b.s.Kick(ctx, "club", "carol", "calm down"))
	if evs := roomEvents(c.take()); len(evs) != 1 || evs[0].(RoomLeft).Reason != LeftKicked || evs[0].(RoomLeft).By != "bob" || evs[0].(RoomLeft).Why != "calm down" {
		t.Fatalf("kicked %+v", evs)
	}
	e.join(c, "club", "carol") // a kick is not a ban
	e.must(b.s.Ban(ctx, "club", RoomWho{Nick: "carol"}, "enough"))
	if evs := roomEvents(c.take()); evs[len(evs)-1].(RoomLeft).Reason != LeftBanned {
		t.Fatalf("banned %+v", evs)
	}
	if l, err := b.s.Affiliated(ctx, "club", store.AffOutcast); err != nil || !slices.Equal(l, []string{"carol@x"}) {
		t.Fatalf("bans %v %v", l, err)
	}
	if l, err := o.s.Affiliated(ctx, "club", store.AffAdmin); err != nil || !slices.Equal(l, []string{"bob@x"}) {
		t.Fatalf("admins %v %v", l, err)
	}
	c2 := e.connect("carol@x", avail)
	if err := c2.s.Join(ctx, JoinOptions{Room: "club", Nick: "other"}); !IsRoomBanned(err) {
		t.Fatalf("a banned account rejoins: %v", err)
	}
	e.window()
	evs := roomEvents(o.take())
	d := evs[len(evs)-1].(RoomDiff)
	if len(d.Left) != 1 || d.Left[0].Nick != "carol" || d.Left[0].Reason != LeftBanned || d.Count != 2 {
		t.Fatalf("the owner's diff: %+v", evs)
	}
	// the invitation of a members-only room makes a member, under the message rule
	dv := e.connect("dave@x", avail)
	_, err = o.s.Invite(ctx, "club", "dave@x", "join us")
	wantCode(t, err, CodeUnavailable) // dave does not share presence with the owner
	e.befriend("owner@x", "dave@x")
	if n, err := o.s.Invite(ctx, "club", "dave@x", "join us"); err != nil || n != 1 {
		t.Fatalf("invite %d %v", n, err)
	}
	if evs := roomEvents(dv.take()); len(evs) != 1 || evs[0].(RoomInvite).Room != "club" || !strings.HasPrefix(evs[0].(RoomInvite).From, "owner@x/") {
		t.Fatalf("dave's invitation %+v", evs)
	}
	e.join(dv, "club", "dave")
}

// TestRoomBadInput: names, nicks, sizes, unknown rooms, limits.
func TestRoomBadInput(t *testing.T) {
	e := newEnv(t, "a@x", "b@x")
	e.hub.cfg.Rooms = RoomLimits{RoomsPerSession: 2, MembersPerRoom: 2, RoomsPerAccount: 3}
	a, b := e.connect("a@x", avail), e.connect("b@x", avail)
	for _, o := range []JoinOptions{
		{Room: "", Nick: "x"}, {Room: "a b", Nick: "x"}, {Room: "r@x", Nick: "x"}, {Room: strings.Repeat("r", 65), Nick: "x"},
		{Room: "r", Nick: ""}, {Room: "r", Nick: "  "}, {Room: "r", Nick: strings.Repeat("n", 65)},
		{Room: "r", Nick: "x", Meta: json.RawMessage(`[1]`)}, {Room: "r", Nick: "x", Meta: json.RawMessage(`{"a":"` + strings.Repeat("x", MaxRoomMeta) + `"}`)},
		{Room: "r", Nick: "x", Presence: &Presence{Availability: "bored"}},
	} {
		wantCode(t, a.s.Join(ctx, o), CodeInvalid)
	}
	e.join(a, "r", "x")
	wantCode(t, b.s.Join(ctx, JoinOptions{Room: "r", Nick: "x"}), CodeConflict)
	_, err := a.s.RoomSend(ctx, "r", "", strings.Repeat("x", MaxMessageBody+1))
	wantCode(t, err, CodeInvalid)
	_, err = a.s.RoomSend(ctx, "ghost", "", "hi")
	wantCode(t, err, CodeNotFound)
	_, err = b.s.RoomSend(ctx, "r", "", "not in it")
	wantCode(t, err, CodeNotFound)
	e.join(a, "s", "x")
	wantCode(t, a.s.Join(ctx, JoinOptions{Room: "t", Nick: "x"}), CodeLimit) // rooms per session
	e.join(b, "r", "y")
	c := e.connect("b@x", avail)
	wantCode(t, c.s.Join(ctx, JoinOptions{Room: "r", Nick: "z"}), CodeLimit) // members per room
	e.join(c, "t", "z")
	e.join(c, "u", "z")
	d := e.connect("b@x", avail)
	e.join(d, "v", "z")
	wantCode(t, d.s.Join(ctx, JoinOptions{Room: "w", Nick: "z"}), CodeLimit) // rooms per account (owned)
	if _, err := d.s.RoomInfo(ctx, "nothing"); CodeOf(err) != CodeNotFound {
		t.Fatalf("unknown room: %v", err)
	}
}

// TestRoomsOfAnApp: an app's session needs the rooms scope and sees only
// its app's rooms, its occupants by handles; first-party sessions do not
// see the app's rooms.
func TestRoomsOfAnApp(t *testing.T) {
	e := newEnv(t, "alice@x", "bob@x")
	e.must(e.st.CreateApp(ctx, store.App{ID: "game", Name: "game", RedirectURIs: []string{"https://game.example/cb"},
		Scopes: append(slices.Clone(allReads), ScopeRooms), Public: true, CreatedAt: e.clk.Now()}))
	scopes := append(slices.Clone(allReads), ScopeRooms)
	e.grant("alice@x", "game", scopes, GrantChange{})
	e.grant("bob@x", "game", scopes, GrantChange{})
	noRooms := e.openApp("alice@x", "game", allReads, avail)
	wantCode(t, noRooms.s.Join(ctx, JoinOptions{Room: "lobby", Nick: "al"}), CodeForbidden)
	a := e.openApp("alice@x", "game", scopes, avail)
	b := e.openApp("bob@x", "game", scopes, avail)
	e.join(a, "lobby", "al")
	e.must(a.s.SetRoomMode(ctx, "lobby", store.RoomMembers))
	// alice's grant lacks addresses: she names bob by her handle for him, once she may see him
	wantCode(t, a.s.SetAffiliation(ctx, "lobby", RoomWho{Address: "bob@x"}, store.AffMember, ""), CodeNotFound)
	hBob := e.handle("game", "alice@x", "bob@x")
	wantCode(t, a.s.SetAffiliation(ctx, "lobby", RoomWho{Address: hBob}, store.AffMember, ""), CodeNotFound)
	e.befriend("alice@x", "bob@x")
	e.grant("alice@x", "game", scopes, picked("bob@x"))
	e.must(a.s.SetAffiliation(ctx, "lobby", RoomWho{Address: hBob}, store.AffMember, ""))
	e.join(b, "lobby", "bo")
	snap := roomEvents(b.take())[0].(RoomSnapshot)
	if snap.Occupants[0].Address != e.handle("game", "bob@x", "alice@x") || snap.Self.Address != e.handle("game", "bob@x", "bob@x") {
		t.Fatalf("bob's app sees alice by handle: %+v", snap)
	}
	if mentions(t, []Event{snap}, "alice@x") {
		t.Fatalf("address leaked %+v", snap)
	}
	e.must(a.s.Kick(ctx, "lobby", "bo", ""))
	e.must(a.s.Ban(ctx, "lobby", RoomWho{Address: hBob}, ""))
	if err := b.s.Join(ctx, JoinOptions{Room: "lobby", Nick: "bo"}); !IsRoomBanned(err) {
		t.Fatalf("banned by handle: %v", err)
	}
	web := e.connect("bob@x", avail)
	e.join(web, "lobby", "bo") // another namespace: a new first-party room of that name
	if snap := roomEvents(web.take())[0].(RoomSnapshot); !snap.Created || snap.Count != 1 {
		t.Fatalf("first-party lobby %+v", snap)
	}
}

// TestRoomHistoryBounded: the room keeps its last messages within count
// and bytes, in memory as in the store; a join asks for as many as it wants.
func TestRoomHistoryBounded(t *testing.T) {
	e := newEnv(t, "a@x")
	e.hub.cfg.Rooms = RoomLimits{HistoryCount: 3, HistoryBytes: 100}
	a := e.connect("a@x", avail)
	e.join(a, "r", "x")
	for i := 0; i < 5; i++ {
		_, err := a.s.RoomSend(ctx, "r", "", fmt.Sprint("m", i))
		e.must(err)
	}
	b := e.connect("a@x", avail)
	e.must(b.s.Join(ctx, JoinOptions{Room: "r", Nick: "y", History: 2}))
	snap := roomEvents(b.take())[0].(RoomSnapshot)
	if len(snap.History) != 2 || snap.History[0].Body != "m3" || snap.History[1].Body != "m4" {
		t.Fatalf("history %+v", snap.History)
	}
	if h, _ := e.st.RoomHistory(ctx, "", "r"); len(h) != 3 || h[0].Body != "m2" {
		t.Fatalf("stored %+v", h)
	}
}

// TestRoomChangesMerge: many changes of one occupant within a window are
// one entry of one diff, however many (a presence flood does not close
// windows early); a change after someone's join is still told to it.
func TestRoomChangesMerge(t *testing.T) {
	e := newEnv(t, "a@x", "b@x", "c@x")
	a, b, c := e.connect("a@x", avail), e.connect("b@x", avail), e.connect("c@x", avail)
	e.join(a, "r", "A")
	e.join(b, "r", "B")
	e.window()
	a.take()
	b.take()
	for i := 0; i < 3*maxChanges; i++ {
		e.must(b.s.SetPresence(Presence{Availability: Away, Status: fmt.Sprint("s", i)}))
	}
	if evs := roomEvents(a.take()); len(evs) != 0 {
		t.Fatalf("a window closed early: %+v", evs)
	}
	e.join(c, "r", "C")
	if snap := roomEvents(c.take())[0].(RoomSnapshot); !slices.ContainsFunc(snap.Occupants, func(o RoomOccupant) bool { return o.Presence.Status == "s23" }) {
		t.Fatalf("C's snapshot: %+v", snap)
	}
	e.must(b.s.SetPresence(Presence{Availability: DND, Status: "last"}))
	e.window()
	evs := roomEvents(a.take())
	if len(evs) != 1 || len(evs[0].(RoomDiff).Changed) != 1 || evs[0].(RoomDiff).Changed[0].Presence.Status != "last" ||
		!slices.Equal(nicks(evs[0].(RoomDiff).Joined), []string{"C"}) {
		t.Fatalf("A: %+v", evs)
	}
	evs = roomEvents(c.take())
	if len(evs) != 1 || len(evs[0].(RoomDiff).Changed) != 1 || evs[0].(RoomDiff).Changed[0].Presence.Status != "last" || evs[0].(RoomDiff).Joined != nil {
		t.Fatalf("C is told B's change after its snapshot, and only that: %+v", evs)
	}
}

// TestAllowRoomEveryCase checks AllowRoom against an independent statement
// of the room rule (docs/rooms.md) for every combination of its inputs.
func TestAllowRoomEveryCase(t *testing.T) {
	n := 0
	for _, ch := range []Channel{{}, {App: "game"}} {
		for _, scopes := range []ScopeSet{0, ScopesOf([]string{ScopeRooms}), ScopesOf([]string{ScopeMessage})} {
			for _, roomApp := range []string{"", "game", "other"} {
				for _, aff := range []string{store.AffOwner, store.AffAdmin, store.AffMember, store.AffNone, store.AffOutcast} {
					for _, membersOnly := range []bool{false, true} {
						for _, occupant := range []bool{false, true} {
							for _, auth := range []roomAuth{{}, {appAuthorizes: true}, {appAuthorizes: true, token: true}} {
								f := RoomFacts{Channel: ch, RoomApp: roomApp, Scopes: scopes, Affiliation: aff, MembersOnly: membersOnly, Occupant: occupant,
									AppAuthorizes: auth.appAuthorizes, Token: auth.token}
								inSpace := ch.App == roomApp && (ch.App == "" || scopes&ScopesOf([]string{ScopeRooms}) != 0)
								mayEnter := inSpace && aff != store.AffOutcast
								named := aff == store.AffOwner || aff == store.AffAdmin || aff == store.AffMember
								admitted := !auth.appAuthorizes || auth.token || named // by the app or by the owner
								want := map[RoomFlow]bool{
									RoomJoin:      mayEnter && admitted && (!membersOnly || named),
									RoomSee:       mayEnter && occupant,
									RoomSpeak:     mayEnter && occupant,
									RoomModerate:  mayEnter && occupant && (aff == store.AffOwner || aff == store.AffAdmin),
									RoomConfigure: mayEnter && occupant && aff == store.AffOwner,
								}
								for flow, w := range want {
									n++
									if got := AllowRoom(f, flow); got != w {
										t.Errorf("%+v flow %d: got %v, want %v", f, flow, got, w)
									}
								}
							}
						}
					}
				}
			}
		}
	}
	if n != 2*3*3*5*2*2*3*5 {
		t.Fatalf("%d cases", n)
	}
}
