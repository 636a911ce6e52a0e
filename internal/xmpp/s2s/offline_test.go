package s2s_test

import (
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
)

// storedBodies lists the bodies waiting for account, oldest first.
func storedBodies(t *testing.T, d *domain, account string) []string {
	t.Helper()
	ms, err := d.st.StoredFor(ctx, account, time.Now(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Sender+": "+m.Body)
	}
	return out
}

// awaitStored polls until account has n stored messages.
func awaitStored(t *testing.T, d *domain, account string, n int) []string {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		got := storedBodies(t, d, account)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d stored messages, want %d: %v", account, len(got), n, got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFederationOffline: a message from a remote sender to a local user
// with no session is stored at the recipient's server, under the message
// rule decided there, and delivered when the user comes back; a remote
// stranger's is refused as a local stranger's is, and nothing of it kept.
func TestFederationOffline(t *testing.T) {
	_, b, alice, bob := friends(t)
	bob.s.Close()
	alice.await("bob gone", presenceOf("bob@b.test", core.Unavailable, ""))

	// alice's message waits at b.test; so does one to a gone resource of
	// bob's (RFC 6121 § 8.5.3.2.1: the account has no other session)
	if _, err := alice.s.Send(core.Message{Kind: core.KindMessage, To: "bob@b.test", ID: "m1", Body: "for later"}); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.s.Send(core.Message{Kind: core.KindMessage, To: bob.s.Address(), ID: "m2", Body: "to your old resource"}); err != nil {
		t.Fatal(err)
	}
	awaitStored(t, b, "bob@b.test", 2)

	// carol@a.test, whom bob never approved, and a chat state of alice's:
	// over one stream, in order, so the last message is a barrier
	g := asA(t, b)
	g.send(`<message from='carol@a.test/x' to='bob@b.test' type='chat' id='c1'><body>let me in</body></message>`)
	g.send(`<message from='alice@a.test/x' to='bob@b.test' type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	g.send(`<message from='alice@a.test/x' to='bob@b.test' type='chat' id='m3'><body>barrier</body></message>`)
	got := awaitStored(t, b, "bob@b.test", 3)
	want := []string{"alice@a.test: for later", "alice@a.test: to your old resource", "alice@a.test: barrier"}
	if len(got) != len(want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("stored %v, want %v", got, want)
		}
	}
	// kept in bob's history too (archived just after it was stored)
	for deadline := time.Now().Add(wait); ; time.Sleep(20 * time.Millisecond) {
		hist, _, err := b.hub.History(ctx, "bob@b.test", store.ArchiveQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob's history: %d messages", len(hist))
		}
	}

	// bob comes back: the stored messages reach his new session
	bob = b.connect(t, "bob@b.test", &core.Presence{Availability: core.Available})
	for _, body := range []string{"for later", "to your old resource", "barrier"} {
		ev := bob.await("stored "+body, message("alice@a.test/", body)).(core.MessageEvent)
		if ev.Stored == 0 {
			t.Fatalf("%q delivered as live, not stored", body)
		}
	}
	for _, ev := range bob.drain() {
		if m, ok := ev.(core.MessageEvent); ok && m.Message.Body == "let me in" {
			t.Fatalf("bob got the stranger's message: %+v", m)
		}
	}
}
