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
	bare, err := addr.Bare(to)
	if err != nil {
		return Errorf(CodeInvalid, "to: %v", err)
	}
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.ended || bare == s.Account {
		return nil
	}
	ru := h.users[bare]
	if _, viewer := s.user.viewers[bare]; ru == nil || viewer || !Allow(ru.facts(s.Account), FlowMessage) {
		return nil // offline, already sees the user through a subscription, or does not take from the user
	}
	if !available || !s.available {
		if _, ok := s.directed[bare]; ok {
			delete(s.directed, bare)
			h.directLocked(s, ru, false)
		}
		return nil
	}
	if _, ok := s.directed[bare]; !ok && len(s.directed) >= MaxDirected {
		return Errorf(CodeLimit, "presence directed to more than %d accounts", MaxDirected)
	}
	if s.directed == nil {
		s.directed = map[string]struct{}{}
	}
	s.directed[bare] = struct{}{}
	h.directLocked(s, ru, true)
	return nil
}

// directLocked pushes s's own presence, or its end, to ru's sessions.
func (h *Hub) directLocked(s *Session, ru *user, available bool) {
	var ss []SessionPresence
	if available {
		ss = []SessionPresence{{Resource: s.Resource, Presence: s.presence}}
	}
	ev := PresenceEvent{View: aggregate(s.Account, ss)}
	for _, r := range ru.sessions {
		r.push(ev)
	}
}

// undirectLocked tells everyone s directed presence to that it is gone.
func (h *Hub) undirectLocked(s *Session) {
	for bare := range s.directed {
		if ru := h.users[bare]; ru != nil {
			h.directLocked(s, ru, false)
		}
	}
	s.directed = nil
}
