package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
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
	b := launchChromium(t, ctx, path)

	alice := b.newPage(t, ctx, ts.URL+"/")
	bob := b.newPage(t, ctx, ts.URL+"/")
	for _, u := range []struct {
		p    *page
		name string
	}{{alice, "alice"}, {bob, "bob"}} {
		u.p.waitFor(t, ctx, `!document.getElementById("signin").hidden`)
		u.p.eval(t, ctx, fmt.Sprintf(`document.getElementById("signin-address").value = %q;
			document.getElementById("signin-password").value = %q;
			document.querySelector("#signin-form button").click(); true`, u.name+"@localhost", "password-"+u.name))
		u.p.waitFor(t, ctx, `document.getElementById("conn").textContent.startsWith("online as `+u.name+`@localhost/web-")`)
	}

	// alice adds bob (and lets him see her); bob approves her request in his window
	alice.eval(t, ctx, `document.getElementById("add-address").value = "bob@localhost";
		document.getElementById("add-name").value = "Bob";
		document.querySelector("#add-form button").click(); true`)
	bob.waitFor(t, ctx, `!!document.querySelector('#requests li[data-address="alice@localhost"] button.approve')`)
	bob.eval(t, ctx, `document.querySelector('#requests li[data-address="alice@localhost"] button.approve').click(); true`)
	alice.waitFor(t, ctx, `document.querySelector('#contacts li[data-address="bob@localhost"]')?.dataset.availability === "available"`)
	if name := alice.eval(t, ctx, `document.querySelector('#contacts li[data-address="bob@localhost"] .name').textContent`); name != "Bob" {
		t.Fatalf("alice's contact is named %v", name)
	}

	// bob changes his status and activity; alice's window updates without reload
	alice.eval(t, ctx, `window.marker = "no reload"; true`)
	bob.eval(t, ctx, `document.getElementById("availability").value = "dnd";
		document.getElementById("status").value = "in the lab";
		document.getElementById("activity-kind").value = "call";
		document.querySelector("#presence-form button").click(); true`)
	alice.waitFor(t, ctx, `(() => { const li = document.querySelector('#contacts li[data-address="bob@localhost"]');
		return li && li.dataset.availability === "dnd" && li.querySelector(".status").textContent.includes("in the lab") })()`)
	if m := alice.eval(t, ctx, `window.marker`); m != "no reload" {
		t.Fatal("alice's page was reloaded")
	}
	// bob's approval asked back, which alice's pre-approval (when adding him) granted
	bob.waitFor(t, ctx, `document.querySelector('#contacts li[data-address="alice@localhost"]')?.dataset.availability === "available"`)
}

type browser struct {
	mu      sync.Mutex
	conn    *websocket.Conn
	next    int
	pending map[int]chan cdpMessage
}

type cdpMessage struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

type page struct {
	b       *browser
	session string
}

var devtoolsURL = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

func launchChromium(t *testing.T, ctx context.Context, path string) *browser {
	cmd := exec.CommandContext(ctx, path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir="+t.TempDir(), "--remote-debugging-port=0", "about:blank")
	stderr, err := cmd.StderrPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := devtoolsURL.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	var url string
	select {
	case url = <-found:
	case <-time.After(20 * time.Second):
		t.Fatal("chromium did not print its DevTools address")
	}
	conn, _, err := websocket.DefaultDialer.DialContext(ctx, url, nil)
	must(t, err)
	conn.SetReadLimit(64 << 20)
	b := &browser{conn: conn, pending: map[int]chan cdpMessage{}}
	go func() {
		for {
			var m cdpMessage
			if err := conn.ReadJSON(&m); err != nil {
				return
			}
			b.mu.Lock()
			ch := b.pending[m.ID]
			delete(b.pending, m.ID)
			b.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return b
}

func (b *browser) call(t *testing.T, ctx context.Context, session, method string, params any) json.RawMessage {
	t.Helper()
	b.mu.Lock()
	b.next++
	id := b.next
	ch := make(chan cdpMessage, 1)
	b.pending[id] = ch
	msg := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	err := b.conn.WriteJSON(msg)
	b.mu.Unlock()
	must(t, err)
	select {
	case m := <-ch:
		if m.Error != nil {
			t.Fatalf("%s: %s", method, m.Error.Message)
		}
		return m.Result
	case <-ctx.Done():
		t.Fatalf("%s: %v", method, ctx.Err())
	}
	return nil
}

// newPage opens url in a fresh browser context (its own cookies).
func (b *browser) newPage(t *testing.T, ctx context.Context, url string) *page {
	var bc struct{ BrowserContextID string }
	json.Unmarshal(b.call(t, ctx, "", "Target.createBrowserContext", map[string]any{}), &bc)
	var tg struct{ TargetID string }
	json.Unmarshal(b.call(t, ctx, "", "Target.createTarget", map[string]any{"url": "about:blank", "browserContextId": bc.BrowserContextID}), &tg)
	var at struct{ SessionID string }
	json.Unmarshal(b.call(t, ctx, "", "Target.attachToTarget", map[string]any{"targetId": tg.TargetID, "flatten": true}), &at)
	// navigate once attached: evaluating in a page created with its URL can
	// wait forever for an execution context
	b.call(t, ctx, at.SessionID, "Page.navigate", map[string]any{"url": url})
	return &page{b: b, session: at.SessionID}
}

// eval runs a JS expression in the page and returns its value.
func (p *page) eval(t *testing.T, ctx context.Context, expr string) any {
	t.Helper()
	raw := p.b.call(t, ctx, p.session, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true})
	var r struct {
		Result struct {
			Value any `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	must(t, json.Unmarshal(raw, &r))
	if r.ExceptionDetails != nil {
		t.Fatalf("%s: %s %s", expr, r.ExceptionDetails.Text, r.ExceptionDetails.Exception.Description)
	}
	return r.Result.Value
}

// waitFor polls a JS condition until it holds or ctx ends.
func (p *page) waitFor(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	expr := "(() => { try { return !!(" + cond + ") } catch (e) { return false } })()"
	for ctx.Err() == nil {
		ectx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, _ := p.eval(t, ectx, expr).(bool)
		cancel()
		if v {
			return
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	ectx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t.Fatalf("timed out waiting for %s\npage text: %v", cond, p.eval(t, ectx, "document.body.innerText"))
}
