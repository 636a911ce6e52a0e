package c2s

// XMPP features register themselves, in the spirit of mellium's mux and
// Prosody's modules: each file that implements one (ping.go, roster.go,
// pep.go …) registers, in its init, the iq payloads it answers, the
// entities it answers for, and what those entities then announce in
// service discovery. onIQ dispatches through the registry and disco#info
// is built from it, so adding a XEP is adding a file: no central switch,
// no feature list kept by hand.

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strings"

	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// addressees is a set of the entities an iq can be addressed to.
type addressees uint8

// The sets a feature answers for.
const (
	forAccount = addressees(1 << toAccount) // the user's own account (no 'to')
	forServer  = addressees(1 << toServer)  // the server's domain
	forPeer    = addressees(1 << toPeer)    // another account's bare address
)

func (a addressees) has(to addressee) bool { return a&(1<<to) != 0 }

// identity is a XEP-0030 identity.
type identity struct{ category, typ, name string }

// iqFeature is one feature's share of the iq namespace.
type iqFeature struct {
	payloads []xml.Name // the payload elements (children of the iq) it answers
	types    string     // "get" or "set" when it answers only that type; "" for both
	at       addressees // the entities it answers for
	handle   func(c *conn, rq iqRequest) error
	// firstParty: it answers presenced's own clients only; an app's stream
	// (oauthbearer.go) is refused with forbidden. For what reads or changes
	// the account outside the core session, which alone knows what the
	// app's grant covers (the block list, the first-party view of
	// contacts' last activity).
	firstParty bool
	// what it adds to the service discovery of each entity
	features   map[addressee][]string
	identities map[addressee][]identity
}

// registry is every registered feature, filled by init functions.
var registry = struct {
	iqs        map[xml.Name][]*iqFeature
	features   map[addressee][]string
	identities map[addressee][]identity
}{iqs: map[xml.Name][]*iqFeature{}, features: map[addressee][]string{}, identities: map[addressee][]identity{}}

// register adds a feature. Two features answering the same payload for the
// same entity and type are a programming error.
func register(f iqFeature) {
	for _, name := range f.payloads {
		for _, g := range registry.iqs[name] {
			if g.at&f.at != 0 && (g.types == "" || f.types == "" || g.types == f.types) {
				panic(fmt.Sprintf("c2s: two handlers for {%s}%s", name.Space, name.Local))
			}
		}
		registry.iqs[name] = append(registry.iqs[name], &f)
	}
	for to, fs := range f.features {
		registry.features[to] = append(registry.features[to], fs...)
	}
	for to, ids := range f.identities {
		registry.identities[to] = append(registry.identities[to], ids...)
	}
}

// handlerFor finds the feature that answers rq, and the payload it takes:
// the first child of the iq that one answers for rq's addressee and type.
func handlerFor(rq iqRequest) (*iqFeature, *xmlstream.Element) {
	for _, n := range rq.el.Children {
		ch, ok := n.(*xmlstream.Element)
		if !ok {
			continue
		}
		for _, f := range registry.iqs[ch.Name] {
			if f.at.has(rq.to) && (f.types == "" || f.types == rq.typ) {
				return f, ch
			}
		}
	}
	return nil, nil
}

// announced is what an entity announces (XEP-0030 § 3.1), in a stable
// order: identities by category and type, features by name.
func announced(to addressee) ([]identity, []string) {
	ids := slices.Clone(registry.identities[to])
	slices.SortFunc(ids, func(a, b identity) int {
		return strings.Compare(a.category+"/"+a.typ, b.category+"/"+b.typ)
	})
	features := slices.Clone(registry.features[to])
	slices.Sort(features)
	return ids, slices.Compact(features)
}
