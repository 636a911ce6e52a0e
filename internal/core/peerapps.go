package core

import (
	"slices"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/store"
)

// Sessions of apps across the nodes of a cluster (docs/architecture.md,
// "Cluster"). The subject's node decides an event for a viewer's account
// first-party (deliver) and expands the target into the app channels of
// the viewer's sessions on that node only: it does not hold the grants of
// the viewer's sessions elsewhere. The cluster carries app-channel
// targets to no other node; each node that receives the first-party
// target serves the app channels of its own sessions of that account
// (RouteApps), with the holder's grant, which lives there (rule 3: what the
// grant covers, with which scopes; rule 4: handles), and with what the
// subject's node says of the subject for apps (AppFacts: the apps it
// appears offline in, its sessions private to an app). A message is
// decided on the recipient's node, which holds the recipient's grants and
// facts: there too, RouteApps serves the app channels the recipient's
// node did not.

// AppFacts is what a subject's node tells other nodes of the subject for
// the app channels of their sessions: plain data.
type AppFacts struct {
	Hidden  []string          `json:",omitempty"` // apps in which the subject appears offline
	Private map[string]string `json:",omitempty"` // resource → app: sessions whose presence stays in their app
}

// Limits of AppFacts read from another node.
const (
	maxAppFactsApps     = 1024
	maxAppFactsSessions = 4096
)

// AppFactsOf is what this node may tell other nodes of subject for their
// app channels (RouteApps there). The caller holds subject's lock (a
// Router, in Route); zero when subject has no session here.
func (h *Hub) AppFactsOf(subject string) AppFacts {
	var af AppFacts
	u := h.live(subject)
	if u == nil {
		return af
	}
	for app, g := range u.grants() {
		if g != nil && g.hidden {
			af.Hidden = append(af.Hidden, app)
		}
	}
	slices.Sort(af.Hidden)
	if u.hasPrivate() {
		af.Private = map[string]string{}
		for _, s := range u.list() {
			if s.private {
				af.Private[s.Resource] = s.channel.App
			}
		}
	}
	return af
}

// RouteApps serves the app channels of this node's sessions named by to,
// first-party targets another node decided ev for (Router.Route there):
// an account's sessions in apps, or the one session a target names when
// it is in an app. Each is decided on the holder's grant here and the
// subject's facts af, and projected for its channel. It must not block.
func (h *Hub) RouteApps(ev Event, af AppFacts, to []Target) Routed {
	if len(af.Hidden) > maxAppFactsApps || len(af.Private) > maxAppFactsSessions {
		return Routed{}
	}
	var total Routed
	local := h.LocalRouter()
	for _, t := range to {
		if !t.Channel.FirstParty() {
			continue
		}
		u := h.live(t.Account)
		if u == nil {
			continue
		}
		chans := u.appChannels()
		if t.Resource != "" {
			chans = nil
			if s := u.session(t.Resource); s != nil && !s.channel.FirstParty() {
				chans = []Channel{s.channel}
			}
		}
		for _, ch := range chans {
			at := t
			at.Channel = ch
			if out := h.forRemoteApp(ev, af, u, at); out != nil {
				total.add(local.Route(out, []Target{at}))
			}
		}
	}
	return total
}

// forRemoteApp projects ev, decided first-party on another node, for the
// holder u's sessions on t.Channel; nil when nothing may cross.
func (h *Hub) forRemoteApp(ev Event, af AppFacts, u *user, t Target) Event {
	g := h.grantOf(t.Account, t.Channel)
	if g == nil {
		return nil
	}
	var subject string
	var flow Flow
	switch ev := ev.(type) {
	case PresenceEvent:
		subject, flow = ev.View.Address, FlowPresence
	case PersonalEvent:
		subject, flow = ev.Item.Account, FlowEvent
	case MessageEvent: // decided on this node: the recipient's facts are here
		sender, _, err := addr.Parse(ev.Message.From)
		if err != nil || ev.Carbon != "" {
			return nil
		}
		f := factsWith(u, sender, t.Channel, t.Account, g)
		if !Allow(f, FlowMessage) {
			return nil
		}
		return h.forApp(ev, u, f, FlowMessage, t.Account)
	default:
		return nil // first-party business, or events that never cross as first-party (calls: callpeers.go)
	}
	// the first-party rules were decided on the subject's node: a refused
	// viewer was sent the subject's absence
	f := Facts{Self: subject == t.Account, State: store.Approved, Channel: t.Channel, Covered: subject == t.Account || g.covers(subject),
		Scopes: g.scopes & t.Channel.Scopes, AppHidden: slices.Contains(af.Hidden, t.Channel.App)}
	if !appSees(f, flow) {
		return nil // not covered, or not in the scopes: not mentioned at all
	}
	if !Allow(f, flow) { // hidden in the app
		if flow != FlowPresence {
			return nil
		}
		ev = PresenceEvent{View: PresenceView{Address: subject, Availability: Unavailable}}
	} else if pe, ok := ev.(PresenceEvent); ok && len(af.Private) > 0 {
		ev = PresenceEvent{View: withoutPrivate(pe.View, af.Private, t.Channel.App)}
	}
	return h.forApp(ev, nil, f, flow, t.Account)
}

// withoutPrivate is v without the sessions private to an app other than app.
func withoutPrivate(v PresenceView, private map[string]string, app string) PresenceView {
	var ss []SessionPresence
	for _, s := range v.Sessions {
		if p, ok := private[s.Resource]; !ok || p == app {
			ss = append(ss, s)
		}
	}
	if len(ss) == len(v.Sessions) {
		return v
	}
	out := aggregate(v.Address, ss)
	if len(ss) == 0 {
		out.LastSeen = v.LastSeen
	}
	return out
}
