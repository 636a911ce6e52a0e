package c2s

// XEP-0191 Blocking Command on the core's block list.

import (
	"context"
	"encoding/xml"
	"sort"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const nsBlocking = "urn:xmpp:blocking"

func init() {
	register(iqFeature{
		payloads: []xml.Name{{Space: nsBlocking, Local: "blocklist"}, {Space: nsBlocking, Local: "block"}, {Space: nsBlocking, Local: "unblock"}},
		at:       forAccount,
		handle:   (*conn).blocking,
		// the block list is the user's own business, as on the REST API
		firstParty: true,
		features:   map[addressee][]string{toServer: {nsBlocking}},
	})
}

// blocking answers XEP-0191 requests on the core's blocks: the same list the
// JSON protocol and the REST API edit. Pushes to the user's resources come
// from the core's privacy events (see blockPush).
func (c *conn) blocking(rq iqRequest) error {
	ctx, typ, el := context.Background(), rq.typ, rq.el
	if b := el.Child(nsBlocking, "blocklist"); b != nil && typ == "get" {
		p, err := c.s.Hub.Privacy(ctx, c.account)
		if err != nil {
			return err
		}
		return c.iqResult(rq, blockItems("blocklist", p.Blocks))
	}
	block, unblock := el.Child(nsBlocking, "block"), el.Child(nsBlocking, "unblock")
	if typ != "set" || (block == nil && unblock == nil) {
		return c.iqError(rq, "modify", "bad-request")
	}
	op, list := c.s.Hub.Block, block
	if unblock != nil {
		op, list = c.s.Hub.Unblock, unblock
	}
	jids := itemJIDs(list)
	if block != nil && len(jids) == 0 {
		return c.iqError(rq, "modify", "bad-request") // XEP-0191 § 3.3: a block needs items
	}
	if unblock != nil && len(jids) == 0 { // unblock everyone
		p, err := c.s.Hub.Privacy(ctx, c.account)
		if err != nil {
			return err
		}
		jids = p.Blocks
	}
	for _, j := range jids {
		if err := op(ctx, c.account, j); err != nil {
			return c.iqError(rq, "modify", "jid-malformed")
		}
	}
	return c.iqResult(rq, nil)
}

func itemJIDs(el *xmlstream.Element) []string {
	var out []string
	for _, n := range el.Children {
		if it, ok := n.(*xmlstream.Element); ok && it.Name.Local == "item" {
			out = append(out, it.AttrValue("jid"))
		}
	}
	return out
}

// blockItems is a blocking element (blocklist, block, unblock) listing jids.
func blockItems(local string, jids []string) *xmlstream.Element {
	el := xmlstream.New(nsBlocking, local)
	for _, j := range jids {
		el.Add(xmlstream.New(nsBlocking, "item").Set("jid", j))
	}
	return el
}

// blockPush tells the resource what changed in the block list (XEP-0191
// § 3.3, 3.4), from the core's privacy event. The flush goroutine calls it.
func (c *conn) blockPush(p core.Privacy) error {
	added, removed := diff(c.blocks, p.Blocks), diff(p.Blocks, c.blocks)
	c.blocks = append([]string(nil), p.Blocks...)
	for _, change := range []struct {
		el   string
		jids []string
	}{{"block", added}, {"unblock", removed}} {
		if len(change.jids) == 0 {
			continue
		}
		if err := c.push(blockItems(change.el, change.jids)); err != nil {
			return err
		}
	}
	return nil
}

// diff lists what b has that a lacks.
func diff(a, b []string) []string {
	have := map[string]bool{}
	for _, x := range a {
		have[x] = true
	}
	var out []string
	for _, x := range b {
		if !have[x] {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}
