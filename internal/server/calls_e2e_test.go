package server

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/core"
)

var callsToo = []string{"message", "signal", "call"}

// callEvent matches a call event of a call.
func callEvent(id, event string) func(client.Frame) bool {
	return func(f client.Frame) bool { return f.Type == "call" && f.Call == id && f.Event == event }
}

func codeOf(err error) string {
	var ce *client.Error
	if errors.As(err, &ce) {
		return ce.Code
	}
	return ""
}

// TestCallsOverWebSocketAndLongPoll: alice over WebSocket calls bob, who
// has a WebSocket and a long-poll session that take calls and one that
// does not. Both ring and say so, the long-poll one answers, the other is
// told "answered elsewhere", signals of the call travel both ways, and a
// hang-up ends it. Then bad input: signals outside a call, oversized
// signals, unknown targets, an offline callee, a flood of calls.
func TestCallsOverWebSocketAndLongPoll(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	alice, bob, carol := ts.user(t, "alice"), ts.user(t, "bob"), ts.user(t, "carol")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	befriend(t, ctx, alice, carol, "alice@localhost", "carol@localhost")
	avail := &client.Presence{Availability: "available"}

	a, err := alice.Connect(ctx, client.ConnectOptions{Device: "web", Presence: avail})
	must(t, err)
	bws, err := bob.Connect(ctx, client.ConnectOptions{Device: "desk", Accepts: callsToo, Presence: avail})
	must(t, err)
	blp, err := bob.ConnectPoll(ctx, client.ConnectOptions{Device: "phone", Accepts: callsToo, Presence: avail})
	must(t, err)
	bnone, err := bob.Connect(ctx, client.ConnectOptions{Device: "tv", Presence: avail})
	must(t, err)

	id, rung, err := a.Call(ctx, "bob@localhost", map[string]bool{"video": true})
	must(t, err)
	if rung != 2 || id == "" {
		t.Fatalf("call %q rang %d sessions", id, rung)
	}
	for _, b := range []*client.Session{bws, blp} {
		f, err := b.WaitFor(ctx, callEvent(id, "incoming"))
		must(t, err)
		if f.From != a.Address || string(f.Data) != `{"video":true}` {
			t.Fatalf("incoming: %s", f.Raw)
		}
		must(t, b.Ringing(ctx, id))
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		f, err := a.WaitFor(ctx, callEvent(id, "ringing"))
		must(t, err)
		seen[f.From] = true
	}
	if !seen[bws.Address] || !seen[blp.Address] {
		t.Fatalf("ringing acknowledged by %v", seen)
	}

	must(t, blp.Answer(ctx, id, nil))
	f, err := a.WaitFor(ctx, callEvent(id, "answered"))
	must(t, err)
	if f.From != blp.Address {
		t.Fatalf("answered by %s", f.From)
	}
	f, err = bws.WaitFor(ctx, callEvent(id, "ended"))
	must(t, err)
	if f.Reason != "answered_elsewhere" {
		t.Fatalf("the desk: %s", f.Raw)
	}
	if err := bws.Answer(ctx, id, nil); codeOf(err) != "conflict" {
		t.Fatalf("a second answer: %v", err)
	}

	must(t, a.CallSignal(ctx, id, map[string]string{"sdp": "offer"}))
	f, err = blp.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "signal" && f.Call == id })
	must(t, err)
	if string(f.Data) != `{"sdp":"offer"}` || f.From != a.Address {
		t.Fatalf("signal: %s", f.Raw)
	}
	must(t, blp.CallSignal(ctx, id, map[string]string{"sdp": "answer"}))
	f, err = a.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "signal" && f.Call == id })
	must(t, err)
	if string(f.Data) != `{"sdp":"answer"}` {
		t.Fatalf("signal back: %s", f.Raw)
	}
	// signals outside the call, oversized ones
	if err := bws.CallSignal(ctx, id, map[string]string{"sdp": "x"}); codeOf(err) != "not_found" {
		t.Fatalf("a signal from outside the call: %v", err)
	}
	if err := a.CallSignal(ctx, "0123456789abcdef01234567", map[string]string{"sdp": "x"}); codeOf(err) != "not_found" {
		t.Fatalf("a signal to no call: %v", err)
	}
	if err := a.CallSignal(ctx, id, strings.Repeat("x", 40<<10)); codeOf(err) != "invalid" {
		t.Fatalf("an oversized signal: %v", err)
	}
	if _, err := a.Request(ctx, "signal", map[string]any{"call": id, "to": "bob@localhost", "data": 1}); codeOf(err) != "invalid" {
		t.Fatalf("a signal in a call with to: %v", err)
	}

	must(t, blp.Hangup(ctx, id))
	f, err = a.WaitFor(ctx, callEvent(id, "ended"))
	must(t, err)
	if f.Reason != "hangup" || f.From != blp.Address {
		t.Fatalf("hang-up: %s", f.Raw)
	}
	if err := a.Hangup(ctx, id); codeOf(err) != "not_found" {
		t.Fatalf("hanging up an ended call: %v", err)
	}

	// a decline, from the WebSocket session
	id, _, err = a.Call(ctx, "bob@localhost", nil)
	must(t, err)
	_, err = bws.WaitFor(ctx, callEvent(id, "incoming"))
	must(t, err)
	must(t, bws.Reject(ctx, id, true))
	f, err = a.WaitFor(ctx, callEvent(id, "ended"))
	must(t, err)
	if f.Reason != "busy" {
		t.Fatalf("busy: %s", f.Raw)
	}
	_, err = blp.WaitFor(ctx, callEvent(id, "ended"))
	must(t, err)

	// unknown targets and offline callees look alike; a callee that takes
	// no calls is not_accepted; a session without calls is never rung
	_, _, err = a.Call(ctx, "carol@localhost", nil)
	offline := err
	_, _, err = a.Call(ctx, "nobody@localhost", nil)
	if codeOf(offline) != "unavailable" || codeOf(err) != "unavailable" || offline.Error() != err.Error() {
		t.Fatalf("offline %v, nobody %v", offline, err)
	}
	cs, err := carol.Connect(ctx, client.ConnectOptions{Presence: avail})
	must(t, err)
	if _, _, err := a.Call(ctx, "carol@localhost", nil); codeOf(err) != "not_accepted" {
		t.Fatalf("a callee without calls: %v", err)
	}
	cs.Close(ctx)
	if _, err := a.Request(ctx, "answer", nil); codeOf(err) != "invalid" {
		t.Fatalf("an answer without a call: %v", err)
	}
	if _, err := a.Request(ctx, "reject", map[string]any{"call": id, "reason": "maybe"}); codeOf(err) != "invalid" {
		t.Fatalf("a reject with a bad reason: %v", err)
	}

	// a flood of calls to one callee is rate limited
	limited := false
	for i := 0; i < 10 && !limited; i++ {
		id, _, err := a.Call(ctx, "bob@localhost", nil)
		switch codeOf(err) {
		case "rate_limited":
			limited = true
		case "":
			must(t, a.Cancel(ctx, id))
		default:
			t.Fatal(err)
		}
	}
	if !limited {
		t.Fatal("ten calls at once to one callee were not rate limited")
	}
	ctx2, cancel := context.WithTimeout(ctx, 0)
	cancel()
	if f, err := bnone.WaitFor(ctx2, func(f client.Frame) bool { return f.Type == "call" }); err == nil {
		t.Fatalf("a session that takes no calls was told of one: %s", f.Raw)
	}
}

// TestDocsCallsExamples checks every JSON example of docs/calls.md as
// TestDocsProtocolExamples does protocol.md's: a client frame is taken by
// the server's decoder with every field known; a server frame's keys all
// appear in one frame of its type (and event) a real server sent.
func TestDocsCallsExamples(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	log := &frameLog{}
	hello := func(name, token, device string) *peer {
		p := dialPeer(t, ts, name, token, log)
		p.send(`{"type":"hello","id":"1","device":"` + device + `","accepts":["message","signal","call"],"presence":{"availability":"available"}}`)
		p.waitFor("welcome", typ("welcome"))
		return p
	}
	a, phone, laptop := hello("alice", alice.Token, "laptop"), hello("bob's phone", bob.Token, "phone"), hello("bob's laptop", bob.Token, "laptop")
	a.send(`{"type":"call","id":"7","to":"bob@localhost","data":{"video":true}}`)
	id := a.waitFor("ok", is(map[string]any{"type": "ok", "id": "7"}))["call"].(string)
	incoming := is(map[string]any{"type": "call", "event": "incoming", "call": id})
	phone.waitFor("incoming", incoming)
	laptop.waitFor("incoming", incoming)
	phone.send(`{"type":"ringing","id":"3","call":"` + id + `"}`)
	a.waitFor("ringing", is(map[string]any{"type": "call", "event": "ringing"}))
	phone.send(`{"type":"answer","id":"4","call":"` + id + `"}`)
	a.waitFor("answered", is(map[string]any{"type": "call", "event": "answered"}))
	laptop.waitFor("answered elsewhere", is(map[string]any{"type": "call", "event": "ended", "reason": "answered_elsewhere"}))
	phone.send(`{"type":"signal","id":"8","call":"` + id + `","data":{"sdp":{"type":"answer","sdp":"v=0"}}}`)
	a.waitFor("signal", is(map[string]any{"type": "signal", "call": id}))
	phone.send(`{"type":"hangup","id":"9","call":"` + id + `"}`)
	a.waitFor("hang-up", is(map[string]any{"type": "call", "event": "ended", "reason": "hangup"}))

	doc := repoFile(t, "docs/calls.md")
	n := 0
	for _, block := range codeBlocks(doc, "json") {
		dec := json.NewDecoder(strings.NewReader(block))
		for dec.More() {
			var raw json.RawMessage
			must(t, dec.Decode(&raw))
			var obj map[string]any
			must(t, json.Unmarshal(raw, &obj))
			n++
			if _, server := obj["seq"]; !server && obj["type"] != "ok" {
				checkClientFrame(t, raw, block)
				continue
			}
			var real []map[string]any
			for _, f := range log.ofType(obj["type"].(string)) {
				if f["event"] == obj["event"] && (obj["reason"] == nil || f["reason"] == obj["reason"]) {
					real = append(real, f)
				}
			}
			want, found := pathsOf(obj), false
			for _, f := range real {
				have, all := pathsOf(f), true
				for p := range want {
					all = all && have[p]
				}
				found = found || all
			}
			if !found {
				t.Errorf("docs/calls.md: no real frame has every field of %s\nreal ones:\n%s", raw, dump(real))
			}
		}
	}
	if n < 10 {
		t.Fatalf("docs/calls.md: only %d JSON examples found", n)
	}
}

// TestAppCallsByHandle: two users of one calling app, each granting it the
// other. The caller's app rings the callee by handle; the callee's app
// session is rung by the caller's handle, and every event of the call
// names handles, never an address or a device. An app without the signal
// scope may not call.
func TestAppCallsByHandle(t *testing.T) {
	ts := startServer(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	users := map[string]*client.Client{"alice": alice, "bob": bob}
	ringer, _ := registerApp(t, ts, "Ringer", true, "presence:read", "signal", "message")
	hs := core.NewHandles(ts.key)
	handle := func(holder, other string) string { return hs.Of(ringer, holder+"@localhost", other+"@localhost") }
	open := func(local, other string, scopes ...string) *client.Session {
		t.Helper()
		token, _ := appTokenOf(t, ts, ringer, local, scopes...)
		must(t, users[local].Do(ctx, "PATCH", "/v1/grants/"+ringer, map[string]any{"contacts": "picked", "picked": []string{other + "@localhost"}}, nil))
		s, err := client.New(ts.URL, token).Connect(ctx, client.ConnectOptions{Device: "ringer", Accepts: callsToo})
		must(t, err)
		return s
	}
	a := open("alice", "bob", "presence:read", "signal")
	b := open("bob", "alice", "presence:read", "signal")

	if _, _, err := a.Call(ctx, "bob@localhost", nil); codeOf(err) != "invalid" {
		t.Fatalf("an app without addresses called an address: %v", err)
	}
	id, rung, err := a.Call(ctx, handle("alice", "bob"), nil)
	must(t, err)
	if rung != 1 {
		t.Fatalf("rang %d", rung)
	}
	f, err := b.WaitFor(ctx, callEvent(id, "incoming"))
	must(t, err)
	if f.From != handle("bob", "alice") {
		t.Fatalf("bob's app is rung by %q, want alice's handle", f.From)
	}
	must(t, b.Answer(ctx, id, nil))
	f, err = a.WaitFor(ctx, callEvent(id, "answered"))
	must(t, err)
	if f.From != handle("alice", "bob") {
		t.Fatalf("answered by %q, want bob's handle", f.From)
	}
	must(t, b.CallSignal(ctx, id, map[string]string{"sdp": "answer"}))
	f, err = a.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "signal" && f.Call == id })
	must(t, err)
	if f.From != handle("alice", "bob") || strings.Contains(string(f.Raw), "@localhost") {
		t.Fatalf("a signal names %s", f.Raw)
	}
	must(t, a.Hangup(ctx, id))
	f, err = b.WaitFor(ctx, callEvent(id, "ended"))
	must(t, err)
	if f.Reason != "hangup" || f.From != handle("bob", "alice") {
		t.Fatalf("hang-up: %s", f.Raw)
	}

	// the same app, with a token without signal: no calls
	quiet := open("alice", "bob", "presence:read")
	if _, _, err := quiet.Call(ctx, handle("alice", "bob"), nil); codeOf(err) != "forbidden" {
		t.Fatalf("a call without the signal scope: %v", err)
	}
}
