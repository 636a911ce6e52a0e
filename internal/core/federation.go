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
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

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
	return &user{address: account, viewers: h.approvedViewers(account, rels)}, nil
}

// loadRemoteFor is loadRemote reading only whether the remote account
// approved viewer: a stand-in for one delivery to viewer, never kept (an
// account with many viewers here is not read whole for each probe's answer).
func (h *Hub) loadRemoteFor(ctx context.Context, account, viewer string) (*user, error) {
	r, err := h.store.GetRelation(ctx, account, viewer)
	if err != nil {
		return nil, err
	}
	u := &user{address: account}
	if r.State == store.Approved {
		u.viewers = viewerSet{sorted: []string{viewer}}
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
//
// In a cluster every other node is handed it too (Peers.RemotePresence):
// each keeps the remote account's state for its own viewers. An available
// presence goes only if the remote account lets the recipient see it here:
// this node took what the remote server said before it (a revocation
// among them), which another node reads from the store's log a moment
// later, and until then would decide on what it read before.
func (h *Hub) RemotePresence(ctx context.Context, from, to string, p *Presence) error {
	arrived, approved, err := h.remotePresence(ctx, from, to, p)
	if err != nil {
		return err
	}
	if h.cfg.Peers != nil && (p == nil || approved) {
		h.cfg.Peers.RemotePresence(from, to, p)
	}
	if !arrived {
		return nil
	}
	rbare, rres, _ := addr.Parse(from)
	local, _, _ := addr.Parse(to)
	// a resource that came online gets the local user's last personal
	// events, if it may (XEP-0163 § 4.3.3), as on a probe: from the node
	// that holds the stream only
	return h.lastItemsTo(ctx, local, rbare, rres)
}

// remotePresence is RemotePresence on this node alone (remotePresenceLocked
// says what it reports).
func (h *Hub) remotePresence(ctx context.Context, from, to string, p *Presence) (arrived, approved bool, err error) {
	rbare, rres, local, err := h.remoteParties(from, to)
	if err != nil {
		return false, false, err
	}
	if p != nil {
		if rres == "" {
			return false, false, Errorf(CodeInvalid, "available presence comes from a full address")
		}
		if err := p.Validate(); err != nil {
			return false, false, err
		}
		if p.LastActive.IsZero() {
			p.LastActive = h.clock.Now()
		}
	}
	var loaded *user
	if h.live(rbare) == nil {
		if p == nil { // a departure (a probe's answer, often) is not kept: local's edge is enough
			loaded, err = h.loadRemoteFor(ctx, rbare, local)
		} else {
			loaded, err = h.loadRemote(ctx, rbare)
		}
		if err != nil {
			return false, false, err
		}
	}
	return h.remotePresenceLocked(loaded, rbare, rres, local, p)
}

// remotePresenceLocked is RemotePresence under the remote account's lock;
// arrived reports a resource that was not online before, approved that
// the remote account lets local see it, as this node knows.
func (h *Hub) remotePresenceLocked(loaded *user, rbare, rres, local string, p *Presence) (arrived, approved bool, err error) {
	defer h.lock(rbare)()
	ru := h.live(rbare)
	if ru == nil {
		if loaded == nil { // it left memory meanwhile
			return false, false, nil
		}
		ru = loaded
	}
	approved = ru.viewers.has(local)
	wasOnline := ru.online()
	switch {
	case p != nil:
		if ru.viewers.len() == 0 {
			return false, false, nil // nobody here may see it: nothing to keep
		}
		_, known := ru.remoteRes()[rres]
		if !known && len(ru.remoteRes()) >= h.cfg.Limits.SessionsPerAccount {
			return false, approved, Errorf(CodeLimit, "at most %d resources per account", h.cfg.Limits.SessionsPerAccount)
		}
		if ru.fed == nil {
			ru.fed = &remoteUser{remote: map[string]Presence{}, greeted: map[string]struct{}{}}
		}
		ru.fed.remote[rres] = *p
		key := rres + "\x00" + local
		_, greeted := ru.fed.greeted[key]
		arrived = !greeted
		ru.fed.greeted[key] = struct{}{}
		h.keepLocked(ru)
	case rres == "":
		ru.fed = nil
	case ru.fed != nil:
		delete(ru.fed.remote, rres)
		for key := range ru.fed.greeted {
			if strings.HasPrefix(key, rres+"\x00") {
				delete(ru.fed.greeted, key)
			}
		}
		if len(ru.fed.remote) == 0 {
			ru.fed = nil
		}
	}
	if wasOnline && !ru.online() {
		ru.lastSeen = h.clock.Now()
	}
	if !ru.online() {
		h.forgetLocked(ru)
	}
	h.deliver(delivery{ev: PresenceEvent{View: ru.fullView()}, subject: ru, flow: FlowPresence, to: self(local)})
	return arrived, approved, nil
}

// RemoteDomainGone marks every account of domain offline: its server is
// unreachable, so what it last said no longer holds. Local viewers see
// them go, as when the accounts sign out.
func (h *Hub) RemoteDomainGone(domain string) {
	h.roomDomainGone(domain)    // its users leave the rooms here (roomremote.go)
	h.foreignDomainGone(domain) // sessions here leave its rooms (foreignrooms.go)
	for _, u := range h.liveUsers() {
		if !strings.EqualFold(addr.DomainOf(u.address), domain) {
			continue // (u.remote is read under u's lock, below)
		}
		unlock := h.lock(u.address)
		if len(u.remoteRes()) > 0 {
			u.fed, u.lastSeen = nil, h.clock.Now()
			h.forgetLocked(u)
			to := make([]Target, 0, u.viewers.len())
			for _, v := range u.viewers.all() {
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
//
// In a cluster, each node holding sessions of the account answers with
// those (Peers.RemoteProbe, AnswerRemoteProbe): the remote server adds up
// resources as a client does.
func (h *Hub) RemoteProbe(ctx context.Context, from, to string) error {
	rbare, _, local, err := h.remoteParties(from, to)
	if err != nil {
		return err
	}
	elsewhere := h.cfg.Peers != nil && h.cfg.Peers.Holds(local)
	if elsewhere {
		h.cfg.Peers.RemoteProbe(rbare, local)
	}
	allowed, err := h.answerProbe(ctx, rbare, local, !elsewhere)
	if err != nil || !allowed {
		return err
	}
	return h.lastItemsTo(ctx, local, rbare, "") // a session of it came online
}

// answerProbe sends the remote account rbare the presence of the local
// account if it may see it, and reports whether it may. With always
// false, only a node holding sessions of local answers: an answer with no
// resource says the account is offline, which another node's sessions
// would contradict.
func (h *Hub) answerProbe(ctx context.Context, rbare, local string, always bool) (allowed bool, err error) {
	us, err := h.usersFor(ctx, local)
	if err != nil {
		return false, err
	}
	defer h.lock(local)()
	lu := h.liveOr(us[0])
	f := h.factsLocked(lu, rbare, Channel{})
	allowed = Allow(f, FlowPresence)
	if allowed && (always || len(lu.list()) > 0) {
		h.deliver(delivery{ev: PresenceEvent{View: lu.view(f)}, subject: lu, flow: FlowPresence, to: self(rbare)})
	}
	return allowed, nil
}

// lastItemsTo sends the last items of the local account's personal events
// to a remote viewer (one resource of it, or its bare address), each
// decided by the policy as a new one is (XEP-0163 § 4.3.3: a contact
// coming online gets them). Items published while invisible wait.
func (h *Hub) lastItemsTo(ctx context.Context, local, viewer, resource string) error {
	items, err := h.store.PersonalItemsOf(ctx, []string{local})
	if err != nil || len(items) == 0 {
		return err
	}
	us, err := h.usersFor(ctx, local)
	if err != nil {
		return err
	}
	defer h.lock(local)()
	lu := h.liveOr(us[0])
	for _, it := range items {
		if !it.Published.IsZero() {
			h.deliver(delivery{ev: PersonalEvent{Item: it}, subject: lu, flow: FlowEvent,
				to: []Target{{Account: viewer, Resource: resource, Want: Want{Topic: it.Topic}}}})
		}
	}
	return nil
}

// RemotePersonalEvent takes a personal event of a remote account (a PEP
// notification, XEP-0163), sent by its server to a local account: the
// local recipient gets it only if it may, decided here as for presence
// (the remote account approved it: the mirror edge), on its sessions that
// take the topic. It is delivered as it comes, not kept: a local session
// gets a remote contact's items when they are published, or when its
// server answers a probe.
func (h *Hub) RemotePersonalEvent(ctx context.Context, from, to string, ev PersonalEvent) error {
	rbare, _, local, err := h.remoteParties(from, to)
	if err != nil {
		return err
	}
	_, resource, _ := addr.Parse(to)
	it := &ev.Item
	if it.Account = rbare; topicBit(it.Topic) == 0 {
		return Errorf(CodeInvalid, "unknown topic %q", it.Topic)
	}
	if err := checkText("item", it.ItemID, maxItemID); err != nil {
		return err
	}
	if ev.Retracted {
		it.Data = ""
	} else {
		canon, err := CanonicalItem(it.Topic, json.RawMessage(it.Data))
		if err != nil {
			return err
		}
		it.Data, it.Published = string(canon), h.clock.Now().UTC().Truncate(time.Millisecond)
	}
	ru, err := h.remoteStandIn(ctx, rbare)
	if err != nil {
		return err
	}
	defer h.lock(rbare)()
	if live := h.live(rbare); live != nil {
		ru = live
	}
	h.deliver(delivery{ev: ev, subject: ru, flow: FlowEvent, to: []Target{{Account: local, Resource: resource, Want: Want{Topic: it.Topic}}}})
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
// CodeUnavailable as a message to nobody. A text message that reaches no
// session is stored for later, as a local sender's is (keepFrom, decided
// by the same rule on what the store holds): then it returns 0 and no
// error. It returns the sessions reached.
func (h *Hub) RemoteMessage(ctx context.Context, m Message) (int, error) {
	if err := validateMessage(&m); err != nil {
		return 0, err
	}
	rbare, _, local, err := h.remoteParties(m.From, m.To)
	if err != nil {
		return 0, err
	}
	_, resource, _ := addr.Parse(m.To)
	if n, handed, err := h.remoteMessageToPeer(ctx, m, rbare, local, resource); handed {
		return n, err
	}
	return h.remoteMessageHere(m, rbare, local, resource)
}

// remoteMessageHere is RemoteMessage decided on this node.
func (h *Hub) remoteMessageHere(m Message, rbare, local, resource string) (int, error) {
	m.Sent = h.clock.Now()
	unlock := h.lock(local)
	n, fallback, err := h.remoteMessageLocked(&m, rbare, local, resource)
	unlock()
	archive := func() { h.archiveReceived(rbare, m, local) }
	if fallback {
		_, err := h.keepFrom(rbare, Channel{}, nil, m, local, archive)
		return 0, err
	}
	if err == nil && n > 0 {
		archive()
	}
	return n, err
}

// remoteMessageLocked routes a remote account's message m to the local
// account; fallback reports that no session matched its address, for the
// offline fallback (as sendLocked). The caller holds local's lock.
func (h *Hub) remoteMessageLocked(m *Message, rbare, local, resource string) (n int, fallback bool, err error) {
	lu := h.live(local)
	if lu == nil {
		return 0, true, errUnavailable
	}
	viewer := rbare
	if m.Kind == KindMessage && m.Type == TypeError {
		// an error answers a message the recipient sent: its own business,
		// as a local refusal is told to the sender whoever the recipient
		// is; it carries the error alone, no text of the remote's
		m.Body, viewer = "", local
		if m.Payload == "" {
			return 0, false, nil
		}
	}
	if m.Kind == KindIQ && (m.Type == "result" || m.Type == "error") {
		if s := lu.session(resource); s != nil && s.answered(m.ID, rbare) {
			viewer = local // the answer to the session's own query (queryRemote): its business too
		}
	}
	want := Want{Kind: m.Kind, Payloads: m.Kind == KindMessage && m.Body == "", Available: resource == ""}
	r := h.deliver(delivery{ev: MessageEvent{Message: *m}, subject: lu, flow: FlowMessage, viewer: viewer,
		to: []Target{{Account: local, Resource: resource, Want: want}}})
	switch {
	case r.Online == 0:
		// as for a local sender: stored when nothing of the account may
		// take it; a gone resource of an account with others online stays
		// unavailable (the sender's server retries the bare address)
		return 0, resource == "" || !lu.online(), errUnavailable
	case r.Sessions == 0 && m.Kind == KindMessage && m.Body == "":
		return 0, false, nil
	case r.Sessions == 0:
		return 0, false, Errorf(CodeNotAccepted, "the recipient's sessions do not accept %ss", m.Kind)
	}
	return r.Sessions, false, nil
}

// queryRemote sends an iq request to an account of another domain at its
// bare address, which its server answers for the account (XEP-0012 last
// activity, XEP-0030 disco#info): that server decides what its account
// shows, as this one does for its own accounts, so nothing is decided
// against it here (the operator's domain lists aside). The answer comes
// back to the session's full address. For the user's own clients only: an
// app's grant says nothing of another domain's accounts.
func (s *Session) queryRemote(m Message, bare string) (Sent, error) {
	if !s.channel.FirstParty() {
		return Sent{}, Errorf(CodeForbidden, "apps do not query other domains' accounts")
	}
	if m.Type != "get" && m.Type != "set" {
		return Sent{}, Errorf(CodeInvalid, "a query to an account's bare address is a get or a set")
	}
	if err := checkText("id", m.ID, MaxMessageID); err != nil {
		return Sent{}, err
	}
	if m.Body != "" || m.Data != nil || m.Payload == "" || len(m.Payload) > MaxPayload {
		return Sent{}, Errorf(CodeInvalid, "an iq has a payload of at most %d bytes", MaxPayload)
	}
	h := s.hub
	stand, err := h.remoteStandIn(context.Background(), bare)
	if err != nil {
		return Sent{}, err
	}
	defer h.lock(bare, s.Account)()
	if s.ended.Load() {
		return Sent{}, errSessionGone
	}
	m.From, m.Sent = s.Address(), h.clock.Now()
	if live := h.live(bare); live != nil {
		stand = live
	}
	r := h.deliver(delivery{ev: MessageEvent{Message: m}, subject: stand, flow: FlowRequest, viewer: s.Account,
		to: []Target{{Account: bare, Want: Want{Kind: KindIQ}}}})
	if r.Online == 0 {
		return Sent{}, errUnavailable
	}
	s.expectAnswer(m.ID, bare)
	return Sent{Sessions: r.Sessions}, nil
}

// maxQueriesInFlight bounds the queries to other domains a session
// remembers until answered; past it the oldest is forgotten (its answer,
// if it ever comes, is then taken under the message rule).
const maxQueriesInFlight = 32

// pendingQuery is a query a session sent to an account of another domain.
type pendingQuery struct{ id, account string }

// expectAnswer remembers that s asked account with iq id, so that the
// answer reaches s whatever account lets s see (its server decided what to
// answer). The caller holds s's account lock.
func (s *Session) expectAnswer(id, account string) {
	r := s.rareLocked()
	if len(r.queries) == maxQueriesInFlight {
		r.queries = slices.Delete(r.queries, 0, 1)
	}
	r.queries = append(r.queries, pendingQuery{id, account})
}

// answered reports whether an iq result or error with id from account
// answers a query of s, and forgets that query: any other answer from
// another domain is an ordinary stanza from a stranger or a contact,
// decided by the message rule. The caller holds s's account lock.
func (s *Session) answered(id, account string) bool {
	if s.rare == nil {
		return false
	}
	i := slices.Index(s.rare.queries, pendingQuery{id, account})
	if i < 0 {
		return false
	}
	s.rare.queries = slices.Delete(s.rare.queries, i, i+1)
	if len(s.rare.queries) == 0 {
		s.rare.queries = nil
		s.dropRareLocked()
	}
	return true
}

// SecondsAway is what XEP-0012 answers of the account v shows: 0 while it
// is online, the seconds since it was last seen otherwise; ok is false
// when nothing may be told (v is an absence: a stranger, a block …).
func (v PresenceView) SecondsAway(now time.Time) (seconds int, ok bool) {
	switch {
	case v.Availability != Unavailable:
		return 0, true
	case !v.LastSeen.IsZero():
		return int(now.Sub(v.LastSeen).Seconds()), true
	}
	return 0, false
}

// Seen is what viewer, of this domain or another, may be told of the
// account subject when it asks about it (XEP-0012 last activity,
// XEP-0030 disco#info of the account): its presence view; ok is false when
// nothing may be told — a stranger, a blocked or hidden-from viewer, an
// invisible subject, one never seen, or an account that does not exist
// alike.
func (h *Hub) Seen(ctx context.Context, viewer, subject string) (v PresenceView, ok bool, err error) {
	views, err := h.Presence(ctx, viewer, []string{subject})
	if err != nil || len(views) != 1 {
		return PresenceView{}, false, err
	}
	_, ok = views[0].SecondsAway(time.Time{})
	return views[0], ok, nil
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

// RemoteOnline reports whether an account of domain is shown online here,
// or a session here is in a room of it: whether its server must be watched
// (the federation keeps a stream to it and tells RemoteDomainGone when it
// cannot).
func (h *Hub) RemoteOnline(domain string) bool {
	if h.foreignOnline(domain) { // foreignrooms.go
		return true
	}
	for _, u := range h.liveUsers() {
		if !strings.EqualFold(addr.DomainOf(u.address), domain) {
			continue // (u.remote is read under u's lock, below)
		}
		unlock := h.lock(u.address)
		online := len(u.remoteRes()) > 0
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
		if len(u.remoteRes()) > 0 {
			for _, v := range u.viewers.all() {
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
