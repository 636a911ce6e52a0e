package cluster

// Federation across the cluster's nodes (core/fedpeers.go says who does
// what): a remote account's presence that a remote server's stream
// brought to one node is handed to every other live node, and a probe of
// a local account to the nodes holding its sessions. A remote subject's
// presence is never routed between nodes (Route): each node is its origin
// for its own sessions. When a node dies, the resources it showed to
// remote viewers are withdrawn (reannounce).

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/presenced/presenced/internal/core"
)

// fedPresence is a remote account's presence on the bus.
type fedPresence struct {
	Origin   string         `json:"o"`
	From     string         `json:"f"`
	To       string         `json:"t"`
	Presence *core.Presence `json:"p,omitempty"` // nil: unavailable
}

// fedProbe is a remote server's probe of a local account on the bus.
type fedProbe struct {
	Origin string `json:"o"`
	From   string `json:"f"`
	To     string `json:"t"`
}

// RemotePresence is core.Peers's: p goes to every other live node, in
// order with the rest of what this node routes there.
func (n *Node) RemotePresence(from, to string, p *core.Presence) {
	for _, node := range n.liveNodes() {
		n.notify(node, "fedpresence", fedPresence{Origin: n.id, From: from, To: to, Presence: p})
	}
}

// RemoteProbe is core.Peers's: each other live node holding to is asked
// to answer the probe with its sessions.
func (n *Node) RemoteProbe(from, to string) {
	n.mu.RLock()
	nodes := n.liveHoldersLocked(to)
	n.mu.RUnlock()
	for _, node := range nodes {
		n.notify(node, "fedprobe", fedProbe{Origin: n.id, From: from, To: to})
	}
}

// liveNodes lists the other nodes heard and not dead.
func (n *Node) liveNodes() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]string, 0, len(n.seen))
	for node := range n.seen {
		if !n.dead[node] {
			out = append(out, node)
		}
	}
	return out
}

func (n *Node) onFedPresence(msg *nats.Msg) {
	var p fedPresence
	n.onFed(msg, "remote presence", &p, &p.Origin, func() error {
		return n.hub.PeerRemotePresence(p.From, p.To, p.Presence) // checks the addresses and the presence
	})
}

func (n *Node) onFedProbe(msg *nats.Msg) {
	var p fedProbe
	n.onFed(msg, "remote probe", &p, &p.Origin, func() error { return n.hub.AnswerRemoteProbe(p.From, p.To) })
}

// onFed decodes msg into v, whose origin is read into *origin, and acts
// on what another node sent; what does not decode or is refused is
// counted and dropped.
func (n *Node) onFed(msg *nats.Msg, what string, v any, origin *string, act func() error) {
	err := unmarshalBounded(msg.Data, v)
	if err == nil {
		err = checkNodeID(*origin)
	}
	if err == nil && *origin != n.id {
		err = act()
	}
	if err != nil {
		n.metrics.BadIn.Add(1)
		n.cfg.Log.Debug("cluster: refused "+what, "err", err)
	}
}

// remoteSubject reports whether ev is the presence of an account of
// another domain: each node shows that to its own sessions (RemotePresence).
func (n *Node) remoteSubject(ev core.Event) bool {
	pe, ok := ev.(core.PresenceEvent)
	return ok && n.hub.Remote(pe.View.Address)
}

// reannounce withdraws from remote viewers the sessions of accounts that
// the dead nodes held: the purger (the live node with the least ID)
// resets what their servers were shown of each account, the other nodes
// holding sessions of it show theirs again (core.Hub.ReannounceToRemote).
// It runs on a goroutine of its own: each account is read from the store.
func (n *Node) reannounce(accounts []string, purger bool) {
	defer n.wg.Done()
	for _, a := range accounts {
		select {
		case <-n.stop:
			return
		default:
		}
		n.pmu.Lock()
		_, mine := n.mine[a]
		n.pmu.Unlock()
		if !purger && !mine {
			continue
		}
		if err := n.hub.ReannounceToRemote(context.Background(), a, purger); err != nil {
			n.cfg.Log.Debug("cluster: reannounce to remote viewers", "account", a, "err", fmt.Sprint(err))
		}
	}
}
