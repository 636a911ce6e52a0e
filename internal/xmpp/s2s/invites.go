package s2s

// XEP-0249 direct invitations across domains (core/roominvites.go): a
// local occupant's invitation to a user of another domain leaves as
// <message><x xmlns='jabber:x:conference' jid='room@conference.DOMAIN'/>,
// naming the room by the service of the inviter's domain; one arriving
// for a local user is handed to the core as an invitation (a room of
// another domain by its address, one of this server's by its name), which
// decides it as that sender's message.

import (
	"context"
	"strings"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// nsConference is XEP-0249's namespace.
const nsConference = "jabber:x:conference"

// inviteStanza is a local occupant's invitation, to an account of another
// domain.
func (s *Server) inviteStanza(ev core.RoomInvite, to string) []*xmlstream.Element {
	from := bareOf(ev.From)
	if !s.isLocal(from) || strings.Contains(ev.Room, "@") {
		return nil // a server never relays; a room here is named by its name
	}
	_, domain, _ := strings.Cut(from, "@")
	x := xmlstream.New(nsConference, "x").Set("jid", ev.Room+"@"+mucPrefix+strings.ToLower(domain))
	if ev.Reason != "" {
		x.Set("reason", ev.Reason)
	}
	return []*xmlstream.Element{xmlstream.New(nsServer, "message").Set("from", ev.From).Set("to", to).Add(x)}
}

// onInvite takes a XEP-0249 invitation x from a user of another domain to
// a local account; a refusal is answered as a refused message is.
func (s *Server) onInvite(ctx context.Context, el, x *xmlstream.Element, from, to string) {
	room := x.AttrValue("jid")
	if name, service, ok := strings.Cut(room, "@"); ok && s.isMUCService(service) {
		room = name // a room of this server, which local sessions join by its name
	}
	err := s.core.RemoteInvite(ctx, from, to, room, x.AttrValue("reason"))
	switch {
	case err == nil:
	case core.CodeOf(err) == core.CodeInvalid:
		s.stanzaError(el, from, to, "modify", "bad-request")
	default: // unknown, offline, not sharing presence: all alike, as for a message
		s.stanzaError(el, from, to, "cancel", "service-unavailable")
	}
}
