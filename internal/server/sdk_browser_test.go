package server

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	jsclient "github.com/presenced/presenced/clients/js"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/testbrowser"
)

// sdkPage is an app's page using the SDK: start() connects and logs the
// events the tests look for in window.log.
const sdkPage = `<!doctype html><meta charset="utf-8"><title>sdk</title>
<script type="module">
import { Presenced } from "./presenced.js";
window.log = [];
window.offline = [];
window.start = async (token, device, opts = {}) => {
  const p = new Presenced({ token, device, presence: { availability: "available" }, ...opts });
  window.p = p;
  p.addEventListener("welcome", (e) => log.push("welcome " + e.detail.session + " " + e.detail.resumed));
  p.addEventListener("presence", (e) => log.push("presence " + e.detail.address + " " + e.detail.availability));
  p.addEventListener("message", (e) => log.push("message " + e.detail.from.split("/")[0] + " " + e.detail.body));
  p.addEventListener("offline", (e) => { offline.push(e.detail); log.push("offline " + e.detail.body); });
  for (const t of ["room_snapshot", "room_message", "room_subject", "room_left"])
    p.addEventListener(t, (e) => log.push(t + " " + e.detail.room + " " + (e.detail.body || e.detail.subject || e.detail.reason || "")));
  await p.connect();
  return p.transport + " " + p.address;
};
window.ready = true;
</script>`

// blockWebSocket makes every WebSocket fail to open, as a proxy that
// refuses the upgrade would.
const blockWebSocket = `window.WebSocket = class {
  constructor() { this.readyState = 0; setTimeout(() => { this.readyState = 3; this.onerror && this.onerror({}); this.onclose && this.onclose({ code: 1006 }); }, 10); }
  send() { throw new Error("not open"); }
  close() {}
};`

// sdkSite serves sdkPage and the SDK on its own origin and passes the
// rest to presenced, so the page's origin is presenced's (as when
// presenced serves an app's pages, or a proxy in front of both does); a
// page given presenced's own URL talks to it across origins.
func sdkSite(t *testing.T) (*testServer, *httptest.Server) {
	t.Helper()
	var target *url.URL
	var proxy *httputil.ReverseProxy
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/presenced.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(jsclient.Source)
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(sdkPage))
		default:
			proxy.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(site.Close)
	ts := startServer(t, func(c *config.Config) { c.AllowedOrigins = []string{site.URL} })
	target, _ = url.Parse(ts.URL)
	proxy = httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = log.New(io.Discard, "", 0) // the polls the SDK cuts short
	return ts, site
}

func sdkBrowser(t *testing.T, ctx context.Context) *testbrowser.Browser {
	path := os.Getenv("PRESENCED_TEST_CHROMIUM")
	if path == "" {
		t.Skip("set PRESENCED_TEST_CHROMIUM=/usr/bin/chromium to run the browser test (.ci/run does)")
	}
	return testbrowser.Launch(t, ctx, path)
}

// openSDK opens the page as local@localhost and connects; it returns the
// page and "transport address".
func openSDK(t *testing.T, ctx context.Context, ts *testServer, b *testbrowser.Browser, site, local, device, opts string, init ...string) (*testbrowser.Page, string) {
	t.Helper()
	token, _, err := ts.Auth.IssueToken(ctx, local+"@localhost", "test")
	must(t, err)
	p := b.NewPage(t, ctx, site+"/", init...)
	p.WaitFor(t, ctx, `window.ready`)
	if opts == "" {
		opts = "{}"
	}
	got := p.Eval(t, ctx, fmt.Sprintf(`start(%q, %q, %s)`, token, device, opts)).(string)
	return p, got
}

// TestSDKLongPollFallback: with WebSocket blocked, the SDK opens its
// session over long-polling and receives presence and messages, sends
// over it, and resumes the same session after a dropped poll.
func TestSDKLongPollFallback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := sdkBrowser(t, ctx)
	ts, site := sdkSite(t)
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")

	a, got := openSDK(t, ctx, ts, b, site.URL, "alice", "laptop", "", blockWebSocket)
	if !strings.HasPrefix(got, "longpoll alice@localhost/laptop-") {
		t.Fatalf("alice's page without WebSocket: %q", got)
	}
	bp, got := openSDK(t, ctx, ts, b, site.URL, "bob", "phone", "")
	if !strings.HasPrefix(got, "websocket bob@localhost/phone-") {
		t.Fatalf("bob's page: %q", got)
	}
	a.WaitFor(t, ctx, `log.includes("presence bob@localhost available") && p.presence.get("bob@localhost").availability === "available"`)
	bp.WaitFor(t, ctx, `p.presence.get("alice@localhost")?.availability === "available"`)

	// a message to the long-polling page, and one from it (which cuts its held poll short)
	bp.Eval(t, ctx, `p.message("alice@localhost", "hello over ws").then(() => true)`)
	a.WaitFor(t, ctx, `log.includes("message bob@localhost hello over ws")`)
	if got := a.Eval(t, ctx, `p.message("bob@localhost", "hello over poll").then((r) => r.delivered)`); got != float64(1) {
		t.Fatalf("alice's message over long-polling: delivered %v", got)
	}
	bp.WaitFor(t, ctx, `log.includes("message alice@localhost hello over poll")`)

	// the poll drops: the SDK resumes the same session, still over long-polling
	session := a.Eval(t, ctx, `p.session`).(string)
	a.Eval(t, ctx, `p._ws.close(), true`)
	a.WaitFor(t, ctx, `log.includes("welcome `+session+` true") && p.state === "online" && p.transport === "longpoll"`)
	bp.Eval(t, ctx, `p.message("alice@localhost", "after the drop").then(() => true)`)
	a.WaitFor(t, ctx, `log.includes("message bob@localhost after the drop")`)
	if got := bp.Eval(t, ctx, `log.filter((l) => l === "presence alice@localhost unavailable").length`); got != float64(0) {
		t.Fatal("bob saw alice leave during her resume")
	}
	// bob's presence changes reach the long-polling page too
	bp.Eval(t, ctx, `p.setPresence({ availability: "away", status: "tea" }).then(() => true)`)
	a.WaitFor(t, ctx, `p.presence.get("bob@localhost").status === "tea"`)
	a.Eval(t, ctx, `p.close().then(() => true)`)
	bp.WaitFor(t, ctx, `log.includes("presence alice@localhost unavailable")`)
}

// TestSDKLongPollCrossOrigin: an app's page on its own origin, talking
// to presenced on another (the SDK's url option), falls back to
// long-polling through CORS, and reads the REST API with its token; a
// cookie-style request (the CSRF header) is refused by the preflight.
func TestSDKLongPollCrossOrigin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := sdkBrowser(t, ctx)
	ts, site := sdkSite(t)
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	bs, err := bob.Connect(ctx, client.ConnectOptions{Presence: &client.Presence{Availability: "available"}})
	must(t, err)

	a, got := openSDK(t, ctx, ts, b, site.URL, "alice", "laptop", fmt.Sprintf(`{url: %q}`, ts.URL), blockWebSocket)
	if !strings.HasPrefix(got, "longpoll alice@localhost/laptop-") {
		t.Fatalf("alice's page on another origin without WebSocket: %q", got)
	}
	a.WaitFor(t, ctx, `p.presence.get("bob@localhost")?.availability === "available"`)
	_, err = bs.Message(ctx, "alice@localhost", "across origins")
	must(t, err)
	a.WaitFor(t, ctx, `log.includes("message bob@localhost across origins")`)
	token, _, err := ts.Auth.IssueToken(ctx, "alice@localhost", "test")
	must(t, err)
	rest := fmt.Sprintf(`fetch(%q + "/v1/contacts", { headers: { Authorization: "Bearer " + %q } }).then((r) => r.status)`, ts.URL, token)
	if got := a.Eval(t, ctx, rest); got != float64(200) {
		t.Fatalf("REST with a token from another origin: %v", got)
	}
	csrf := fmt.Sprintf(`fetch(%q + "/v1/contacts", { method: "POST", headers: { "X-CSRF-Token": "x" }, credentials: "include" }).then(() => "answered", () => "refused")`, ts.URL)
	if got := a.Eval(t, ctx, csrf); got != "refused" {
		t.Fatalf("a cookie-style request from another origin: %v", got)
	}
}

// TestSDKRooms: two SDK pages (one over long-polling) in a room: the
// snapshot and diffs keep each page's occupants, messages and the subject
// travel, and the owner kicks the other.
func TestSDKRooms(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := sdkBrowser(t, ctx)
	ts, site := sdkSite(t)
	ts.user(t, "alice")
	ts.user(t, "bob")
	a, _ := openSDK(t, ctx, ts, b, site.URL, "alice", "laptop", "")
	bp, got := openSDK(t, ctx, ts, b, site.URL, "bob", "phone", `{transport: "longpoll"}`)
	if !strings.HasPrefix(got, "longpoll ") {
		t.Fatalf("bob's page: %q", got)
	}
	a.Eval(t, ctx, `p.join("doc-42", "alice", { metadata: { cursor: 1 } }).then(() => true)`)
	a.WaitFor(t, ctx, `p.rooms.has("doc-42") && p.rooms.get("doc-42").self.affiliation === "owner"`)
	a.Eval(t, ctx, `p.setSubject("doc-42", "chapter 3").then(() => true)`)
	a.WaitFor(t, ctx, `p.rooms.get("doc-42").subject === "chapter 3"`)
	a.Eval(t, ctx, `p.sendToRoom("doc-42", "first").then(() => true)`)

	bp.Eval(t, ctx, `p.join("doc-42", "bob").then(() => true)`)
	bp.WaitFor(t, ctx, `p.rooms.has("doc-42") && p.rooms.get("doc-42").occupants.has("alice") && p.rooms.get("doc-42").subject === "chapter 3"`)
	bp.WaitFor(t, ctx, `p.rooms.get("doc-42").messages.some((m) => m.body === "first")`)
	a.WaitFor(t, ctx, `p.rooms.get("doc-42").occupants.has("bob") && p.rooms.get("doc-42").count === 2`)

	bp.Eval(t, ctx, `p.sendToRoom("doc-42", "hello all").then(() => true)`)
	a.WaitFor(t, ctx, `log.includes("room_message doc-42 hello all") && p.rooms.get("doc-42").messages.at(-1).nick === "bob"`)
	a.Eval(t, ctx, `p.setSubject("doc-42", "chapter 4").then(() => true)`)
	bp.WaitFor(t, ctx, `log.includes("room_subject doc-42 chapter 4") && p.rooms.get("doc-42").subject_by === "alice"`)

	// bob may not kick the owner
	if got := bp.Eval(t, ctx, `p.kick("doc-42", "alice").then(() => "kicked", (e) => e.code)`); got != "forbidden" {
		t.Fatalf("bob kicking the owner: %v", got)
	}
	a.Eval(t, ctx, `p.kick("doc-42", "bob", "tidy up").then(() => true)`)
	bp.WaitFor(t, ctx, `log.includes("room_left doc-42 kicked") && !p.rooms.has("doc-42")`)
	a.WaitFor(t, ctx, `!p.rooms.get("doc-42").occupants.has("bob") && p.rooms.get("doc-42").count === 1`)
	// he may join again; banned, he may not
	bp.Eval(t, ctx, `p.join("doc-42", "bob").then(() => true)`)
	a.WaitFor(t, ctx, `p.rooms.get("doc-42").occupants.has("bob")`)
	a.Eval(t, ctx, `p.ban("doc-42", "bob").then(() => true)`)
	bp.WaitFor(t, ctx, `log.includes("room_left doc-42 banned") && !p.rooms.has("doc-42")`)
	if got := bp.Eval(t, ctx, `p.join("doc-42", "bob").then(() => "joined", (e) => e.code)`); got != "forbidden" {
		t.Fatalf("bob joining after his ban: %v", got)
	}
	a.Eval(t, ctx, `p.leave("doc-42").then(() => true)`)
	if got := a.Eval(t, ctx, `p.rooms.size`); got != float64(0) {
		t.Fatalf("alice's rooms after leaving: %v", got)
	}
}

// TestSDKOfflineMessages: messages to bob while he is offline are stored;
// his page receives them as offline events when it connects and
// acknowledges them, so his next session gets only what came since; and
// history pages them.
func TestSDKOfflineMessages(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := sdkBrowser(t, ctx)
	ts, site := sdkSite(t)
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	a, _ := openSDK(t, ctx, ts, b, site.URL, "alice", "laptop", "")
	for _, body := range []string{"one", "two"} {
		if got := a.Eval(t, ctx, `p.message("bob@localhost", "`+body+`").then((r) => r.stored === true)`); got != true {
			t.Fatalf("message %s to offline bob: stored %v", body, got)
		}
	}
	b1, _ := openSDK(t, ctx, ts, b, site.URL, "bob", "phone", "")
	b1.WaitFor(t, ctx, `log.includes("offline one") && log.includes("offline two")`)
	if got := b1.Eval(t, ctx, `offline.every((m) => m.offline_id > 0 && m.from.startsWith("alice@localhost/") && m.sent)`); got != true {
		t.Fatalf("offline events: %v", b1.Eval(t, ctx, `JSON.stringify(offline)`))
	}
	page := b1.Eval(t, ctx, `p.history({ with: "alice@localhost" }).then((h) => h.messages.map((m) => m.body + ":" + m.outgoing).join(",") + " " + h.complete)`)
	if page != "one:false,two:false true" {
		t.Fatalf("bob's history: %v", page)
	}
	b1.Eval(t, ctx, `p.close().then(() => true)`) // the acknowledgement went before the bye
	a.WaitFor(t, ctx, `log.includes("presence bob@localhost unavailable")`)
	if got := a.Eval(t, ctx, `p.message("bob@localhost", "three").then((r) => r.stored === true)`); got != true {
		t.Fatalf("message three: stored %v", got)
	}
	b2, _ := openSDK(t, ctx, ts, b, site.URL, "bob", "tablet", "")
	b2.WaitFor(t, ctx, `log.includes("offline three")`)
	time.Sleep(300 * time.Millisecond)
	if got := b2.Eval(t, ctx, `log.filter((l) => l.startsWith("offline ")).join(",")`); got != "offline three" {
		t.Fatalf("bob's next session got %v: the first ones were not acknowledged", got)
	}
}

// TestSDKTypesServed: presenced serves the declarations next to the
// module, and they declare every name the module exports. (Type-checking
// them needs tsc, which the test machines do not have.)
func TestSDKTypesServed(t *testing.T) {
	ts := startServer(t, nil)
	resp, err := http.Get(ts.URL + "/sdk/presenced.d.ts")
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, jsclient.Types) || !strings.Contains(resp.Header.Get("Content-Type"), "typescript") {
		t.Fatalf("GET /sdk/presenced.d.ts: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	for _, m := range regexp.MustCompile(`(?m)^export (?:async )?(?:class|function|const) (\w+)`).FindAllStringSubmatch(string(jsclient.Source), -1) {
		if !regexp.MustCompile(`export declare (?:class|function|const) ` + m[1] + `\b`).Match(jsclient.Types) {
			t.Errorf("presenced.d.ts does not declare %s", m[1])
		}
	}
	for _, method := range regexp.MustCompile(`(?m)^  (?:async )?([a-z]\w*)\(`).FindAllStringSubmatch(string(jsclient.Source), -1) {
		if method[1] == "constructor" {
			continue
		}
		if !regexp.MustCompile(`(?m)^  ` + method[1] + `[(<]`).Match(jsclient.Types) {
			t.Errorf("presenced.d.ts does not declare the method %s", method[1])
		}
	}
}

// fakePush stands in for the browser's service worker and push service
// (headless Chromium has no push service to subscribe with): register
// and subscribe succeed with the subscription given in window.fakeSub,
// and permission is what window.permission says.
const fakePush = `window.permission = "granted";
window.registered = [];
Object.defineProperty(navigator, "serviceWorker", { value: {
  register: async (url, opts) => { registered.push(url); return { pushManager: { subscribe: async (o) => {
    window.subOpts = o; return { toJSON: () => window.fakeSub }; } } }; } } });
window.PushManager = window.PushManager || function () {};
Notification.requestPermission = async () => window.permission;`

// TestSDKEnableNotifications: enableNotifications registers the app's
// service worker, subscribes with the server's VAPID key and hands the
// subscription to the server, which lists the device; refused
// permission rejects with denied and subscribes nothing.
func TestSDKEnableNotifications(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := sdkBrowser(t, ctx)
	ts, site := sdkSite(t)
	bob := ts.user(t, "bob")
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	must(t, err)
	p256dh := base64.RawURLEncoding.EncodeToString(key.PublicKey().Bytes())
	auth := base64.RawURLEncoding.EncodeToString(make([]byte, 16))
	bp, _ := openSDK(t, ctx, ts, b, site.URL, "bob", "phone", "", fakePush)
	bp.Eval(t, ctx, fmt.Sprintf(`window.fakeSub = { endpoint: "https://push.example.net/sub/1", expirationTime: null, keys: { p256dh: %q, auth: %q } }, true`, p256dh, auth))

	bp.Eval(t, ctx, `window.permission = "denied", true`)
	if got := bp.Eval(t, ctx, `p.enableNotifications({ serviceWorker: "/sw.js" }).then(() => "ok", (e) => e.code)`); got != "denied" {
		t.Fatalf("with notifications denied: %v", got)
	}
	bp.Eval(t, ctx, `window.permission = "granted", true`)
	got := bp.Eval(t, ctx, `p.enableNotifications({ serviceWorker: "/sw.js", device: "test phone" }).then((s) => "ok " + (s.id ? "id" : JSON.stringify(s)), (e) => e.code + " " + e.message)`)
	if got != "ok id" {
		t.Fatalf("enableNotifications: %v", got)
	}
	if got := bp.Eval(t, ctx, `registered.join(",")`); got != "/sw.js,/sw.js" {
		t.Fatalf("service workers registered: %v", got)
	}
	// subscribed with the server's key
	var vapid struct{ Key string }
	must(t, bob.Do(ctx, "GET", "/v1/push/key", nil, &vapid))
	if got := bp.Eval(t, ctx, `btoa(String.fromCharCode(...subOpts.applicationServerKey)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "") + " " + subOpts.userVisibleOnly`); got != strings.TrimRight(vapid.Key, "=")+" true" {
		t.Fatalf("subscribed with %v, the server's key is %s", got, vapid.Key)
	}
	var list struct{ Subscriptions []pushSub }
	must(t, bob.Do(ctx, "GET", "/v1/push/subscriptions", nil, &list))
	if len(list.Subscriptions) != 1 || list.Subscriptions[0].Endpoint != "https://push.example.net/sub/1" || list.Subscriptions[0].Device != "test phone" {
		t.Fatalf("bob's push subscriptions: %+v", list.Subscriptions)
	}
}
