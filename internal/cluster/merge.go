package cluster

import (
	"time"

	"github.com/presenced/presenced/internal/core"
)

// A user with sessions on several nodes: each node decides and shows its
// own sessions (a partial view, on its own facts, under its own lock), and
// the node delivering to a viewer merges the latest partial of every node
// into one aggregate (docs/architecture.md, "Cluster"). Latest-per-node
// is commutative, so every viewer ends on the same aggregate whatever the
// order in which two nodes' updates arrive. What other nodes show is
// always kept (a subject may turn out split before the registry says so
// here), this node's own part only while the registry shows the subject
// on another node too; first-party targets only (the app channels of this
// node's sessions are served from them: core.Hub.RouteApps). A target shown only one node's part gets the
// event itself, routed with the others alike (one Memo).

// splitLocked reports whether subject has sessions on two or more live
// nodes, this one included; the caller holds mu.
func (n *Node) splitLocked(subject string) bool {
	c := len(n.liveHoldersLocked(subject))
	if c == 0 {
		return false
	}
	n.pmu.Lock()
	_, mine := n.mine[subject]
	n.pmu.Unlock()
	if mine {
		c++
	}
	return c >= 2
}

// deliverPresence routes a presence event from origin (this node's own
// included) to this node's sessions, merged with the other nodes'
// partial views when its subject is split.
//
// A presence event from another node serves the app channels of this
// node's sessions too (core.Hub.RouteApps), with the subject's facts for
// apps af, and the merged view where there is one.
func (n *Node) deliverPresence(origin string, pe core.PresenceEvent, to []core.Target, af core.AppFacts) core.Routed {
	subject := pe.View.Address
	type one struct {
		v core.PresenceView
		t core.Target
	}
	var merged []one
	var plain []core.Target
	n.mu.Lock()
	if origin == n.id && n.partials[subject] == nil && !n.splitLocked(subject) {
		n.mu.Unlock()
		return n.local.Route(pe, to)
	}
	for _, t := range to {
		if !t.Channel.FirstParty() {
			plain = append(plain, t)
			continue
		}
		v, alone := n.recordLocked(subject, t, origin, pe.View)
		if alone {
			plain = append(plain, t)
			continue
		}
		merged = append(merged, one{v, t})
	}
	if origin != n.id && n.partials[subject] != nil {
		n.apps[subject] = af // for what is shown if origin dies (reap)
	}
	n.mu.Unlock()
	var r core.Routed
	if len(plain) > 0 {
		r = n.local.Route(pe, plain)
		if origin != n.id {
			n.hub.RouteApps(pe, af, plain)
		}
	}
	for _, m := range merged {
		x := n.local.Route(core.PresenceEvent{View: m.v}, []core.Target{m.t})
		r.Sessions, r.Online = r.Sessions+x.Sessions, r.Online+x.Online
		if origin != n.id {
			n.hub.RouteApps(core.PresenceEvent{View: m.v}, af, []core.Target{m.t})
		}
	}
	return r
}

// recordLocked keeps v as origin's partial view of subject for t and
// returns the merged view; alone when that is v itself (no other node's
// part, or the bound reached and nothing kept). The caller holds mu.
func (n *Node) recordLocked(subject string, t core.Target, origin string, v core.PresenceView) (_ core.PresenceView, alone bool) {
	byTarget := n.partials[subject]
	byOrigin := byTarget[t]
	if _, had := byOrigin[origin]; !had {
		if n.npart >= n.cfg.MaxTracked {
			n.metrics.Dropped.Add(1)
			return v, true
		}
		if byTarget == nil {
			byTarget = map[core.Target]map[string]core.PresenceView{}
			n.partials[subject] = byTarget
		}
		if byOrigin == nil {
			byOrigin = map[string]core.PresenceView{}
			byTarget[t] = byOrigin
		}
		n.npart++
	}
	byOrigin[origin] = v
	alone = len(byOrigin) == 1
	out := v
	if !alone {
		out = merge(subject, byOrigin)
	}
	if len(v.Sessions) == 0 { // this node shows no session: its part is over
		n.dropPartialLocked(subject, t, origin)
	}
	return out, alone
}

func (n *Node) dropPartialLocked(subject string, t core.Target, origin string) {
	byTarget := n.partials[subject]
	if _, ok := byTarget[t][origin]; !ok {
		return
	}
	delete(byTarget[t], origin)
	n.npart--
	if len(byTarget[t]) == 0 {
		delete(byTarget, t)
	}
	if len(byTarget) == 0 {
		delete(n.partials, subject)
		delete(n.apps, subject)
	}
}

// merge is the aggregate of the partial views of one subject. A
// resource is one session: shown by two nodes, it is a session adopted
// by one from the other, not yet declared dead (adopt.go), and counts
// once, with the presence last active.
func merge(subject string, parts map[string]core.PresenceView) core.PresenceView {
	var ss []core.SessionPresence
	var last time.Time
	at := map[string]int{}
	for _, v := range parts {
		for _, sp := range v.Sessions {
			i, dup := at[sp.Resource]
			switch {
			case !dup:
				at[sp.Resource] = len(ss)
				ss = append(ss, sp)
			case sp.LastActive.After(ss[i].LastActive):
				ss[i] = sp
			}
		}
		if v.LastSeen.After(last) {
			last = v.LastSeen
		}
	}
	v := core.Aggregate(subject, ss)
	if len(ss) == 0 {
		v.LastSeen = last
	}
	return v
}

// mergedLocked is what the other nodes' parts show t of subject: for a
// target of one session (a probe's answer), the parts shown to all its
// account's sessions count too, since they reach it as well (a session
// adopted by another node is shown to its viewers' accounts, not to the
// one session the dead node answered a probe of); but not the part of
// node gone. The caller holds mu.
func (n *Node) mergedLocked(subject string, t core.Target, gone string) core.PresenceView {
	parts := n.partials[subject][t]
	if t.Resource != "" {
		wide := n.partials[subject][core.Target{Account: t.Account, Channel: t.Channel}]
		if len(wide) > 0 {
			all := make(map[string]core.PresenceView, len(parts)+len(wide))
			for origin, v := range wide {
				if origin != gone {
					all[origin+"\x00*"] = v
				}
			}
			for origin, v := range parts {
				all[origin] = v
			}
			parts = all
		}
	}
	return merge(subject, parts)
}

// dropNodeLocked forgets a dead node's partial views and returns what the
// targets that had one must be shown now, by subject and target. The
// caller holds mu.
func (n *Node) dropNodeLocked(node string) map[string]map[core.Target]core.PresenceView {
	out := map[string]map[core.Target]core.PresenceView{}
	for subject, byTarget := range n.partials {
		for t, byOrigin := range byTarget {
			if _, ok := byOrigin[node]; !ok {
				continue
			}
			n.dropPartialLocked(subject, t, node)
			if out[subject] == nil {
				out[subject] = map[core.Target]core.PresenceView{}
			}
			out[subject][t] = n.mergedLocked(subject, t, node)
		}
	}
	return out
}
