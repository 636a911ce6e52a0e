package server

// The docs are tested against a real server, so that they cannot drift from
// it: the README's walkthrough is run as written (TestDocsREADMEWalkthrough),
// and every JSON example of docs/protocol.md is checked against frames the
// server really sends or really accepts (TestDocsProtocolExamples).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/transport/longpoll"
	"github.com/presenced/presenced/internal/wire"
)

// repoFile reads a file from the repository's root.
func repoFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// section is the text of the markdown section under heading, up to the
// next heading of the same or a higher level (outside code blocks, where
// "# " starts a shell comment).
func section(t *testing.T, doc, heading string) string {
	t.Helper()
	level := strings.Index(heading, " ")
	_, rest, ok := strings.Cut(doc, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("no section %q", heading)
	}
	lines := strings.SplitAfter(rest, "\n")
	fenced := false
	for i, l := range lines {
		if strings.HasPrefix(l, "```") {
			fenced = !fenced
		}
		if h := strings.Index(l, " "); !fenced && h > 0 && h <= level && strings.Trim(l[:h], "#") == "" {
			return strings.Join(lines[:i], "")
		}
	}
	return rest
}

// codeBlocks are the bodies of the fenced blocks of language lang in md.
func codeBlocks(md, lang string) []string {
	var blocks []string
	re := regexp.MustCompile("(?s)```" + lang + "\n(.*?)```")
	for _, m := range re.FindAllStringSubmatch(md, -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// TestDocsREADMEWalkthrough runs the shell blocks of the README's "A
// two-minute walkthrough" against `presenced serve` built from this tree:
// as a reader would, with `./presenced` and localhost:8080 replaced by the
// test's binary and address. Bob's long-poll session must still be online
// when alice asks, well after the server's default grace period: the
// walkthrough works at human speed.
func TestDocsREADMEWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	for _, tool := range []string{"bash", "curl", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the README walkthrough needs %s on PATH: %v", tool, err)
		}
	}
	blocks := codeBlocks(section(t, repoFile(t, "README.md"), "## A two-minute walkthrough"), "sh")
	if len(blocks) < 2 {
		t.Fatalf("the walkthrough has %d sh blocks", len(blocks))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// the binary, built once, and a working directory as the reader's:
	// ./presenced-data is created there by serve and used by the commands
	bin := filepath.Join(t.TempDir(), "presenced")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/presenced")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	work := t.TempDir()
	addr := freeAddr(t)
	var serverLog bytes.Buffer
	// no XMPP listener: port 5222 may be taken on this machine
	srv := exec.Command(bin, "serve", "--http-addr", addr, "--xmpp-addr=")
	srv.Dir, srv.Stdout, srv.Stderr = work, &serverLog, &serverLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		srv.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			srv.Process.Kill()
			<-exited
		}
	})
	waitListening(t, addr, exited, &serverLog)

	// the walkthrough as one script; before its last command, a wait longer
	// than the default grace period (a reader typing), then a marker to find
	// that command's output
	grace := defaultDuration(t, "grace")
	var lines []string
	for _, b := range blocks {
		for _, l := range strings.Split(strings.TrimRight(b, "\n"), "\n") {
			if strings.HasPrefix(l, "go build ") {
				continue // built above
			}
			l = strings.ReplaceAll(l, "./presenced ", shellQuote(bin)+" ")
			lines = append(lines, strings.ReplaceAll(l, "localhost:8080", addr))
		}
	}
	last := len(lines) - 1
	if !strings.Contains(lines[last], "/v1/presence?online=true") {
		t.Fatalf("the walkthrough no longer ends with alice's presence query: %q", lines[last])
	}
	const marker = "=== alice asks ==="
	script := "set -eu\n" + strings.Join(lines[:last], "\n") +
		fmt.Sprintf("\necho\nsleep %d\necho '%s'\n", int((grace+3*time.Second)/time.Second), marker) + lines[last] + "\n"
	run := exec.CommandContext(ctx, "bash", "-c", script)
	run.Dir = work
	var stderr bytes.Buffer
	run.Stderr = &stderr
	out, err := run.Output()
	if err != nil {
		t.Fatalf("walkthrough: %v\nscript:\n%s\nstdout:\n%s\nstderr:\n%s\nserver:\n%s", err, script, out, stderr.String(), serverLog.String())
	}
	before, answer, ok := strings.Cut(string(out), marker+"\n")
	if !ok {
		t.Fatalf("no marker in the output:\n%s", out)
	}
	if strings.Contains(before, `"code":`) {
		t.Errorf("a walkthrough step answered an error:\n%s", before)
	}
	var presence struct {
		Presence []presenceLine `json:"presence"`
	}
	if err := json.Unmarshal([]byte(answer), &presence); err != nil {
		t.Fatalf("alice's query answered %q: %v", answer, err)
	}
	i := slices.IndexFunc(presence.Presence, func(p presenceLine) bool { return p.Address == "bob@localhost" })
	if i < 0 || presence.Presence[i].Availability != "available" || presence.Presence[i].Status != "on the train" {
		t.Fatalf("waiting %v before alice's query (the default grace is shorter), she sees %s\nwant bob@localhost available, \"on the train\"\nearlier output:\n%s",
			grace+3*time.Second, strings.TrimSpace(answer), before)
	}
}

type presenceLine struct {
	Address      string `json:"address"`
	Availability string `json:"availability"`
	Status       string `json:"status"`
}

// freeAddr is a loopback address with a port nobody listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitListening waits until the server at addr answers /readyz.
func waitListening(t *testing.T, addr string, exited <-chan error, log *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("presenced serve exited: %v\n%s", err, log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("presenced serve not ready on %s within 60 s\n%s", addr, log)
		}
	}
}

// defaultDuration is the default of a duration setting.
func defaultDuration(t *testing.T, key string) time.Duration {
	t.Helper()
	for _, s := range config.Settings {
		if s.Key == key {
			d, err := time.ParseDuration(s.Default)
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
	}
	t.Fatalf("no setting %s", key)
	return 0
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// A docExample is one JSON example of docs/protocol.md.
type docExample struct {
	text string         // as written, for messages
	raw  []byte         // made parseable
	obj  map[string]any // decoded
}

// protocolExamples are docs/protocol.md's JSON examples: the objects of its
// ```json blocks and its inline `{"type":…}` objects. Elisions are made
// parseable: […] an empty list, {…} an empty object; "…" is a string
// already.
func protocolExamples(t *testing.T) []docExample {
	t.Helper()
	doc := repoFile(t, "docs/protocol.md")
	parseable := strings.NewReplacer("[…]", "[]", "{…}", "{}")
	var out []docExample
	add := func(text string) {
		dec := json.NewDecoder(strings.NewReader(parseable.Replace(text)))
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				t.Fatalf("docs/protocol.md: an example is not JSON (%v):\n%s", err, text)
			}
			var obj map[string]any
			if err := json.Unmarshal(raw, &obj); err != nil {
				t.Fatalf("docs/protocol.md: an example is not a JSON object (%v):\n%s", err, text)
			}
			out = append(out, docExample{text: text, raw: raw, obj: obj})
		}
	}
	for _, b := range codeBlocks(doc, "json") {
		add(b)
	}
	for _, m := range regexp.MustCompile("`(\\{\"type\":[^`]*)`").FindAllStringSubmatch(doc, -1) {
		add(m[1])
	}
	return out
}

// Frame types by who sends them (docs/protocol.md's tables and events).
var (
	clientTypes = []string{"hello", "presence", "subscribe", "approve", "deny", "unsubscribe", "remove", "block", "unblock",
		"hide", "unhide", "invisible", "message", "signal", "publish", "retract", "offline_ack", "history", "ack", "ping", "bye"}
	serverTypes = []string{"welcome", "snapshot", "presence", "subscription", "privacy", "message", "signal", "personal",
		"contact", "goaway", "error", "ok", "pong"}
)

// fromServer says whether an example is a server frame: its type is only
// the server's, or (presence, message, signal go both ways) it has a field
// only the server sends.
func fromServer(obj map[string]any) bool {
	typ, _ := obj["type"].(string)
	if !slices.Contains(clientTypes, typ) {
		return true
	}
	if !slices.Contains(serverTypes, typ) {
		return false
	}
	for _, k := range []string{"seq", "from", "address", "last_seen"} {
		if _, ok := obj[k]; ok {
			return true
		}
	}
	return false
}

// checkClientFrame: the server's own decoder takes the frame, and knows
// every field the example shows (wire.Decode ignores unknown fields, so a
// field that does not exist is caught by a strict decode as well).
func checkClientFrame(t *testing.T, raw []byte, text string) {
	t.Helper()
	if _, err := wire.Decode(raw); err != nil {
		t.Errorf("docs/protocol.md: the server refuses the client frame %s: %v\nin:\n%s", raw, err, text)
		return
	}
	strict := json.NewDecoder(bytes.NewReader(raw))
	strict.DisallowUnknownFields()
	var f wire.ClientFrame
	if err := strict.Decode(&f); err != nil {
		t.Errorf("docs/protocol.md: the client frame %s has a field the server does not know: %v\nin:\n%s", raw, err, text)
	}
}

// keyPaths adds the key paths of a JSON value: "self.sessions[].resource".
// The contents of data (a publication, a signal) are the client's, not
// the protocol's.
func keyPaths(v any, prefix string, into map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			into[p] = true
			if k != "data" {
				keyPaths(x, p, into)
			}
		}
	case []any:
		for _, x := range v {
			keyPaths(x, prefix+"[]", into)
		}
	}
}

func pathsOf(v any) map[string]bool {
	m := map[string]bool{}
	keyPaths(v, "", m)
	return m
}

// frameLog keeps every frame the server sent in a scenario.
type frameLog struct {
	mu     sync.Mutex
	frames []map[string]any
}

func (l *frameLog) add(f map[string]any) {
	l.mu.Lock()
	l.frames = append(l.frames, f)
	l.mu.Unlock()
}

func (l *frameLog) ofType(typ string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, f := range l.frames {
		if f["type"] == typ {
			out = append(out, f)
		}
	}
	return out
}

// peer is a raw WebSocket session whose received frames go to a frameLog.
type peer struct {
	t    *testing.T
	name string
	c    *websocket.Conn
	in   chan map[string]any
}

func dialPeer(t *testing.T, ts *testServer, name, token string, log *frameLog) *peer {
	t.Helper()
	c, _, err := dialWS(t, ts, token, nil)
	must(t, err)
	t.Cleanup(func() { c.Close() })
	p := &peer{t: t, name: name, c: c, in: make(chan map[string]any, 4096)}
	go func() {
		defer close(p.in)
		for {
			_, msg, err := c.ReadMessage()
			if err != nil {
				return
			}
			var f map[string]any
			if err := json.Unmarshal(msg, &f); err != nil {
				t.Errorf("%s received a frame that is not a JSON object: %s", name, msg)
				return
			}
			log.add(f)
			p.in <- f
		}
	}()
	return p
}

func (p *peer) send(frame string) {
	p.t.Helper()
	must(p.t, p.c.WriteMessage(websocket.TextMessage, []byte(frame)))
}

// waitFor returns the next frame that matches, skipping others.
func (p *peer) waitFor(what string, match func(f map[string]any) bool) map[string]any {
	p.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case f, ok := <-p.in:
			if !ok {
				p.t.Fatalf("%s: connection closed waiting for %s", p.name, what)
			}
			if match(f) {
				return f
			}
		case <-deadline:
			p.t.Fatalf("%s: no %s within 30 s", p.name, what)
		}
	}
}

// is matches frames whose fields have these values.
func is(fields map[string]any) func(map[string]any) bool {
	return func(f map[string]any) bool {
		for k, v := range fields {
			if f[k] != v {
				return false
			}
		}
		return true
	}
}

func typ(name string) func(map[string]any) bool { return is(map[string]any{"type": name}) }

// TestDocsProtocolExamples checks every JSON example of docs/protocol.md:
// a client frame (or long-poll request) is taken by the server's decoder;
// a server frame's keys, nested ones included, all appear in one frame of
// its type that a real server sent in the scenario below.
func TestDocsProtocolExamples(t *testing.T) {
	examples := protocolExamples(t)
	log := playScenario(t)
	seen := map[string]bool{}
	for _, ex := range examples {
		typ, _ := ex.obj["type"].(string)
		switch {
		case typ == "" && ex.obj["frames"] != nil: // the long-poll request body
			strict := json.NewDecoder(bytes.NewReader(ex.raw))
			strict.DisallowUnknownFields()
			var req longpoll.Request
			if err := strict.Decode(&req); err != nil {
				t.Errorf("docs/protocol.md: the long-poll request %s does not decode: %v", ex.raw, err)
				continue
			}
			for _, f := range req.Frames {
				checkClientFrame(t, f, ex.text)
			}
		case typ == "":
			t.Errorf("docs/protocol.md: an example without type: %s", ex.raw)
		case !fromServer(ex.obj):
			checkClientFrame(t, ex.raw, ex.text)
		default:
			seen[typ] = true
			real := log.ofType(typ)
			if len(real) == 0 {
				t.Errorf("docs/protocol.md shows a %s frame; the scenario saw none: make it produce one", typ)
				continue
			}
			want := pathsOf(ex.obj)
			var missing []string
			for i, f := range real {
				var m []string
				have := pathsOf(f)
				for p := range want {
					if !have[p] {
						m = append(m, p)
					}
				}
				if i == 0 || len(m) < len(missing) {
					missing = m
				}
			}
			if len(missing) > 0 {
				slices.Sort(missing)
				t.Errorf("docs/protocol.md: no real %s frame has %v of the example\n%s\nreal %s frames:\n%s",
					typ, missing, ex.raw, typ, dump(real))
			}
		}
	}
	for _, typ := range []string{"welcome", "snapshot", "presence", "subscription", "privacy", "message", "signal", "personal", "contact", "goaway", "error"} {
		if !seen[typ] {
			t.Errorf("docs/protocol.md has no example of a %s frame (or it is not recognised as the server's)", typ)
		}
	}
}

func dump(frames []map[string]any) string {
	var b strings.Builder
	for _, f := range frames {
		j, _ := json.Marshal(f)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// playScenario drives a real server through every server frame the
// protocol has, and returns what it sent. Along the way it checks what
// docs/protocol.md says in words: a new session's first snapshot shows
// the account's other sessions only, and the presence hello gave follows
// as a presence event about oneself; a sign-out and a block show
// last_seen, a withdrawn approval does not.
func playScenario(t *testing.T) *frameLog {
	ts := startServer(t, nil)
	// generous: a busy machine under -race is slow, and nothing here is timed
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	log := &frameLog{}
	alice, bob, carol := ts.user(t, "alice"), ts.user(t, "bob"), ts.user(t, "carol")
	ts.user(t, "mallory")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	ok := func(id string) func(map[string]any) bool { return is(map[string]any{"type": "ok", "id": id}) }

	// bob, online once, leaves a mood and a last seen behind
	b := dialPeer(t, ts, "bob", bob.Token, log)
	b.send(`{"type":"hello","id":"1","device":"phone","presence":{"availability":"available"}}`)
	b.waitFor("welcome", typ("welcome"))
	b.send(`{"type":"publish","id":"2","topic":"mood","data":{"mood":"happy"}}`)
	b.waitFor("ok", ok("2"))
	b.send(`{"type":"bye","id":"3"}`)
	b.waitFor("ok", ok("3"))
	// the last-seen time is written as the session ends, after the ok:
	// snapshots of offline contacts read it from the store
	for a, err := ts.Store.GetAccount(ctx, "bob@localhost"); err != nil || a.LastSeen.IsZero(); a, err = ts.Store.GetAccount(ctx, "bob@localhost") {
		if ctx.Err() != nil {
			t.Fatalf("bob's last seen never written: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// alice's tablet, without presence in hello: its snapshot shows her
	// unavailable, without sessions
	a0 := dialPeer(t, ts, "alice's tablet", alice.Token, log)
	a0.send(`{"type":"hello","id":"1","device":"tablet"}`)
	self := a0.waitFor("snapshot", typ("snapshot"))["self"].(map[string]any)
	if self["availability"] != "unavailable" || self["sessions"] != nil {
		t.Errorf("the first snapshot of a session without presence shows self %v, want unavailable without sessions", self)
	}
	a0.send(`{"type":"presence","id":"2","availability":"away"}`)
	a0.waitFor("ok", ok("2"))

	// alice's phone, as docs/protocol.md's hello: its snapshot shows her
	// tablet only; the phone's presence follows
	a := dialPeer(t, ts, "alice's phone", "", log)
	a.send(`{"type":"hello","id":"1","token":"` + alice.Token + `","device":"phone","presence":{"availability":"available","status":"hi"}}`)
	welcome := a.waitFor("welcome", typ("welcome"))
	self = a.waitFor("snapshot", typ("snapshot"))["self"].(map[string]any)
	if sessions, _ := self["sessions"].([]any); self["availability"] != "away" || len(sessions) != 1 {
		t.Errorf("the phone's first snapshot shows self %v, want the tablet's presence only", self)
	}
	a.waitFor("alice's own presence", is(map[string]any{"type": "presence", "address": "alice@localhost", "availability": "available", "status": "hi"}))
	a0.send(`{"type":"bye","id":"3"}`)
	a0.waitFor("ok", ok("3"))

	// replies: an error, a pong
	a.send(`{"type":"presence","id":"7","availability":"busy"}`)
	a.waitFor("error", is(map[string]any{"type": "error", "id": "7", "code": "invalid"}))
	a.send(`{"type":"ping","id":"8"}`)
	a.waitFor("pong", is(map[string]any{"type": "pong", "id": "8"}))

	// bob on his laptop, in a call
	b = dialPeer(t, ts, "bob", bob.Token, log)
	b.send(`{"type":"hello","id":"1","device":"laptop","presence":{"availability":"dnd","status":"in a call","activity":{"kind":"call","detail":"with carol"},"priority":1}}`)
	b.waitFor("welcome", typ("welcome"))
	a.waitFor("bob in a call", is(map[string]any{"type": "presence", "address": "bob@localhost", "availability": "dnd"}))

	// carol asks to see alice; alice blocks mallory from the REST API
	_, err := carol.SubscriptionAction(ctx, "alice@localhost", "subscribe")
	must(t, err)
	a.waitFor("carol's request", is(map[string]any{"type": "subscription", "address": "carol@localhost", "pending_in": true}))
	must(t, alice.Do(ctx, "PUT", "/v1/blocks/mallory@localhost", nil, nil))
	a.waitFor("privacy", typ("privacy"))

	// bob messages and signals alice, publishes a tune and stops it
	b.send(`{"type":"message","id":"c5","to":"alice@localhost","body":"hi"}`)
	a.waitFor("message", typ("message"))
	b.send(`{"type":"signal","id":"c6","to":"` + welcome["address"].(string) + `","data":{"sdp":"v=0"}}`)
	a.waitFor("signal", typ("signal"))
	b.send(`{"type":"publish","id":"p1","topic":"tune","item":"a1","data":{"artist":"Yes","title":"Heart of the Sunrise"}}`)
	a.waitFor("bob's tune", is(map[string]any{"type": "personal", "topic": "tune", "item": "a1"}))
	b.send(`{"type":"retract","id":"p2","topic":"tune"}`)
	a.waitFor("bob's tune retracted", is(map[string]any{"type": "personal", "topic": "tune", "retracted": true}))

	// alice's address book changes on another device
	must(t, alice.Do(ctx, "POST", "/v1/contacts", map[string]any{"name": "Bob", "address": "bob@localhost"}, nil))
	a.waitFor("contact", typ("contact"))

	// bob signs out, and comes back
	b.send(`{"type":"bye","id":"9"}`)
	gone := a.waitFor("bob offline", is(map[string]any{"type": "presence", "address": "bob@localhost", "availability": "unavailable"}))
	if gone["last_seen"] == nil {
		t.Errorf("a sign-out shows no last_seen: %v", gone)
	}
	b = dialPeer(t, ts, "bob", bob.Token, log)
	b.send(`{"type":"hello","id":"1","device":"laptop","presence":{"availability":"available"}}`)
	bobBack := is(map[string]any{"type": "presence", "address": "bob@localhost", "availability": "available"})
	a.waitFor("bob back", bobBack)

	// bob blocks alice: she sees a sign-out, last_seen included; he
	// unblocks her, then withdraws his approval: unavailable, no last_seen
	must(t, bob.Do(ctx, "PUT", "/v1/blocks/alice@localhost", nil, nil))
	gone = a.waitFor("bob gone", is(map[string]any{"type": "presence", "address": "bob@localhost", "availability": "unavailable"}))
	if gone["last_seen"] == nil {
		t.Errorf("a block shows alice no last_seen: %v", gone)
	}
	must(t, bob.Do(ctx, "DELETE", "/v1/blocks/alice@localhost", nil, nil))
	a.waitFor("bob back", bobBack)
	_, err = bob.SubscriptionAction(ctx, "alice@localhost", "deny")
	must(t, err)
	gone = a.waitFor("bob gone", is(map[string]any{"type": "presence", "address": "bob@localhost", "availability": "unavailable"}))
	if gone["last_seen"] != nil {
		t.Errorf("a withdrawn approval shows alice a last_seen: %v", gone)
	}

	// the server shuts down
	ts.stop()
	a.waitFor("goaway", typ("goaway"))
	if testing.Verbose() {
		t.Logf("frames sent by the server:\n%s", dump(log.frames))
	}
	return log
}
