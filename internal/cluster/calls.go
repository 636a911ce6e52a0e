package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/presenced/presenced/internal/core"
)

// Calls across nodes (core/callpeers.go): a ring is a request to each node
// holding the callee, a party's step a request to the node keeping the
// call, and what that node tells a party elsewhere (or a party's node
// tells it of a session gone) a bus message through the node's queue, in
// order with the events routed there.

// Ring is core.Peers's: each other live node holding st.To's account is
// asked, one after the other, to ring its sessions.
func (n *Node) Ring(ctx context.Context, st core.CallStep) []core.RingReply {
	if !n.up.Load() {
		return nil
	}
	bare, _, _ := strings.Cut(st.To, "/")
	n.mu.RLock()
	nodes := n.liveHoldersLocked(bare)
	n.mu.RUnlock()
	b, err := json.Marshal(step{Origin: n.id, Step: st})
	if err != nil || len(b) > MaxMessageBytes {
		return nil
	}
	slices.Sort(nodes)
	var out []core.RingReply
	for _, node := range nodes {
		var r core.RingReply
		if err := n.request(ctx, node, "ring", b, &r); err != nil {
			n.cfg.Log.Warn("cluster ring", "node", node, "err", err)
			continue
		}
		r.Node = node
		out = append(out, r)
	}
	return out
}

// CallStep is core.Peers's: the node keeping the call takes the step.
func (n *Node) CallStep(ctx context.Context, node string, st core.CallStep) error {
	if !n.up.Load() {
		return ErrNotStarted
	}
	if checkNodeID(node) != nil {
		return ErrNoNode
	}
	b, err := json.Marshal(step{Origin: n.id, Step: st})
	if err != nil {
		return fmt.Errorf("cluster: encode call step: %w", err)
	}
	var r stepReply
	if err := n.request(ctx, node, "call", b, &r); err != nil {
		return err
	}
	if r.Error != "" {
		return core.Errorf(core.Code(r.Code), "%s", r.Error)
	}
	return nil
}

// CallNotify is core.Peers's: st is queued for node like a routed event.
func (n *Node) CallNotify(node string, st core.CallStep) {
	n.notify(node, "call", step{Origin: n.id, Step: st})
}

// notify queues v for node on its subject what, like a routed event.
func (n *Node) notify(node, what string, v any) {
	if !n.up.Load() || checkNodeID(node) != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil || len(b) > MaxMessageBytes {
		n.metrics.Dropped.Add(1)
		return
	}
	n.enqueue(node, what, b)
}

// request asks node (a NATS request on its subject what) and decodes the
// reply into out.
func (n *Node) request(ctx context.Context, node, what string, b []byte, out any) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.SendTimeout)
	defer cancel()
	reply, err := n.nc.RequestWithContext(ctx, n.subject(node, what), b)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBus, what, err)
	}
	n.metrics.SentOut.Add(1)
	if len(reply.Data) > MaxMessageBytes || json.Unmarshal(reply.Data, out) != nil {
		return fmt.Errorf("%w: %s reply", ErrBadMessage, what)
	}
	return nil
}

// step is a call step on the bus, with the node it comes from.
type step struct {
	Origin string        `json:"o"`
	Step   core.CallStep `json:"s"`
}

// decodeStep checks and decodes a call step from the bus; the core checks
// what it says (Hub.Ring, Hub.CallStepFrom).
func decodeStep(msg *nats.Msg) (origin string, st core.CallStep, err error) {
	var s step
	if len(msg.Data) > MaxMessageBytes {
		return "", st, fmt.Errorf("%w: %d bytes", ErrBadMessage, len(msg.Data))
	}
	if err := json.Unmarshal(msg.Data, &s); err != nil {
		return "", st, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if err := checkNodeID(s.Origin); err != nil {
		return "", st, fmt.Errorf("%w: origin: %v", ErrBadMessage, err)
	}
	if string(s.Step.Data) == "null" {
		s.Step.Data = nil
	}
	if s.Step.Event != nil && string(s.Step.Event.Data) == "null" {
		s.Step.Event.Data = nil
	}
	return s.Origin, s.Step, nil
}

// stepReply is the answer to a call step: the core's error, if any.
type stepReply struct {
	Error string `json:"err,omitempty"`
	Code  string `json:"code,omitempty"`
}

func replyError(err error) stepReply {
	if err == nil {
		return stepReply{}
	}
	r := stepReply{Error: err.Error(), Code: string(core.CodeOf(err))}
	var ce *core.Error
	if errors.As(err, &ce) {
		r.Error = ce.Message
	}
	return r
}

// onRing rings this node's sessions of a callee, for a call kept by the
// asking node.
func (n *Node) onRing(msg *nats.Msg) {
	var r core.RingReply
	origin, st, err := decodeStep(msg)
	if err == nil {
		r, err = n.hub.Ring(origin, st)
	}
	n.answer(msg, err, r)
}

// onCallStep takes a call step from another node: a request (a party's
// step, answered) or a notice (an event, a session gone).
func (n *Node) onCallStep(msg *nats.Msg) {
	origin, st, err := decodeStep(msg)
	if err == nil {
		err = n.hub.CallStepFrom(origin, st)
	}
	n.answer(msg, err, replyError(err))
}

func (n *Node) answer(msg *nats.Msg, err error, reply any) {
	if errors.Is(err, ErrBadMessage) || core.CodeOf(err) == core.CodeInvalid {
		n.metrics.BadIn.Add(1)
		n.cfg.Log.Debug("cluster: refused call step", "err", err)
	} else {
		n.metrics.ReceivedIn.Add(1)
	}
	if msg.Reply != "" {
		if err != nil {
			reply = replyError(err)
		}
		b, _ := json.Marshal(reply)
		msg.Respond(b)
	}
}
