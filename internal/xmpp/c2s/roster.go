package c2s

// RFC 6121 § 2 roster management. The roster is not stored apart: an item
// is the user's relationship with an address (the core's subscription
// graph) together with the address-book card that has that address (its
// name and groups). So a roster set edits the same card the REST API and
// other devices see, and their edits come back as roster pushes. Roster
// versioning (§ 2.6) uses a hash of the whole roster as the version.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
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
	jid    string
	sub    core.SubscriptionView
	card   *store.Contact
	remove bool
}

func (it rosterItem) element() *xmlstream.Element {
	el := xmlstream.New(nsRoster, "item").Set("jid", it.jid)
	if it.remove {
		return el.Set("subscription", "remove")
	}
	el.Set("subscription", it.sub.State())
	if it.sub.PendingOut {
		el.Set("ask", "subscribe")
	}
	if it.card != nil && it.card.Name != "" {
		el.Set("name", it.card.Name)
	}
	if it.card != nil {
		for _, g := range it.card.Groups {
			el.Add(xmlstream.New(nsRoster, "group").AddText(g))
		}
	}
	return el
}

// loadRoster reads the whole roster, ordered by address.
func (c *conn) loadRoster(ctx context.Context) ([]rosterItem, error) {
	subs, err := c.s.Hub.Subscriptions(ctx, c.account)
	if err != nil {
		return nil, err
	}
	cards, err := c.s.Hub.Contacts(ctx, c.account, store.ContactQuery{})
	if err != nil {
		return nil, err
	}
	items := map[string]*rosterItem{}
	for _, v := range subs {
		if v.To || v.From || v.PendingOut {
			items[v.Address] = &rosterItem{jid: v.Address, sub: v}
		}
	}
	for i := range cards {
		a, err := addr.Bare(cards[i].Address)
		if err != nil || a == c.account {
			continue
		}
		it := items[a]
		if it == nil {
			it = &rosterItem{jid: a, sub: core.SubscriptionView{Address: a}}
			items[a] = it
		}
		if it.card == nil { // the first card with the address names the item
			it.card = &cards[i]
		}
	}
	out := make([]rosterItem, 0, len(items))
	for _, it := range items {
		out = append(out, *it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].jid < out[j].jid })
	return out, nil
}

// rosterVersion is the version of a roster: a hash of its items as they
// are written.
func rosterVersion(items []rosterItem) string {
	h := sha256.New()
	for _, it := range items {
		h.Write([]byte(it.element().String(nsRoster)))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// roster answers roster get and set.
func (c *conn) roster(rq iqRequest) error {
	ctx, q := context.Background(), rq.payload
	if rq.typ == "set" {
		return c.rosterSet(ctx, rq, q)
	}
	items, err := c.loadRoster(ctx)
	if err != nil {
		return err
	}
	ver := rosterVersion(items)
	if q.AttrValue("ver") == ver { // § 2.6.3: the client's copy is current
		return c.iqResult(rq, nil)
	}
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
		items, err := c.loadRoster(ctx)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(items, func(it rosterItem) bool { return it.jid == jid }) {
			return c.iqError(rq, "cancel", "item-not-found") // § 2.5.3
		}
		if err := c.s.Hub.Remove(ctx, c.account, jid); err != nil {
			return err
		}
		if card, err := c.cardOf(ctx, jid); err != nil {
			return err
		} else if card != nil {
			if err := c.s.Hub.DeleteContact(ctx, c.account, card.ID, 0); err != nil {
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
		card.Name, card.Groups = name, groups
		_, err = c.s.Hub.UpdateContact(ctx, *card, 0)
	}
	if err != nil {
		if core.CodeOf(err) == core.CodeInvalid || core.CodeOf(err) == core.CodeLimit {
			return c.iqError(rq, "modify", "not-acceptable")
		}
		return err
	}
	return c.iqResult(rq, nil) // the push follows from the core's contact event
}

// cardOf finds the address-book card with a presence address, if any.
func (c *conn) cardOf(ctx context.Context, jid string) (*store.Contact, error) {
	cards, err := c.s.Hub.Contacts(ctx, c.account, store.ContactQuery{Text: jid})
	if err != nil {
		return nil, err
	}
	for i := range cards {
		if a, err := addr.Bare(cards[i].Address); err == nil && a == jid {
			return &cards[i], nil
		}
	}
	return nil, nil
}

// rosterPush tells the client the current state of one item, with the
// roster's new version (§ 2.1.6, § 2.6.3).
func (c *conn) rosterPush(jid string) error {
	items, err := c.loadRoster(context.Background())
	if err != nil {
		return err
	}
	it := rosterItem{jid: jid, remove: true}
	for _, x := range items {
		if x.jid == jid {
			it = x
		}
	}
	return c.push(rosterQuery(rosterVersion(items), it))
}

// rosterQuery is a roster (or a push's part of it) at version ver.
func rosterQuery(ver string, items ...rosterItem) *xmlstream.Element {
	q := xmlstream.New(nsRoster, "query").Set("ver", ver)
	for _, it := range items {
		q.Add(it.element())
	}
	return q
}

// push sends the user's resource an iq set from its account (a roster or
// block list push), which it answers with a result (ignored, onIQ).
func (c *conn) push(payload *xmlstream.Element) error {
	return c.write(xmlstream.New(nsClient, "iq").Set("type", "set").Set("id", "push"+strconv.FormatUint(c.pushID.Add(1), 10)).
		Set("to", c.sess.Address()).Add(payload))
}
