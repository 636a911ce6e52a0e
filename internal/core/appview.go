package core

import (
	"context"
	"crypto/hmac"

	"github.com/presenced/presenced/internal/addr"
)

// What an app's channel is shown (DESIGN § 3 rule 4): the events the
// policy let through, with every address replaced by the holder's handle
// for it unless the grant lets the app see addresses, and nothing that is
// first-party business (subscriptions, privacy lists, the address book,
// carbons). A refused subject the grant covers is shown absent, like a
// first-party viewer; one it does not cover is not mentioned at all.

// forApp projects ev for holder's sessions on f.Channel.
func (h *Hub) forApp(ev Event, su *user, f Facts, flow Flow, holder string) Event {
	g := h.grantOf(holder, f.Channel)
	if g == nil { // revoked or expired: nothing is granted any more
		switch ev := ev.(type) {
		case Snapshot:
			return Snapshot{Self: PresenceView{Address: h.handles.Of(f.Channel.App, holder, holder), Availability: Unavailable}}
		case Goaway:
			return ev
		}
		return nil
	}
	n := namer{h: h, g: g, app: f.Channel.App, holder: holder}
	switch ev := ev.(type) {
	case Snapshot: // built for the channel (snapshotLocked): only named here
		return n.snapshot(ev)
	case Goaway:
		return ev
	}
	if !appSees(f, flow) {
		return nil
	}
	switch ev := ev.(type) {
	case PresenceEvent:
		return PresenceEvent{View: n.view(ev.View)}
	case PersonalEvent:
		ev.Item.Account = n.name(ev.Item.Account)
		return ev
	case MessageEvent:
		if ev.Carbon != "" {
			return nil
		}
		m := ev.Message
		m.From, m.To = n.full(m.From), n.full(m.To)
		ev.Message = m
		return ev
	case CallEvent:
		ev.From = n.full(ev.From)
		return ev
	}
	return nil
}

// namer names accounts for one holder in one app.
type namer struct {
	h      *Hub
	g      *liveGrant
	app    string
	holder string
}

// name is the app's name for a bare address: the address itself with
// the addresses permission, else the holder's handle for it.
func (n namer) name(bare string) string {
	if n.g.addresses {
		return bare
	}
	return n.h.handles.Of(n.app, n.holder, bare)
}

// full names a full or bare address; resources are shown only with
// addresses (a handle names the account, never a device).
func (n namer) full(address string) string {
	if n.g.addresses {
		return address
	}
	bare, _, err := addr.Parse(address)
	if err != nil {
		return ""
	}
	return n.name(bare)
}

// nameOf, grant and viewOf are name, g and view for a namer that may be
// nil: first-party, where addresses are names.
func (n *namer) nameOf(bare string) string {
	if n == nil {
		return bare
	}
	return n.name(bare)
}

func (n *namer) grant() *liveGrant {
	if n == nil {
		return nil
	}
	return n.g
}

func (n *namer) viewOf(v PresenceView) PresenceView {
	if n == nil {
		return v
	}
	return n.view(v)
}

func (n namer) view(v PresenceView) PresenceView {
	v.Address = n.name(v.Address)
	if !n.g.addresses {
		v.Sessions = nil // resources would link devices across apps
	}
	return v
}

func (n namer) snapshot(snap Snapshot) Snapshot {
	out := Snapshot{Self: n.view(snap.Self), Presence: make([]PresenceView, 0, len(snap.Presence))}
	for _, v := range snap.Presence {
		out.Presence = append(out.Presence, n.view(v))
	}
	for _, it := range snap.Items {
		it.Account = n.name(it.Account)
		out.Items = append(out.Items, it)
	}
	return out
}

// resolveTo turns the recipient an app's session s wrote into an address:
// a handle is looked for among the contacts the grant covers that let
// the holder reach them (the message rule), so a handle the app forged or
// took from another app or user names nobody, and is answered like an
// offline recipient. It returns the grant the send is decided with, nil
// for a first-party session.
func (h *Hub) resolveTo(s *Session, m *Message) (*liveGrant, error) {
	if s.channel.FirstParty() {
		return nil, nil
	}
	g := h.grantOf(s.Account, s.channel)
	if g == nil {
		return nil, errNoGrant
	}
	if g.addresses {
		return g, nil // addresses are the app's names: the policy checks them at the send
	}
	if !IsHandle(m.To) {
		return nil, Errorf(CodeInvalid, "to: an app without the addresses permission writes to handles")
	}
	app := s.channel.App
	if m.To == h.handles.Of(app, s.Account, s.Account) {
		m.To = s.Account
		return g, nil
	}
	facts, err := h.store.ApprovedBy(context.Background(), s.Account)
	if err != nil {
		return nil, err
	}
	for _, sf := range facts {
		if g.covers(sf.Subject) && hmac.Equal([]byte(h.handles.Of(app, s.Account, sf.Subject)), []byte(m.To)) {
			m.To = sf.Subject
			return g, nil
		}
	}
	return nil, errUnavailable
}

// Self is the session's own full address as its channel names it: an
// app without the addresses permission knows its user by the handle it
// was given (the ID token's sub), with the session's resource.
func (s *Session) Self() string {
	if s.channel.FirstParty() {
		return s.Address()
	}
	if g := s.hub.grantOf(s.Account, s.channel); g != nil && g.addresses {
		return s.Address()
	}
	return s.hub.handles.Of(s.channel.App, s.Account, s.Account) + "/" + s.Resource
}
