package c2s

import (
	"context"
	"io"
	"net"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
)

// rosterByMaps is the roster as loadRoster made it before it merged the
// sorted subscriptions and cards: a map of each, then a sort. The
// reference TestRosterMergesLikeMaps compares with.
func rosterByMaps(account string, subs []core.SubscriptionView, cards []store.Contact) []rosterItem {
	views := make(map[string]core.SubscriptionView, len(subs))
	for _, v := range subs {
		views[v.Address] = v
	}
	byAddress := make(map[string][]store.Contact, len(cards))
	for _, card := range cards {
		if a, err := addr.Bare(card.Address); err == nil && a != account {
			byAddress[a] = append(byAddress[a], card)
		}
	}
	var out []rosterItem
	add := func(jid string) {
		v, ok := views[jid]
		if !ok {
			v = core.SubscriptionView{Address: jid}
		}
		if it, ok := itemOf(jid, v, byAddress[jid]); ok {
			out = append(out, it)
		}
	}
	for jid := range views {
		add(jid)
	}
	for jid := range byAddress {
		if _, done := views[jid]; !done {
			add(jid)
		}
	}
	slices.SortFunc(out, func(a, b rosterItem) int { return strings.Compare(a.jid, b.jid) })
	return out
}

// TestRosterMergesLikeMaps: the roster get's merge of subscriptions and
// cards gives the items the maps gave: items of subscriptions alone, of
// cards alone (named by the first card with the address, in listing
// order), of both; cards with the account's own address or none
// left out; a request to the user alone not an item.
func TestRosterMergesLikeMaps(t *testing.T) {
	r := start(t, true)
	ctx := context.Background()
	for _, a := range []string{"bob@localhost", "carol@localhost", "dave@localhost", "erin@localhost"} {
		if _, err := r.auth.CreateAccount(ctx, a, "pw-"+a); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(r.hub.Subscribe(ctx, "alice@localhost", "bob@localhost")) // pending out
	must(r.hub.Subscribe(ctx, "alice@localhost", "carol@localhost"))
	must(r.hub.Approve(ctx, "carol@localhost", "alice@localhost"))  // to
	must(r.hub.Subscribe(ctx, "erin@localhost", "alice@localhost")) // a request to alice alone: no item
	_, err := r.hub.CreateContacts(ctx, "alice@localhost", []store.Contact{
		{Name: "Zed Bob", Address: "bob@localhost"},
		{Name: "Bobby", Address: "BOB@localhost"}, // first in listing order (by name): names bob's item
		{Name: "Carol", Address: "carol@localhost", Groups: []string{"work"}},
		{Name: "Ghost", Address: "ghost@localhost"}, // a card alone
		{Name: "Me", Address: "alice@localhost"},
		{Name: "No address"},
	})
	must(err)
	server, client := net.Pipe()
	t.Cleanup(func() { server.Close(); client.Close() })
	go io.Copy(io.Discard, client)
	c := &conn{s: r.srv, nc: server, frame: pipeFraming{}, account: "alice@localhost"}
	must(c.open("phone"))
	subs, err := c.sess.Subscriptions(ctx, nil)
	must(err)
	cards, err := r.hub.Contacts(ctx, "alice@localhost", store.ContactQuery{})
	must(err)
	want := rosterByMaps("alice@localhost", subs, cards)
	got, err := c.loadRoster(ctx, nil)
	must(err)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("roster\n got %+v\nwant %+v", got, want)
	}
	var names []string
	for _, it := range got {
		names = append(names, it.jid+"="+it.name())
	}
	if w := []string{"bob@localhost=Bobby", "carol@localhost=Carol", "ghost@localhost=Ghost"}; !slices.Equal(names, w) {
		t.Errorf("items %q, want %q", names, w)
	}
}
