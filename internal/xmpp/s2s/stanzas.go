package s2s

// Stanzas from an authenticated remote domain, into the core: the sender
// is the remote account, the core decides.

import (
	"context"
	"crypto/subtle"
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/xmpp/pep"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

func hmacEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// domainOfAddress is the domain of a bare, full or domain address.
func domainOfAddress(a string) string {
	a, _, _ = strings.Cut(a, "/")
	if _, d, ok := strings.Cut(a, "@"); ok {
		return strings.ToLower(d)
	}
	return strings.ToLower(a)
}

// onStanza checks a stanza's addresses against the stream (RFC 6120 §
// 4.9.3.9 invalid-from, § 4.9.3.6 host-unknown) and hands it to the core.
func (c *inConn) onStanza(el *xmlstream.Element) error {
	from, to := el.AttrValue("from"), el.AttrValue("to")
	fd := domainOfAddress(from)
	if from == "" || !c.isAuthed(fd) {
		return &xmlstream.StreamError{Condition: "invalid-from", Text: "the sender's domain is not authenticated on this stream"}
	}
	if to == "" {
		return &xmlstream.StreamError{Condition: "improper-addressing", Text: "a stanza between servers has a to"}
	}
	if ok, abusive := c.s.spend(fd); abusive {
		return errFlood
	} else if !ok {
		c.s.overBudget(el, from, to)
		return nil
	}
	if c.s.core == nil {
		return nil
	}
	if c.s.isMUCService(domainOfAddress(to)) {
		c.s.onMUC(context.Background(), el, from, to) // muc.go
		return nil
	}
	if !c.s.serves(domainOfAddress(to)) {
		// nobody's: the stanza is refused, the stream stays
		if el.AttrValue("type") != "error" && el.AttrValue("type") != "result" && el.Name.Local != "presence" {
			c.s.stanzaError(el, from, to, "cancel", "service-unavailable")
		}
		return nil
	}
	ctx := context.Background()
	if c.s.fromForeignRoom(ctx, el, from, to) { // a room a local session joined (foreign.go)
		return nil
	}
	switch el.Name.Local {
	case "presence":
		c.s.onPresence(ctx, el, from, to)
	case "message":
		c.s.onMessage(ctx, el, from, to)
	case "iq":
		c.s.onIQ(ctx, el, from, to)
	}
	return nil
}

func childText(el *xmlstream.Element, local string) string {
	return strings.TrimSpace(el.ChildText(nsServer, local))
}

func (s *Server) onPresence(ctx context.Context, el *xmlstream.Element, from, to string) {
	var err error
	switch typ := el.AttrValue("type"); typ {
	case "":
		p := core.Presence{Availability: core.Available, Status: childText(el, "status")}
		if show := childText(el, "show"); show != "" && show != "chat" {
			p.Availability = core.Availability(show)
		}
		if pr := childText(el, "priority"); pr != "" {
			p.Priority, _ = strconv.Atoi(pr)
		}
		err = s.core.RemotePresence(ctx, from, to, &p)
	case "unavailable":
		err = s.core.RemotePresence(ctx, from, to, nil)
	case "probe":
		err = s.core.RemoteProbe(ctx, from, to)
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		err = s.core.RemoteSubscription(ctx, bareOf(from), bareOf(to), typ)
	}
	if err != nil {
		s.cfg.Log.Debug("s2s: presence not taken", "from", from, "to", to, "err", err)
	}
}

func (s *Server) onMessage(ctx context.Context, el *xmlstream.Element, from, to string) {
	id, typ := el.AttrValue("id"), el.AttrValue("type")
	switch typ {
	case core.TypeChat, core.TypeHeadline, core.TypeError:
	case "groupchat":
		s.stanzaError(el, from, to, "cancel", "service-unavailable")
		return
	default:
		typ = core.TypeNormal
	}
	if ev := el.Child(pep.NSEvent, "event"); ev != nil && typ != core.TypeError {
		s.onPersonalEvent(ctx, ev, from, to)
		return
	}
	if x := el.Child(nsConference, "x"); x != nil && typ != core.TypeError {
		s.onInvite(ctx, el, x, from, to) // XEP-0249 (invites.go)
		return
	}
	m := core.Message{ID: id, Kind: core.KindMessage, Type: typ, From: from, To: to}
	var payload strings.Builder
	for _, n := range el.Children {
		if ch, ok := n.(*xmlstream.Element); ok {
			if ch.Name.Space == nsServer && ch.Name.Local == "body" && m.Body == "" {
				m.Body = ch.Text()
			} else if typ != core.TypeError || ch.Name.Space == nsServer && ch.Name.Local == "error" { // an error carries its error alone
				payload.WriteString(ch.String(nsServer))
			}
		}
	}
	m.Payload = payload.String()
	if m.Body == "" && m.Payload == "" {
		return
	}
	if _, _, err := addr.Parse(to); err != nil {
		s.stanzaError(el, from, to, "modify", "jid-malformed")
		return
	}
	_, err := s.core.RemoteMessage(ctx, m)
	if bare, resource, _ := addr.Parse(to); core.CodeOf(err) == core.CodeUnavailable && resource != "" && (typ == core.TypeChat || typ == core.TypeNormal) {
		m.To = bare // RFC 6121 § 8.5.3.2.1: the resource is gone, the account may have others
		_, err = s.core.RemoteMessage(ctx, m)
	}
	switch {
	case err == nil, typ == core.TypeError, typ == core.TypeHeadline:
	case core.CodeOf(err) == core.CodeInvalid:
		s.stanzaError(el, from, to, "modify", "bad-request")
	case core.CodeOf(err) == core.CodeLimit: // the recipient's stored messages are at their limit
		s.stanzaError(el, from, to, "wait", "resource-constraint")
	default: // unknown, offline, not sharing presence: all alike, as for a local sender
		s.stanzaError(el, from, to, "cancel", "service-unavailable")
	}
}

// onPersonalEvent takes a PEP notification (XEP-0163) of a remote
// account's personal event: the core delivers it to the local recipient if
// the remote account approved it. A notification is never answered with
// an error (XEP-0060 § 7.1.2: it is a headline), nor taken as a message;
// one of another node (a pubsub service's) is dropped.
func (s *Server) onPersonalEvent(ctx context.Context, ev *xmlstream.Element, from, to string) {
	n, err := pep.ParseEvent(ev)
	if err == nil {
		pe := core.PersonalEvent{Item: store.PersonalItem{Topic: n.Topic, ItemID: n.ItemID, Data: string(n.Data)}, Retracted: n.Retracted}
		err = s.core.RemotePersonalEvent(ctx, bareOf(from), to, pe)
	}
	if err != nil {
		s.cfg.Log.Debug("s2s: personal event not taken", "from", from, "to", to, "err", err)
	}
}

func (s *Server) onIQ(ctx context.Context, el *xmlstream.Element, from, to string) {
	id, typ := el.AttrValue("id"), el.AttrValue("type")
	request := typ == "get" || typ == "set"
	if !strings.Contains(to, "@") { // to the server itself
		if request && typ == "get" && el.Child("urn:xmpp:ping", "ping") != nil {
			s.enqueue(domainOfAddress(from), xmlstream.New(nsServer, "iq").Set("type", "result").Set("id", id).Set("from", to).Set("to", from))
			return
		}
		if request {
			s.stanzaError(el, from, to, "cancel", "service-unavailable")
		}
		return
	}
	bare, resource, err := addr.Parse(to)
	if q := el.Child(pep.NSDiscoInfo, "query"); typ == "get" && resource != "" && pep.IsSessionInfoQuery(q) {
		// the capabilities announced for local sessions (router.go): the
		// server's answer, the same for every full address, whoever asks
		s.enqueue(domainOfAddress(from), xmlstream.New(nsServer, "iq").Set("type", "result").Set("id", id).Set("from", to).Set("to", from).
			Add(pep.SessionInfo().Set("node", q.AttrValue("node"))))
		return
	}
	var payload strings.Builder
	for _, n := range el.Children {
		if ch, ok := n.(*xmlstream.Element); ok {
			payload.WriteString(ch.String(nsServer))
		}
	}
	switch {
	case err == nil && resource != "":
		_, err = s.core.RemoteMessage(ctx, core.Message{ID: id, Kind: core.KindIQ, Type: typ, From: from, To: to, Payload: payload.String()})
	case err == nil && typ == "get":
		if answer := s.forAccount(ctx, el, bareOf(from), bare); answer != nil {
			s.enqueue(domainOfAddress(from), xmlstream.New(nsServer, "iq").Set("type", "result").Set("id", id).Set("from", bare).Set("to", from).Add(answer))
			return
		}
		err = core.Errorf(core.CodeUnavailable, "nothing to tell")
	default:
		err = core.Errorf(core.CodeUnavailable, "no iq service for the account")
	}
	if err != nil && request {
		s.stanzaError(el, from, to, "cancel", "service-unavailable")
	}
}

// forAccount is what the server answers for the local account bare to a
// query of the remote account asker (RFC 6120 § 10.3.3), exactly as to a
// local one: its last activity (XEP-0012) and its disco#info (XEP-0030)
// to those that may see its presence; nil, told as service-unavailable,
// to anyone else and for anything else, as for an account that does not
// exist.
func (s *Server) forAccount(ctx context.Context, el *xmlstream.Element, asker, bare string) *xmlstream.Element {
	last, info := el.Child(nsLast, "query"), el.Child(pep.NSDiscoInfo, "query")
	if last == nil && (info == nil || info.AttrValue("node") != "") {
		return nil
	}
	v, ok, err := s.core.Seen(ctx, asker, bare)
	switch {
	case err != nil || !ok:
		return nil
	case last != nil:
		seconds, _ := v.SecondsAway(time.Now())
		return xmlstream.New(nsLast, "query").Set("seconds", strconv.Itoa(seconds))
	}
	return pep.ContactInfo()
}

// stanzaError answers a stanza with an error, from its recipient, over our
// own stream to the sender's domain (streams carry one direction).
func (s *Server) stanzaError(el *xmlstream.Element, from, to, typ, cond string) {
	e := xmlstream.New(nsServer, el.Name.Local).Set("type", "error").Set("from", to).Set("to", from)
	if id := el.AttrValue("id"); id != "" {
		e.Set("id", id)
	}
	e.Add(xmlstream.New(nsServer, "error").Set("type", typ).Add(xmlstream.New(nsStanzas, cond)))
	s.enqueue(domainOfAddress(from), e)
}
