package core

import (
	"context"
	"encoding/json"
	"unicode/utf8"

	"github.com/presenced/presenced/internal/addr"
)

// Message limits.
const (
	MaxMessageBody = 16 << 10
	MaxSignalData  = 32 << 10
	MaxMessageID   = 64
	MaxPayload     = 64 << 10
)

// Send delivers a message or signal from s to m.To: one connected session
// when m.To is a full address (RFC 6121 § 8.5.3.1, whether it published
// presence or not), every available session that takes m.Kind when it is
// bare. It returns the number of sessions reached, or CodeUnavailable when
// the policy forbids delivery or nobody is online (indistinguishable on
// purpose), or CodeNotAccepted when online sessions do not take this kind.
// A text message that reaches no session is stored for later instead
// (offline.go): then it returns 0 and no error.
func (s *Session) Send(m Message) (int, error) {
	sent, err := s.SendMessage(m)
	return sent.Sessions, err
}

// SendMessage is Send, saying whether the message was stored.
func (s *Session) SendMessage(m Message) (Sent, error) {
	scope := ScopeMessage
	if m.Kind == KindSignal {
		scope = ScopeSignal
	}
	if err := s.may(scope); err != nil {
		return Sent{}, err
	}
	if bare, resource, err := addr.Parse(m.To); err == nil && m.Kind == KindIQ && resource == "" && s.hub.Remote(bare) {
		return s.queryRemote(m, bare)
	}
	if err := validateMessage(&m); err != nil {
		return Sent{}, err
	}
	h := s.hub
	g, err := h.resolveTo(s, &m)
	if err != nil {
		return Sent{}, err
	}
	bare, resource, err := addr.Parse(m.To)
	if err != nil {
		return Sent{}, Errorf(CodeInvalid, "to: %v", err)
	}
	var stand *user // a remote recipient: decided on what its server told (federation.go)
	if h.Remote(bare) {
		if stand, err = h.remoteStandIn(context.Background(), bare); err != nil {
			return Sent{}, err
		}
	} else if h.cfg.Peers != nil && bare != s.Account && !h.HoldsSession(bare, resource) && h.cfg.Peers.Holds(bare) {
		// decided on the recipient's node (the addressed resource's: the
		// node deciding counts only its own sessions); an app's grant here first
		if g != nil && !appSees(Facts{Covered: bare == s.Account || g.covers(bare), Scopes: g.scopes & s.channel.Scopes}, FlowMessage) {
			return Sent{}, errUnavailable
		}
		if sent, ok, err := h.sendToPeer(s, &m, bare, resource); ok {
			return sent, err
		}
	}
	unlock := h.lock(bare, s.Account)
	n, fallback, err := s.sendLocked(&m, g, bare, resource, stand)
	unlock()
	if fallback {
		return h.keep(s, m, g, bare) // the offline fallback: nothing took it
	}
	if err == nil && n > 0 {
		h.archive(s, m, bare)
	}
	return Sent{Sessions: n}, err
}

// sendLocked routes m; fallback reports that no session matched its
// address, for the offline fallback. The caller holds both accounts' locks.
func (s *Session) sendLocked(m *Message, g *liveGrant, bare, resource string, stand *user) (n int, fallback bool, err error) {
	h := s.hub
	if s.ended.Load() {
		return 0, false, errSessionGone
	}
	m.From, m.Sent = s.Address(), h.clock.Now()
	ru := h.live(bare)
	if ru == nil {
		ru = stand
	}
	if ru == nil {
		return 0, true, errUnavailable
	}
	if g != nil && !Allow(factsWith(ru, s.Account, s.channel, s.Account, g), FlowMessage) {
		return 0, false, errUnavailable // the app's grant does not reach the recipient
	}
	want := Want{Kind: m.Kind, Payloads: m.Kind == KindMessage && m.Body == "", Available: resource == "", Except: ""}
	if ru == s.user {
		want.Except = s.Resource
	}
	r := h.deliver(delivery{ev: MessageEvent{Message: *m}, subject: ru, flow: FlowMessage, viewer: s.Account,
		to: []Target{{Account: bare, Resource: resource, Want: want}}})
	if r.Sessions > 0 {
		h.carbonsLocked(s, ru, resource, *m)
	}
	switch {
	case r.Online == 0 && stand != nil:
		return 0, false, errUnavailable // the remote domain's server keeps messages for later, not this one
	case r.Online == 0:
		// stored for later when nothing of the account may take it; a
		// gone resource of an account with others online stays
		// unavailable (XMPP retries the bare address, RFC 6121 § 8.5.3.2.1)
		return 0, resource == "" || !ru.online(), errUnavailable
	case r.Sessions == 0 && m.Kind == KindMessage && m.Body == "":
		return 0, false, nil // a bodiless notification (chat state …) nobody online takes: nothing to report
	case r.Sessions == 0:
		return 0, false, Errorf(CodeNotAccepted, "the recipient's sessions do not accept %ss", m.Kind)
	}
	return r.Sessions, false, nil
}

func validateMessage(m *Message) error {
	if err := checkText("id", m.ID, MaxMessageID); err != nil {
		return err
	}
	switch m.Kind {
	case KindMessage:
		switch m.Type {
		case "", TypeChat, TypeNormal, TypeHeadline, TypeError:
		default:
			return Errorf(CodeInvalid, "type must be chat, normal, headline or error")
		}
		if m.Data != nil {
			return Errorf(CodeInvalid, "a message has a body, not data")
		}
		if len(m.Payload) > MaxPayload {
			return Errorf(CodeInvalid, "payload larger than %d bytes", MaxPayload)
		}
		if m.Body == "" && m.Payload == "" {
			return Errorf(CodeInvalid, "body is required")
		}
		return checkText("body", m.Body, MaxMessageBody)
	case KindIQ:
		switch m.Type {
		case "get", "set", "result", "error":
		default:
			return Errorf(CodeInvalid, "an iq is get, set, result or error")
		}
		if m.Body != "" || m.Data != nil || len(m.Payload) > MaxPayload {
			return Errorf(CodeInvalid, "an iq has a payload of at most %d bytes", MaxPayload)
		}
		if _, resource, err := addr.Parse(m.To); err != nil || resource == "" {
			return Errorf(CodeInvalid, "an iq goes to a full address")
		}
		return nil
	case KindSignal:
		if m.Body != "" || m.Payload != "" || m.Type != "" {
			return Errorf(CodeInvalid, "a signal has data, not a body")
		}
		if len(m.Data) == 0 || len(m.Data) > MaxSignalData || !json.Valid(m.Data) || !utf8.Valid(m.Data) {
			return Errorf(CodeInvalid, "data must be JSON of at most %d bytes", MaxSignalData)
		}
		return nil
	}
	return Errorf(CodeInvalid, "kind must be %q or %q", KindMessage, KindSignal)
}

// carbonsLocked copies a delivered chat message to the sender's other
// sessions and, when it was addressed to one session, to the recipient's
// other sessions: those that asked for copies (XEP-0280), so every device
// shows the whole conversation. The caller holds both accounts' locks.
func (h *Hub) carbonsLocked(from *Session, ru *user, resource string, m Message) {
	if m.Kind != KindMessage || m.Type != "" && m.Type != TypeChat || m.Private || ru == from.user {
		return
	}
	h.deliver(delivery{ev: MessageEvent{Message: m, Carbon: CarbonSent}, subject: from.user, flow: FlowMessage,
		to: []Target{{Account: from.Account, Want: Want{Carbons: true, Except: from.Resource}}}})
	if resource == "" {
		return // to a bare address every session got it
	}
	h.deliver(delivery{ev: MessageEvent{Message: m, Carbon: CarbonReceived}, subject: ru, flow: FlowMessage,
		to: []Target{{Account: ru.address, Want: Want{Carbons: true, Except: resource}}}})
}

// SetCarbons turns carbon copies for the session on or off.
func (s *Session) SetCarbons(on bool) { s.carbons.Store(on) }
