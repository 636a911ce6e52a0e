package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/config"
)

type testServer struct {
	*Server
	URL    string
	cancel context.CancelFunc
	done   chan error
}

func startServer(t *testing.T, tweak func(*config.Config)) *testServer {
	t.Helper()
	cfg := config.Config{DataDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", Domain: "localhost", Grace: 2 * time.Second,
		Heartbeat: 30 * time.Second, TokenTTL: time.Hour, HashWorkers: 2, LogLevel: "warn"}
	if tweak != nil {
		tweak(&cfg)
	}
	ts := &testServer{}
	ts.serve(t, cfg)
	t.Cleanup(func() {
		ts.stop()
		ts.Server.Close()
	})
	return ts
}

// serve opens a server with cfg and serves it on cfg.HTTPAddr.
func (ts *testServer) serve(t *testing.T, cfg config.Config) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.Default()
	}
	srv, err := Open(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		srv.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts.Server, ts.URL, ts.cancel, ts.done = srv, "http://"+ln.Addr().String(), cancel, make(chan error, 1)
	go func() { ts.done <- srv.Serve(ctx, ln) }()
}

// restart shuts the server down gracefully, as an operator's restart does,
// and starts a new one on the same data directory and port.
func (ts *testServer) restart(t *testing.T) {
	t.Helper()
	ts.stop()
	ts.Server.Close()
	cfg := ts.Config
	cfg.HTTPAddr = strings.TrimPrefix(ts.URL, "http://")
	ts.serve(t, cfg)
}

// waitReady waits until Serve has bound every listener (the admin and XMPP
// addresses are known from then on).
func waitReady(t *testing.T, ts *testServer) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ts.ready.Load() {
		if time.Now().After(deadline) {
			t.Fatal("server not ready within 15 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (ts *testServer) stop() {
	if ts.cancel != nil {
		ts.cancel()
		<-ts.done
		ts.cancel = nil
	}
}

// user creates an account and returns a signed-in client.
func (ts *testServer) user(t *testing.T, local string) *client.Client {
	t.Helper()
	address := local + "@localhost"
	if _, err := ts.Auth.CreateAccount(context.Background(), address, "password-"+local); err != nil {
		t.Fatal(err)
	}
	secret, _, err := ts.Auth.IssueToken(context.Background(), address, "test")
	if err != nil {
		t.Fatal(err)
	}
	return client.New(ts.URL, secret)
}

// tctx is a test's context: its deadline guards against a hang, and is
// long enough for a loaded machine under -race (15 s ran out at a load
// average of 40); no test waits for it to pass.
func tctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// befriend makes a and b see each other through the REST API.
func befriend(t *testing.T, ctx context.Context, a, b *client.Client, aAddr, bAddr string) {
	t.Helper()
	for _, step := range []struct {
		c      *client.Client
		other  string
		action string
	}{{a, bAddr, "subscribe"}, {b, aAddr, "approve"}, {b, aAddr, "subscribe"}, {a, bAddr, "approve"}} {
		if _, err := step.c.SubscriptionAction(ctx, step.other, step.action); err != nil {
			t.Fatal(err)
		}
	}
}

// presenceIs matches a presence event, or a snapshot, showing addr so.
func presenceIs(addr, availability string) func(client.Frame) bool {
	return func(f client.Frame) bool {
		if f.Type == "snapshot" {
			for _, p := range f.Presences {
				if p.Address == addr && p.Availability == availability {
					return true
				}
			}
		}
		return f.Type == "presence" && f.Address == addr && f.Availability == availability
	}
}

func TestWebSocketAndLongPollShareOneWorld(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")

	aws, err := alice.Connect(ctx, client.ConnectOptions{Device: "phone", Presence: &client.Presence{Availability: "available"}})
	must(t, err)
	snap, err := aws.Next(ctx)
	must(t, err)
	if snap.Type != "snapshot" || len(snap.Presences) != 1 || snap.Presences[0].Availability != "unavailable" {
		t.Fatalf("alice's snapshot: %s", snap.Raw)
	}
	blp, err := bob.ConnectPoll(ctx, client.ConnectOptions{Device: "laptop", Presence: &client.Presence{Availability: "away", Status: "lunch"}})
	must(t, err)
	if !strings.HasPrefix(blp.Resource, "laptop-") || blp.Address != "bob@localhost/"+blp.Resource {
		t.Fatalf("bob's session %q %q", blp.Resource, blp.Address)
	}
	f, err := aws.WaitFor(ctx, presenceIs("bob@localhost", "away"))
	must(t, err)
	if f.Status != "lunch" || len(f.Sessions) != 1 || f.Sessions[0].Resource != blp.Resource {
		t.Fatalf("alice sees bob as %s", f.Raw)
	}
	_, err = blp.WaitFor(ctx, presenceIs("alice@localhost", "available"))
	must(t, err)

	// activity and status, long-poll → WebSocket
	must(t, blp.SetPresence(ctx, client.Presence{Availability: "dnd", Activity: &client.Activity{Kind: "call", Detail: "standup"}}))
	f, err = aws.WaitFor(ctx, presenceIs("bob@localhost", "dnd"))
	must(t, err)
	if f.Activity == nil || f.Activity.Kind != "call" {
		t.Fatalf("activity lost: %s", f.Raw)
	}

	// messages and signals, both ways
	n, err := aws.Message(ctx, "bob@localhost", "hello over ws")
	if err != nil || n != 1 {
		t.Fatalf("message: %d %v", n, err)
	}
	f, err = blp.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "message" })
	must(t, err)
	if f.Body != "hello over ws" || f.From != aws.Address {
		t.Fatalf("bob got %s", f.Raw)
	}
	_, err = blp.Signal(ctx, aws.Address, map[string]string{"sdp": "offer"})
	must(t, err)
	f, err = aws.WaitFor(ctx, func(f client.Frame) bool { return f.Type == "signal" })
	must(t, err)
	if string(f.Data) != `{"sdp":"offer"}` {
		t.Fatalf("signal data %s", f.Data)
	}

	// REST: who is online now
	ps, err := alice.Presence(ctx)
	must(t, err)
	if len(ps) != 1 || ps[0].Availability != "dnd" {
		t.Fatalf("REST presence %+v", ps)
	}

	must(t, blp.Close(ctx))
	f, err = aws.WaitFor(ctx, presenceIs("bob@localhost", "unavailable"))
	must(t, err)
	if f.LastSeen == nil {
		t.Fatalf("offline contact without last seen: %s", f.Raw)
	}
	// a contact with no session gets the message later (docs/offline.md)
	reply, err := aws.Request(ctx, "message", map[string]any{"to": "bob@localhost", "body": "anyone?"})
	if err != nil || !reply.Stored || reply.Delivered != 0 {
		t.Fatalf("message to offline contact: %v %s", err, reply.Raw)
	}
}

func asError(err error, target **client.Error) bool {
	e, ok := err.(*client.Error)
	if ok {
		*target = e
	}
	return ok
}

func TestResumeWithinGraceDoesNotFlap(t *testing.T) {
	for _, transport := range []string{"ws", "longpoll"} {
		t.Run(transport, func(t *testing.T) {
			ts := startServer(t, nil)
			ctx := tctx(t)
			alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
			befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
			aws, err := alice.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
			must(t, err)
			connect := bob.Connect
			if transport == "longpoll" {
				connect = bob.ConnectPoll
			}
			bs, err := connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
			must(t, err)
			_, err = aws.WaitFor(ctx, presenceIs("bob@localhost", "available"))
			must(t, err)
			_, err = bs.WaitFor(ctx, presenceIs("alice@localhost", "available"))
			must(t, err)

			bs.Drop()
			must(t, aws.SetPresence(ctx, client.Presence{Availability: "away", Status: "missed?"}))
			time.Sleep(500 * time.Millisecond) // well inside the 2 s grace period
			must(t, bs.Resume(ctx))
			f, err := bs.WaitFor(ctx, presenceIs("alice@localhost", "away"))
			must(t, err)
			if f.Status != "missed?" {
				t.Fatalf("missed event: %s", f.Raw)
			}
			time.Sleep(2500 * time.Millisecond) // past the grace period: the resumed session must live on
			must(t, aws.SetPresence(ctx, client.Presence{Availability: "available", Status: "marker"}))
			_, err = bs.WaitFor(ctx, func(f client.Frame) bool { return f.Status == "marker" })
			must(t, err)
			// alice must have seen no offline/online flap of bob at all
			for {
				select {
				case f := <-drain(aws):
					if f.Address == "bob@localhost" {
						t.Fatalf("alice saw bob flap: %s", f.Raw)
					}
					continue
				default:
				}
				break
			}
		})
	}
}

// drain returns a channel with the session's next event if one is ready.
func drain(s *client.Session) <-chan client.Frame {
	ch := make(chan client.Frame, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if f, err := s.Next(ctx); err == nil {
		ch <- f
	}
	return ch
}

// TestDroppedSessionGoesOfflineAfterGrace: a WebSocket session whose
// connection dies, or a long-poll session that stops polling, is shown
// offline once the grace period ends, and cannot be resumed after.
func TestDroppedSessionGoesOfflineAfterGrace(t *testing.T) {
	for _, transport := range []string{"ws", "longpoll"} {
		t.Run(transport, func(t *testing.T) {
			ts := startServer(t, func(c *config.Config) { c.Grace = 300 * time.Millisecond })
			ctx := tctx(t)
			alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
			befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
			aws, err := alice.Connect(ctx, client.ConnectOptions{})
			must(t, err)
			sessions := ts.Hub.Metrics().SessionsOf(transport)
			before := sessions.Load() // alice's, over ws
			connect := map[string]func(context.Context, client.ConnectOptions) (*client.Session, error){"ws": bob.Connect, "longpoll": bob.ConnectPoll}[transport]
			bs, err := connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
			must(t, err)
			_, err = aws.WaitFor(ctx, presenceIs("bob@localhost", "available"))
			must(t, err)
			if n := sessions.Load(); n != before+1 {
				t.Fatalf("%s sessions: %d, want %d", transport, n, before+1)
			}
			bs.Drop()
			_, err = aws.WaitFor(ctx, presenceIs("bob@localhost", "unavailable"))
			must(t, err)
			if n := sessions.Load(); n != before {
				t.Fatalf("%s sessions after expiry: %d, want %d", transport, n, before)
			}
			var ce *client.Error
			if err := bs.Resume(ctx); !asError(err, &ce) || ce.Code != "session_expired" {
				t.Fatalf("resume after grace: %v", err)
			}
		})
	}
}

func TestNothingLeaksToStrangers(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	alice, bob, carol := ts.user(t, "alice"), ts.user(t, "bob"), ts.user(t, "carol")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	bs, err := bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available", Status: "bob-secret"}})
	must(t, err)
	as, err := alice.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available", Status: "alice-secret"}})
	must(t, err)
	_ = as
	cs, err := carol.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)

	// carol asks a real user and a ghost: the answers must be identical
	real, err := carol.SubscriptionAction(ctx, "bob@localhost", "subscribe")
	must(t, err)
	ghost, err := carol.SubscriptionAction(ctx, "ghost@localhost", "subscribe")
	must(t, err)
	real.Address, ghost.Address = "", ""
	if real != ghost {
		t.Fatalf("request answers differ: %+v vs %+v", real, ghost)
	}
	_, err = bob.SubscriptionAction(ctx, "carol@localhost", "deny")
	must(t, err)
	ps, err := carol.Presence(ctx, "bob@localhost", "ghost@localhost", "alice@localhost")
	must(t, err)
	if len(ps) != 0 {
		t.Fatalf("presence query leaked %+v", ps)
	}
	_, errReal := cs.Message(ctx, "bob@localhost", "hi")
	_, errGhost := cs.Message(ctx, "ghost@localhost", "hi")
	if errReal == nil || errGhost == nil || errReal.Error() != errGhost.Error() {
		t.Fatalf("message errors differ: %v vs %v", errReal, errGhost)
	}
	_, errReal = cs.Signal(ctx, "bob@localhost/"+bs.Resource, map[string]int{"x": 1})
	if errReal == nil || errReal.Error() != errGhost.Error() {
		t.Fatalf("signal to a real device: %v", errReal)
	}
	must(t, bs.SetPresence(ctx, client.Presence{Availability: "away", Status: "bob-secret-2"}))
	time.Sleep(200 * time.Millisecond)
	for {
		ctx2, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		f, err := cs.Next(ctx2)
		cancel()
		if err != nil {
			break
		}
		if strings.Contains(string(f.Raw), "secret") || strings.Contains(string(f.Raw), "alice@") {
			t.Fatalf("carol received %s", f.Raw)
		}
	}
}

func TestWebSocketBadInput(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	alice := ts.user(t, "alice")
	s, err := alice.Connect(ctx, client.ConnectOptions{})
	must(t, err)
	for _, bad := range []map[string]any{
		{"type": "presence", "availability": "sleeping"},
		{"type": "presence", "availability": "away", "status": strings.Repeat("x", 600)},
		{"type": "subscribe"},
		{"type": "subscribe", "address": "not an address"},
		{"type": "message", "to": "alice@localhost"},
		{"type": "teleport"},
	} {
		typ := bad["type"].(string)
		delete(bad, "type")
		_, err := s.Request(ctx, typ, bad)
		var ce *client.Error
		if !asError(err, &ce) || ce.Code != "invalid" || ce.Message == "" {
			t.Errorf("%s %v: %v", typ, bad, err)
		}
	}
	// the connection survives bad requests
	must(t, s.SetPresence(ctx, client.Presence{Availability: "available"}))
}

func TestRESTErrorsAreProblems(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	alice := ts.user(t, "alice")
	for _, tc := range []struct {
		method, path string
		body         string
		status       int
	}{
		{"GET", "/v1/contacts", "", 401},
		{"POST", "/v1/contacts", "{", 400},
		{"POST", "/v1/contacts", `{"name":"x","colour":"blue"}`, 400},
		{"POST", "/v1/contacts", `{"name":"` + strings.Repeat("x", 70000) + `"}`, 413},
		{"GET", "/v1/contacts/nope", "", 404},
		{"POST", "/v1/subscriptions/bob@localhost/hug", "", 404},
		{"POST", "/v1/auth/login", `{"address":"alice@localhost","password":"wrong-password"}`, 401},
		{"POST", "/v1/auth/login", `{"address":"nobody@localhost","password":"wrong-password"}`, 401},
	} {
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
		if tc.status != 401 || !strings.HasPrefix(tc.path, "/v1/contacts") {
			req.Header.Set("Authorization", "Bearer "+alice.Token)
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		var p struct {
			Status int
			Code   string
			Detail string
		}
		json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" || p.Status != tc.status || p.Code == "" {
			t.Errorf("%s %s: %d %q %+v", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), p)
		}
	}
	_ = ctx
}

// TestRESTAnswersInWords: every error of the HTTP API is a problem with the
// right status, and its detail speaks of fields, not of Go types.
func TestRESTAnswersInWords(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.Signup = true })
	alice := ts.user(t, "alice")
	for _, tc := range []struct {
		method, path, body string
		status             int
		detail             string // in the problem's detail
	}{
		{"GET", "/v1/nothing-here", "", 404, "/v1/nothing-here"},
		{"GET", "/nothing-here", "", 404, ""},
		{"DELETE", "/v1/contacts", "", 405, "GET"},
		{"PATCH", "/v1/me", "", 405, ""},
		{"POST", "/v1/contacts", `{"name":12}`, 400, "name must be a string, not a number"},
		{"POST", "/v1/contacts", `{"name":"x","emails":"a@b"}`, 400, "emails must be a list"},
		{"POST", "/v1/contacts", `[]`, 400, "expected an object"},
		{"POST", "/v1/contacts", "{\"name\":\"caf\xe9\"}", 400, "not valid UTF-8"},
		{"POST", "/v1/contacts", `{"name":"x"} {"name":"y"}`, 400, "nothing after it"},
		{"POST", "/v1/contacts", `{"name":"` + strings.Repeat("x", 10<<20) + `"}`, 413, "64 KiB"},
		{"POST", "/v1/auth/signup", `{"address":"alice@localhost","password":"long-enough"}`, 409, "taken"},
		{"POST", "/v1/subscriptions/Alice@localhost/subscribe", "", 400, "alice@localhost is your own address"},
	} {
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+alice.Token)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		var p struct {
			Status       int
			Code, Detail string
		}
		json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" || p.Status != tc.status || p.Code == "" ||
			!strings.Contains(p.Detail, tc.detail) {
			t.Errorf("%s %s: %d %q %+v, want %d with %q", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), p, tc.status, tc.detail)
		}
		if strings.Contains(p.Detail, "Go ") || strings.Contains(p.Detail, "JSON.") || strings.Contains(p.Detail, "\ufffd") {
			t.Errorf("%s %s: detail %q", tc.method, tc.path, p.Detail)
		}
		if tc.status == 405 && resp.Header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", tc.method, tc.path)
		}
	}
}
