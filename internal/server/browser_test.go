package server

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/testbrowser"
)

// TestWebPageLivePresence drives the built-in web page in headless Chromium:
// two users in two isolated browser contexts sign in, one adds the other,
// the other approves, and each status change shows up live in the other
// window without a reload. Switched on by PRESENCED_TEST_CHROMIUM (the
// browser's path), which .ci/run sets after installing Chromium.
func TestWebPageLivePresence(t *testing.T) {
	path := os.Getenv("PRESENCED_TEST_CHROMIUM")
	if path == "" {
		t.Skip("set PRESENCED_TEST_CHROMIUM=/usr/bin/chromium to run the browser test (.ci/run does)")
	}
	ts := startServer(t, nil)
	ts.user(t, "alice")
	ts.user(t, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := testbrowser.Launch(t, ctx, path)

	alice := b.NewPage(t, ctx, ts.URL+"/")
	bob := b.NewPage(t, ctx, ts.URL+"/")
	for _, u := range []struct {
		p    *testbrowser.Page
		name string
	}{{alice, "alice"}, {bob, "bob"}} {
		u.p.WaitFor(t, ctx, `!document.getElementById("signin").hidden`)
		u.p.Eval(t, ctx, fmt.Sprintf(`document.getElementById("signin-address").value = %q;
			document.getElementById("signin-password").value = %q;
			document.querySelector("#signin-form button").click(); true`, u.name+"@localhost", "password-"+u.name))
		u.p.WaitFor(t, ctx, `document.getElementById("conn").textContent.startsWith("online as `+u.name+`@localhost/web-")`)
	}

	// alice adds bob (and lets him see her); bob approves her request in his window
	alice.Eval(t, ctx, `document.getElementById("add-address").value = "bob@localhost";
		document.getElementById("add-name").value = "Bob";
		document.querySelector("#add-form button").click(); true`)
	bob.WaitFor(t, ctx, `!!document.querySelector('#requests li[data-address="alice@localhost"] button.approve')`)
	bob.Eval(t, ctx, `document.querySelector('#requests li[data-address="alice@localhost"] button.approve').click(); true`)
	alice.WaitFor(t, ctx, `document.querySelector('#contacts li[data-address="bob@localhost"]')?.dataset.availability === "available"`)
	// the card with his name follows the request (the page asks first, so a
	// refused request leaves no card)
	alice.WaitFor(t, ctx, `document.querySelector('#contacts li[data-address="bob@localhost"] .name').textContent === "Bob"`)

	// bob changes his status and activity; alice's window updates without reload
	alice.Eval(t, ctx, `window.marker = "no reload"; true`)
	bob.Eval(t, ctx, `document.getElementById("availability").value = "dnd";
		document.getElementById("status").value = "in the lab";
		document.getElementById("activity-kind").value = "call";
		document.querySelector("#presence-form button").click(); true`)
	alice.WaitFor(t, ctx, `(() => { const li = document.querySelector('#contacts li[data-address="bob@localhost"]');
		return li && li.dataset.availability === "dnd" && li.querySelector(".status").textContent.includes("in the lab") })()`)
	if m := alice.Eval(t, ctx, `window.marker`); m != "no reload" {
		t.Fatal("alice's page was reloaded")
	}
	// bob's approval asked back, which alice's pre-approval (when adding him) granted
	bob.WaitFor(t, ctx, `document.querySelector('#contacts li[data-address="alice@localhost"]')?.dataset.availability === "available"`)
}

// TestWebPageSurvivesRestarts restarts the server twice under a signed-in
// web page (same data directory, same port). Each time the page's resume
// finds its session gone, so the SDK must open a fresh one, and exactly one:
// a stale reconnect of the failed socket used to resume the new session from
// a second socket, whose "replaced" goaway then stopped the client for good.
// Every wait is on a condition; nothing depends on how fast the machine is.
func TestWebPageSurvivesRestarts(t *testing.T) {
	path := os.Getenv("PRESENCED_TEST_CHROMIUM")
	if path == "" {
		t.Skip("set PRESENCED_TEST_CHROMIUM=/usr/bin/chromium to run the browser test (.ci/run does)")
	}
	ts := startServer(t, nil)
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	bobToken, _, err := ts.Auth.IssueToken(ctx, "bob@localhost", "test")
	must(t, err)
	b := testbrowser.Launch(t, ctx, path)
	page := b.NewPage(t, ctx, ts.URL+"/", socketProbe)
	signInPage(t, ctx, page, "alice")

	for round := 0; round <= 2; round++ {
		if round > 0 {
			ts.restart(t)
		}
		// bob (the Go client) comes online with a status naming the round;
		// alice's page shows it, so it has a live session again …
		bs, err := client.New(ts.URL, bobToken).Connect(ctx, client.ConnectOptions{
			Presence: &client.Presence{Availability: "available", Status: fmt.Sprintf("bob round %d", round)}})
		must(t, err)
		page.WaitFor(t, ctx, fmt.Sprintf(`document.getElementById("conn").textContent.startsWith("online as alice@localhost/web-") &&
			document.querySelector('#contacts li[data-address="bob@localhost"] .status')?.textContent.includes("bob round %d")`, round))
		// … and what alice sets there reaches bob
		page.Eval(t, ctx, fmt.Sprintf(`document.getElementById("status").value = "alice round %d";
			document.querySelector("#presence-form button").click(); true`, round))
		_, err = bs.WaitFor(ctx, func(f client.Frame) bool {
			return f.Type == "presence" && f.Address == "alice@localhost" && f.Status == fmt.Sprintf("alice round %d", round)
		})
		must(t, err)
		// once the page has settled (no reconnect scheduled, one socket),
		// none of its sockets was ever replaced by another of its own
		page.WaitFor(t, ctx, `window.socketProbe.settled()`)
		if g := page.Eval(t, ctx, `window.socketProbe.goaways.filter((r) => r.startsWith("replaced")).length`); g != float64(0) {
			t.Fatalf("round %d: the page resumed its live session from a second socket (goaways %v)", round, page.Eval(t, ctx, `window.socketProbe.goaways`))
		}
		page.WaitFor(t, ctx, `document.getElementById("conn").textContent.startsWith("online as alice@localhost/web-")`)
	}
}

// signInPage signs local@localhost in on the page and waits until it is online.
func signInPage(t *testing.T, ctx context.Context, p *testbrowser.Page, local string) {
	t.Helper()
	p.WaitFor(t, ctx, `!document.getElementById("signin").hidden`)
	p.Eval(t, ctx, fmt.Sprintf(`document.getElementById("signin-address").value = %q;
		document.getElementById("signin-password").value = %q;
		document.querySelector("#signin-form button").click(); true`, local+"@localhost", "password-"+local))
	p.WaitFor(t, ctx, `document.getElementById("conn").textContent.startsWith("online as `+local+`@localhost/web-")`)
}

// socketProbe instruments a page: the goaway reasons its WebSockets
// received, opened(), how many it opened, and settled(), true when no timeout is pending (so no reconnect
// is scheduled) and exactly one of its sockets is not closed, and is open.
const socketProbe = `(() => {
	const pending = new Set(), sockets = [], goaways = [];
	const setT = window.setTimeout, clearT = window.clearTimeout;
	window.setTimeout = (fn, ms, ...args) => {
		const id = setT.call(window, (...a) => { pending.delete(id); fn(...a); }, ms, ...args);
		pending.add(id);
		return id;
	};
	window.clearTimeout = (id) => { pending.delete(id); clearT.call(window, id); };
	window.WebSocket = class extends window.WebSocket {
		constructor(...a) {
			super(...a);
			sockets.push(this);
			this.addEventListener("message", (e) => {
				try { const f = JSON.parse(e.data); if (f.type === "goaway") goaways.push(f.reason); } catch (_) {}
			});
		}
	};
	window.socketProbe = { goaways, opened: () => sockets.length, settled: () => pending.size === 0 &&
		sockets.filter((s) => s.readyState !== WebSocket.CLOSED).length === 1 && sockets.some((s) => s.readyState === WebSocket.OPEN) };
})()`

// blackholeProxy forwards TCP connections to target until freeze: from
// then on every connection, open or new, is kept open and silent (data is
// read and dropped, a close is not passed on), as with a network gone
// without a word; after thaw new connections are forwarded again.
type blackholeProxy struct {
	target string
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []*atomic.Bool // per connection: dead
}

func startBlackholeProxy(t *testing.T, target string) (*blackholeProxy, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	bp := &blackholeProxy{target: target}
	var open []net.Conn
	var openMu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		openMu.Lock()
		for _, c := range open {
			c.Close()
		}
		openMu.Unlock()
	})
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			openMu.Lock()
			open = append(open, in, out)
			openMu.Unlock()
			dead := &atomic.Bool{}
			bp.mu.Lock()
			dead.Store(bp.frozen.Load())
			bp.conns = append(bp.conns, dead)
			bp.mu.Unlock()
			pipe := func(dst, src net.Conn) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if err != nil {
						if !dead.Load() {
							dst.Close()
						}
						return
					}
					if !dead.Load() {
						dst.Write(buf[:n])
					}
				}
			}
			go pipe(out, in)
			go pipe(in, out)
		}
	}()
	return bp, "http://" + ln.Addr().String()
}

func (bp *blackholeProxy) freeze() {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	bp.frozen.Store(true)
	for _, d := range bp.conns {
		d.Store(true)
	}
}

func (bp *blackholeProxy) thaw() { bp.frozen.Store(false) }

// TestWebPageSurvivesASilentNetwork: the network between the page and the
// server goes silent without closing anything (a laptop waking up, a dead
// NAT entry). The SDK notices from its unanswered pings, says so, gives up
// on a reconnection attempt that gets no answer, and is back once the
// network is.
func TestWebPageSurvivesASilentNetwork(t *testing.T) {
	path := os.Getenv("PRESENCED_TEST_CHROMIUM")
	if path == "" {
		t.Skip("set PRESENCED_TEST_CHROMIUM=/usr/bin/chromium to run the browser test (.ci/run does)")
	}
	ts := startServer(t, func(c *config.Config) { c.Heartbeat = 2 * time.Second })
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	bp, url := startBlackholeProxy(t, strings.TrimPrefix(ts.URL, "http://"))
	b := testbrowser.Launch(t, ctx, path)
	page := b.NewPage(t, ctx, url+"/", socketProbe)
	signInPage(t, ctx, page, "alice")
	page.Eval(t, ctx, `presenced.options.helloTimeout = 1500; true`)
	opened := page.Eval(t, ctx, `window.socketProbe.opened()`).(float64)

	bp.freeze()
	page.WaitFor(t, ctx, `presenced.state === "reconnecting" && document.getElementById("conn").classList.contains("reconnecting")`)
	// a second attempt is only made once the first, unanswered, timed out
	page.WaitFor(t, ctx, fmt.Sprintf(`window.socketProbe.opened() >= %d`, int(opened)+2))
	bp.thaw()

	bs, err := bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available", Status: "after the silence"}})
	must(t, err)
	page.WaitFor(t, ctx, `document.getElementById("conn").textContent.startsWith("online as alice@localhost/web-") &&
		document.querySelector('#contacts li[data-address="bob@localhost"] .status')?.textContent.includes("after the silence")`)
	page.Fill(t, ctx, "status", "back")
	page.Click(t, ctx, "#presence-form button")
	_, err = bs.WaitFor(ctx, func(f client.Frame) bool {
		return f.Type == "presence" && f.Address == "alice@localhost" && f.Status == "back"
	})
	must(t, err)
}
