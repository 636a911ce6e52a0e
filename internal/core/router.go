package core

// localRouter reaches the sessions of this process. It is the Router of a
// single node, and the part of any other Router that serves local sessions.
type localRouter struct{ h *Hub }

// LocalRouter returns the router of this hub's own sessions, for Routers
// that wrap it (a cluster router delivers here what other nodes send).
func (h *Hub) LocalRouter() Router { return localRouter{h} }

// Route pushes ev into the outbox of every matching local session. The
// sessions it reaches share one Memo, so a transport encodes ev once; an
// event for one session gets none, since a Memo would only keep its
// encoding alive in the outbox until acknowledged.
func (r localRouter) Route(ev Event, to []Target) Routed { return r.route(ev, to, nil) }

// route is Route with the targets' live users when the hub has looked them
// up already (users[i] for to[i]; nil or a nil entry: look it up here).
func (r localRouter) route(ev Event, to []Target, users []*user) Routed {
	var out Routed
	var first *Session // pushed once a second shows whether a Memo pays
	var memo *Memo
	for i, t := range to {
		var u *user
		if users != nil {
			u = users[i]
		}
		if u == nil {
			u = r.h.live(t.Account)
		}
		if u == nil {
			continue
		}
		for _, s := range u.list() {
			if t.Resource != "" && s.Resource != t.Resource || s.channel != t.Channel || s.Resource == t.Want.Except {
				continue
			}
			if !t.Want.matchesAddress(s) {
				continue
			}
			out.Online++
			if !t.Want.takes(s) {
				continue
			}
			out.Sessions++
			switch {
			case first == nil:
				first = s
			case memo == nil:
				memo = &Memo{}
				first.push(ev, memo)
				fallthrough
			default:
				s.push(ev, memo)
			}
		}
	}
	if first != nil && memo == nil {
		first.push(ev, nil)
	}
	return out
}

// matchesAddress: the session is one a message to the target's address may
// reach at all. Bare-address routing asks for Available: such messages go
// to sessions that published presence with a non-negative priority (RFC
// 6121 § 8.5.2.1). Reading presence fields is safe: only routes of the
// session's own account set Available, under its lock.
func (w Want) matchesAddress(s *Session) bool {
	if w.Available && (!s.available || s.presence.Priority < 0) {
		return false
	}
	return !w.Carbons || s.carbons.Load()
}

// takes: the session accepts what the target carries.
func (w Want) takes(s *Session) bool {
	if w.Topic != "" && !s.takes(topicBit(w.Topic)) {
		return false
	}
	if w.Kind != "" {
		if s.accepts&kindBit(w.Kind) == 0 {
			return false
		}
		if w.Payloads && !s.payloads {
			return false
		}
	}
	return true
}
