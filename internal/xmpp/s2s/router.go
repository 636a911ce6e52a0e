package s2s

// The federation Router: what the core's delivery path decided to send to
// an account of another domain becomes stanzas on that domain's outbound
// stream; everything else goes to the local router.

import (
	"slices"
	"strings"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/pep"
	"github.com/presenced/presenced/internal/xmpp/stanza"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// nsSignal carries the JSON protocol's signals, as the c2s adapter does.
const nsSignal = "urn:presenced:signal:0"

// Router returns the core.Router of this server: targets of other domains
// are carried by federation, the rest by the local router.
func (s *Server) Router() core.Router { return router{s} }

type router struct{ s *Server }

// Route must not block: stanzas are queued for each domain's stream.
func (r router) Route(ev core.Event, to []core.Target) core.Routed {
	s := r.s
	if w, ok := ev.(core.WatchDomain); ok {
		s.watch(w.Domain)
		return core.Routed{}
	}
	var out core.Routed
	local := to[:0:0]
	for _, t := range to {
		d := addr.DomainOf(t.Account)
		if d == "" || s.serves(d) { // between served domains: never over federation
			local = append(local, t)
			continue
		}
		if !s.federates(d) {
			continue // reaches nobody: a message is refused to its sender at once
		}
		if els := s.stanzas(ev, t); len(els) > 0 && s.enqueue(d, els...) {
			out.Online++
			out.Sessions++
		}
	}
	if len(local) > 0 {
		lr := s.local.Route(ev, local)
		out.Online += lr.Online
		out.Sessions += lr.Sessions
	}
	return out
}

// isLocal reports whether bare is an account of a served domain: only
// their information leaves through federation (a server never relays).
func (s *Server) isLocal(bare string) bool {
	return s.serves(addr.DomainOf(bare))
}

// stanzas translates one event for one remote target.
func (s *Server) stanzas(ev core.Event, t core.Target) []*xmlstream.Element {
	to := t.Account
	if t.Resource != "" {
		to += "/" + t.Resource
	}
	switch ev := ev.(type) {
	case core.PresenceEvent:
		if !s.isLocal(ev.View.Address) {
			return nil
		}
		out := s.presenceStanzas(ev.View, t.Account)
		if ev.Reset {
			// the viewer's server forgets every resource it was shown
			// (some by a dead node of the cluster, which no live node can
			// name), then learns the live ones: an unavailable presence
			// from the bare address (core.RemotePresence takes it as all
			// the account's resources gone)
			out = slices.DeleteFunc(out, func(el *xmlstream.Element) bool { return el.AttrValue("type") == "unavailable" })
			out = append([]*xmlstream.Element{presence(ev.View.Address, t.Account, "unavailable")}, out...)
		}
		return out
	case core.ProbeEvent:
		if !s.isLocal(ev.From) {
			return nil
		}
		return []*xmlstream.Element{presence(ev.From, ev.To, "probe")}
	case core.SubscriptionEvent:
		if !s.isLocal(ev.View.Address) {
			return nil
		}
		var out []*xmlstream.Element
		for _, typ := range outboundSubscription(ev) {
			out = append(out, presence(ev.View.Address, t.Account, typ))
		}
		return out
	case core.MessageEvent:
		m := ev.Message
		if ev.Carbon != "" || ev.Stored != 0 || !s.isLocal(bareOf(m.From)) {
			return nil // copies and stored messages are this server's own business
		}
		switch m.Kind {
		case core.KindIQ:
			return []*xmlstream.Element{xmlstream.New(nsServer, "iq").Set("from", m.From).Set("to", to).Set("type", m.Type).Set("id", m.ID).Add(xmlstream.Raw(m.Payload))}
		case core.KindSignal:
			return []*xmlstream.Element{xmlstream.New(nsServer, "message").Set("from", m.From).Set("to", to).Set("type", core.TypeHeadline).Set("id", m.ID).
				Add(xmlstream.New(nsSignal, "signal").AddText(string(m.Data)))}
		}
		typ := m.Type
		if typ == "" {
			typ = core.TypeChat
		}
		el := xmlstream.New(nsServer, "message").Set("from", m.From).Set("to", to).Set("type", typ)
		if m.ID != "" {
			el.Set("id", m.ID)
		}
		if m.Body != "" {
			el.Add(xmlstream.New(nsServer, "body").AddText(m.Body))
		}
		return []*xmlstream.Element{el.Add(xmlstream.Raw(m.Payload))}
	case core.PersonalEvent:
		if !s.isLocal(ev.Item.Account) {
			return nil
		}
		event, ok, err := pep.Event(ev)
		if !ok || err != nil {
			return nil
		}
		// to the viewer's bare address, as a headline (XEP-0163 § 4.3;
		// docs/federation.md says why not to resources' +notify)
		return []*xmlstream.Element{xmlstream.New(nsServer, "message").Set("from", ev.Item.Account).Set("to", to).Set("type", core.TypeHeadline).
			Set("id", ev.Item.ItemID).Add(event)}
	case core.RoomSnapshot, core.RoomDiff, core.RoomMessageEvent, core.RoomSubjectEvent, core.RoomLeft, core.RoomPrivateEvent:
		return s.roomStanzas(ev, to) // to an occupant of another domain (muc.go)
	case core.RoomInvite:
		return s.inviteStanza(ev, to) // a local occupant's, to a user of another domain (invites.go)
	case core.ForeignStanza:
		return s.foreignStanza(ev) // a local session's, to a room of another domain (foreign.go)
	}
	return nil // snapshots, privacy, contacts: not for another domain
}

func bareOf(full string) string {
	b, _, _ := strings.Cut(full, "/")
	return b
}

func presence(from, to, typ string) *xmlstream.Element {
	return stanza.Presence(nsServer, from, to, typ)
}

// presenceStanzas announces a local subject's resources to a remote
// viewer, and the end of those it saw that are gone (per viewer: the
// remote server tracks resources as a client does).
func (s *Server) presenceStanzas(v core.PresenceView, viewer string) []*xmlstream.Element {
	var out []*xmlstream.Element
	var now []string
	for _, sp := range v.Sessions {
		now = append(now, sp.Resource)
		// with presenced's session capabilities: another server's PEP
		// notifies only resources that announce +notify (XEP-0163 § 4.3)
		out = append(out, stanza.Resource(nsServer, v.Address, viewer, sp).Add(pep.SessionCaps()))
	}
	key := v.Address + "\x00" + viewer
	s.shownMu.Lock()
	before := s.shown[key]
	if len(now) == 0 {
		delete(s.shown, key)
	} else {
		s.shown[key] = now
	}
	s.shownMu.Unlock()
	for _, r := range before {
		if !slices.Contains(now, r) {
			out = append(out, presence(v.Address+"/"+r, viewer, "unavailable"))
		}
	}
	if len(now) == 0 && len(before) == 0 {
		out = append(out, presence(v.Address, viewer, "unavailable")) // an answer to a probe
	}
	return out
}

// outboundSubscription is what the remote account's server must be told
// when its view (ev.View, of a local account) changed: the local user's
// requests and their end (edges about the remote account, which it
// decides), and the local user's answers (edges about the local account,
// decided here). A refusal or withdrawn approval stays silent, as for a
// local requester (docs/privacy.md); changes the remote account made
// itself are not echoed, except an approval it caused (a pre-approval).
func outboundSubscription(ev core.SubscriptionEvent) []string {
	was, now := ev.Before, ev.View
	var out []string
	if now.To && !was.To {
		out = append(out, "subscribed")
	}
	if ev.Mine {
		return out
	}
	if now.PendingIn && !was.PendingIn {
		out = append(out, "subscribe")
	}
	if (was.From || was.PendingIn) && !now.From && !now.PendingIn {
		out = append(out, "unsubscribe")
	}
	if (was.To || was.PendingOut) && !now.To && !now.PendingOut {
		out = append(out, "unsubscribed")
	}
	return out
}
