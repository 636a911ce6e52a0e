package cluster

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/presenced/presenced/internal/core"
)

// Resynchronising after a reconnection (docs/architecture.md, "Cluster").
// The bus is at most once: after a NATS restart, an event a node
// publishes before another node's subscriptions are back on the server
// is lost, and so a viewer may keep showing a subject's old presence —
// online forever if what was lost was the subject's last session ending.
// So a node that reconnects, once it follows the registry again:
//
//   - asks every other node it knows to resynchronise (a "resync"
//     message), and resynchronises itself;
//   - resynchronising is re-broadcasting every account this node holds
//     (Hub.Rebroadcast: decided again on the subject's node, to every
//     viewer, local or not), paced: ResyncBatch accounts, then
//     ResyncPause; and asking each node that showed a subject available
//     to a viewer here whether it still holds that subject (a "recheck");
//   - a node answers a recheck with the subjects it no longer holds (a
//     "gone"), through the same queue as its routed events, so the answer
//     cannot overtake a later coming online; the asking node withdraws
//     those subjects from the viewers that node showed them to.
//
// Whichever node reconnects last makes everyone resynchronise, after its
// own subscriptions are back: its requests reach nodes already back, and
// their answers reach it. Resync messages are at most once too: a node
// that missed one is covered by the resync the last node's return causes.

// maxRecheck bounds the subjects of one recheck or gone message: at the
// longest addresses it stays under MaxMessageBytes.
const maxRecheck = 256

// subjectList is a recheck's or a gone's content.
type subjectList struct {
	Origin   string   `json:"o"`
	Subjects []string `json:"s"`
}

func decodeSubjectList(b []byte) (subjectList, error) {
	var l subjectList
	if err := unmarshalBounded(b, &l); err != nil {
		return l, err
	}
	if err := checkNodeID(l.Origin); err != nil {
		return l, fmt.Errorf("%w: origin: %v", ErrBadMessage, err)
	}
	if len(l.Subjects) > maxRecheck {
		return l, fmt.Errorf("%w: %d subjects", ErrBadMessage, len(l.Subjects))
	}
	for _, s := range l.Subjects {
		if s == "" || len(s) > maxAccountLen {
			return l, fmt.Errorf("%w: subject", ErrBadMessage)
		}
	}
	return l, nil
}

// resyncEverywhere is what a node does once reconnected and following the
// registry again: it asks the other nodes it knows to resynchronise, and
// does so itself.
func (n *Node) resyncEverywhere() {
	n.mu.RLock()
	var others []string
	for node := range n.seen {
		if !n.dead[node] {
			others = append(others, node)
		}
	}
	n.mu.RUnlock()
	b, _ := json.Marshal(subjectList{Origin: n.id})
	for _, node := range others {
		n.enqueue(node, "resync", b)
	}
	n.wantResync()
}

func (n *Node) wantResync() {
	select {
	case n.resyncKick <- struct{}{}:
	default: // one is due already: it will see the current state
	}
}

// onResync: another node is back on the bus.
func (n *Node) onResync(msg *nats.Msg) {
	if l, err := decodeSubjectList(msg.Data); err != nil || l.Origin == n.id {
		n.metrics.BadIn.Add(1)
		return
	}
	n.wantResync()
}

// resyncLoop runs the resynchronisations asked for, one at a time.
func (n *Node) resyncLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case <-n.resyncKick:
			n.metrics.Resyncs.Add(1)
			if !n.rebroadcastAll() {
				return
			}
			n.recheckAll()
		}
	}
}

// rebroadcastAll shows every account this node holds again, paced;
// false when the node stopped meanwhile.
func (n *Node) rebroadcastAll() bool {
	n.pmu.Lock()
	accounts := make([]string, 0, len(n.mine))
	for a := range n.mine {
		accounts = append(accounts, a)
	}
	n.pmu.Unlock()
	for i, a := range accounts {
		n.hub.Rebroadcast(a)
		if (i+1)%n.cfg.ResyncBatch == 0 {
			select {
			case <-n.stop:
				return false
			case <-time.After(n.cfg.ResyncPause):
			}
		}
	}
	return true
}

// recheckAll asks each live node that showed subjects available to
// viewers here whether it still holds them.
func (n *Node) recheckAll() {
	byNode := map[string][]string{}
	n.mu.RLock()
	for subject, m := range n.tracked {
		for _, origin := range m {
			if l := byNode[origin]; len(l) == 0 || l[len(l)-1] != subject {
				byNode[origin] = append(l, subject)
			}
		}
	}
	for subject, byTarget := range n.partials {
		for _, byOrigin := range byTarget {
			for origin := range byOrigin {
				if origin != n.id {
					byNode[origin] = append(byNode[origin], subject)
				}
			}
		}
	}
	for node := range byNode {
		if _, ok := n.seen[node]; !ok || n.dead[node] {
			delete(byNode, node) // a dead node's subjects were withdrawn already
		}
	}
	n.mu.RUnlock()
	for node, subjects := range byNode {
		n.sendSubjects(node, "recheck", dedup(subjects))
	}
}

// sendSubjects queues subjects to node in messages of at most maxRecheck.
func (n *Node) sendSubjects(node, what string, subjects []string) {
	for len(subjects) > 0 {
		part := subjects[:min(len(subjects), maxRecheck)]
		subjects = subjects[len(part):]
		b, err := json.Marshal(subjectList{Origin: n.id, Subjects: part})
		if err != nil || len(b) > MaxMessageBytes {
			n.metrics.Dropped.Add(1)
			continue
		}
		n.enqueue(node, what, b)
	}
}

func dedup(ss []string) []string {
	seen := make(map[string]struct{}, len(ss))
	out := ss[:0]
	for _, s := range ss {
		if _, ok := seen[s]; !ok {
			seen[s] = struct{}{}
			out = append(out, s)
		}
	}
	return out
}

// onRecheck answers which of the subjects asked about this node does not
// hold. heldMu orders the answer with Held: an account coming online
// after the check is routed after the answer, through the same queue.
func (n *Node) onRecheck(msg *nats.Msg) {
	l, err := decodeSubjectList(msg.Data)
	if err != nil || l.Origin == n.id {
		n.metrics.BadIn.Add(1)
		return
	}
	n.heldMu.Lock()
	defer n.heldMu.Unlock()
	var gone []string
	n.pmu.Lock()
	for _, s := range l.Subjects {
		if _, ok := n.mine[s]; !ok {
			gone = append(gone, s)
		}
	}
	n.pmu.Unlock()
	if len(gone) > 0 {
		n.sendSubjects(l.Origin, "gone", gone)
	}
}

// onGone withdraws subjects another node no longer holds from the
// viewers here it showed them to: they are shown what other nodes show
// of them, or offline.
func (n *Node) onGone(msg *nats.Msg) {
	l, err := decodeSubjectList(msg.Data)
	if err != nil || l.Origin == n.id {
		n.metrics.BadIn.Add(1)
		return
	}
	now := time.Now().UTC()
	for _, subject := range l.Subjects {
		left, shown := n.withdrawSubject(l.Origin, subject)
		if len(left) > 0 {
			n.local.Route(core.PresenceEvent{View: core.PresenceView{Address: subject, Availability: core.Unavailable, LastSeen: now}}, left)
		}
		for t, v := range shown {
			if v.Availability == core.Unavailable && v.LastSeen.IsZero() {
				v.LastSeen = now
			}
			n.local.Route(core.PresenceEvent{View: v}, []core.Target{t})
		}
	}
}

// withdrawSubject forgets what node showed of subject: the targets it
// last showed it available to and that no other node shows it to
// (left), and, for targets other nodes show parts of it to, the merge of
// those parts (shown).
func (n *Node) withdrawSubject(node, subject string) (left []core.Target, shown map[core.Target]core.PresenceView) {
	n.mu.Lock()
	defer n.mu.Unlock()
	shown = map[core.Target]core.PresenceView{}
	for t, byOrigin := range n.partials[subject] {
		if _, ok := byOrigin[node]; ok {
			n.dropPartialLocked(subject, t, node)
			shown[t] = n.mergedLocked(subject, t, node)
		}
	}
	m := n.tracked[subject]
	for t, origin := range m {
		if origin != node {
			continue
		}
		delete(m, t)
		n.ntrack--
		if _, ok := shown[t]; !ok {
			left = append(left, t)
		}
	}
	if m != nil && len(m) == 0 {
		delete(n.tracked, subject)
	}
	return left, shown
}
