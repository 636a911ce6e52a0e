package c2s

// RFC 6121 § 2 roster management. The roster is not stored apart: an item
// is the user's relationship with an address (the core's subscription
// graph) together with the address-book card that has that address (its
// name and groups). So a roster set edits the same card the REST API and
// other devices see, and their edits come back as roster pushes.
//
// Roster versioning (§ 2.6). The version is the XOR of a hash of each
// item's visible content: independent of order, and updatable one item at
// a time. A push folds its item's old hash out and its new one in, so it
// reads one relationship and the cards with one address, whatever the
// size of the roster: with a thousand items and several resources, a
// change no longer makes each of them read and hash the whole roster.
//
// Only interested resources (§ 2.2: those that asked for the roster) get
// pushes, and only those whose roster get carried a version (§ 2.6.2)
// have their roster's hashes kept: the others get pushes without one, and
// cost no memory per item.
//
// The old hash comes from what this stream last told its client
// (rosterState, kept with the stream's other told state in live): the
// version a push carries is then, by construction, the hash of the copy
// the client holds after applying it, and equals what hashing the roster
// afresh gives (TestRosterVersionIsIncremental). A state shared by the
// account's streams would be smaller, but streams apply the same changes
// at different moments, and a version computed ahead of what a client has
// received would let it pass a stale copy for current at its next login.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const (
	nsRoster    = "jabber:iq:roster"
	nsRosterVer = "urn:xmpp:features:rosterver"
)

func init() {
	register(iqFeature{
		payloads: []xml.Name{{Space: nsRoster, Local: "query"}},
		at:       forAccount,
		handle:   (*conn).roster,
		features: map[addressee][]string{toServer: {nsRoster}},
	})
}

// Limits of a roster item the client sets.
const (
	maxRosterGroups = 16
	maxGroupName    = 128
)

// rosterItem is one item as the client sees it.
type rosterItem struct {
	jid  string
	sub  core.SubscriptionView
	card *store.Contact // the card that names the item, if any
}

// itemOf is the item of jid, given the user's relationship with it and the
// cards with that address in listing order. ok is false when jid is not on
// the roster: it is when the user sees it, is seen by it or asked to see it
// (a request to the user alone is not, § 3.1.3), or when a card has it.
func itemOf(jid string, sub core.SubscriptionView, cards []store.Contact) (it rosterItem, ok bool) {
	it = rosterItem{jid: jid, sub: sub}
	if len(cards) > 0 {
		it.card = &cards[0] // the first card with the address names the item
	}
	return it, sub.To || sub.From || sub.PendingOut || it.card != nil
}

func (it rosterItem) name() string {
	if it.card == nil {
		return ""
	}
	return it.card.Name
}

func (it rosterItem) groups() []string {
	if it.card == nil {
		return nil
	}
	return it.card.Groups
}

// fill gives el, an item element (rosterQuery), the item's attributes
// and groups.
func (it rosterItem) fill(el *xmlstream.Element) *xmlstream.Element {
	el.Set("jid", it.jid).Set("subscription", it.sub.State())
	if it.sub.PendingOut {
		el.Set("ask", "subscribe")
	}
	if n := it.name(); n != "" {
		el.Set("name", n)
	}
	for _, g := range it.groups() {
		el.Add(xmlstream.New(nsRoster, "group").AddText(g))
	}
	return el
}

// hash digests what the client sees of the item, exactly what element
// writes (groups as a set: § 2.1.2.2 gives them no order), each field
// length-prefixed so that no two items run together alike.
func (it rosterItem) hash() uint64 {
	h := sha256.New()
	field := func(s string) {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	ask := ""
	if it.sub.PendingOut {
		ask = "subscribe"
	}
	field(it.jid)
	field(it.sub.State())
	field(ask)
	field(it.name())
	groups := slices.Clone(it.groups())
	sort.Strings(groups)
	for _, g := range groups {
		field(g)
	}
	return binary.BigEndian.Uint64(h.Sum(nil))
}

// rosterState is the roster as a stream last told its client: the hash of
// each item and the version, the XOR of them all; for a client that does
// not version its roster, nothing (items nil). Guarded by fmu.
type rosterState struct {
	items map[string]uint64 // jid → hash; nil: not versioned
	ver   uint64
	// unsure: some of what was told may never have reached the client
	// (written to a connection that dropped before the stream resumed)
	unsure bool
}

func newRosterState(items []rosterItem) *rosterState {
	r := &rosterState{items: make(map[string]uint64, len(items))}
	for _, it := range items {
		r.put(it)
	}
	return r
}

func (r *rosterState) versioned() bool { return r.items != nil }

// put records that the client now has it (replacing any item of its jid).
func (r *rosterState) put(it rosterItem) {
	if !r.versioned() {
		return
	}
	r.remove(it.jid)
	h := it.hash()
	r.items[it.jid] = h
	r.ver ^= h
}

// remove records that the client no longer has jid.
func (r *rosterState) remove(jid string) {
	if h, ok := r.items[jid]; ok {
		r.ver ^= h
		delete(r.items, jid)
	}
}

func (r *rosterState) has(jid string) bool {
	_, ok := r.items[jid]
	return ok
}

// version is ver as the client sees it, an opaque string (§ 2.6.1), or
// "" (no ver attribute) for a client that does not version its roster.
func (r *rosterState) version() string {
	if !r.versioned() {
		return ""
	}
	return fmt.Sprintf("%016x", r.ver)
}

// loadRoster reads the whole roster, ordered by address: for a roster get,
// and once for a stream that is pushed a change before it asked.
func (c *conn) loadRoster(ctx context.Context, boot *core.View) ([]rosterItem, error) {
	subs, err := c.sess.Subscriptions(ctx, boot)
	if err != nil {
		return nil, err
	}
	cards, err := c.cards(ctx, store.ContactQuery{})
	if err != nil {
		return nil, err
	}
	// both sorted by address, then merged: no map of either (a roster
	// get's allocations were mostly the maps and the items' elements)
	slices.SortFunc(subs, func(a, b core.SubscriptionView) int { return strings.Compare(a.Address, b.Address) })
	named := c.namingCards(cards)
	out := make([]rosterItem, 0, len(subs)+len(named))
	for i, j := 0, 0; i < len(subs) || j < len(named); {
		var jid string
		var sub core.SubscriptionView
		var card []store.Contact
		switch {
		case j == len(named) || i < len(subs) && subs[i].Address < named[j].address:
			jid, sub = subs[i].Address, subs[i]
			i++
		case i == len(subs) || named[j].address < subs[i].Address:
			jid, sub, card = named[j].address, core.SubscriptionView{Address: named[j].address}, cards[named[j].card:named[j].card+1]
			j++
		default:
			jid, sub, card = subs[i].Address, subs[i], cards[named[j].card:named[j].card+1]
			i, j = i+1, j+1
		}
		if it, ok := itemOf(jid, sub, card); ok {
			out = append(out, it)
		}
	}
	return out, nil
}

// namedBy is the card that names the roster item of an address: cards[card].
type namedBy struct {
	address string
	card    int
}

// namingCards finds, for each address that cards (in listing order) give
// other than the account's own, the first card with it: the card that
// names its item (itemOf). Sorted by address.
func (c *conn) namingCards(cards []store.Contact) []namedBy {
	if len(cards) == 0 {
		return nil
	}
	named := make([]namedBy, 0, len(cards))
	for i, card := range cards {
		if a, err := addr.Bare(card.Address); err == nil && a != c.account {
			named = append(named, namedBy{a, i})
		}
	}
	slices.SortStableFunc(named, func(a, b namedBy) int { return strings.Compare(a.address, b.address) }) // the first of each address stays first
	return slices.CompactFunc(named, func(a, b namedBy) bool { return a.address == b.address })
}

// loadItem reads the item of jid alone: the user's relationship with it
// (sub, when the caller has it from an event) and the cards with its
// address.
func (c *conn) loadItem(ctx context.Context, jid string, sub *core.SubscriptionView) (rosterItem, bool, error) {
	if sub == nil {
		v, err := c.s.Hub.Subscription(ctx, c.account, jid)
		if err != nil {
			return rosterItem{}, false, err
		}
		sub = &v
	}
	cards, err := c.cards(ctx, store.ContactQuery{Address: jid})
	if err != nil {
		return rosterItem{}, false, err
	}
	it, ok := itemOf(jid, *sub, cards)
	return it, ok, nil
}

// cards reads the address-book cards roster items take their names and
// groups from. An app's stream gets none: the address book is presenced's
// own clients' (as on the REST API and CardDAV), so its roster is the
// relationships alone.
func (c *conn) cards(ctx context.Context, q store.ContactQuery) ([]store.Contact, error) {
	if c.app != nil {
		return nil, nil
	}
	return c.s.Hub.Contacts(ctx, c.account, q)
}

// roster answers roster get and set. A get is answered under fmu, so no
// push is written between reading the roster and answering: the pushes
// that follow start from what the answer said.
func (c *conn) roster(rq iqRequest) error {
	ctx, q := context.Background(), rq.payload
	if rq.typ == "set" {
		if c.app != nil { // the roster's names and groups are the address book, not the app's
			return c.iqForbidden(rq, notForApps)
		}
		return c.rosterSet(ctx, rq, q)
	}
	c.fmu.Lock()
	defer c.fmu.Unlock()
	items, err := c.loadRoster(ctx, c.boot)
	if err != nil {
		return err
	}
	if !q.HasAttr("ver") { // § 2.6.2: no versioning: the roster, then plain pushes
		c.rstate = &rosterState{}
		return c.iqResult(rq, rosterQuery("", items...))
	}
	c.rstate = newRosterState(items)
	ver := c.rstate.version()
	if q.AttrValue("ver") == ver { // § 2.6.3: the client's copy is current
		return c.iqResult(rq, nil)
	}
	// any other version (older, unknown, none) gets the whole roster: we
	// keep no history to send the changes since
	return c.iqResult(rq, rosterQuery(ver, items...))
}

// rosterSet adds, updates or removes one item (§ 2.3, § 2.5).
func (c *conn) rosterSet(ctx context.Context, rq iqRequest, q *xmlstream.Element) error {
	var item *xmlstream.Element
	n := 0
	for _, ch := range q.Children {
		if el, ok := ch.(*xmlstream.Element); ok && el.Name.Space == nsRoster && el.Name.Local == "item" {
			item, n = el, n+1
		}
	}
	if n != 1 { // § 2.3.3: exactly one item
		return c.iqError(rq, "modify", "bad-request")
	}
	jid, err := addr.Bare(item.AttrValue("jid"))
	if err != nil || jid == c.account {
		return c.iqError(rq, "modify", "bad-request")
	}
	if item.AttrValue("subscription") == "remove" { // pushes follow from the core's events
		sub, err := c.s.Hub.Subscription(ctx, c.account, jid)
		if err != nil {
			return err
		}
		cards, err := c.s.Hub.Contacts(ctx, c.account, store.ContactQuery{Address: jid})
		if err != nil {
			return err
		}
		if _, ok := itemOf(jid, sub, cards); !ok {
			return c.iqError(rq, "cancel", "item-not-found") // § 2.5.3
		}
		if err := c.s.Hub.Remove(ctx, c.account, jid); err != nil {
			return err
		}
		for _, card := range cards { // every card with the address: another would keep the item
			if err := c.s.Hub.DeleteContact(ctx, c.account, card.ID, 0); err != nil && core.CodeOf(err) != core.CodeNotFound {
				return err
			}
		}
		return c.iqResult(rq, nil)
	}
	var groups []string
	for _, ch := range item.Children {
		if g, ok := ch.(*xmlstream.Element); ok && g.Name.Local == "group" {
			name := strings.TrimSpace(g.Text())
			if name == "" || len(name) > maxGroupName || len(groups) == maxRosterGroups {
				return c.iqError(rq, "modify", "not-acceptable") // § 2.3.3
			}
			groups = append(groups, name)
		}
	}
	card, err := c.cardOf(ctx, jid)
	if err != nil {
		return err
	}
	name := item.AttrValue("name")
	if card == nil {
		_, err = c.s.Hub.CreateContacts(ctx, c.account, []store.Contact{{Name: name, Groups: groups, Address: jid}})
	} else {
		// only the name and groups, on the card as it is at the write: a
		// CardDAV or REST write since cardOf read it keeps its changes
		_, err = c.s.Hub.EditContact(ctx, c.account, card.ID, func(cur *store.Contact) {
			cur.Name, cur.Groups = name, groups
		})
	}
	if err != nil {
		if core.CodeOf(err) == core.CodeInvalid || core.CodeOf(err) == core.CodeLimit {
			return c.iqError(rq, "modify", "not-acceptable")
		}
		return err
	}
	return c.iqResult(rq, nil) // the push follows from the core's contact event
}

// cardOf finds the address-book card that names the item of jid, if any.
func (c *conn) cardOf(ctx context.Context, jid string) (*store.Contact, error) {
	cards, err := c.s.Hub.Contacts(ctx, c.account, store.ContactQuery{Address: jid})
	if err != nil || len(cards) == 0 {
		return nil, err
	}
	return &cards[0], nil
}

// rosterPush tells the client the current state of the item of jid, with
// the roster's new version (§ 2.1.6, § 2.6.3), reading that item alone.
// sub is the relationship as an event told it, nil to read it. It runs on
// the flush goroutine, under fmu.
func (c *conn) rosterPush(jid string, sub *core.SubscriptionView) error {
	if jid == "" || jid == c.account {
		return nil
	}
	if c.rstate == nil {
		return nil // not an interested resource (§ 2.2): it asks for the roster when it wants it
	}
	it, ok, err := c.loadItem(context.Background(), jid, sub)
	if err != nil {
		return err
	}
	// pushed even when it tells the client nothing new (an unchanged item,
	// the removal of one it never had): a resumed stream (XEP-0198) resends
	// the deliveries its client did not acknowledge, and their pushes must
	// reach it again although this state already counts them
	if !ok {
		c.rstate.remove(jid)
		return c.push(removeQuery(c.rstate.version(), jid))
	}
	c.rstate.put(it)
	return c.push(rosterQuery(c.rstate.version(), it))
}

// rosterResync follows a snapshot that replaced lost events (the outbox
// overflowed, or a stream resumed from further back than the core keeps):
// pushes among them never reached the client, or were written and lost.
// The items that differ from what the client was told are pushed again.
// What the client holds is no longer known for sure, so its version is
// made to match no roster: its next roster get fetches the whole roster
// rather than trust its copy. Rare, and O(roster) like a roster get. When
// what the client was told is itself unsure (a resumed stream), every item
// is pushed again.
func (c *conn) rosterResync() error {
	items, err := c.loadRoster(context.Background(), nil)
	if err != nil {
		return err
	}
	if !c.rstate.versioned() { // what it missed is not known: all of it again
		for _, it := range items {
			if err := c.push(rosterQuery("", it)); err != nil {
				return err
			}
		}
		return nil
	}
	told := c.rstate
	c.rstate = newRosterState(items)
	c.rstate.ver ^= rand.Uint64() | 1
	for _, it := range items {
		if h, ok := told.items[it.jid]; told.unsure || !ok || h != it.hash() {
			if err := c.push(rosterQuery(c.rstate.version(), it)); err != nil {
				return err
			}
		}
	}
	for jid := range told.items {
		if !c.rstate.has(jid) {
			if err := c.push(removeQuery(c.rstate.version(), jid)); err != nil {
				return err
			}
		}
	}
	return nil
}

// rosterQuery is a roster (or a push's part of it) at version ver.
func rosterQuery(ver string, items ...rosterItem) *xmlstream.Element {
	q := xmlstream.New(nsRoster, "query")
	q.Children = make([]xmlstream.Node, 0, len(items))
	if ver != "" {
		q.Set("ver", ver)
	}
	// the items' elements and attributes in one array each, not two
	// allocations per item
	els := make([]xmlstream.Element, len(items))
	attrs := make([]xml.Attr, 4*len(items)) // jid, subscription, ask, name
	for i, it := range items {
		el := &els[i]
		el.Name, el.Attr = xml.Name{Space: nsRoster, Local: "item"}, attrs[4*i:4*i:4*i+4]
		q.Add(it.fill(el))
	}
	return q
}

// removeQuery is the push that takes jid off the roster (§ 2.5.2).
func removeQuery(ver, jid string) *xmlstream.Element {
	return rosterQuery(ver).Add(xmlstream.New(nsRoster, "item").Set("jid", jid).Set("subscription", "remove"))
}

// push sends the user's resource an iq set from its account (a roster or
// block list push), which it answers with a result (ignored, onIQ).
func (c *conn) push(payload *xmlstream.Element) error {
	return c.write(xmlstream.New(nsClient, "iq").Set("type", "set").Set("id", "push"+strconv.FormatUint(c.pushID.Add(1), 10)).
		Set("to", c.sess.Address()).Add(payload))
}
