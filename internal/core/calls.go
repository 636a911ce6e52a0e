package core

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/clock"
)

// Calls (docs/calls.md): a caller's session rings every session of the
// callee that accepts calls (SessionOptions.Accepts has KindCall); each
// rung session may acknowledge the ring (the caller hears "ringing" once
// per session), the first to answer wins and the others are told
// "answered elsewhere"; a rejection (declined or busy), a cancel, a
// hang-up, a session that ends, or the ring timeout ends the call. Once
// answered, signals of the call (WebRTC offer, answer, ICE) travel only
// between the caller's session and the answering one.
//
// Who may ring whom is the message rule (FlowMessage), asked of the
// policy once, when the call is placed: a caller is told "unavailable"
// for a callee that is offline, unknown or refuses it alike. Everything
// after that is each party's own call, delivered to it as information
// about itself (so a callee that answers a caller who cannot see it still
// reaches it), and on an app's channel projected like a message: the
// other party named by its handle.
//
// A call is live state: nothing of it is stored. Its fields are guarded by
// the locks of both accounts (caller's and callee's); the call table's
// maps by its own mutex, a leaf taken under them.

// KindCall is what a session that takes calls lists in its Accepts.
const KindCall = "call"

// Events of a call (CallEvent.Event).
const (
	CallIncoming = "incoming" // to each rung session of the callee
	CallRinging  = "ringing"  // to the caller: one rung session acknowledged the ring
	CallAnswered = "answered" // to the caller: a session answered
	CallEnded    = "ended"    // to a party: the call is over for it (Reason)
	CallSignal   = "signal"   // to the other party of an answered call: Data
)

// Reasons a call ended (CallEvent.Reason).
const (
	EndDeclined          = "declined"           // a rung session rejected it
	EndBusy              = "busy"               // a rung session rejected it as busy
	EndCancelled         = "cancelled"          // the caller gave up before an answer
	EndHangup            = "hangup"             // a party of the answered call hung up
	EndTimeout           = "timeout"            // nobody answered within the ring timeout
	EndAnsweredElsewhere = "answered_elsewhere" // another session of the callee answered
	EndGone              = "gone"               // the other party's session ended
)

// CallLimits bound calls.
type CallLimits struct {
	RingTimeout time.Duration // how long a call rings unanswered
	PerSession  int           // calls one session takes part in at once
	PerAccount  int           // calls one account takes part in at once (either side); a callee at it is busy
	PairRate    float64       // calls per second one account may place to one other, on average …
	PairBurst   int           // … with bursts of this many
}

// DefaultCallLimits are used for the zero fields of Config.Calls.
var DefaultCallLimits = CallLimits{RingTimeout: 45 * time.Second, PerSession: 4, PerAccount: 16, PairRate: 1.0 / 12, PairBurst: 5}

func (h *Hub) callLimits() CallLimits {
	l, d := h.cfg.Calls, DefaultCallLimits
	if l.RingTimeout <= 0 {
		l.RingTimeout = d.RingTimeout
	}
	if l.PerSession <= 0 {
		l.PerSession = d.PerSession
	}
	if l.PerAccount <= 0 {
		l.PerAccount = d.PerAccount
	}
	if l.PairRate <= 0 {
		l.PairRate = d.PairRate
	}
	if l.PairBurst <= 0 {
		l.PairBurst = d.PairBurst
	}
	return l
}

// CallEvent is what a party of a call is told. From is the other party's
// session the event comes from (the caller for incoming; the callee's
// session for ringing and answered; the sender of a signal; whoever ended
// the call, if a party did).
type CallEvent struct {
	Call   string
	Event  string // CallIncoming …
	From   string
	Reason string          // for CallEnded
	Data   json.RawMessage // incoming and answered: what the call or answer carried; signal: the signal
	Sent   time.Time
}

func (CallEvent) isEvent() {}

type callState uint8

const (
	callRinging callState = iota
	callAnswered
	callEnded
)

type call struct {
	id       string
	caller   *Session
	callee   string     // bare address
	state    callState  // under both accounts' locks
	rung     []*Session // while ringing: the callee's sessions that were rung and are still
	acked    []*Session // the rung sessions that acknowledged the ring
	answered *Session
	timer    clock.Timer
	// cluster (callpeers.go): whether the other nodes' answers to the
	// ring are awaited, and the ended event a session rung elsewhere is
	// told if it turns up after the end
	asking int
	over   CallEvent
}

// callTable is the hub's live calls.
type callTable struct {
	mu       sync.Mutex
	byID     map[string]*call
	of       map[*Session][]*call // the calls a session takes part in (caller, rung or answering)
	accounts map[string]int       // the calls an account takes part in
	pairs    map[string]*pairBucket
	mirrors  map[string]*mirror    // calls kept by other nodes that ring sessions here (callpeers.go)
	mirrorOf map[*Session][]string // the mirrors a session takes part in
}

// pairBucket is a token bucket of calls from one account to one other.
type pairBucket struct {
	tokens float64
	last   time.Time
}

var errNoCall = Errorf(CodeNotFound, "no such call")

// Call rings to: a bare address rings every session of the account that
// accepts calls; a full address that session alone. It returns the call's
// ID and how many sessions were rung. Errors: CodeUnavailable when the
// policy refuses the call or nobody is online (indistinguishable, as for
// messages), CodeNotAccepted when online sessions do not take calls,
// CodeBusy when the callee takes part in too many calls,
// CodeRateLimited for too many calls to one callee, CodeLimit for too
// many calls of the caller. A call allowed by the policy that rings no
// session wakes one of the callee's devices (Waker): it is not kept
// ringing for the device to answer (docs/calls.md says why).
func (s *Session) Call(to string, data json.RawMessage) (id string, rung int, err error) {
	if err := s.may(ScopeSignal); err != nil {
		return "", 0, err
	}
	if err := checkCallData(data, true); err != nil {
		return "", 0, err
	}
	if to == "" || len(to) > 3*1024 || !utf8.ValidString(to) {
		return "", 0, Errorf(CodeInvalid, "to: an address or handle is required")
	}
	h := s.hub
	lim := h.callLimits()
	// before anything is decided: a refused caller is limited exactly like an allowed one
	target, _, _ := strings.Cut(to, "/")
	if !h.calls.spend(s.Account+"\x00"+target, h.clock.Now(), lim) {
		return "", 0, Errorf(CodeRateLimited, "too many calls to %s: wait a minute", clip(target))
	}
	m := Message{To: to}
	g, err := h.resolveTo(s, &m)
	if err != nil {
		return "", 0, err
	}
	bare, resource, err := addr.Parse(m.To)
	if err != nil {
		return "", 0, Errorf(CodeInvalid, "to: %v", err)
	}
	id = randomHex(12)
	wake := Notification{Kind: NotifyCall, From: s.Account, ID: id, Urgency: "high", TTL: lim.RingTimeout}
	// sessions of the callee on other nodes are rung there, decided there
	// (callpeers.go), once an app's grant here allows it
	elsewhere := h.cfg.Peers != nil && bare != s.Account && h.cfg.Peers.Holds(bare) &&
		(g == nil || appSees(Facts{Covered: g.covers(bare), Scopes: g.scopes & s.channel.Scopes}, FlowMessage))
	unlock := h.lock(bare, s.Account)
	if s.ended.Load() {
		unlock()
		return "", 0, errSessionGone
	}
	ru := h.live(bare)
	if ru == nil && !elsewhere {
		unlock()
		if h.mayCallOffline(s, g, bare) {
			h.wake(bare, wake)
		}
		return "", 0, errUnavailable
	}
	if ru != nil && !Allow(factsWith(ru, s.Account, s.channel, s.Account, g), FlowMessage) {
		unlock()
		return "", 0, errUnavailable
	}
	if err := h.calls.admit(s, bare, lim); err != nil {
		unlock()
		return "", 0, err
	}
	c := &call{id: id, caller: s, callee: bare}
	online := 0
	if ru != nil {
		online = h.ringLocked(c, ru, resource, s.Account, CallEvent{Call: id, Event: CallIncoming, From: s.Address(), Data: data, Sent: h.clock.Now()})
	}
	if len(c.rung) == 0 && !elsewhere {
		unlock()
		h.wake(bare, wake)
		if online == 0 {
			return "", 0, errUnavailable
		}
		return "", 0, Errorf(CodeNotAccepted, "the recipient's sessions do not accept calls")
	}
	h.calls.add(c)
	c.timer = h.clock.AfterFunc(lim.RingTimeout, func() {
		defer h.lock(c.caller.Account, c.callee)()
		if c.state == callRinging {
			h.endCallLocked(c, EndTimeout, nil)
		}
	})
	if elsewhere {
		c.asking = 1
	}
	rung = len(c.rung) // read under the lock: an answer may empty it once unlocked
	unlock()
	if elsewhere {
		return h.ringElsewhere(s, c, m.To, data, online, ru != nil, wake)
	}
	return id, rung, nil
}

// ringLocked rings the sessions of ru, the callee here, that take calls
// (resource: that one alone), deciding for caller; it returns how many
// sessions matched the address. The caller holds ru's lock.
func (h *Hub) ringLocked(c *call, ru *user, resource, caller string, ev CallEvent) (online int) {
	for _, x := range ru.list() {
		if x == c.caller || x.ended.Load() || resource != "" && x.Resource != resource {
			continue
		}
		online++
		if x.accepts&acceptCall == 0 {
			continue
		}
		t := x.target()
		t.Want = Want{Kind: KindCall}
		if h.deliver(delivery{ev: ev, subject: ru, flow: FlowMessage, viewer: caller, to: []Target{t}}).Sessions > 0 {
			c.rung = append(c.rung, x)
		}
	}
	return online
}

// mayCallOffline asks the policy whether s may call bare, which has no
// session: with the facts the store keeps of who approved s.
func (h *Hub) mayCallOffline(s *Session, g *liveGrant, bare string) bool {
	facts, err := h.store.ApprovedBy(context.Background(), s.Account)
	if err != nil {
		return false
	}
	for _, sf := range facts {
		if sf.Subject == bare {
			return Allow(factsWith(storedUser(sf, s.Account), s.Account, s.channel, s.Account, g), FlowMessage)
		}
	}
	return false
}

// CallRinging acknowledges that s, a rung session, is ringing: the caller
// is told, once per session.
func (s *Session) CallRinging(id string) error { return s.hub.callStep(s, id, stepRinging, nil) }

// Answer takes the call on s, a rung session: the caller is told, with
// data if given, and the callee's other rung sessions stop ringing.
func (s *Session) Answer(id string, data json.RawMessage) error {
	if err := checkCallData(data, true); err != nil {
		return err
	}
	return s.hub.callStep(s, id, stepAnswer, data)
}

// Reject refuses a call ringing on s (declined, or busy): the call ends
// for the caller and every rung session. On the session that answered it,
// it is a hang-up.
func (s *Session) Reject(id string, busy bool) error {
	if busy {
		return s.hub.callStep(s, id, stepBusy, nil)
	}
	return s.hub.callStep(s, id, stepReject, nil)
}

// Cancel ends a call s placed before it is answered; answered meanwhile,
// it hangs up.
func (s *Session) Cancel(id string) error { return s.hub.callStep(s, id, stepCancel, nil) }

// Hangup leaves a call s takes part in: an answered call ends for both,
// a ringing one is cancelled (by its caller) or declined (by a rung session).
func (s *Session) Hangup(id string) error { return s.hub.callStep(s, id, stepHangup, nil) }

// CallSignal sends data (a WebRTC offer, answer or ICE candidate) to the
// other party of an answered call s takes part in.
func (s *Session) CallSignal(id string, data json.RawMessage) error {
	if err := s.may(ScopeSignal); err != nil {
		return err
	}
	if err := checkCallData(data, false); err != nil {
		return err
	}
	return s.hub.callStep(s, id, stepSignal, data)
}

// Steps a party takes in a call (CallStep.Op across nodes).
const (
	stepRinging = "ringing"
	stepAnswer  = "answer"
	stepReject  = "reject"
	stepBusy    = "busy"
	stepCancel  = "cancel"
	stepHangup  = "hangup"
	stepSignal  = "signal"
)

// callStep takes step op of s in call id: on this node's call, or, for a
// call placed on another node that rang s here, on that node (callpeers.go).
func (h *Hub) callStep(s *Session, id, op string, data json.RawMessage) error {
	if origin, ok := h.calls.mirrored(id, s); ok {
		return h.stepOnPeer(s, origin, id, op, data)
	}
	return h.withCall(id, func(c *call) error { return h.stepLocked(c, s, op, data) })
}

// stepLocked is one step of party s (a session here, or one of another
// node standing in) in c; the caller holds both accounts' locks.
func (h *Hub) stepLocked(c *call, s *Session, op string, data json.RawMessage) error {
	rung := c.state == callRinging && slices.Contains(c.rung, s)
	switch op {
	case stepRinging:
		switch {
		case rung:
			if !slices.Contains(c.acked, s) {
				c.acked = append(c.acked, s)
				h.callEventLocked(c.caller, CallEvent{Call: c.id, Event: CallRinging, From: s.Address()})
			}
			return nil
		case c.answered == s:
			return nil // acknowledged after answering: nothing to tell
		}
	case stepAnswer:
		switch {
		case c.answered == s:
			return nil
		case c.state == callAnswered && s.Account == c.callee && c.caller != s:
			return Errorf(CodeConflict, "the call was answered elsewhere")
		case !rung:
			return errNoCall
		}
		c.state, c.answered = callAnswered, s
		c.timer.Stop()
		h.callEventLocked(c.caller, CallEvent{Call: c.id, Event: CallAnswered, From: s.Address(), Data: data})
		for _, x := range c.rung {
			if x != s {
				h.callEventLocked(x, CallEvent{Call: c.id, Event: CallEnded, Reason: EndAnsweredElsewhere})
				h.calls.leave(x, c)
			}
		}
		c.rung, c.acked = nil, nil
		return nil
	case stepReject, stepBusy:
		switch {
		case rung && op == stepBusy:
			h.endCallLocked(c, EndBusy, s)
			return nil
		case rung:
			h.endCallLocked(c, EndDeclined, s)
			return nil
		case c.state == callAnswered && c.answered == s:
			h.endCallLocked(c, EndHangup, s)
			return nil
		}
	case stepCancel:
		if c.caller != s {
			return errNoCall
		}
		reason := EndCancelled
		if c.state == callAnswered {
			reason = EndHangup
		}
		h.endCallLocked(c, reason, s)
		return nil
	case stepHangup:
		switch {
		case c.caller == s && c.state == callRinging:
			h.endCallLocked(c, EndCancelled, s)
		case c.caller == s || c.answered == s:
			h.endCallLocked(c, EndHangup, s)
		case rung:
			h.endCallLocked(c, EndDeclined, s)
		default:
			return errNoCall
		}
		return nil
	case stepSignal:
		var peer *Session
		switch s {
		case c.caller:
			peer = c.answered
		case c.answered:
			peer = c.caller
		default:
			if rung {
				return Errorf(CodeConflict, "the call is not answered yet: signals travel once it is")
			}
			return errNoCall
		}
		if peer == nil {
			return Errorf(CodeConflict, "the call is not answered yet: signals travel once it is")
		}
		h.callEventLocked(peer, CallEvent{Call: c.id, Event: CallSignal, From: s.Address(), Data: data})
		return nil
	}
	return errNoCall
}

func checkCallData(data json.RawMessage, optional bool) error {
	if len(data) == 0 && optional {
		return nil
	}
	if len(data) == 0 || len(data) > MaxSignalData || !json.Valid(data) || !utf8.Valid(data) {
		return Errorf(CodeInvalid, "data must be JSON of at most %d bytes", MaxSignalData)
	}
	return nil
}

// withCall runs f on the live call id with both its accounts locked.
func (h *Hub) withCall(id string, f func(c *call) error) error {
	h.calls.mu.Lock()
	c := h.calls.byID[id]
	h.calls.mu.Unlock()
	if c == nil {
		return errNoCall
	}
	defer h.lock(c.caller.Account, c.callee)()
	if c.state == callEnded {
		return errNoCall
	}
	return f(c)
}

// callEventLocked delivers a call event to one party: its own business, so the
// policy's only say is the projection for an app's channel (handles).
func (h *Hub) callEventLocked(x *Session, ev CallEvent) {
	if x.ended.Load() {
		return
	}
	if ev.Sent.IsZero() {
		ev.Sent = h.clock.Now()
	}
	if x.node() != "" { // a session of another node: told there (callpeers.go)
		h.cfg.Peers.CallNotify(x.node(), CallStep{Call: ev.Call, Op: stepEvent, To: x.Address(), Event: &ev})
		return
	}
	h.deliver(delivery{ev: ev, subject: x.user, flow: FlowMessage, to: []Target{x.target()}})
}

// endCallLocked ends c for good, telling each party but by (who ended it)
// why. The caller holds both accounts' locks.
func (h *Hub) endCallLocked(c *call, reason string, by *Session) {
	c.state = callEnded
	if c.timer != nil {
		c.timer.Stop()
	}
	ev := CallEvent{Call: c.id, Event: CallEnded, Reason: reason}
	if by != nil {
		ev.From = by.Address()
	}
	c.over = ev
	for _, x := range c.parties() {
		if x != by {
			h.callEventLocked(x, ev)
		}
	}
	h.calls.remove(c)
}

// parties are the sessions taking part in c now.
func (c *call) parties() []*Session {
	if c.answered != nil {
		return []*Session{c.caller, c.answered}
	}
	return append([]*Session{c.caller}, c.rung...)
}

// leaveCallsLocked is called as s ends (endLocked): its calls end, or,
// for a call still ringing on other sessions, stop ringing on it. That
// takes the other accounts' locks, so it runs once s's are released.
func (h *Hub) leaveCallsLocked(s *Session) {
	h.leaveMirrorsLocked(s)
	h.calls.mu.Lock()
	n := len(h.calls.of[s])
	h.calls.mu.Unlock()
	if n > 0 {
		h.afterLocked(s.Account, func() { h.leaveCalls(s) })
	}
}

func (h *Hub) leaveCalls(s *Session) {
	h.calls.mu.Lock()
	cs := slices.Clone(h.calls.of[s])
	h.calls.mu.Unlock()
	for _, c := range cs {
		h.withCall(c.id, func(c *call) error { h.leaveCallLocked(c, s); return nil })
	}
}

// leaveCallLocked: s, a party of c, is gone; the caller holds both
// accounts' locks.
func (h *Hub) leaveCallLocked(c *call, s *Session) {
	switch {
	case c.caller == s && c.state == callRinging:
		h.endCallLocked(c, EndCancelled, s)
	case c.caller == s || c.answered == s:
		h.endCallLocked(c, EndGone, s)
	case slices.Contains(c.rung, s):
		c.rung = slices.DeleteFunc(c.rung, func(x *Session) bool { return x == s })
		c.acked = slices.DeleteFunc(c.acked, func(x *Session) bool { return x == s })
		h.calls.leave(s, c)
		if len(c.rung) == 0 && c.asking == 0 {
			h.endCallLocked(c, EndGone, nil)
		}
	}
}

// spend takes one call from the bucket of key (caller and callee) at now.
func (t *callTable) spend(key string, now time.Time, lim CallLimits) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	full := float64(lim.PairBurst)
	if t.pairs == nil {
		t.pairs = map[string]*pairBucket{}
	}
	b := t.pairs[key]
	if b == nil {
		if len(t.pairs) >= 4096 { // forget the pairs whose buckets have filled up again
			refill := time.Duration(full / lim.PairRate * float64(time.Second))
			for k, o := range t.pairs {
				if now.Sub(o.last) >= refill {
					delete(t.pairs, k)
				}
			}
		}
		b = &pairBucket{tokens: full, last: now}
		t.pairs[key] = b
	}
	b.tokens = min(full, b.tokens+now.Sub(b.last).Seconds()*lim.PairRate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// admit checks the caller's and the callee's limits for a new call.
func (t *callTable) admit(s *Session, callee string, lim CallLimits) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case len(t.of[s]) >= lim.PerSession:
		return Errorf(CodeLimit, "at most %d calls per session", lim.PerSession)
	case t.accounts[s.Account] >= lim.PerAccount:
		return Errorf(CodeLimit, "at most %d calls per account", lim.PerAccount)
	case t.accounts[callee] >= lim.PerAccount:
		return Errorf(CodeBusy, "the callee is busy")
	}
	return nil
}

func (t *callTable) add(c *call) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byID == nil {
		t.byID, t.of, t.accounts = map[string]*call{}, map[*Session][]*call{}, map[string]int{}
	}
	t.byID[c.id] = c
	t.accounts[c.caller.Account]++
	t.accounts[c.callee]++
	for _, x := range c.parties() {
		t.of[x] = append(t.of[x], c)
	}
}

// leave drops c from x's calls.
func (t *callTable) leave(x *Session, c *call) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.leaveLocked(x, c)
}

func (t *callTable) leaveLocked(x *Session, c *call) {
	l := slices.DeleteFunc(t.of[x], func(o *call) bool { return o == c })
	if len(l) == 0 {
		delete(t.of, x)
	} else {
		t.of[x] = l
	}
}

func (t *callTable) remove(c *call) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byID, c.id)
	for _, a := range []string{c.caller.Account, c.callee} {
		if t.accounts[a]--; t.accounts[a] <= 0 {
			delete(t.accounts, a)
		}
	}
	for _, x := range c.parties() {
		t.leaveLocked(x, c)
	}
}

// clip shortens what an error message repeats of the client's input.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
