package core

import "github.com/presenced/presenced/internal/addr"

// MaxDirected bounds how many entities one session has sent directed
// presence to (and must tell when it goes unavailable).
const MaxDirected = 64

// Direct shows the session's presence to one account outside its
// subscriptions, or withdraws it (RFC 6121 § 4.6). The recipient gets it
// only where it would get a message from the user (FlowMessage, asked of the
// recipient's facts), so a stranger cannot push presence at anyone; a
// refused or pointless delivery is silent. When the session goes
// unavailable or ends, everyone it directed presence to sees it go.
func (s *Session) Direct(to string, available bool) error {
	if err := s.may(ScopePresencePublish); err != nil {
		return err
	}
	bare, err := addr.Bare(to)
	if err != nil {
		return Errorf(CodeInvalid, "to: %v", err)
	}
	h := s.hub
	defer h.lock(bare, s.Account)()
	if s.ended.Load() || bare == s.Account {
		return nil
	}
	ru := h.live(bare)
	if viewer := s.user.viewers.has(bare); ru == nil || viewer || !Allow(h.factsLocked(ru, s.Account, s.channel), FlowMessage) {
		return nil // offline, already sees the user through a subscription, or does not take from the user
	}
	directed := s.directedLocked()
	if !available || !s.available {
		if _, ok := directed[bare]; ok {
			s.undirectOneLocked(bare)
			h.directLocked(s, bare, false)
		}
		return nil
	}
	if _, ok := directed[bare]; !ok && len(directed) >= MaxDirected {
		return Errorf(CodeLimit, "presence directed to more than %d accounts", MaxDirected)
	}
	r := s.rareLocked()
	if r.directed == nil {
		r.directed = map[string]struct{}{}
	}
	r.directed[bare] = struct{}{}
	h.directLocked(s, bare, true)
	return nil
}

// directLocked shows s's own presence, or its end, to the sessions of to.
// The recipient took it under the message rule; what it is told now is
// decided again by the presence rule with the sender as subject, but for
// directed presence the relation is the direction itself, so the only
// refusals left are the sender's privacy settings (undirectLocked runs when
// they change). The caller holds s's account lock.
func (h *Hub) directLocked(s *Session, to string, available bool) {
	var ss []SessionPresence
	if available {
		ss = []SessionPresence{{Resource: s.Resource, Presence: s.presence}}
	}
	h.deliver(delivery{ev: PresenceEvent{View: aggregate(s.Account, ss)}, subject: s.user, flow: FlowDirected, redact: true, to: self(to)})
}

// undirectLocked tells everyone s directed presence to that it is gone.
func (h *Hub) undirectLocked(s *Session) {
	for bare := range s.directedLocked() {
		h.directLocked(s, bare, false)
	}
	if s.rare != nil {
		s.rare.directed = nil
		s.dropRareLocked()
	}
}

// directedLocked is the set of accounts s directed presence to (nil:
// none); the caller holds s's account lock.
func (s *Session) directedLocked() map[string]struct{} {
	if s.rare == nil {
		return nil
	}
	return s.rare.directed
}

// undirectOneLocked takes bare out of s's directed presence.
func (s *Session) undirectOneLocked(bare string) {
	if s.rare == nil {
		return
	}
	delete(s.rare.directed, bare)
	if len(s.rare.directed) == 0 {
		s.rare.directed = nil
		s.dropRareLocked()
	}
}

// withdrawDirectedLocked ends the directed presence of u's sessions to
// viewer (all viewers when viewer is empty), after a block, hide or
// invisibility: the viewer sees the sessions go now, and is not told again
// later. The caller holds u's lock.
func (h *Hub) withdrawDirectedLocked(u *user, viewer string) {
	for _, s := range u.list() {
		for bare := range s.directedLocked() {
			if viewer == "" || bare == viewer {
				h.directLocked(s, bare, false)
				s.undirectOneLocked(bare)
			}
		}
	}
}
