package c2s

// XEP-0115 Entity Capabilities, used as XEP-0163 asks: a client's presence
// names its capabilities by a hash (ver); the server learns what they are
// with one disco#info query per unknown hash, checks the hash, and reads
// "NODE+notify" features as the PEP nodes the client wants notifications
// of. Verified hashes are cached for every later client with the same
// software.

import (
	"context"
	"strings"
	"sync"

	"github.com/presenced/presenced/internal/xmpp/pep"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const nsCaps = pep.NSCaps

// capsCacheSize bounds the verified hashes kept: one per client version.
const capsCacheSize = 4096

// capsCache maps a verified ver to the topics its +notify features name.
type capsCache struct {
	mu sync.Mutex
	m  map[string][]string
}

func (cc *capsCache) get(ver string) ([]string, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	t, ok := cc.m[ver]
	return t, ok
}

func (cc *capsCache) put(ver string, topics []string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil || len(cc.m) >= capsCacheSize {
		cc.m = map[string][]string{} // start over rather than grow: hashes are few in practice
	}
	cc.m[ver] = topics
}

// onCaps handles the caps element of the client's presence.
func (c *conn) onCaps(el *xmlstream.Element) error {
	caps := el.Child(nsCaps, "c")
	if caps == nil {
		return nil
	}
	ver, node := caps.AttrValue("ver"), caps.AttrValue("node")
	if ver == "" || ver == c.capsVer {
		return nil
	}
	c.capsVer = ver
	c.capsAsked = false // an answer about an earlier ver no longer counts
	if topics, ok := c.s.caps.get(ver); ok && caps.AttrValue("hash") == "sha-1" {
		return c.sess.SetInterests(context.Background(), topics)
	}
	c.capsAsked = true
	return c.write(xmlstream.New(nsClient, "iq").Set("type", "get").Set("from", c.account).Set("to", c.sess.Address()).Set("id", c.capsQueryID()).
		Add(xmlstream.New(nsDiscoInfo, "query").Set("node", node+"#"+ver)))
}

// capsQueryID is the id of our disco#info query about capsVer, made from
// it rather than kept: the stream holds one flag instead of a string.
func (c *conn) capsQueryID() string { return "caps" + c.capsVer }

// isCapsResult: the iq result or error of this id answers our query out about
// the client's current capabilities.
func (c *conn) isCapsResult(id string) bool {
	return c.capsAsked && strings.HasPrefix(id, "caps") && id[len("caps"):] == c.capsVer
}

// onCapsResult takes the answer to our disco#info query: interests from
// its features, cached when the hash checks out.
func (c *conn) onCapsResult(el *xmlstream.Element) error {
	ver := c.capsVer
	c.capsAsked = false
	q := el.Child(nsDiscoInfo, "query")
	if el.AttrValue("type") != "result" || q == nil {
		return nil
	}
	var topics []string
	for _, n := range q.Children {
		if f, ok := n.(*xmlstream.Element); ok && f.Name.Local == "feature" {
			if node, ok := strings.CutSuffix(f.AttrValue("var"), "+notify"); ok {
				if k, ok := pep.ByNode(node); ok {
					topics = append(topics, k.Topic)
				}
			}
		}
	}
	if pep.VerString(q) == ver {
		c.s.caps.put(ver, topics)
	}
	return c.sess.SetInterests(context.Background(), topics)
}
