package cluster

import (
	"slices"
	"sync"
	"time"
)

// Presence routed towards nobody.
//
// A node routes a subject's presence to the nodes its registry says hold
// each viewer, and a login asks (Probe) the nodes it knows to hold the
// contacts. Registry entries travel through NATS after the login that
// made them, so when two contacts log in on two nodes at nearly the same
// moment, each node may route and probe before it has heard of the other
// login: neither is then shown the other, and learning of the other's
// node later re-showed nothing. So a node remembers, for a short while,
// the viewers its subjects' presence found no node for, and when an entry
// for such a viewer comes, it shows it those subjects (core.Hub.ShowAll,
// decided by the policy as any presence).

const (
	// unheldFor is how long a viewer routed towards nobody is remembered:
	// far longer than a registry entry takes to arrive on a loaded cluster.
	unheldFor = 10 * time.Second
	// maxUnheld bounds the viewers remembered, and maxUnheldSubjects the
	// subjects remembered for one: beyond them, a subject is not re-shown
	// (counted in Metrics.Dropped) and waits for its next change.
	maxUnheld         = 1 << 16
	maxUnheldSubjects = 64
)

// unheldViewers remembers, by viewer account, the subjects whose available
// presence was routed towards it while no live node was known to hold it.
type unheldViewers struct {
	mu    sync.Mutex
	m     map[string]*unheldViewer
	swept time.Time
}

type unheldViewer struct {
	subjects []string
	at       time.Time // the latest routing towards nobody
}

// note remembers that subject's presence found no node for viewers.
func (u *unheldViewers) note(subject string, viewers []string, now time.Time) (dropped int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.m == nil {
		u.m = map[string]*unheldViewer{}
	}
	for _, v := range viewers {
		e := u.m[v]
		if e == nil || now.Sub(e.at) > unheldFor {
			if e == nil && len(u.m) >= maxUnheld && !u.sweepLocked(now) {
				dropped++
				continue
			}
			e = &unheldViewer{}
			u.m[v] = e
		}
		e.at = now
		switch {
		case slices.Contains(e.subjects, subject):
		case len(e.subjects) >= maxUnheldSubjects:
			dropped++
		default:
			e.subjects = append(e.subjects, subject)
		}
	}
	return dropped
}

// sweepLocked forgets the viewers remembered too long, at most once per
// unheldFor, and reports whether that made room.
func (u *unheldViewers) sweepLocked(now time.Time) bool {
	if now.Sub(u.swept) < unheldFor {
		return false
	}
	u.swept = now
	for v, e := range u.m {
		if now.Sub(e.at) > unheldFor {
			delete(u.m, v)
		}
	}
	return len(u.m) < maxUnheld
}

// take returns, and forgets, the subjects remembered for viewer.
func (u *unheldViewers) take(viewer string, now time.Time) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	e := u.m[viewer]
	if e == nil {
		return nil
	}
	delete(u.m, viewer)
	if now.Sub(e.at) > unheldFor {
		return nil
	}
	return e.subjects
}

// showUnheld shows viewer, just learnt to be held on another node, the
// subjects whose presence was routed towards it while it was held nowhere.
func (n *Node) showUnheld(viewer string) {
	if n.hub == nil {
		return
	}
	if subjects := n.unheld.take(viewer, time.Now()); len(subjects) > 0 {
		if err := n.hub.ShowAll(viewer, subjects); err != nil {
			n.cfg.Log.Debug("cluster: showing subjects to a viewer just learnt", "viewer", viewer, "err", err)
		}
	}
}
