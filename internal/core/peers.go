package core

import (
	"context"
	"strings"

	"github.com/presenced/presenced/internal/addr"
)

// Peers is the core's seam to the other nodes of a cluster
// (docs/architecture.md, "Cluster"); nil for a single node. The cluster
// that implements it is also the hub's Router (it wraps LocalRouter), so
// events decided here reach sessions held elsewhere; Peers adds what a
// Router cannot do: say which accounts this node holds, and hand a message
// whose recipient has no session here to a node that holds one, whose hub
// decides it (Hub.Receive) — the policy is asked on the subject's side.
type Peers interface {
	// Held says this node now holds sessions of account (held) or no
	// longer any. It is called under the account's lock: it must not block.
	Held(account string, held bool)
	// Holds reports whether another node holds sessions of account. It
	// must not block.
	Holds(account string) bool
	// Send hands m to a node holding sessions of m.To and reports what
	// that node's Hub.Receive reached. It is called without locks and may
	// block until ctx is done; an error means it was not delivered.
	Send(ctx context.Context, m PeerMessage) (Routed, error)
	// Probe asks the nodes holding sessions of subjects to show the new
	// first-party session account/resource what it may see of them
	// (Hub.Show there): its snapshot was made from this node's sessions
	// only. It must not block.
	Probe(account, resource string, subjects []string)

	// Calls across nodes (callpeers.go): a call is kept by its caller's
	// node; the callee's nodes ring their own sessions and hand their
	// steps to that node.

	// Ring asks each other live node holding sessions of st.To's account
	// to ring them (Hub.Ring there) and returns the answers, each naming
	// its node. It is called without locks and may block until ctx is
	// done; a node that cannot be asked is left out.
	Ring(ctx context.Context, st CallStep) []RingReply
	// CallStep hands a step of a session here to node, which keeps the
	// call (Hub.CallStepFrom there), and returns that node's answer. It is
	// called without locks and may block until ctx is done.
	CallStep(ctx context.Context, node string, st CallStep) error
	// CallNotify hands st (an event for a session of node, or a session
	// here gone) to node, in order with the events routed there. It is
	// called under locks: it must not block.
	CallNotify(node string, st CallStep)

	// Rooms across nodes (roompeers.go): a room has one home node.

	// RoomHome returns the node that keeps room id, "" when it is this
	// one: when no node does, or its home is dead, this node claims it.
	// It is called without locks and may block until ctx is done.
	RoomHome(ctx context.Context, id RoomID) (string, error)
	// RoomStep hands a step of a session here to node, the room's home
	// (Hub.RoomStepFrom there), and returns its answer (sessions reached,
	// for a message; accounts, for a list). It is called without locks and
	// may block until ctx is done or a bound of its own: a home that is
	// dead or cannot be reached is an error.
	RoomStep(ctx context.Context, node string, st RoomStep) (RoomAnswer, error)
	// RoomNotify hands node a notice (a session's presence, its end),
	// in order with what is routed there. It must not block.
	RoomNotify(node string, st RoomStep)
	// RoomEvents hands node an event of a room kept here for its
	// sessions to (Hub.RoomEventsFrom there), in order. It must not block.
	RoomEvents(node string, ev Event, to []RoomTarget)

	// Federation across nodes (fedpeers.go): a remote server's stream
	// lands on any node; the messages it carries go to a node holding the
	// recipient (Send, with PeerMessage.Remote).

	// RemotePresence hands what a remote server sent of one of its
	// accounts' presence (as RemotePresence took it here) to every other
	// live node (Hub.PeerRemotePresence there), in order: each node keeps
	// the remote accounts' state for its own viewers. It must not block.
	RemotePresence(from, to string, p *Presence)
	// RemoteProbe asks each other live node holding sessions of to (a
	// local account) to answer a remote server's probe from from with
	// them (Hub.AnswerRemoteProbe there). It must not block.
	RemoteProbe(from, to string)
}

// MaxProbe bounds the subjects of one Show: the contacts an account may have.
const MaxProbe = 1 << 16

// Show sends the first-party session viewer/resource, on another node,
// the presence of each subject with sessions here that is online and that
// it may see: the answer to its node's Peers.Probe, decided here, where
// the subjects' facts are, and routed like any of their later changes.
// It is input from another process: checked like a client's.
func (h *Hub) Show(viewer, resource string, subjects []string) error {
	if b, err := addr.Bare(viewer); err != nil || b != viewer {
		return Errorf(CodeInvalid, "viewer must be a bare address")
	}
	if err := addr.Resource(resource); err != nil {
		return Errorf(CodeInvalid, "resource: %v", err)
	}
	return h.showTo(Target{Account: viewer, Resource: resource}, subjects)
}

// ShowAll is Show to every session of viewer, wherever it is held: for a
// cluster node that routed subjects' presence towards viewer before it
// knew which node holds viewer's sessions (the registry's entry came
// after the login), and would otherwise never show it there.
func (h *Hub) ShowAll(viewer string, subjects []string) error {
	if b, err := addr.Bare(viewer); err != nil || b != viewer {
		return Errorf(CodeInvalid, "viewer must be a bare address")
	}
	return h.showTo(Target{Account: viewer}, subjects)
}

// showTo delivers to t the presence of each subject online here, decided
// as any presence (a subject that did not approve t's account shows it
// nothing).
func (h *Hub) showTo(t Target, subjects []string) error {
	if len(subjects) > MaxProbe {
		return Errorf(CodeInvalid, "at most %d subjects", MaxProbe)
	}
	for _, subject := range subjects {
		if subject == t.Account || h.live(subject) == nil {
			continue
		}
		unlock := h.lock(subject)
		if su := h.live(subject); su != nil && su.online() {
			h.deliver(delivery{ev: PresenceEvent{View: su.fullView()}, subject: su, flow: FlowPresence, to: []Target{t}})
		}
		unlock()
	}
	return nil
}

// PeerMessage is a message or signal from a first-party session on one
// node to an account with sessions on another: plain data.
type PeerMessage struct {
	Sender  string // the sending session's account
	Message Message
	// App is the app of the sending session's channel ("" first-party):
	// its grant was checked on the sender's node (it covers the
	// recipient, with the scope to send); the recipient's node asks
	// whether the recipient appears offline in that app.
	App string `json:",omitempty"`
	// Invite, when set, is a room invitation (Session.Invite) to deliver
	// instead of the message, which then only addresses it (From, To).
	Invite *RoomInvite `json:",omitempty"`
	// Remote, when set, says Sender is an account of another domain whose
	// server's stream landed on the sending node: the message is decided
	// by Hub.RemoteMessage here, as if the stream were here.
	Remote bool `json:",omitempty"`
}

// sendToPeer is SendMessage for a recipient, bare, with no session here
// that another node holds. ok is false when that node reached nothing (or
// could not be asked): the caller then goes on as for an account offline.
func (h *Hub) sendToPeer(s *Session, m *Message, bare, resource string) (sent Sent, ok bool, err error) {
	if s.ended.Load() {
		return Sent{}, true, errSessionGone
	}
	m.From, m.Sent = s.Address(), h.clock.Now()
	r, err := h.cfg.Peers.Send(context.Background(), PeerMessage{Sender: s.Account, Message: *m, App: s.channel.App})
	if err != nil {
		h.log.Warn("cluster send", "to", m.To, "err", err)
		return Sent{}, false, nil
	}
	switch {
	case r.Online == 0:
		if resource == "" || storable(*m) {
			return Sent{}, false, nil
		}
		return Sent{}, true, errUnavailable
	case r.Sessions == 0 && m.Kind == KindMessage && m.Body == "":
		return Sent{}, true, nil
	case r.Sessions == 0:
		return Sent{}, true, Errorf(CodeNotAccepted, "the recipient's sessions do not accept %ss", m.Kind)
	}
	if m.Kind == KindMessage && (m.Type == "" || m.Type == TypeChat) && !m.Private {
		unlock := h.lock(s.Account)
		if !s.ended.Load() {
			h.deliver(delivery{ev: MessageEvent{Message: *m, Carbon: CarbonSent}, subject: s.user, flow: FlowMessage,
				to: []Target{{Account: s.Account, Want: Want{Carbons: true, Except: s.Resource}}}})
		}
		unlock()
	}
	h.archive(s, *m, bare)
	return Sent{Sessions: r.Sessions}, true, nil
}

// HoldsSession reports whether this node holds a session of account (the
// one named resource, if not ""). A cluster asks it to hand a message for
// one resource to the node that has it (Peers.Send).
func (h *Hub) HoldsSession(account, resource string) bool {
	if h.live(account) == nil {
		return false
	}
	defer h.lock(account)()
	u := h.live(account)
	if u == nil {
		return false
	}
	if resource == "" {
		return len(u.list()) > 0
	}
	return u.session(resource) != nil
}

// Receive delivers a message another node's session sent to an account
// with sessions here (Peers.Send): the recipient's facts here decide it,
// as for a local sender. It is input from another process: checked like a
// client's.
func (h *Hub) Receive(m PeerMessage) (Routed, error) {
	if b, err := addr.Bare(m.Sender); err != nil || b != m.Sender {
		return Routed{}, Errorf(CodeInvalid, "sender: %v", err)
	}
	if m.Remote {
		return h.receiveRemote(m)
	}
	msg := m.Message
	if m.Invite != nil {
		if err := checkInvite(*m.Invite, msg); err != nil {
			return Routed{}, err
		}
	} else if err := validateMessage(&msg); err != nil {
		return Routed{}, err
	}
	bare, resource, err := addr.Parse(msg.To)
	if err != nil {
		return Routed{}, Errorf(CodeInvalid, "to: %v", err)
	}
	if sb, _, err := addr.Parse(msg.From); err != nil || sb != m.Sender {
		return Routed{}, Errorf(CodeInvalid, "from is not the sender's")
	}
	if bare == m.Sender {
		return Routed{}, Errorf(CodeInvalid, "a message to oneself stays on its node")
	}
	if m.App != "" && checkText("app", m.App, 256) != nil {
		return Routed{}, Errorf(CodeInvalid, "app: bad name")
	}
	defer h.lock(bare)()
	ru := h.live(bare)
	if ru == nil || m.App != "" && ru.hiddenIn(m.App) {
		return Routed{}, nil // a recipient offline in the sender's app is as one offline
	}
	if m.Invite != nil {
		return h.deliver(delivery{ev: *m.Invite, subject: ru, flow: FlowMessage, viewer: m.Sender,
			to: []Target{{Account: bare, Want: Want{Kind: KindMessage}}}}), nil
	}
	want := Want{Kind: msg.Kind, Payloads: msg.Kind == KindMessage && msg.Body == "", Available: resource == ""}
	r := h.deliver(delivery{ev: MessageEvent{Message: msg}, subject: ru, flow: FlowMessage, viewer: m.Sender,
		to: []Target{{Account: bare, Resource: resource, Want: want}}})
	if r.Sessions > 0 && resource != "" && msg.Kind == KindMessage && (msg.Type == "" || msg.Type == TypeChat) && !msg.Private {
		h.deliver(delivery{ev: MessageEvent{Message: msg, Carbon: CarbonReceived}, subject: ru, flow: FlowMessage,
			to: []Target{{Account: bare, Want: Want{Carbons: true, Except: resource}}}})
	}
	return r, nil
}

// Rebroadcast sends account's presence from this node's sessions again to
// its own sessions and its viewers, wherever they are: when another node
// starts holding sessions of it, whose viewers merge what each node shows.
func (h *Hub) Rebroadcast(account string) {
	defer h.lock(account)()
	if u := h.live(account); u != nil {
		h.broadcastLocked(u)
	}
}

// checkInvite checks an invitation from another node (PeerMessage.Invite)
// like a client's Invite, and the message that addresses it: to an
// account, from the sender's session, carrying nothing else.
func checkInvite(inv RoomInvite, m Message) error {
	if _, err := roomName(inv.Room); err != nil || strings.ToLower(inv.Room) != inv.Room {
		return Errorf(CodeInvalid, "invite: bad room")
	}
	if err := checkText("reason", inv.Reason, MaxRoomReason); err != nil {
		return err
	}
	if b, err := addr.Bare(m.To); err != nil || b != m.To {
		return Errorf(CodeInvalid, "invite: to an account")
	}
	if inv.From != m.From || m.Kind != KindMessage || m.Body != "" || m.Payload != "" || m.Data != nil || m.Type != "" || m.ID != "" {
		return Errorf(CodeInvalid, "invite: from the sender's session, with nothing else")
	}
	return nil
}
