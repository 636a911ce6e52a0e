package core

// Federation in a cluster (docs/architecture.md, "A cluster federates").
// Every node runs the federation: it opens its own streams to other
// domains for what it decides, and a remote server's stream, behind the
// load balancer, lands on any node. What arrives there enters through the
// Remote* calls as on a single node, and reaches the other nodes through
// the Peers seam:
//   - a remote account's presence is handed to every node
//     (Peers.RemotePresence): each keeps that account's state for its own
//     viewers, decides for them and is the origin of what they see of it,
//     so a remote subject's presence is never routed between nodes;
//   - a message (or routed iq) for a local account with no session here
//     goes to a node that holds one (Peers.Send with PeerMessage.Remote),
//     which decides it as RemoteMessage would here;
//   - a probe is answered by every node holding sessions of the local
//     account, each with its own (Peers.RemoteProbe): XMPP presence is
//     per resource, and the remote server adds them up;
//   - when a node dies, the resources it showed to remote viewers are
//     withdrawn by a live node (ReannounceToRemote).
// Subscriptions, personal events and room traffic need nothing more: they
// are decided once, on the node the stanza arrived at, with the shared
// store, and the cluster router carries them to the sessions.

import (
	"context"
	"errors"

	"github.com/presenced/presenced/internal/addr"
)

// remoteMessageToPeer hands a remote account's message to a node holding
// the local recipient when this node holds none of it (or not the
// addressed resource): that node decides it. handed is false when it
// stays here (no cluster, the recipient here, or no node to hand it to:
// then it is decided here, stored for later if nobody takes it).
func (h *Hub) remoteMessageToPeer(ctx context.Context, m Message, rbare, local, resource string) (n int, handed bool, err error) {
	if h.cfg.Peers == nil || h.HoldsSession(local, resource) || !h.cfg.Peers.Holds(local) {
		return 0, false, nil
	}
	r, err := h.cfg.Peers.Send(ctx, PeerMessage{Sender: rbare, Message: m, Remote: true})
	var ce *Error
	switch {
	case errors.As(err, &ce):
		return 0, true, err // decided there: refused
	case err != nil:
		h.log.Warn("cluster send of a remote message", "to", m.To, "err", err)
		return 0, false, nil
	}
	return r.Sessions, true, nil
}

// receiveRemote decides a remote account's message another node handed
// here (Receive with PeerMessage.Remote): as RemoteMessage, never handed
// on again.
func (h *Hub) receiveRemote(m PeerMessage) (Routed, error) {
	msg := m.Message
	if err := validateMessage(&msg); err != nil {
		return Routed{}, err
	}
	rbare, _, local, err := h.remoteParties(msg.From, msg.To)
	if err != nil {
		return Routed{}, err
	}
	if rbare != m.Sender {
		return Routed{}, Errorf(CodeInvalid, "from is not the sender's")
	}
	_, resource, _ := addr.Parse(msg.To)
	n, err := h.remoteMessageHere(msg, rbare, local, resource)
	return Routed{Sessions: n, Online: n}, err
}

// PeerRemotePresence takes a remote account's presence that its server
// sent to another node (Peers.RemotePresence): this node's state of the
// remote account follows, and its viewers here see it, decided here as
// RemotePresence does. It is input from another process: checked like a
// remote server's.
func (h *Hub) PeerRemotePresence(from, to string, p *Presence) error {
	if _, _, err := h.remotePresence(context.Background(), from, to, p); err != nil || p == nil {
		return err
	}
	// this node shows the account online from another node's stream: its
	// own federation must watch the domain's server to tell when it goes
	// (RemoteDomainGone), as it does for the domains it sends to
	rbare, _, _ := addr.Parse(from)
	h.router.Route(WatchDomain{Domain: addr.DomainOf(rbare)}, self(rbare))
	return nil
}

// WatchDomain asks a federation Router to watch the server of Domain: to
// keep a stream to it while accounts of it are shown online here
// (Hub.RemoteOnline), and tell Hub.RemoteDomainGone when it cannot be
// reached. It carries nothing about anyone; no other router acts on it.
type WatchDomain struct{ Domain string }

func (WatchDomain) isEvent() {}

// AnswerRemoteProbe answers, with the sessions of the local account to
// held here, a remote server's probe from from that another node took
// (Peers.RemoteProbe); a node holding none says nothing.
func (h *Hub) AnswerRemoteProbe(from, to string) error {
	rbare, _, local, err := h.remoteParties(from, to)
	if err != nil {
		return err
	}
	if rbare != from || local != to {
		return Errorf(CodeInvalid, "a probe is between bare addresses")
	}
	_, err = h.answerProbe(context.Background(), rbare, local, false)
	return err
}

// ReannounceToRemote shows account's remote viewers what this node holds
// of it, after a node that held sessions of it died: with reset, their
// servers first forget every resource of it they were shown (the dead
// node's among them, which nobody else can name), then learn this node's.
// A node of the cluster resets (the live node with the least ID, as for
// the registry's clean-up); the others holding sessions of the account
// announce theirs again. Who may see what is decided as for any presence.
func (h *Hub) ReannounceToRemote(ctx context.Context, account string, reset bool) error {
	if h.Remote(account) || len(h.domains) == 0 {
		return nil
	}
	us, err := h.usersFor(ctx, account)
	if err != nil {
		return err
	}
	defer h.lock(account)()
	u := h.liveOr(us[0])
	if !reset && len(u.list()) == 0 {
		return nil
	}
	var to []Target
	for _, v := range u.viewers.all() {
		if h.Remote(v) {
			to = append(to, Target{Account: v})
		}
	}
	if len(to) > 0 {
		h.deliver(delivery{ev: PresenceEvent{View: u.fullView(), Reset: reset}, subject: u, flow: FlowPresence, to: to})
	}
	return nil
}
