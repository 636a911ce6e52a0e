package muc

import (
	"context"
	"strings"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// NSAdmin is XEP-0045's namespace of the moderators' and admins' requests.
const NSAdmin = "http://jabber.org/protocol/muc#admin"

// AdminSet applies the items of a muc#admin set (§ 8.2 kick, § 9.1 ban,
// § 9.3 members, § 10.3 admins): role none kicks; an affiliation names
// the account, by jid (of this domain or another: a resource is dropped)
// or by the nick of an occupant. m is who asks: a client stream's session,
// or the stand-in of an occupant of another domain (the s2s service); the
// core decides each call under the rooms' rule, whoever asks. It returns the error to answer with, or
// an empty condition when every item was applied.
func AdminSet(ctx context.Context, m core.RoomModerator, room string, q *xmlstream.Element) (typ, condition string) {
	for _, n := range q.Children {
		item, ok := n.(*xmlstream.Element)
		if !ok || item.Name.Space != NSAdmin || item.Name.Local != "item" {
			continue
		}
		nick, jid := item.AttrValue("nick"), item.AttrValue("jid")
		if bare, _, found := strings.Cut(jid, "/"); found {
			jid = bare
		}
		why := strings.TrimSpace(item.ChildText(NSAdmin, "reason"))
		var err error
		switch aff, role := item.AttrValue("affiliation"), item.AttrValue("role"); {
		case role == "none" && nick != "":
			err = m.Kick(ctx, room, nick, why)
		case aff != "" && aff != store.AffOwner:
			err = m.SetAffiliation(ctx, room, core.RoomWho{Nick: nick, Address: jid}, aff, why)
		default:
			return "cancel", "feature-not-implemented" // roles other than none: no voice or visitors here
		}
		if err != nil {
			switch core.CodeOf(err) {
			case core.CodeNotFound:
				return "cancel", "item-not-found"
			case core.CodeInvalid:
				return "modify", "bad-request"
			case core.CodeForbidden:
				return "cancel", "not-allowed"
			case core.CodeLimit:
				return "wait", "resource-constraint"
			case core.CodeUnavailable, core.CodeBusy: // the room's node, in a cluster, cannot be reached
				return "wait", "service-unavailable"
			}
			return "wait", "internal-server-error"
		}
	}
	return "", ""
}

// AdminList answers a muc#admin get of the accounts with one affiliation
// (§ 9.5 bans, § 9.8 members, § 10.5 owners, § 10.8 admins): the result's
// query, or the error to answer with.
func AdminList(ctx context.Context, m core.RoomModerator, room string, q *xmlstream.Element) (out *xmlstream.Element, typ, condition string) {
	item := q.Child(NSAdmin, "item")
	if item == nil || item.AttrValue("affiliation") == "" {
		return nil, "modify", "bad-request" // lists by role (moderators, participants) are not kept
	}
	aff := item.AttrValue("affiliation")
	accounts, err := m.Affiliated(ctx, room, aff)
	switch {
	case err == nil:
	case core.CodeOf(err) == core.CodeNotFound:
		return nil, "cancel", "item-not-found"
	case core.CodeOf(err) == core.CodeForbidden:
		return nil, "auth", "forbidden"
	case core.CodeOf(err) == core.CodeInvalid:
		return nil, "modify", "bad-request"
	case core.CodeOf(err) == core.CodeUnavailable, core.CodeOf(err) == core.CodeBusy, core.CodeOf(err) == core.CodeLimit:
		return nil, "wait", "service-unavailable" // the room's node cannot be reached, or the list is too big to cross
	default:
		return nil, "wait", "internal-server-error"
	}
	out = xmlstream.New(NSAdmin, "query")
	for _, a := range accounts {
		out.Add(xmlstream.New(NSAdmin, "item").Set("affiliation", aff).Set("jid", a))
	}
	return out, "", ""
}
