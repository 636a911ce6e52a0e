package core

import (
	"context"
	"encoding/json"
	"errors"
	"slices"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/clock"
)

// Calls across the nodes of a cluster (docs/calls.md, docs/architecture.md
// "Cluster"). A call is kept by the node of its caller's session, the
// owner: its state machine (calls.go) runs there, under the two accounts'
// locks, as on one node. The callee's sessions on another node take part
// through stand-ins: Sessions of this hub with no connection, naming the
// node that holds the real one (Session.node). What the owner tells a
// stand-in crosses to that node (Peers.CallNotify), which delivers it to
// its session as any call event, projected there for the session's channel.
//
// The callee's node decides whether its sessions ring: the owner asks it
// (Peers.Ring, answered by Hub.Ring), and it asks the policy with the
// callee's facts, as Hub.Receive does for a message. It keeps a mirror of
// each call that rang sessions of it: which node owns the call, which of
// its sessions take part. A step one of them takes (ringing, answer,
// reject, hang-up, signal) is handed to the owner (Peers.CallStep,
// answered by Hub.CallStepFrom), whose answer is the session's; a session
// that ends is announced the same way. When a node is declared dead
// (Hub.PeerGone), the calls with parties there end for the others as for a
// session that ended (EndGone). Rooms are told too (roompeers.go).

// Call steps that only cross nodes (CallStep.Op), besides the steps a party
// takes (stepRinging …).
const (
	stepRing  = "ring"  // owner → callee's node: ring its sessions (Hub.Ring)
	stepEvent = "event" // owner → a party's node: tell it Event
	stepGone  = "gone"  // party's node → owner: the session ended
)

// CallStep is one step of a call between two nodes: plain data.
type CallStep struct {
	Call  string          // the call's ID
	Op    string          // ring, event, gone, or a party's step (ringing, answer, reject, busy, hangup, signal)
	From  string          // the full address of the session taking the step (ring: the caller's)
	To    string          // ring: the address rung (bare or full); event: the session told
	App   string          `json:",omitempty"` // ring: the app of the caller's session, whose grant allowed it there
	Data  json.RawMessage `json:",omitempty"` // ring, answer, signal
	Event *CallEvent      `json:",omitempty"` // event
}

// RingReply is a node's answer to a ring (Hub.Ring).
type RingReply struct {
	Node    string   // the node that answered (set by Peers.Ring)
	Rung    []string // resources of the callee's sessions rung there
	Online  int      // sessions that matched the address, taking calls or not
	Allowed bool     // the policy let the caller ring the callee (for the wake-up of an offline device)
	Busy    bool     // the callee takes part in too many calls there
}

// mirror is what a callee's node keeps of a call owned by another node.
type mirror struct {
	origin   string     // the owner's node
	caller   string     // the caller's session (full address)
	callee   string     // bare
	local    []*Session // this node's sessions rung, or the one answering
	answered bool
	timer    clock.Timer // ends it unanswered, if the owner's last word was lost
}

// maxCallID bounds a call ID read from another node.
const maxCallID = 64

// ringElsewhere asks the other nodes holding c's callee to ring its
// sessions there (c was placed, ringing those of this node, if any), and
// finishes Call: a call that rang nothing anywhere is dropped.
func (h *Hub) ringElsewhere(s *Session, c *call, to string, data json.RawMessage, online int, allowedHere bool, wake Notification) (string, int, error) {
	rs := h.cfg.Peers.Ring(context.Background(), CallStep{Call: c.id, Op: stepRing, From: s.Address(), To: to, Data: data, App: s.channel.App})
	unlock := h.lock(c.caller.Account, c.callee)
	c.asking = 0
	allowed, busy, rung := allowedHere, false, len(c.rung)
	for _, r := range rs {
		online += r.Online
		allowed, busy = allowed || r.Allowed, busy || r.Busy
		for _, res := range r.Rung {
			if addr.Resource(res) == nil && h.joinCallLocked(c, c.callee+"/"+res, r.Node) {
				rung++
			}
		}
	}
	if c.state != callRinging || len(c.rung) > 0 {
		unlock() // ringing, or taken, or already over: the caller is told the rest as events
		return c.id, rung, nil
	}
	c.state = callEnded
	c.timer.Stop()
	h.calls.remove(c)
	unlock()
	switch {
	case busy:
		return "", 0, Errorf(CodeBusy, "the callee is busy")
	case allowed:
		h.wake(c.callee, wake)
	}
	if online == 0 {
		return "", 0, errUnavailable
	}
	return "", 0, Errorf(CodeNotAccepted, "the recipient's sessions do not accept calls")
}

// joinCallLocked makes the session address on node, rung there, a party of c
// while it rings; a call already answered or over tells that session so
// at once. It reports whether the session was new to c.
func (h *Hub) joinCallLocked(c *call, address, node string) bool {
	if c.standIn(address, node) != nil {
		return false
	}
	account, resource, _ := addr.Parse(address)
	x := &Session{hub: h, Account: account, Resource: resource, standIn: &standIn{node: node}}
	switch c.state {
	case callEnded:
		h.callEventLocked(x, c.over)
	case callAnswered:
		h.callEventLocked(x, CallEvent{Call: c.id, Event: CallEnded, Reason: EndAnsweredElsewhere})
	default:
		c.rung = append(c.rung, x)
		h.calls.join(x, c)
	}
	return true
}

// standIn is c's party standing for the session address on node, if any.
func (c *call) standIn(address, node string) *Session {
	for _, x := range c.parties() {
		if x.node() == node && x.Address() == address {
			return x
		}
	}
	return nil
}

// Ring rings the sessions here of st.To's account that take calls, for a
// call placed on node origin (Peers.Ring): the policy decides with the
// callee's facts here, for the caller (an app's session: its grant was
// asked on its node, whether the callee appears offline in the app here). It is input
// from another process: checked like a client's.
func (h *Hub) Ring(origin string, st CallStep) (RingReply, error) {
	caller, callerRes, err := addr.Parse(st.From)
	if err != nil || callerRes == "" {
		return RingReply{}, Errorf(CodeInvalid, "from: a full address is required")
	}
	bare, resource, err := addr.Parse(st.To)
	if err != nil {
		return RingReply{}, Errorf(CodeInvalid, "to: %v", err)
	}
	if err := checkCallID(st.Call); err != nil {
		return RingReply{}, err
	}
	if err := checkCallData(st.Data, true); err != nil {
		return RingReply{}, err
	}
	if bare == caller {
		return RingReply{}, Errorf(CodeInvalid, "a call to oneself stays on its node")
	}
	defer h.lock(bare)()
	ru := h.live(bare)
	if checkText("app", st.App, 256) != nil {
		return RingReply{}, Errorf(CodeInvalid, "app: bad name")
	}
	if ru == nil || st.App != "" && ru.hiddenIn(st.App) || !Allow(factsWith(ru, caller, Channel{}, caller, nil), FlowMessage) {
		return RingReply{}, nil // a callee offline in the caller's app is as one offline
	}
	r := RingReply{Allowed: true}
	if h.calls.busy(bare, h.callLimits()) {
		r.Busy = true
		return r, nil
	}
	c := &call{id: st.Call, caller: &Session{Account: caller, Resource: callerRes, standIn: &standIn{node: origin}}, callee: bare}
	r.Online = h.ringLocked(c, ru, resource, caller, CallEvent{Call: st.Call, Event: CallIncoming, From: st.From, Data: st.Data, Sent: h.clock.Now()})
	if len(c.rung) == 0 {
		return r, nil
	}
	m := &mirror{origin: origin, caller: st.From, callee: bare, local: c.rung}
	// the bus is at most once: should the owner's timeout or cancel be
	// lost, the sessions here stop ringing on their own, a while after it
	m.timer = h.clock.AfterFunc(2*h.callLimits().RingTimeout, func() {
		h.calls.mu.Lock()
		ringing := h.calls.mirrors[st.Call] == m && !m.answered
		h.calls.mu.Unlock()
		if ringing {
			h.endMirror(st.Call, EndTimeout)
		}
	})
	if !h.calls.addMirror(st.Call, m) {
		m.timer.Stop()
		return RingReply{}, Errorf(CodeConflict, "call %s rings here already", clip(st.Call))
	}
	for _, x := range c.rung {
		r.Rung = append(r.Rung, x.Resource)
	}
	return r, nil
}

// CallStepFrom takes a step of a call between nodes, from node origin: a
// step of a session there in a call this node owns (Peers.CallStep), a
// session there that ended (gone), or an event of a call owned there for
// a session here (Peers.CallNotify). It is input from another process:
// checked like a client's.
func (h *Hub) CallStepFrom(origin string, st CallStep) error {
	if err := checkCallID(st.Call); err != nil {
		return err
	}
	if st.Op == stepEvent {
		return h.callEventFrom(origin, st)
	}
	switch st.Op {
	case stepRinging, stepAnswer, stepReject, stepBusy, stepHangup, stepGone:
		if err := checkCallData(st.Data, true); err != nil {
			return err
		}
	case stepSignal:
		if err := checkCallData(st.Data, false); err != nil {
			return err
		}
	default:
		return Errorf(CodeInvalid, "unknown call step %q", clip(st.Op))
	}
	account, resource, err := addr.Parse(st.From)
	if err != nil || resource == "" {
		return Errorf(CodeInvalid, "from: a full address is required")
	}
	return h.withCall(st.Call, func(c *call) error {
		x := c.standIn(st.From, origin)
		if x == nil && st.Op != stepGone && c.state == callRinging && c.asking > 0 && account == c.callee {
			// rung there, answering before the ring's reply came back here
			h.joinCallLocked(c, st.From, origin)
			x = c.standIn(st.From, origin)
		}
		if x == nil {
			return errNoCall
		}
		if st.Op == stepGone {
			h.leaveCallLocked(c, x)
			return nil
		}
		return h.stepLocked(c, x, st.Op, st.Data)
	})
}

// callEventFrom tells a session here, a party of a call owned by origin,
// what that node says of the call.
func (h *Hub) callEventFrom(origin string, st CallStep) error {
	ev := st.Event
	if ev == nil || ev.Call != st.Call || ev.Event != CallEnded && ev.Event != CallSignal {
		return Errorf(CodeInvalid, "a call event is ended or signal, of its call")
	}
	if err := checkCallData(ev.Data, ev.Event != CallSignal); err != nil {
		return err
	}
	if checkText("from", ev.From, 3*1024) != nil || checkText("reason", ev.Reason, 64) != nil {
		return Errorf(CodeInvalid, "bad call event")
	}
	bare, resource, err := addr.Parse(st.To)
	if err != nil || resource == "" {
		return Errorf(CodeInvalid, "to: a full address is required")
	}
	defer h.lock(bare)()
	u := h.live(bare)
	if u == nil {
		return errNoCall
	}
	x := u.session(resource)
	if x == nil || !h.calls.partyOf(st.Call, origin, x) {
		return errNoCall
	}
	h.callEventLocked(x, *ev)
	if ev.Event == CallEnded {
		h.calls.unmirror(st.Call, x)
	}
	return nil
}

// stepOnPeer hands the step of s, a session here, in a call owned by node
// origin to that node, whose answer is the step's.
func (h *Hub) stepOnPeer(s *Session, origin, id, op string, data json.RawMessage) error {
	err := h.cfg.Peers.CallStep(context.Background(), origin, CallStep{Call: id, Op: op, From: s.Address(), Data: data})
	var ce *Error
	switch {
	case err != nil && !errors.As(err, &ce):
		h.log.Warn("cluster call step", "call", id, "err", err)
		return Errorf(CodeUnavailable, "the caller's server cannot be reached: try again")
	case CodeOf(err) == CodeNotFound:
		h.calls.unmirror(id, s) // over there
	case err != nil:
	case op == stepAnswer:
		h.calls.answeredHere(id)
	case op == stepReject || op == stepBusy || op == stepHangup:
		h.calls.unmirror(id, s) // it ended the call: the owner tells everyone but it
	}
	return err
}

// leaveMirrorsLocked: s, ending, leaves the calls of other nodes it takes
// part in; their owners hear it as a party gone. The caller holds s's lock.
func (h *Hub) leaveMirrorsLocked(s *Session) {
	for id, origin := range h.calls.unmirrorAll(s) {
		h.cfg.Peers.CallNotify(origin, CallStep{Call: id, Op: stepGone, From: s.Address()})
	}
}

// PeerGone is told by the cluster that node is dead: the calls kept here
// with parties there end for the others as if those sessions ended (a
// callee's other sessions still ring), and this node's sessions in calls
// kept there are told the call ended (EndGone).
func (h *Hub) PeerGone(node string) {
	h.calls.mu.Lock()
	var owned []*call
	for _, c := range h.calls.byID {
		if slices.ContainsFunc(c.parties(), func(x *Session) bool { return x.node() == node }) {
			owned = append(owned, c)
		}
	}
	var lost []string
	for id, m := range h.calls.mirrors {
		if m.origin == node {
			lost = append(lost, id)
		}
	}
	h.calls.mu.Unlock()
	for _, c := range owned {
		h.withCall(c.id, func(c *call) error {
			for _, x := range c.parties() {
				if x.node() == node && c.state != callEnded {
					h.leaveCallLocked(c, x)
				}
			}
			return nil
		})
	}
	for _, id := range lost {
		h.endMirror(id, EndGone)
	}
	h.roomPeerGone(node)
}

// endMirror ends the mirror id for this node's sessions in it, with reason.
func (h *Hub) endMirror(id, reason string) {
	h.calls.mu.Lock()
	m := h.calls.mirrors[id]
	h.calls.mu.Unlock()
	if m == nil {
		return
	}
	defer h.lock(m.callee)()
	h.calls.mu.Lock()
	local := slices.Clone(m.local)
	h.calls.mu.Unlock()
	for _, x := range local {
		h.callEventLocked(x, CallEvent{Call: id, Event: CallEnded, Reason: reason, From: m.caller})
		h.calls.unmirror(id, x)
	}
}

func checkCallID(id string) error {
	if id == "" || len(id) > maxCallID {
		return Errorf(CodeInvalid, "call: an ID of 1 to %d bytes", maxCallID)
	}
	return checkText("call", id, maxCallID)
}

// The call table's mirrors (under its mutex).

// mirrored reports the node owning call id, when s takes part in it here
// as one of its node's sessions.
func (t *callTable) mirrored(id string, s *Session) (origin string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.mirrors[id]
	if m == nil || !slices.Contains(m.local, s) {
		return "", false
	}
	return m.origin, true
}

// partyOf reports whether s takes part here in call id owned by origin.
func (t *callTable) partyOf(id, origin string, s *Session) bool {
	o, ok := t.mirrored(id, s)
	return ok && o == origin
}

// busy reports whether account takes part in as many calls as it may.
func (t *callTable) busy(account string, lim CallLimits) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.accounts[account] >= lim.PerAccount
}

// addMirror keeps m as call id's mirror, unless there is one already.
func (t *callTable) addMirror(id string, m *mirror) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mirrors == nil {
		t.mirrors, t.mirrorOf = map[string]*mirror{}, map[*Session][]string{}
	}
	if t.mirrors[id] != nil {
		return false
	}
	if t.accounts == nil {
		t.byID, t.of, t.accounts = map[string]*call{}, map[*Session][]*call{}, map[string]int{}
	}
	t.mirrors[id] = m
	t.accounts[m.callee]++
	for _, x := range m.local {
		t.mirrorOf[x] = append(t.mirrorOf[x], id)
	}
	return true
}

// answeredHere marks the mirror id answered by one of this node's sessions.
func (t *callTable) answeredHere(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m := t.mirrors[id]; m != nil {
		m.answered = true
	}
}

// unmirror drops s from the mirror id; the last session out drops it.
func (t *callTable) unmirror(id string, s *Session) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.unmirrorLocked(id, s)
}

func (t *callTable) unmirrorLocked(id string, s *Session) {
	m := t.mirrors[id]
	if m == nil {
		return
	}
	m.local = slices.DeleteFunc(m.local, func(x *Session) bool { return x == s })
	if ids := slices.DeleteFunc(t.mirrorOf[s], func(x string) bool { return x == id }); len(ids) == 0 {
		delete(t.mirrorOf, s)
	} else {
		t.mirrorOf[s] = ids
	}
	if len(m.local) == 0 {
		if m.timer != nil {
			m.timer.Stop()
		}
		delete(t.mirrors, id)
		if t.accounts[m.callee]--; t.accounts[m.callee] <= 0 {
			delete(t.accounts, m.callee)
		}
	}
}

// unmirrorAll drops s from every mirror, returning their IDs and owners.
func (t *callTable) unmirrorAll(s *Session) map[string]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := slices.Clone(t.mirrorOf[s])
	if len(ids) == 0 {
		return nil
	}
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		if m := t.mirrors[id]; m != nil {
			out[id] = m.origin
		}
		t.unmirrorLocked(id, s)
	}
	return out
}

// join adds x, a party that joined c after it was placed.
func (t *callTable) join(x *Session, c *call) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.of[x] = append(t.of[x], c)
}
