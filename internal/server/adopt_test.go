package server

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/store/postgres/pgtest"
)

// twoNodes starts nodes a and b of one domain on PostgreSQL and NATS,
// with alice on a (over long-polling if poll) and bob, her contact, on
// b, each seeing the other.
func twoNodes(t *testing.T, ctx context.Context, poll bool) (a, b *testServer, alice, bob *client.Client, as, bs *client.Session) {
	dsn := pgtest.DSN(t)
	url := embeddedNATS(t).ClientURL()
	a = startServer(t, func(c *config.Config) { c.Store, c.NATS, c.NodeID = dsn, []string{url}, "node-a" })
	b = startServer(t, func(c *config.Config) { c.Store, c.NATS, c.NodeID = dsn, []string{url}, "node-b" })
	alice, bob = a.user(t, "alice"), b.user(t, "bob")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	connect := alice.Connect
	if poll {
		connect = alice.ConnectPoll
	}
	as, err := connect(ctx, client.ConnectOptions{Device: "phone", Presence: &client.Presence{Availability: "available", Status: "on a"}})
	must(t, err)
	eventually(t, "b to learn that a holds alice", func() bool { return b.Cluster.Holds("alice@localhost") })
	bs, err = bob.Connect(ctx, client.ConnectOptions{Device: "laptop", Presence: &client.Presence{Availability: "available", Status: "on b"}})
	must(t, err)
	_, err = bs.WaitFor(ctx, presenceIs("alice@localhost", "available"))
	must(t, err)
	_, err = as.WaitFor(ctx, presenceIs("bob@localhost", "available"))
	must(t, err)
	eventually(t, "alice's session to be recorded", func() bool { return a.Cluster.Recorded("alice@localhost", as.Resource) })
	return a, b, alice, bob, as, bs
}

// resumeRaw resumes session after seq on ts over a WebSocket of its own
// and returns the connection and the welcome.
func resumeRaw(t *testing.T, ts *testServer, token, session string, seq uint64) (*websocket.Conn, map[string]any) {
	t.Helper()
	c, _, err := dialWS(t, ts, token, nil)
	must(t, err)
	must(t, c.WriteJSON(map[string]any{"type": "hello", "id": "h", "resume": map[string]any{"session": session, "seq": seq}}))
	var w map[string]any
	c.SetReadDeadline(time.Now().Add(time.Minute))
	must(t, c.ReadJSON(&w))
	return c, w
}

// readUntil reads frames from c until one that match takes.
func readUntil(t *testing.T, c *websocket.Conn, what string, match func(client.Frame) bool) client.Frame {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(time.Minute))
	for {
		_, raw, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		var f client.Frame
		must(t, json.Unmarshal(raw, &f))
		f.Raw = raw
		if match(f) {
			return f
		}
	}
}

// noFlap reads bob's events up to alice's presence with status, failing
// at any that shows alice offline, or one of her sessions twice.
func noFlap(t *testing.T, ctx context.Context, bs *client.Session, status string) {
	t.Helper()
	_, err := bs.WaitFor(ctx, func(f client.Frame) bool {
		if presenceIs("alice@localhost", "unavailable")(f) {
			t.Fatalf("bob was shown alice offline: %s", f.Raw)
		}
		if f.Type == "presence" && f.Address == "alice@localhost" && len(f.Sessions) != 1 {
			t.Fatalf("bob was shown alice's sessions as %s", f.Raw)
		}
		return f.Type == "presence" && f.Address == "alice@localhost" && f.Status == status
	})
	must(t, err)
}

// seenBack reads bob's events up to alice's presence with status: with
// no flap if she came back before her node was declared dead.
func seenBack(t *testing.T, ctx context.Context, bs *client.Session, beforeDeath bool, status string) {
	t.Helper()
	if beforeDeath {
		noFlap(t, ctx, bs, status)
		return
	}
	_, err := bs.WaitFor(ctx, func(f client.Frame) bool {
		return f.Type == "presence" && f.Address == "alice@localhost" && f.Status == status
	})
	must(t, err)
}

// TestResumeOnAnotherNodeAfterKill: alice's node dies without a word
// (its bus connection gone, her connection cut); her client resumes on
// node b: the same session (id), resumed with a snapshot numbered after
// her last event, and the presence she had. A stranger cannot take it,
// and is answered as for an unknown session. Bob on b is not shown her
// offline if she came back before a was declared dead (else he sees her
// online again), and she is one session, on b only. Skipped unless
// PRESENCED_TEST_POSTGRES is set.
func TestResumeOnAnotherNodeAfterKill(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a, b, alice, bob, as, bs := twoNodes(t, ctx, false)
	session, last := as.Resource, as.LastSeq()

	a.Cluster.Kill()
	as.Drop()

	// someone else's token, and an unknown id: the same answer
	var refusals []string
	for _, try := range []struct{ token, session string }{{bob.Token, session}, {alice.Token, "phone-000000"}} {
		c, w := resumeRaw(t, b, try.token, try.session, 1)
		c.Close()
		if w["type"] != "error" || w["code"] != "session_expired" {
			t.Fatalf("resume of %s by the wrong account or unknown: %v", try.session, w)
		}
		refusals = append(refusals, w["message"].(string))
	}
	if refusals[0] != refusals[1] {
		t.Fatalf("another account's session is answered %q, an unknown one %q", refusals[0], refusals[1])
	}

	c, w := resumeRaw(t, b, alice.Token, session, last)
	defer c.Close()
	beforeDeath := b.Cluster.Metrics().NodesDead.Load() == 0
	if w["type"] != "welcome" || w["session"] != session || w["resumed"] != true {
		t.Fatalf("resume on b: %v", w)
	}
	snap := readUntil(t, c, "snapshot", func(f client.Frame) bool { return f.Type == "snapshot" })
	if snap.Seq != last+1 {
		t.Fatalf("snapshot numbered %d after the client's %d", snap.Seq, last)
	}
	if !presenceIs("bob@localhost", "available")(snap) {
		t.Fatalf("snapshot after the resume: %s", snap.Raw)
	}
	self := readUntil(t, c, "her own presence", func(f client.Frame) bool { return f.Type == "presence" && f.Address == "alice@localhost" })
	if self.Availability != "available" || self.Status != "on a" {
		t.Fatalf("the adopted session's presence: %s", self.Raw)
	}
	t.Logf("resumed on b before a was declared dead there: %v", beforeDeath)

	eventually(t, "b to declare a dead", func() bool { return b.Cluster.Metrics().NodesDead.Load() > 0 })
	must(t, c.WriteJSON(map[string]any{"type": "presence", "id": "p", "availability": "dnd", "status": "back on b"}))
	seenBack(t, ctx, bs, beforeDeath, "back on b")
	if ss := b.Hub.Sessions("alice@localhost"); len(ss) != 1 || ss[0].Resource != session {
		t.Fatalf("alice's sessions on b: %+v", ss)
	}
	if n := b.Cluster.Metrics().Adopted.Load(); n != 1 {
		t.Fatalf("b counts %d adopted sessions", n)
	}
	// her messages reach the adopted session
	if n, err := bs.Message(ctx, "alice@localhost/"+session, "welcome back"); err != nil || n != 1 {
		t.Fatalf("message to the adopted session: %d %v", n, err)
	}
	readUntil(t, c, "bob's message", func(f client.Frame) bool { return f.Type == "message" && f.Body == "welcome back" })
}

// TestResumeOnAnotherNodeAfterShutdown: alice's node shuts down
// gracefully (goaway, reconnect); the Go client resumes on node b while
// a is still draining: it gets its session back, a snapshot it does not
// take for a repeat, and bob never sees her leave. Skipped unless
// PRESENCED_TEST_POSTGRES is set.
func TestResumeOnAnotherNodeAfterShutdown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a, b, alice, _, as, bs := twoNodes(t, ctx, false)
	session := as.Resource

	a.stop() // Serve returned: clients told to reconnect; a still on the bus
	_, err := as.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "goaway" })
	must(t, err)
	alice.BaseURL = b.URL // as a load balancer would send her
	must(t, as.Resume(ctx))
	snap, err := as.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "snapshot" })
	must(t, err)
	if !presenceIs("bob@localhost", "available")(snap) {
		t.Fatalf("snapshot after the resume: %s", snap.Raw)
	}
	if as.Resource != session {
		t.Fatalf("resumed as %s, not %s", as.Resource, session)
	}
	a.Server.Close() // leaves the cluster
	eventually(t, "b to declare a dead", func() bool { return b.Cluster.Metrics().NodesDead.Load() > 0 })
	must(t, as.SetPresence(ctx, client.Presence{Availability: "away", Status: "moved to b"}))
	noFlap(t, ctx, bs, "moved to b")
	if ss := b.Hub.Sessions("alice@localhost"); len(ss) != 1 || ss[0].Resource != session {
		t.Fatalf("alice's sessions on b: %+v", ss)
	}
	if n := b.Cluster.Metrics().Adopted.Load(); n != 1 {
		t.Fatalf("b counts %d adopted sessions", n)
	}
}

// TestResumeOnAnotherNodeOverLongPoll: a long-polling client whose node
// dies polls another node with its session: the same session, adopted
// there, its next answer a snapshot numbered after its ack. Skipped
// unless PRESENCED_TEST_POSTGRES is set.
func TestResumeOnAnotherNodeOverLongPoll(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a, b, alice, _, as, bs := twoNodes(t, ctx, true)
	session := as.Resource

	a.Cluster.Kill()
	as.Drop()
	alice.BaseURL = b.URL
	must(t, as.Resume(ctx)) // a poll naming the session, with its ack
	beforeDeath := b.Cluster.Metrics().NodesDead.Load() == 0
	snap, err := as.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "snapshot" })
	must(t, err)
	if !presenceIs("bob@localhost", "available")(snap) {
		t.Fatalf("snapshot after the resume: %s", snap.Raw)
	}
	eventually(t, "b to declare a dead", func() bool { return b.Cluster.Metrics().NodesDead.Load() > 0 })
	must(t, as.SetPresence(ctx, client.Presence{Availability: "dnd", Status: "polling b"}))
	seenBack(t, ctx, bs, beforeDeath, "polling b")
	if ss := b.Hub.Sessions("alice@localhost"); len(ss) != 1 || ss[0].Resource != session || ss[0].Transport != "longpoll" {
		t.Fatalf("alice's sessions on b: %+v", ss)
	}
}
