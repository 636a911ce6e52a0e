package c2s

// Offline messages (XEP-0160) and message archive management (XEP-0313)
// on the core's stored messages and history (docs/offline.md).
//
// A message stored while the user was away arrives once the stream sends
// initial presence of non-negative priority, with a XEP-0203 <delay/>
// saying when it was sent. It is deleted once delivered: with stream
// management (XEP-0198) when the client acks it, without when it was
// written to the connection (the core's StoredOnAck: every ack of the
// session's outbox, which sink.go gives after the write without sm).
//
// The archive is queried at the account (an iq with no to, or to the bare
// address): a data form filters by with, start and end, result set
// management (XEP-0059) pages by before, after and max; each message
// comes as a <result/> wrapped in a XEP-0297 <forwarded/>, then the iq's
// <fin/> with first, last and complete.

import (
	"context"
	"encoding/xml"
	"strconv"
	"time"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const (
	nsDelay      = "urn:xmpp:delay"
	nsMAM        = "urn:xmpp:mam:2"
	nsRSM        = "http://jabber.org/protocol/rsm"
	nsData       = "jabber:x:data"
	nsMsgOffline = "msgoffline" // XEP-0160 § 5: the feature a server with offline storage advertises
)

func init() {
	register(iqFeature{
		payloads:   []xml.Name{{Space: nsMAM, Local: "query"}},
		at:         forAccount,
		handle:     (*conn).mam,
		firstParty: true, // the history names addresses an app's grant may not cover
		features:   map[addressee][]string{toAccount: {nsMAM, nsMsgOffline}, toServer: {nsMsgOffline}},
	})
}

// delay is a XEP-0203 stamp from the server.
func (c *conn) delay(at time.Time, why string) *xmlstream.Element {
	return xmlstream.New(nsDelay, "delay").Set("from", c.domain).Set("stamp", at.UTC().Format("2006-01-02T15:04:05.000Z")).AddText(why)
}

// mam answers a XEP-0313 query: the form's fields (get), or a page of the
// user's history (set).
func (c *conn) mam(rq iqRequest) error {
	if rq.typ == "get" { // § 5.1: the fields a query may use
		form := xmlstream.New(nsData, "x").Set("type", "form").Add(
			xmlstream.New(nsData, "field").Set("var", "FORM_TYPE").Set("type", "hidden").Add(xmlstream.New(nsData, "value").AddText(nsMAM)),
			xmlstream.New(nsData, "field").Set("var", "with").Set("type", "jid-single"),
			xmlstream.New(nsData, "field").Set("var", "start").Set("type", "text-single"),
			xmlstream.New(nsData, "field").Set("var", "end").Set("type", "text-single"))
		return c.iqResult(rq, xmlstream.New(nsMAM, "query").Add(form))
	}
	q := store.ArchiveQuery{Max: core.MaxHistoryPage}
	queryID := rq.payload.AttrValue("queryid")
	if x := rq.payload.Child(nsData, "x"); x != nil {
		for _, n := range x.Children {
			f, ok := n.(*xmlstream.Element)
			if !ok || f.Name.Local != "field" {
				continue
			}
			var v string
			if val := f.Child(nsData, "value"); val != nil {
				v = val.Text()
			}
			var err error
			switch f.AttrValue("var") {
			case "FORM_TYPE":
				if v != nsMAM {
					return c.iqError(rq, "modify", "bad-request")
				}
			case "with":
				bare, _, perr := addr.Parse(v)
				q.With, err = bare, perr
			case "start":
				q.Start, err = time.Parse(time.RFC3339, v)
			case "end":
				q.End, err = time.Parse(time.RFC3339, v)
			default:
				return c.iqError(rq, "modify", "bad-request") // § 4.1.1: unknown fields are refused
			}
			if err != nil {
				return c.iqError(rq, "modify", "bad-request")
			}
		}
	}
	if set := rq.payload.Child(nsRSM, "set"); set != nil {
		if m := set.Child(nsRSM, "max"); m != nil {
			n, err := strconv.Atoi(m.Text())
			if err != nil || n < 0 {
				return c.iqError(rq, "modify", "bad-request")
			}
			q.Max = min(n, core.MaxHistoryPage)
		}
		if a := set.Child(nsRSM, "after"); a != nil {
			id, err := strconv.ParseInt(a.Text(), 10, 64)
			if err != nil || id <= 0 {
				return c.iqError(rq, "cancel", "item-not-found")
			}
			q.After = id
		}
		if b := set.Child(nsRSM, "before"); b != nil {
			if b.Text() == "" {
				q.Last = true // XEP-0059 § 2.5: the last page
			} else {
				id, err := strconv.ParseInt(b.Text(), 10, 64)
				if err != nil || id <= 0 {
					return c.iqError(rq, "cancel", "item-not-found")
				}
				q.Before = id
			}
		}
	}
	var page []store.ArchivedMessage
	complete := true
	if q.Max > 0 {
		var err error
		if page, complete, err = c.sess.History(context.Background(), q); err != nil {
			return err
		}
	}
	me := c.sess.Address()
	for _, m := range page {
		typ := m.Type
		if typ == "" {
			typ = core.TypeChat
		}
		inner := xmlstream.New(nsClient, "message").Set("from", m.From).Set("to", m.To).Set("type", typ)
		if m.ID != "" {
			inner.Set("id", m.ID)
		}
		inner.Add(xmlstream.New(nsClient, "body").AddText(m.Body))
		res := xmlstream.New(nsMAM, "result").Set("id", strconv.FormatInt(m.Seq, 10))
		if queryID != "" {
			res.Set("queryid", queryID)
		}
		res.Add(xmlstream.New(nsForward, "forwarded").Add(
			xmlstream.New(nsDelay, "delay").Set("stamp", m.Sent.UTC().Format("2006-01-02T15:04:05.000Z")), inner))
		if err := c.write(xmlstream.New(nsClient, "message").Set("to", me).Set("id", randomToken()).Add(res)); err != nil {
			return err
		}
	}
	set := xmlstream.New(nsRSM, "set")
	if len(page) > 0 {
		set.Add(xmlstream.New(nsRSM, "first").AddText(strconv.FormatInt(page[0].Seq, 10)),
			xmlstream.New(nsRSM, "last").AddText(strconv.FormatInt(page[len(page)-1].Seq, 10)))
	}
	fin := xmlstream.New(nsMAM, "fin").Add(set)
	if complete {
		fin.Set("complete", "true")
	}
	return c.iqResult(rq, fin)
}
