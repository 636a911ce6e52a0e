package c2s

import (
	"context"
	"sort"
	"strings"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// XEP-0191 blocking command and XEP-0030 service discovery.
const (
	nsBlocking = "urn:xmpp:blocking"
)

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
		return c.iqResult(rq, `<blocklist xmlns='`+nsBlocking+`'>`+items(p.Blocks)+`</blocklist>`)
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
	return c.iqResult(rq, "")
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

func items(jids []string) string {
	var b strings.Builder
	for _, j := range jids {
		b.WriteString("<item jid='" + esc(j) + "'/>")
	}
	return b.String()
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
		if err := c.write(`<iq type='set' id='push%d' to='%s'><%s xmlns='%s'>%s</%s></iq>`,
			c.pushID.Add(1), esc(c.sess.Address()), change.el, nsBlocking, items(change.jids), change.el); err != nil {
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
