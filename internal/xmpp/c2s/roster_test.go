package c2s

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// TestRosterStateFoldsItems: the version kept item by item through any
// order of puts and removes is the version of the final roster computed
// afresh; the order of an item's groups is not part of it, and every other
// visible field is.
func TestRosterStateFoldsItems(t *testing.T) {
	seed := time.Now().UnixNano()
	rnd := rand.New(rand.NewPCG(uint64(seed), 1))
	item := func() rosterItem {
		it := rosterItem{jid: fmt.Sprintf("u%d@x", rnd.IntN(20))}
		it.sub = core.SubscriptionView{Address: it.jid, To: rnd.IntN(2) == 0, From: rnd.IntN(2) == 0, PendingOut: rnd.IntN(2) == 0}
		if rnd.IntN(3) > 0 {
			it.card = &store.Contact{Name: []string{"", "Bob", "Carol"}[rnd.IntN(3)]}
			for _, g := range rnd.Perm(3)[:rnd.IntN(4)] {
				it.card.Groups = append(it.card.Groups, string(rune('A'+g)))
			}
		}
		return it
	}
	live := newRosterState(nil)
	final := map[string]rosterItem{}
	for i := 0; i < 2000; i++ {
		if it := item(); rnd.IntN(4) == 0 {
			live.remove(it.jid)
			delete(final, it.jid)
		} else {
			live.put(it)
			final[it.jid] = it
		}
	}
	var items []rosterItem
	for _, it := range final {
		items = append(items, it)
	}
	if fresh := newRosterState(items); fresh.version() != live.version() || len(fresh.items) != len(live.items) {
		t.Fatalf("seed %d: kept %s (%d items), afresh %s (%d items)", seed, live.version(), len(live.items), fresh.version(), len(fresh.items))
	}

	base := rosterItem{jid: "bob@x", sub: core.SubscriptionView{Address: "bob@x", To: true}, card: &store.Contact{Name: "Bob", Groups: []string{"A", "B"}}}
	reordered := base
	reordered.card = &store.Contact{Name: "Bob", Groups: []string{"B", "A"}, Notes: "not shown", Emails: []string{"b@mail"}}
	if base.hash() != reordered.hash() {
		t.Error("the order of groups (or an invisible field) changed the hash")
	}
	for name, change := range map[string]func(*rosterItem){
		"jid":          func(it *rosterItem) { it.jid = "rob@x" },
		"subscription": func(it *rosterItem) { it.sub.From = true },
		"ask":          func(it *rosterItem) { it.sub.PendingOut = true },
		"name":         func(it *rosterItem) { it.card.Name = "Robert" },
		"groups":       func(it *rosterItem) { it.card.Groups = []string{"A"} },
		"group split":  func(it *rosterItem) { it.card.Groups = []string{"AB"} },
		"no card":      func(it *rosterItem) { it.card = nil },
	} {
		it := base
		c := *base.card
		it.card = &c
		change(&it)
		if it.hash() == base.hash() {
			t.Errorf("changing the %s left the hash alone", name)
		}
	}
}

// countingStore counts the reads of alice's whole roster: all her
// relations, or all her cards.
type countingStore struct {
	store.Store
	full atomic.Int64
}

func (s *countingStore) RelationsOf(ctx context.Context, a string) ([]store.Relation, error) {
	if a == "alice@localhost" {
		s.full.Add(1)
	}
	return s.Store.RelationsOf(ctx, a)
}

func (s *countingStore) ListContacts(ctx context.Context, owner string, q store.ContactQuery) ([]store.Contact, error) {
	if owner == "alice@localhost" && q.Address == "" {
		s.full.Add(1)
	}
	return s.Store.ListContacts(ctx, owner, q)
}

// rosterModel is a client's copy of its roster: jid → the item's visible
// content.
type rosterModel map[string]string

// apply applies a roster result or push to the copy and returns its version.
func (m rosterModel) apply(q *xmlstream.Element) string {
	for _, n := range q.Children {
		el, ok := n.(*xmlstream.Element)
		if !ok || el.Name.Local != "item" {
			continue
		}
		jid := el.AttrValue("jid")
		if el.AttrValue("subscription") == "remove" {
			delete(m, jid)
			continue
		}
		var groups []string
		for _, g := range el.Children {
			if g, ok := g.(*xmlstream.Element); ok && g.Name.Local == "group" {
				groups = append(groups, g.Text())
			}
		}
		sort.Strings(groups)
		m[jid] = fmt.Sprintf("%s ask=%q name=%q groups=%q", el.AttrValue("subscription"), el.AttrValue("ask"), el.AttrValue("name"), groups)
	}
	return q.AttrValue("ver")
}

func (m rosterModel) String() string {
	var lines []string
	for jid, v := range m {
		lines = append(lines, jid+" "+v)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestRosterVersionIsIncremental drives a roster through random changes —
// cards added, renamed, regrouped, moved to another address, deleted (over
// the core and by roster sets), relationships asked, approved, refused,
// ended from either side — with a client applying the pushes to its held.
// Between checkpoints no push reads the whole roster. At each checkpoint
// the version of the last push is the one a full read computes (a get
// with it is answered with no items), and a get with an older version gets
// the whole roster, equal to the client's held.
func TestRosterVersionIsIncremental(t *testing.T) {
	var counted *countingStore
	r := startStore(t, true, clock.Real{}, func(s store.Store) store.Store { counted = &countingStore{Store: s}; return counted })
	ctx := context.Background()
	others := []string{"bob@localhost", "carol@localhost", "dave@localhost"}
	for _, a := range others {
		if _, err := r.auth.CreateAccount(ctx, a, "password-"+a); err != nil {
			t.Fatal(err)
		}
	}
	pool := append(slices.Clone(others), "ghost@localhost") // ghost has no account
	seed := time.Now().UnixNano()
	if v := os.Getenv("PRESENCED_ROSTER_SEED"); v != "" { // to replay a failure
		seed, _ = strconv.ParseInt(v, 10, 64)
	}
	rnd := rand.New(rand.NewPCG(uint64(seed), 2))
	t.Logf("seed %d", seed)

	x := r.signIn(t, "alice")
	x.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>`)
	x.expect("iq")
	// alice's other session sends the stream markers: once a marker
	// arrives, so have the pushes of every change made before it
	markSink := &coreSink{woke: make(chan struct{}, 1)}
	me, err := r.hub.Connect(ctx, "alice@localhost", core.SessionOptions{Device: "marker"}, markSink)
	if err != nil {
		t.Fatal(err)
	}
	held := rosterModel{}
	var ver string
	// read collects pushes until the element done accepts
	read := func(done func(*xmlstream.Element) bool) *xmlstream.Element {
		t.Helper()
		for {
			el := x.next()
			if q := el.Child(nsRoster, "query"); el.Name.Local == "iq" && el.AttrValue("type") == "set" && q != nil {
				ver = held.apply(q)
			}
			if done(el) {
				return el
			}
		}
	}
	marks := 0
	mark := func() {
		t.Helper()
		marks++
		body := fmt.Sprint("mark ", marks)
		if _, err := me.Send(core.Message{Kind: core.KindMessage, To: "alice@localhost/phone", Body: body}); err != nil {
			t.Fatal(err)
		}
		read(func(el *xmlstream.Element) bool {
			b := el.Child(nsClient, "body")
			return el.Name.Local == "message" && b != nil && b.Text() == body
		})
		me.Ack(me.Seq()) // the marker session reads nothing
		me.Pull(markSink, 1<<20)
	}
	gets := 0
	get := func(withVer string) *xmlstream.Element {
		t.Helper()
		gets++
		id := fmt.Sprint("g", gets)
		x.send(`<iq type='get' id='%s'><query xmlns='jabber:iq:roster' ver='%s'/></iq>`, id, withVer) // a versioning client
		res := read(func(el *xmlstream.Element) bool { return el.Name.Local == "iq" && el.AttrValue("id") == id })
		if res.AttrValue("type") != "result" {
			t.Fatalf("roster get: %s", res.String(""))
		}
		return res.Child(nsRoster, "query")
	}
	first := get("")
	ver = held.apply(first)
	oldVer, oldCopy := ver, held.String()

	cards := func() []store.Contact {
		cs, err := counted.Store.ListContacts(ctx, "alice@localhost", store.ContactQuery{}) // not counted: the test's own look
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	randomGroups := func() []string {
		var gs []string
		for _, g := range rnd.Perm(4)[:rnd.IntN(4)] {
			gs = append(gs, []string{"Friends", "Work", "Family", "Chess"}[g])
		}
		return gs
	}
	sets := 0
	ops := []func() string{
		func() string { // a card, maybe a second one for the same address
			c := store.Contact{Name: []string{"", "Bob", "Carol", "Zed"}[rnd.IntN(4)], Groups: randomGroups(), Address: pool[rnd.IntN(len(pool))]}
			_, err := r.hub.CreateContacts(ctx, "alice@localhost", []store.Contact{c})
			return fmt.Sprint("create ", c.Address, " ", c.Name, " ", c.Groups, " ", err)
		},
		func() string { // rename, regroup, move or unlink a card
			cs := cards()
			if len(cs) == 0 {
				return "no card"
			}
			c := cs[rnd.IntN(len(cs))]
			switch rnd.IntN(4) {
			case 0:
				c.Name = []string{"", "Bob", "Robert", "Ann"}[rnd.IntN(4)]
			case 1:
				c.Groups = randomGroups()
			case 2:
				c.Address = pool[rnd.IntN(len(pool))]
			case 3:
				c.Address, c.Name = "", "Unlinked"
			}
			_, err := r.hub.UpdateContact(ctx, c, 0)
			return fmt.Sprint("update ", c.ID, " ", c.Address, " ", c.Name, " ", c.Groups, " ", err)
		},
		func() string {
			cs := cards()
			if len(cs) == 0 {
				return "no card"
			}
			c := cs[rnd.IntN(len(cs))]
			return fmt.Sprint("delete ", c.ID, " ", c.Address, " ", r.hub.DeleteContact(ctx, "alice@localhost", c.ID, 0))
		},
		func() string { // a relationship changes, from either side
			o := others[rnd.IntN(len(others))]
			if rnd.IntN(3) == 0 {
				o = "ghost@localhost" // alice may ask anyone
			}
			const me = "alice@localhost"
			edits := []struct {
				name string
				do   func() error
			}{
				{"alice asks", func() error { return r.hub.Subscribe(ctx, me, o) }},
				{"alice approves", func() error { return r.hub.Approve(ctx, me, o) }},
				{"alice denies", func() error { return r.hub.Deny(ctx, me, o) }},
				{"alice unsubscribes", func() error { return r.hub.Unsubscribe(ctx, me, o) }},
				{"alice removes", func() error { return r.hub.Remove(ctx, me, o) }},
			}
			if o != "ghost@localhost" {
				edits = append(edits, []struct {
					name string
					do   func() error
				}{
					{"they ask", func() error { return r.hub.Subscribe(ctx, o, me) }},
					{"they approve", func() error { return r.hub.Approve(ctx, o, me) }},
					{"they deny", func() error { return r.hub.Deny(ctx, o, me) }},
					{"they unsubscribe", func() error { return r.hub.Unsubscribe(ctx, o, me) }},
					{"they remove", func() error { return r.hub.Remove(ctx, o, me) }},
				}...)
			}
			e := edits[rnd.IntN(len(edits))]
			return fmt.Sprint(e.name, " ", o, " ", e.do())
		},
		func() string { // a roster set or remove from the client itself
			sets++
			id := fmt.Sprint("s", sets)
			jid := pool[rnd.IntN(len(pool))]
			if rnd.IntN(3) == 0 {
				x.send(`<iq type='set' id='%s'><query xmlns='jabber:iq:roster'><item jid='%s' subscription='remove'/></query></iq>`, id, jid)
			} else {
				var gs strings.Builder
				for _, g := range randomGroups() {
					gs.WriteString("<group>" + g + "</group>")
				}
				x.send(`<iq type='set' id='%s'><query xmlns='jabber:iq:roster'><item jid='%s' name='N%d'>%s</item></query></iq>`, id, jid, sets, gs.String())
			}
			res := read(func(el *xmlstream.Element) bool { return el.Name.Local == "iq" && el.AttrValue("id") == id })
			return fmt.Sprint("roster set ", jid, " ", res.AttrValue("type"))
		},
	}
	// mostly the core's changes; few roster sets: the client's stanzas
	// spend its request budget
	weights := []int{0, 0, 0, 1, 1, 1, 2, 3, 3, 3, 3, 4}
	var log []string
	before := counted.full.Load()
	for i := 1; i <= 200; i++ {
		log = append(log, ops[weights[rnd.IntN(len(weights))]]())
		mark()
		if i%25 != 0 {
			continue
		}
		if n := counted.full.Load() - before; n != 0 {
			t.Fatalf("seed %d: pushes read the whole roster %d times; ops:\n%s", seed, n, strings.Join(log, "\n"))
		}
		if q := get(ver); q != nil { // the version pushes kept is the one a full read computes
			t.Fatalf("seed %d: a client at the last pushed version %s got %s; ops:\n%s", seed, ver, q.String(""), strings.Join(log, "\n"))
		}
		full := get(oldVer)
		fresh := rosterModel{}
		switch {
		case full == nil && oldVer == ver:
			// nothing changed since the last check (the same version):
			// an empty result is the answer (RFC 6121 § 2.6.3)
		case full == nil || fresh.apply(full) != ver || fresh.String() != held.String():
			t.Fatalf("seed %d: a client at an old version got\n%s\nversion %s, the pushed copy is\n%s\nversion %s; ops:\n%s", seed, fresh, versionOf(full), held, ver, strings.Join(log, "\n"))
		}
		if held.String() == oldCopy && oldVer != ver {
			t.Fatalf("seed %d: the same roster has versions %s and %s", seed, oldVer, ver)
		}
		oldVer, oldCopy = ver, held.String()
		before = counted.full.Load()
	}
	if len(held) == 0 {
		t.Fatalf("seed %d: the roster ended empty: the test exercised little", seed)
	}
}

// resumableWithContact starts a rig where alice has a card for Bob and
// another session (me, which sends her messages), and signs her in on a
// resumable stream x (id) bound as alice/phone.
func resumableWithContact(t *testing.T) (rig, *core.Session, store.Contact, *rawStream, string) {
	t.Helper()
	r := start(t, true)
	ctx := context.Background()
	me, err := r.hub.Connect(ctx, "alice@localhost", core.SessionOptions{Device: "other"}, &coreSink{woke: make(chan struct{}, 1)})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := r.hub.CreateContacts(ctx, "alice@localhost", []store.Contact{{Name: "Bob", Address: "bob@localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	x := r.signIn(t, "alice")
	return r, me, cs[0], x, bindResumable(x).AttrValue("id")
}

// TestRosterResyncAfterLostPushes: a resumed stream whose lost events the
// core could not keep gets the items that changed meanwhile pushed, and a
// version no roster has: its next get fetches everything instead of
// trusting its held.
func TestRosterResyncAfterLostPushes(t *testing.T) {
	r, me, bob, x, id := resumableWithContact(t)
	ctx := context.Background()
	x.send(`<iq type='get' id='g1'><query xmlns='jabber:iq:roster' ver=''/></iq>`)
	before := x.expect("iq").Child(nsRoster, "query").AttrValue("ver")
	x.conn.Close()

	c := bob
	c.Name = "Robert"
	if _, err := r.hub.UpdateContact(ctx, c, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < core.DefaultLimits.OutboxUnsent+1; i++ { // the outbox overflows: the rename is lost
		if _, err := me.Send(core.Message{Kind: core.KindMessage, To: "alice@localhost/phone", Body: "spam"}); err != nil {
			t.Fatal(err)
		}
	}
	y := r.signIn(t, "alice")
	y.send(`<resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/>`, id)
	y.expect("resumed")
	var push *xmlstream.Element
	for push == nil {
		if el := y.expect("iq"); el.AttrValue("type") == "set" {
			push = el.Child(nsRoster, "query")
		}
	}
	it := push.Child(nsRoster, "item")
	if it == nil || it.AttrValue("jid") != "bob@localhost" || it.AttrValue("name") != "Robert" {
		t.Fatalf("push after the resynchronisation: %s", push.String(""))
	}
	after := push.AttrValue("ver")
	if after == before {
		t.Fatal("the version did not change")
	}
	y.send(`<iq type='get' id='g2'><query xmlns='jabber:iq:roster' ver='%s'/></iq>`, after)
	var full *xmlstream.Element
	for full == nil {
		if el := y.expect("iq"); el.AttrValue("id") == "g2" {
			if full = el.Child(nsRoster, "query"); full == nil {
				t.Fatal("a client whose pushes were lost was told its copy is current")
			}
		}
	}
	wantCurrent(t, y, "g3", full.AttrValue("ver"))
}

// TestRosterPushResentOnResume: a push the client did not acknowledge
// before its connection dropped is sent again on resumption (XEP-0198), a
// removal too, although the stream's roster state already counts it; its
// version is then current.
func TestRosterPushResentOnResume(t *testing.T) {
	r := start(t, true)
	ctx := context.Background()
	cs, err := r.hub.CreateContacts(ctx, "alice@localhost", []store.Contact{{Name: "Bob", Address: "bob@localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	x := r.signIn(t, "alice")
	id := bindResumable(x).AttrValue("id")
	x.send(`<iq type='get' id='g1'><query xmlns='jabber:iq:roster' ver=''/></iq>`)
	for x.expect("iq").AttrValue("id") != "g1" {
	}
	if err := r.hub.DeleteContact(ctx, "alice@localhost", cs[0].ID, 0); err != nil {
		t.Fatal(err)
	}
	removal := func(x *rawStream) string {
		t.Helper()
		for {
			el := x.expect("iq")
			if q := el.Child(nsRoster, "query"); el.AttrValue("type") == "set" && q != nil {
				if it := q.Child(nsRoster, "item"); it == nil || it.AttrValue("subscription") != "remove" || it.AttrValue("jid") != "bob@localhost" {
					t.Fatalf("push %s", el.String(""))
				}
				return q.AttrValue("ver")
			}
		}
	}
	ver := removal(x)
	x.conn.Close() // before acknowledging it: the roster result is all it counted

	y := r.signIn(t, "alice")
	y.send(`<resume xmlns='urn:xmpp:sm:3' previd='%s' h='1'/>`, id)
	y.expect("resumed")
	if again := removal(y); again != ver {
		t.Fatalf("resent with version %s, first sent with %s", again, ver)
	}
	wantCurrent(t, y, "g2", ver)
}

// TestRosterPushesGoToInterestedResources: a stream that has not asked
// for the roster gets no pushes (RFC 6121 § 2.2: only interested
// resources do); one that asked without a version gets its roster and
// pushes without one (§ 2.6.2), and the stream keeps no hashes for it.
func TestRosterPushesGoToInterestedResources(t *testing.T) {
	r := start(t, true)
	ctx := context.Background()
	bind := func() (*rawStream, string) {
		x := r.signIn(t, "alice")
		x.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`)
		return x, x.expect("iq").Child("urn:ietf:params:xml:ns:xmpp-bind", "bind").ChildText("urn:ietf:params:xml:ns:xmpp-bind", "jid")
	}
	quiet, quietJID := bind()
	plain, _ := bind()
	plain.send(`<iq type='get' id='g1'><query xmlns='jabber:iq:roster'/></iq>`)
	for {
		el := plain.expect("iq")
		if el.AttrValue("id") != "g1" {
			continue
		}
		if q := el.Child(nsRoster, "query"); q == nil || q.HasAttr("ver") {
			t.Fatalf("an unversioned roster get got %s", el.String(""))
		}
		break
	}
	if _, err := r.hub.CreateContacts(ctx, "alice@localhost", []store.Contact{{Name: "Bob", Address: "bob@localhost"}}); err != nil {
		t.Fatal(err)
	}
	for {
		el := plain.expect("iq")
		if q := el.Child(nsRoster, "query"); el.AttrValue("type") == "set" && q != nil {
			if q.HasAttr("ver") || q.Child(nsRoster, "item").AttrValue("name") != "Bob" {
				t.Fatalf("push %s", el.String(""))
			}
			break
		}
	}
	// the quiet stream: an iq routed to it through the core after the
	// contact event arrives with nothing before it
	plain.send(`<iq type='get' id='p1' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>`, quietJID)
	if el := quiet.expect("iq"); el.AttrValue("id") != "p1" {
		t.Fatalf("a stream that never asked for the roster got %s", el.String(""))
	}
}

// wantCurrent asks for the roster at version ver and expects the answer
// for a client whose copy is current: a result without items (§ 2.6.3).
func wantCurrent(t *testing.T, x *rawStream, id, ver string) {
	t.Helper()
	x.send(`<iq type='get' id='%s'><query xmlns='jabber:iq:roster' ver='%s'/></iq>`, id, ver)
	for {
		if el := x.expect("iq"); el.AttrValue("id") == id {
			if el.Child(nsRoster, "query") != nil {
				t.Fatalf("a current client got %s", el.String(""))
			}
			return
		}
	}
}

// TestResumeAfterUnacknowledgedEventsFellOut: a client that read a roster
// push and many messages but acknowledged none of them (h='0') before its
// connection dropped, by which time the core no longer kept the push
// (retention), resumes and is resynchronised: the push reaches it again
// instead of being skipped as if acknowledged.
func TestResumeAfterUnacknowledgedEventsFellOut(t *testing.T) {
	r, me, bob, x, id := resumableWithContact(t)
	ctx := context.Background()
	x.send(`<iq type='get' id='g1'><query xmlns='jabber:iq:roster' ver=''/></iq>`)
	for el := x.expect("iq"); el.AttrValue("id") != "g1"; el = x.expect("iq") {
	}
	c := bob
	c.Name = "Robert"
	if _, err := r.hub.UpdateContact(ctx, c, 0); err != nil {
		t.Fatal(err)
	}
	for el := x.expect("iq"); el.AttrValue("type") != "set"; el = x.expect("iq") {
	}
	n := core.DefaultLimits.OutboxRetained + 10 // more than the core keeps once written
	for i := 0; i < n; i++ {
		if _, err := me.Send(core.Message{Kind: core.KindMessage, To: "alice@localhost/phone", Body: fmt.Sprint("m", i)}); err != nil {
			t.Fatal(err)
		}
	}
	for last := fmt.Sprint("m", n-1); x.expect("message").ChildText(nsClient, "body") != last; {
	}
	x.conn.Close()

	y := r.signIn(t, "alice")
	y.send(`<resume xmlns='urn:xmpp:sm:3' previd='%s' h='0'/>`, id)
	y.expect("resumed")
	for {
		el := y.expect("iq")
		if q := el.Child(nsRoster, "query"); el.AttrValue("type") == "set" && q != nil {
			if it := q.Child(nsRoster, "item"); it != nil && it.AttrValue("name") == "Robert" {
				return
			}
		}
	}
}

// versionOf is a roster result's version, "(no roster)" when there is none.
func versionOf(q *xmlstream.Element) string {
	if q == nil {
		return "(no roster)"
	}
	return q.AttrValue("ver")
}
