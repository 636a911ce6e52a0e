package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/store/postgres/pgtest"
)

// fedCluster is a.test served by two nodes (one PostgreSQL, one embedded
// NATS) federating with b.test, a single presenced: each a.test node has
// its own s2s listener and static route to b.test; b.test's route to
// a.test names node landing (1 or 2), where its streams (and dialback's
// verify requests, whichever node sent the key) land, as a load balancer
// would send them. The nodes share the server secret (dialback's keys)
// through the store, with no setting: nothing is copied between them.
type fedCluster struct {
	a     [2]*testServer
	b     *testServer
	users [2]*client.Client // alice@a.test on node 1, carol@a.test on node 2
	names [2]string
}

func startFedCluster(t *testing.T, landing int) *fedCluster {
	t.Helper()
	dsn := pgtest.DSN(t)
	nats := embeddedNATS(t).ClientURL()
	aS2S := [2]string{freeAddr(t), freeAddr(t)}
	bS2S := freeAddr(t)
	fc := &fedCluster{names: [2]string{"alice@a.test", "carol@a.test"}}
	for i := range fc.a {
		dir := t.TempDir()
		fc.a[i] = startServer(t, func(c *config.Config) {
			c.DataDir, c.Domain, c.Store, c.NATS, c.NodeID = dir, "a.test", dsn, []string{nats}, fmt.Sprintf("node-%d", i+1)
			c.S2SAddr, c.S2SRoutes, c.S2SDialback = aS2S[i], map[string]string{"b.test": bS2S}, true
		})
	}
	fc.b = startServer(t, func(c *config.Config) {
		c.Domain, c.S2SAddr, c.S2SDialback, c.XMPPAddr = "b.test", bS2S, true, "127.0.0.1:0"
		c.S2SRoutes = map[string]string{"a.test": aS2S[landing-1]}
	})
	for _, ts := range append(fc.a[:], fc.b) {
		waitReady(t, ts)
	}
	for i, name := range fc.names {
		fc.users[i] = fc.a[i].account(t, name)
	}
	fc.b.account(t, "bob@b.test")
	return fc
}

// via is user i's client (alice's or carol's) speaking to node (0 or 1)
// of a.test.
func (fc *fedCluster) via(i, node int) *client.Client {
	c := *fc.users[i]
	c.BaseURL = fc.a[node].URL
	return &c
}

// TestClusterFederates: a.test on two nodes and b.test federate whichever
// a.test node b.test's streams land on. alice (JSON, node 1) and carol
// (JSON, node 2) and bob (XMPP on b.test) subscribe to each other, see
// each other's presence and status changes, and exchange messages both
// ways; bob's personal events (PEP) reach both; b.test stopped, both
// a.test users see bob go offline; b.test back,
// bob's new sign-in probes a.test and sees both (each node answers for
// its own sessions); the node b.test's streams do not land on is killed
// and bob sees its user go offline; a block by the other holds against
// bob. Skipped unless PRESENCED_TEST_POSTGRES is set.
func TestClusterFederates(t *testing.T) {
	for _, landing := range []int{2, 1} {
		t.Run(fmt.Sprintf("streams land on node %d", landing), func(t *testing.T) {
			clusterFederates(t, landing)
		})
	}
}

func clusterFederates(t *testing.T, landing int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fc := startFedCluster(t, landing)
	var ss [2]*client.Session
	for i, u := range fc.users {
		s, err := u.Connect(ctx, client.ConnectOptions{Device: "web", Presence: &client.Presence{Availability: "available", Status: fmt.Sprintf("on node %d", i+1)}})
		must(t, err)
		ss[i] = s
	}
	bx, in := xmppFederated(t, fc.b, "bob@b.test/laptop")
	must(t, bx.Send(ctx, stanza2IQ(`<presence><status>on b</status></presence>`)))

	// bob asks to see both; each approves on its own node
	for i, name := range fc.names {
		must(t, bx.Send(ctx, stanza2IQ(`<presence to='`+name+`' type='subscribe'/>`)))
		_, err := ss[i].WaitFor(ctx, func(f client.Frame) bool {
			return f.Type == "subscription" && strings.Contains(string(f.Raw), "bob@b.test")
		})
		must(t, err)
		_, err = fc.users[i].SubscriptionAction(ctx, "bob@b.test", "approve")
		must(t, err)
		p := waitStanza(t, in, func(s stanza) bool {
			return s.XMLName.Local == "presence" && s.Type == "" && strings.HasPrefix(s.From, name+"/")
		})
		if p.Status != fmt.Sprintf("on node %d", i+1) {
			t.Fatalf("bob sees %s as %+v", name, p)
		}
	}
	// both ask back; bob's client approves: each sees bob on its node
	for i, name := range fc.names {
		_, err := fc.users[i].SubscriptionAction(ctx, "bob@b.test", "subscribe")
		must(t, err)
		waitStanza(t, in, func(s stanza) bool {
			return s.XMLName.Local == "presence" && s.Type == "subscribe" && s.From == name
		})
		must(t, bx.Send(ctx, stanza2IQ(`<presence to='`+name+`' type='subscribed'/>`)))
		f, err := ss[i].WaitFor(ctx, presenceIs("bob@b.test", "available"))
		must(t, err)
		if f.Status != "on b" {
			t.Fatalf("%s sees bob as %s", name, f.Raw)
		}
	}

	// status changes both ways, seen on both nodes
	must(t, bx.Send(ctx, stanza2IQ(`<presence><show>dnd</show><status>meeting</status></presence>`)))
	for i := range ss {
		_, err := ss[i].WaitFor(ctx, func(f client.Frame) bool {
			return f.Type == "presence" && f.Address == "bob@b.test" && f.Availability == "dnd" && f.Status == "meeting"
		})
		must(t, err)
	}
	for i, name := range fc.names {
		must(t, ss[i].SetPresence(ctx, client.Presence{Availability: "away", Status: "lunch " + name}))
		waitStanza(t, in, func(s stanza) bool {
			return s.XMLName.Local == "presence" && strings.HasPrefix(s.From, name+"/") && s.Show == "away" && s.Status == "lunch "+name
		})
	}

	// messages both ways, to sessions on either node
	for i, name := range fc.names {
		body := "from b to " + name
		must(t, bx.Send(ctx, stanza2IQ(`<message to='`+name+`' type='chat'><body>`+body+`</body></message>`)))
		f, err := ss[i].WaitFor(ctx, func(f client.Frame) bool { return f.Type == "message" && f.Body == body })
		must(t, err)
		if !strings.HasPrefix(f.From, "bob@b.test/") || f.Stored {
			t.Fatalf("%s got %s", name, f.Raw) // live, not kept for later: decided where the session is
		}
		// a headline is never kept for later: it reaches a live session or nothing
		must(t, bx.Send(ctx, stanza2IQ(`<message to='`+name+`' type='headline'><body>news for `+name+`</body></message>`)))
		_, err = ss[i].WaitFor(ctx, func(f client.Frame) bool { return f.Type == "message" && f.Body == "news for "+name })
		must(t, err)
		body = "from " + name + " to b"
		_, err = ss[i].Message(ctx, "bob@b.test", body)
		must(t, err)
		m := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.Body == body })
		if !strings.HasPrefix(m.From, name+"/") {
			t.Fatalf("bob got %+v", m)
		}
	}

	// bob's personal events (PEP) reach the users on both nodes
	res := sendIQ(t, ctx, bx, `<iq type='set' id='tune'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='http://jabber.org/protocol/tune'>`+
		`<item><tune xmlns='http://jabber.org/protocol/tune'><title>across</title></tune></item></publish></pubsub></iq>`)
	if res.Type != "result" {
		t.Fatalf("bob's tune: %+v", res)
	}
	for i := range ss {
		_, err := ss[i].WaitFor(ctx, func(f client.Frame) bool {
			return f.Type == "personal" && f.From == "bob@b.test" && strings.Contains(string(f.Raw), "across")
		})
		must(t, err)
	}

	// b.test goes away: viewers on both nodes see bob offline
	fc.b.stop()
	fc.b.Server.Close()
	for i := range ss {
		_, err := ss[i].WaitFor(ctx, presenceIs("bob@b.test", "unavailable"))
		must(t, err)
	}

	// b.test back: bob's new sign-in probes a.test, and each node answers
	// for its own user's sessions, over its own stream
	fc.b.restart(t)
	waitReady(t, fc.b)
	bx, in = xmppFederated(t, fc.b, "bob@b.test/phone")
	must(t, bx.Send(ctx, stanza2IQ(`<presence><status>back</status></presence>`)))
	answered := map[string]bool{}
	waitStanza(t, in, func(s stanza) bool { // the answers come in any order
		for _, name := range fc.names {
			if s.XMLName.Local == "presence" && s.Type == "" && strings.HasPrefix(s.From, name+"/") && s.Status == "lunch "+name {
				answered[name] = true
			}
		}
		return len(answered) == len(fc.names)
	})
	for i := range ss {
		_, err := ss[i].WaitFor(ctx, func(f client.Frame) bool {
			return f.Type == "presence" && f.Address == "bob@b.test" && f.Availability == "available" && f.Status == "back"
		})
		must(t, err)
	}

	// the node b.test's streams do not land on dies (its bus, its streams
	// and its client's connection cut): bob sees its user go offline
	dies, lives := 2-landing, landing-1
	fc.a[dies].Cluster.Kill()
	fc.a[dies].S2S.Close()
	ss[dies].Drop()
	waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.Type == "unavailable" && strings.HasPrefix(s.From, fc.names[dies])
	})

	// the other blocks bob: he sees it go, and his message bounces
	name := fc.names[lives]
	_, err := ss[lives].Request(ctx, "block", map[string]any{"address": "bob@b.test"})
	must(t, err)
	waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.Type == "unavailable" && strings.HasPrefix(s.From, name+"/")
	})
	must(t, bx.Send(ctx, stanza2IQ(`<message to='`+name+`' id='x1' type='chat'><body>still there?</body></message>`)))
	e := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.Type == "error" && s.ID == "x1" })
	if !strings.Contains(e.Inner, "service-unavailable") {
		t.Fatalf("bounce %+v", e)
	}
}

// TestClusterWatchesRemoteDomain: carol's session is on node 2, which
// sends nothing to b.test (her requests go to node 1, b.test's streams
// land on node 1): node 2 shows her bob from what node 1 handed it, and
// watches b.test itself, so when b.test goes away she sees bob offline.
// Skipped unless PRESENCED_TEST_POSTGRES is set.
func TestClusterWatchesRemoteDomain(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fc := startFedCluster(t, 1)
	carol, viaOne := fc.users[1], fc.via(1, 0)
	cs, err := carol.Connect(ctx, client.ConnectOptions{Device: "web"}) // on node 2
	must(t, err)
	bx, in := xmppFederated(t, fc.b, "bob@b.test/laptop")
	must(t, bx.Send(ctx, stanza2IQ(`<presence><status>on b</status></presence>`)))
	_, err = viaOne.SubscriptionAction(ctx, "bob@b.test", "subscribe")
	must(t, err)
	waitStanza(t, in, func(s stanza) bool {
		return s.XMLName.Local == "presence" && s.Type == "subscribe" && s.From == "carol@a.test"
	})
	must(t, bx.Send(ctx, stanza2IQ(`<presence to='carol@a.test' type='subscribed'/>`)))
	_, err = cs.WaitFor(ctx, presenceIs("bob@b.test", "available"))
	must(t, err)
	fc.b.stop()
	fc.b.Server.Close()
	_, err = cs.WaitFor(ctx, presenceIs("bob@b.test", "unavailable"))
	must(t, err)
}

// TestClusterBlockReachesRemoteViewerEverywhere: alice has a session on
// each node, both shown to bob on b.test (each node announces its own
// resource on its own stream); she blocks bob from her session on node
// 2: both her resources go unavailable for him, the one on node 1 told
// by node 1, which learns of the block from the store's log, and his
// message bounces whichever node it lands on. Skipped unless
// PRESENCED_TEST_POSTGRES is set.
func TestClusterBlockReachesRemoteViewerEverywhere(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	fc := startFedCluster(t, 1)
	alice, onTwo := fc.users[0], fc.via(0, 1)
	s1, err := alice.Connect(ctx, client.ConnectOptions{Device: "one", Presence: &client.Presence{Availability: "available", Status: "on node 1"}})
	must(t, err)
	s2, err := onTwo.Connect(ctx, client.ConnectOptions{Device: "two", Presence: &client.Presence{Availability: "available", Status: "on node 2"}})
	must(t, err)
	bx, in := xmppFederated(t, fc.b, "bob@b.test/laptop")
	must(t, bx.Send(ctx, stanza2IQ(`<presence/>`)))
	must(t, bx.Send(ctx, stanza2IQ(`<presence to='alice@a.test' type='subscribe'/>`)))
	_, err = s1.WaitFor(ctx, func(f client.Frame) bool {
		return f.Type == "subscription" && strings.Contains(string(f.Raw), "bob@b.test")
	})
	must(t, err)
	_, err = alice.SubscriptionAction(ctx, "bob@b.test", "approve")
	must(t, err)

	shown := map[string]string{} // alice's resource → its status, as bob sees it
	waitStanza(t, in, func(s stanza) bool {
		if s.XMLName.Local == "presence" && strings.HasPrefix(s.From, "alice@a.test/") && s.Type == "" {
			shown[s.From] = s.Status
		}
		return len(shown) == 2
	})
	_, err = s2.Request(ctx, "block", map[string]any{"address": "bob@b.test"})
	must(t, err)
	waitStanza(t, in, func(s stanza) bool {
		if s.XMLName.Local == "presence" && s.Type == "unavailable" {
			if s.From == "alice@a.test" { // the bare address: all of them
				clear(shown)
			}
			delete(shown, s.From)
		}
		return len(shown) == 0
	})
	must(t, bx.Send(ctx, stanza2IQ(`<message to='alice@a.test' id='x1' type='chat'><body>still there?</body></message>`)))
	e := waitStanza(t, in, func(s stanza) bool { return s.XMLName.Local == "message" && s.Type == "error" && s.ID == "x1" })
	if !strings.Contains(e.Inner, "service-unavailable") {
		t.Fatalf("bounce %+v", e)
	}
}
