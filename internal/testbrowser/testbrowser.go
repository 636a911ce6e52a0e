// Package testbrowser drives headless Chromium over the DevTools protocol
// for end-to-end tests of web pages and browser clients (about a hundred
// lines instead of a dependency such as chromedp). Only tests import it.
package testbrowser

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Browser is a Chromium driven over the DevTools protocol.
type Browser struct {
	mu      sync.Mutex
	conn    *websocket.Conn
	next    int
	pending map[int]chan cdpMessage
	popups  map[string]bool // targets Popup returned
}

type cdpMessage struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// Page is one tab in a browser context of its own.
type Page struct {
	b       *Browser
	session string
	target  string
}

// FakeMedia are the flags for pages that use the camera and microphone:
// fake devices, permission granted without asking, and host ICE
// candidates with their real addresses (not mDNS names), so that two
// pages of one browser connect over loopback without a STUN server.
var FakeMedia = []string{"--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
	"--disable-features=WebRtcHideLocalIpsWithMdns"}

var devtoolsURL = regexp.MustCompile(`DevTools listening on (ws://\S+)`)

// Launch starts headless Chromium at path for the test and connects to
// its DevTools endpoint; the browser ends with the test. flags are added
// to Chromium's command line (FakeMedia, say).
func Launch(t *testing.T, ctx context.Context, path string, flags ...string) *Browser {
	// The profile directory is ours to remove: Chromium's helper processes
	// may still write to it for a moment after the browser is gone, which
	// t.TempDir's cleanup would report as a failure.
	profile, err := os.MkdirTemp("", "presenced-chromium-")
	must(t, err)
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--user-data-dir=" + profile, "--remote-debugging-port=0"}, flags...)
	cmd := exec.CommandContext(ctx, path, append(args, "about:blank")...)
	ownGroup(cmd) // its helper processes end with it
	stderr, err := cmd.StderrPipe()
	must(t, err)
	must(t, cmd.Start())
	t.Cleanup(func() {
		killGroup(cmd)
		cmd.Wait()
		for i := 0; i < 50 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
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
	b := &Browser{conn: conn, pending: map[int]chan cdpMessage{}, popups: map[string]bool{}}
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

func (b *Browser) call(t *testing.T, ctx context.Context, session, method string, params any) json.RawMessage {
	t.Helper()
	res, err := b.try(ctx, session, method, params)
	must(t, err)
	return res
}

// try is call returning its error: what the browser answered, or ctx's.
func (b *Browser) try(ctx context.Context, session, method string, params any) (json.RawMessage, error) {
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
	if err != nil {
		return nil, err
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return nil, fmt.Errorf("%s: %s", method, m.Error.Message)
		}
		return m.Result, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// NewPage opens url in a fresh browser context (its own cookies). Each of
// initScripts runs in every document of the page before the document's own
// scripts (to instrument the page under test).
func (b *Browser) NewPage(t *testing.T, ctx context.Context, url string, initScripts ...string) *Page {
	var bc struct{ BrowserContextID string }
	json.Unmarshal(b.call(t, ctx, "", "Target.createBrowserContext", map[string]any{}), &bc)
	var tg struct{ TargetID string }
	json.Unmarshal(b.call(t, ctx, "", "Target.createTarget", map[string]any{"url": "about:blank", "browserContextId": bc.BrowserContextID}), &tg)
	var at struct{ SessionID string }
	json.Unmarshal(b.call(t, ctx, "", "Target.attachToTarget", map[string]any{"targetId": tg.TargetID, "flatten": true}), &at)
	if len(initScripts) > 0 {
		b.call(t, ctx, at.SessionID, "Page.enable", map[string]any{})
	}
	for _, src := range initScripts {
		b.call(t, ctx, at.SessionID, "Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": src})
	}
	// navigate once attached: evaluating in a page created with its URL can
	// wait forever for an execution context
	b.call(t, ctx, at.SessionID, "Page.navigate", map[string]any{"url": url})
	return &Page{b: b, session: at.SessionID, target: tg.TargetID}
}

// Popup waits for a window the page opened (window.open) showing a URL
// that starts with prefix, one not returned before, and attaches to it.
func (p *Page) Popup(t *testing.T, ctx context.Context, prefix string) *Page {
	t.Helper()
	for ctx.Err() == nil {
		var r struct {
			TargetInfos []struct {
				TargetID string `json:"targetId"`
				Type     string `json:"type"`
				URL      string `json:"url"`
				OpenerID string `json:"openerId"`
			} `json:"targetInfos"`
		}
		must(t, json.Unmarshal(p.b.call(t, ctx, "", "Target.getTargets", map[string]any{}), &r))
		for _, ti := range r.TargetInfos {
			p.b.mu.Lock()
			seen := p.b.popups[ti.TargetID]
			p.b.mu.Unlock()
			if ti.Type != "page" || ti.OpenerID != p.target || !strings.HasPrefix(ti.URL, prefix) || seen {
				continue
			}
			var at struct{ SessionID string }
			json.Unmarshal(p.b.call(t, ctx, "", "Target.attachToTarget", map[string]any{"targetId": ti.TargetID, "flatten": true}), &at)
			p.b.mu.Lock()
			p.b.popups[ti.TargetID] = true
			p.b.mu.Unlock()
			return &Page{b: p.b, session: at.SessionID, target: ti.TargetID}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("no window opened at %s", prefix)
	return nil
}

// Eval runs a JS expression in the page and returns its value.
func (p *Page) Eval(t *testing.T, ctx context.Context, expr string) any {
	t.Helper()
	v, err := p.eval(ctx, expr)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// eval is Eval returning its error.
func (p *Page) eval(ctx context.Context, expr string) (any, error) {
	raw, err := p.b.try(ctx, p.session, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true})
	if err != nil {
		return nil, err
	}
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
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	if r.ExceptionDetails != nil {
		return nil, fmt.Errorf("%s: %s %s", expr, r.ExceptionDetails.Text, r.ExceptionDetails.Exception.Description)
	}
	return r.Result.Value, nil
}

// Reload reloads the page; wait for what the new document shows next.
func (p *Page) Reload(t *testing.T, ctx context.Context) {
	t.Helper()
	p.b.call(t, ctx, p.session, "Page.reload", map[string]any{})
}

// Screenshot returns a PNG of the page laid out at width×height CSS pixels
// (a width under 600 emulates a phone).
func (p *Page) Screenshot(t *testing.T, ctx context.Context, width, height int) []byte {
	t.Helper()
	p.b.call(t, ctx, p.session, "Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": height,
		"deviceScaleFactor": 1, "mobile": width < 600})
	raw := p.b.call(t, ctx, p.session, "Page.captureScreenshot", map[string]any{"format": "png"})
	var r struct {
		Data []byte `json:"data"` // base64 in JSON, decoded by encoding/json
	}
	must(t, json.Unmarshal(raw, &r))
	return r.Data
}

// Emulate sets a CSS media feature for the page, such as
// prefers-color-scheme: dark.
func (p *Page) Emulate(t *testing.T, ctx context.Context, feature, value string) {
	t.Helper()
	p.b.call(t, ctx, p.session, "Emulation.setEmulatedMedia", map[string]any{"features": []map[string]string{{"name": feature, "value": value}}})
}

// Press types one key (as "Tab", "Enter", " ") into the focused element,
// as a keyboard does: trusted key events with their default actions.
func (p *Page) Press(t *testing.T, ctx context.Context, key string) {
	t.Helper()
	codes := map[string]struct {
		code, text string
		vk         int
	}{"Tab": {"Tab", "", 9}, "Enter": {"Enter", "\r", 13}, " ": {"Space", " ", 32}, "Escape": {"Escape", "", 27}}
	c, ok := codes[key]
	if !ok {
		t.Fatalf("Press: unknown key %q", key)
	}
	down := map[string]any{"type": "keyDown", "key": key, "code": c.code, "windowsVirtualKeyCode": c.vk}
	if c.text != "" {
		down["text"] = c.text
	}
	p.b.call(t, ctx, p.session, "Input.dispatchKeyEvent", down)
	p.b.call(t, ctx, p.session, "Input.dispatchKeyEvent", map[string]any{"type": "keyUp", "key": key, "code": c.code, "windowsVirtualKeyCode": c.vk})
}

// Click waits until selector matches an element and clicks it.
func (p *Page) Click(t *testing.T, ctx context.Context, selector string) {
	t.Helper()
	q := "document.querySelector(" + jsString(selector) + ")"
	p.WaitFor(t, ctx, q)
	p.Eval(t, ctx, q+".click(); true")
}

// Fill waits for the element with id and sets its value, as typing or
// choosing would (input and change events follow).
func (p *Page) Fill(t *testing.T, ctx context.Context, id, value string) {
	t.Helper()
	q := "document.getElementById(" + jsString(id) + ")"
	p.WaitFor(t, ctx, q)
	p.Eval(t, ctx, q+".value = "+jsString(value)+"; "+q+".dispatchEvent(new Event('input', {bubbles: true})); "+
		q+".dispatchEvent(new Event('change', {bubbles: true})); true")
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// WaitFor polls a JS condition until it holds or ctx ends.
func (p *Page) WaitFor(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	expr := "(() => { try { return !!(" + cond + ") } catch (e) { return false } })()"
	for ctx.Err() == nil {
		ectx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		v, err := p.eval(ectx, expr)
		cancel()
		if ok, _ := v.(bool); ok {
			return
		}
		if err != nil && !navigating(err) {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
	ectx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Fatalf("timed out waiting for %s\npage text: %v", cond, p.Eval(t, ectx, "document.body.innerText"))
}

// navigating: the page was between documents when asked (a reload or a
// navigation under way); asking again is right.
func navigating(err error) bool {
	m := err.Error()
	return strings.Contains(m, "navigated or closed") || strings.Contains(m, "context was destroyed") ||
		strings.Contains(m, "Cannot find context")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
