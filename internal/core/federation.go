package core

// Federation: accounts of other domains as contacts (docs/architecture.md,
// "Federation"). The core stays the one place that decides. An account of
// another domain ("remote") is a party of relations like any other: the
// store keeps both edges of each pair, the edge "remote may see local" is
// this server's own decision, the edge "local may see remote" a mirror of
// what the remote's server told. Whatever the core delivers to a remote
// target (presence of a local subject, a message to a remote account, a
// change of relation seen from the remote side) goes through Hub.deliver
// like everything else, so the policy is asked at the subject's server; a
// federation Router carries what reaches it to the remote domain. What a
// remote server sends enters through the Remote* calls below, the way a
// client's stanzas enter through Session calls, with the remote sender as
// the actor or subject. No transport decides anything.

import (
	"context"
	"errors"
	"strings"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/store"
)

// ProbeEvent asks the server of To (an account of another domain) for its
// presence on behalf of From (RFC 6121 § 4.3): only a federation Router
// carries it; it never reaches a session.
type ProbeEvent struct{ From, To string }

func (ProbeEvent) isEvent() {}

// Remote reports whether bare is an account of a domain the hub does not
// serve: accounts of all its served domains are local to each other. A
// hub with no domain configured federates with nobody.
func (h *Hub) Remote(bare string) bool {
	return len(h.domains) > 0 && !h.Serves(addr.DomainOf(bare))
}

// loadRemote reads who a remote account approved, as its server told us
// (the mirror edges): the stand-in user the policy is asked about when the
// remote account is the subject.
func (h *Hub) loadRemote(ctx context.Context, account string) (*user, error) {
	rels, err := h.store.RelationsOf(ctx, account)
	if err != nil {
		return nil, err
	}
	u := &user{address: account}
	for _, r := range rels {
		if r.Subject == account && r.State == store.Approved {
			if u.viewers == nil {
				u.viewers = map[string]struct{}{}
			}
			u.viewers[r.Viewer] = struct{}{}
		}
	}
	return u, nil
}

// remoteParties checks a stanza's sender (of another domain) and recipient
// (of this one) and returns their bare addresses and the sender's resource.
func (h *Hub) remoteParties(from, to string) (rbare, rres, local string, err error) {
	if rbare, rres, err = addr.Parse(from); err != nil {
		return "", "", "", Errorf(CodeInvalid, "from: %v", err)
	}
	if local, _, err = addr.Parse(to); err != nil {
		return "", "", "", Errorf(CodeInvalid, "to: %v", err)
	}
	if !h.Remote(rbare) || h.Remote(local) {
		return "", "", "", Errorf(CodeInvalid, "a remote stanza comes from another domain to this one")
	}
	return rbare, rres, local, nil
}

// RemotePresence takes the presence of one resource of a remote account,
// sent by its server to a local account (p nil: unavailable; from bare and
// p nil: all its resources are gone). The local recipient sees it only if
// it may: if the remote account approved it (the mirror edge), like a local
// subject's viewer. A remote account is kept in memory while it has
// resources online and local viewers.
func (h *Hub) RemotePresence(ctx context.Context, from, to string, p *Presence) error {
	rbare, rres, local, err := h.remoteParties(from, to)
	if err != nil {
		return err
	}
	if p != nil {
		if rres == "" {
			return Errorf(CodeInvalid, "available presence comes from a full address")
		}
		if err := p.Validate(); err != nil {
			return err
		}
		if p.LastActive.IsZero() {
			p.LastActive = h.clock.Now()
		}
	}
	var loaded *user
	if h.live(rbare) == nil {
		if loaded, err = h.loadRemote(ctx, rbare); err != nil {
			return err
		}
	}
	defer h.lock(rbare)()
	ru := h.live(rbare)
	if ru == nil {
		if loaded == nil { // it left memory meanwhile
			return nil
		}
		ru = loaded
	}
	wasOnline := ru.online()
	switch {
	case p != nil:
		if len(ru.viewers) == 0 {
			return nil // nobody here may see it: nothing to keep
		}
		if _, ok := ru.remote[rres]; !ok && len(ru.remote) >= h.cfg.Limits.SessionsPerAccount {
			return Errorf(CodeLimit, "at most %d resources per account", h.cfg.Limits.SessionsPerAccount)
		}
		if ru.remote == nil {
			ru.remote = map[string]Presence{}
		}
		ru.remote[rres] = *p
		h.keepLocked(ru)
	case rres == "":
		ru.remote = nil
	default:
		delete(ru.remote, rres)
	}
	if wasOnline && !ru.online() {
		ru.lastSeen = h.clock.Now()
	}
	if !ru.online() {
		h.forgetLocked(ru)
	}
	h.deliver(delivery{ev: PresenceEvent{View: ru.fullView()}, subject: ru, flow: FlowPresence, to: self(local)})
	return nil
}

// RemoteDomainGone marks every account of domain offline: its server is
// unreachable, so what it last said no longer holds. Local viewers see
// them go, as when the accounts sign out.
func (h *Hub) RemoteDomainGone(domain string) {
	for _, u := range h.liveUsers() {
		if !strings.EqualFold(addr.DomainOf(u.address), domain) {
			continue // (u.remote is read under u's lock, below)
		}
		unlock := h.lock(u.address)
		if len(u.remote) > 0 {
			u.remote, u.lastSeen = nil, h.clock.Now()
			h.forgetLocked(u)
			to := make([]Target, 0, len(u.viewers))
			for v := range u.viewers {
				to = append(to, Target{Account: v})
			}
			h.deliver(delivery{ev: PresenceEvent{View: u.fullView()}, subject: u, flow: FlowPresence, to: to})
		}
		unlock()
	}
}

// RemoteProbe answers a remote server asking for a local account's
// presence on behalf of one of its accounts (RFC 6121 § 4.3.2): exactly
// what that account may see, through the delivery path; nothing at all when
// it may see nothing, as a local stranger is told nothing.
func (h *Hub) RemoteProbe(ctx context.Context, from, to string) error {
	rbare, _, local, err := h.remoteParties(from, to)
	if err != nil {
		return err
	}
	us, err := h.usersFor(ctx, local)
	if err != nil {
		return err
	}
	defer h.lock(local)()
	lu := h.liveOr(us[0])
	f := h.factsLocked(lu, rbare, Channel{})
	if !Allow(f, FlowPresence) {
		return nil
	}
	h.deliver(delivery{ev: PresenceEvent{View: lu.view(f)}, subject: lu, flow: FlowPresence, to: self(rbare)})
	return nil
}

// Kinds of subscription stanzas a remote server sends (RFC 6121 § 3).
const (
	SubSubscribe    = "subscribe"
	SubSubscribed   = "subscribed"
	SubUnsubscribe  = "unsubscribe"
	SubUnsubscribed = "unsubscribed"
)

// RemoteSubscription applies a subscription stanza from a remote account
// to a local one. subscribe and unsubscribe are the remote account's own
// requests (edges about the local subject, decided here: the local user
// approves or not, and a request from someone it blocks stays invisible to
// it); subscribed and unsubscribed are the remote account's answers, which
// this server mirrors. The remote side is told what changed in its view
// through the delivery path (and so the federation Router), like any
// party of an edit.
func (h *Hub) RemoteSubscription(ctx context.Context, from, to, kind string) error {
	rbare, _, local, err := h.remoteParties(from, to)
	if err != nil {
		return err
	}
	switch kind {
	case SubSubscribe:
		before, err := h.store.GetRelation(ctx, local, rbare)
		if err != nil {
			return err
		}
		if err := h.Subscribe(ctx, rbare, local); err != nil {
			return err
		}
		if before.State == store.Approved {
			// already approved: the remote server lost track; it is told
			// again (RFC 6121 § 3.1.3), which tells it nothing new
			us, err := h.usersFor(ctx, rbare)
			if err != nil {
				return err
			}
			defer h.lock(rbare)()
			ru := h.liveOr(us[0])
			h.deliver(delivery{ev: SubscriptionEvent{View: SubscriptionView{Address: local, To: true}, Before: SubscriptionView{Address: local}},
				subject: ru, flow: FlowPresence, to: self(rbare)})
		}
		return nil
	case SubUnsubscribe:
		return h.Unsubscribe(ctx, rbare, local)
	case SubSubscribed:
		return h.edit(ctx, rbare, local, func(_, theirs *store.Relation) {
			if theirs.State == store.Pending || theirs.State == store.Declined {
				theirs.State = store.Approved // only an answer to a request (RFC 6121 § 3.1.5)
			}
		})
	case SubUnsubscribed:
		return h.edit(ctx, rbare, local, func(_, theirs *store.Relation) {
			*theirs = store.Relation{Subject: theirs.Subject, Viewer: theirs.Viewer}
		})
	}
	return Errorf(CodeInvalid, "unknown subscription kind %q", kind)
}

// RemoteMessage delivers a message (or routed iq) from a remote account to
// a local one under the message rule, decided here, at the recipient's
// (the subject's) server: it reaches the recipient only if the recipient
// shares presence with the sender, and every refusal is the same
// CodeUnavailable as a message to nobody. It returns the sessions reached.
func (h *Hub) RemoteMessage(ctx context.Context, m Message) (int, error) {
	if err := validateMessage(&m); err != nil {
		return 0, err
	}
	rbare, _, local, err := h.remoteParties(m.From, m.To)
	if err != nil {
		return 0, err
	}
	_, resource, _ := addr.Parse(m.To)
	m.Sent = h.clock.Now()
	defer h.lock(local)()
	lu := h.live(local)
	if lu == nil {
		return 0, errUnavailable
	}
	viewer := rbare
	if m.Kind == KindMessage && m.Type == TypeError {
		// an error answers a message the recipient sent: its own business,
		// as a local refusal is told to the sender whoever the recipient
		// is; it carries the error alone, no text of the remote's
		m.Body, viewer = "", local
		if m.Payload == "" {
			return 0, nil
		}
	}
	want := Want{Kind: m.Kind, Payloads: m.Kind == KindMessage && m.Body == "", Available: resource == ""}
	r := h.deliver(delivery{ev: MessageEvent{Message: m}, subject: lu, flow: FlowMessage, viewer: viewer,
		to: []Target{{Account: local, Resource: resource, Want: want}}})
	switch {
	case r.Online == 0:
		return 0, errUnavailable
	case r.Sessions == 0 && m.Kind == KindMessage && m.Body == "":
		return 0, nil
	case r.Sessions == 0:
		return 0, Errorf(CodeNotAccepted, "the recipient's sessions do not accept %ss", m.Kind)
	}
	return r.Sessions, nil
}

// remoteStandIn is the user a message to a remote account is decided on:
// its live stand-in, or one read from the store. Read before locking.
func (h *Hub) remoteStandIn(ctx context.Context, bare string) (*user, error) {
	if u := h.live(bare); u != nil {
		return u, nil
	}
	u, err := h.loadRemote(ctx, bare)
	if errors.Is(err, store.ErrNotFound) {
		return &user{address: bare}, nil
	}
	return u, err
}

// RemoteOnline reports whether an account of domain is shown online here:
// whether its server must be watched (the federation keeps a stream to it
// and tells RemoteDomainGone when it cannot).
func (h *Hub) RemoteOnline(domain string) bool {
	for _, u := range h.liveUsers() {
		if !strings.EqualFold(addr.DomainOf(u.address), domain) {
			continue // (u.remote is read under u's lock, below)
		}
		unlock := h.lock(u.address)
		online := len(u.remote) > 0
		unlock()
		if online {
			return true
		}
	}
	return false
}

// RemoteResync asks domain's server again for the presence of each of its
// accounts shown online here, on behalf of a local viewer with sessions:
// after its stream was lost, what it said may no longer hold (it may have
// restarted and forgotten to say its users left). Its answers replace
// what is shown; an account gone offline answers unavailable.
func (h *Hub) RemoteResync(domain string) {
	type ask struct{ viewer, remote string }
	var asks []ask
	for _, u := range h.liveUsers() {
		if !strings.EqualFold(addr.DomainOf(u.address), domain) {
			continue // (u.remote is read under u's lock, below)
		}
		unlock := h.lock(u.address)
		if len(u.remote) > 0 {
			for v := range u.viewers {
				asks = append(asks, ask{v, u.address})
			}
		}
		unlock()
	}
	for _, a := range asks {
		unlock := h.lock(a.viewer, a.remote)
		if vu := h.live(a.viewer); vu != nil && len(vu.list()) > 0 {
			h.deliver(delivery{ev: ProbeEvent{From: a.viewer, To: a.remote}, subject: vu, flow: FlowRequest, to: self(a.remote)})
		}
		unlock()
	}
}
