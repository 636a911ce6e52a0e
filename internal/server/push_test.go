package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/testbrowser"
	"github.com/presenced/presenced/internal/webpush"
	"github.com/presenced/presenced/internal/webpush/pushtest"
)

type pushSub struct {
	ID       string `json:"id"`
	Endpoint string `json:"endpoint"`
	Device   string `json:"device"`
}

// subscribePush registers a device of c at ps through the REST API, as the
// web page does with the browser's PushSubscription.
func subscribePush(t *testing.T, ctx context.Context, c *client.Client, ps *pushtest.Service, name string) (pushSub, error) {
	t.Helper()
	d := pushtest.NewDevice(t)
	p256dh, auth := d.Keys()
	var sub pushSub
	err := c.Do(ctx, "POST", "/v1/push/subscriptions", map[string]any{"endpoint": ps.Add(name, d), "expirationTime": nil,
		"keys": map[string]string{"p256dh": p256dh, "auth": auth}, "device": name}, &sub)
	return sub, err
}

// TestPushSubscriptionsREST: the VAPID key to subscribe with, a device
// subscribed, listed (without its keys) and removed; an app's token is
// refused; a server without push_allow_private refuses a loopback endpoint.
func TestPushSubscriptionsREST(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.PushAllowPrivate = true })
	waitReady(t, ts)
	alice := ts.user(t, "alice")
	ctx := tctx(t)
	var key struct{ Key string }
	must(t, alice.Do(ctx, "GET", "/v1/push/key", nil, &key))
	if key.Key != ts.Push.Keys.Public || len(key.Key) != 87 {
		t.Fatalf("the VAPID key: %q", key.Key)
	}
	ps := pushtest.New(t, key.Key, "mailto:postmaster@localhost")
	sub, err := subscribePush(t, ctx, alice, ps, "phone")
	must(t, err)
	var list struct{ Subscriptions []map[string]any }
	must(t, alice.Do(ctx, "GET", "/v1/push/subscriptions", nil, &list))
	if len(list.Subscriptions) != 1 || list.Subscriptions[0]["id"] != sub.ID || list.Subscriptions[0]["device"] != "phone" || list.Subscriptions[0]["keys"] != nil {
		t.Fatalf("listed %+v", list)
	}
	var ce *client.Error
	appTok, _, _ := appToken(t, ts, "Viewer", "presence:read")
	if err := client.New(ts.URL, appTok).Do(ctx, "GET", "/v1/push/subscriptions", nil, nil); !errors.As(err, &ce) || ce.Status != http.StatusForbidden {
		t.Errorf("an app's token on the push routes: %v", err)
	}
	if err := alice.Do(ctx, "POST", "/v1/push/subscriptions", map[string]any{"endpoint": "https://push.example/x", "keys": map[string]string{"p256dh": "AAAA", "auth": "AAAA"}}, nil); !errors.As(err, &ce) || ce.Code != "invalid" {
		t.Errorf("junk keys: %v", err)
	}
	must(t, alice.Do(ctx, "DELETE", "/v1/push/subscriptions/"+sub.ID, nil, nil))
	if err := alice.Do(ctx, "DELETE", "/v1/push/subscriptions/"+sub.ID, nil, nil); !errors.As(err, &ce) || ce.Code != "not_found" {
		t.Errorf("deleting twice: %v", err)
	}

	closed := startServer(t, nil)
	waitReady(t, closed)
	bob := closed.user(t, "bob")
	if _, err := subscribePush(t, ctx, bob, pushtest.New(t, closed.Push.Keys.Public, ""), "phone"); !errors.As(err, &ce) || ce.Code != "invalid" {
		t.Fatalf("a loopback endpoint without push_allow_private: %v", err)
	}
}

// TestWebPagePushDevices: the page registers its service worker, lists
// the devices notified and removes one; and its history switch works.
func TestWebPagePushDevices(t *testing.T) {
	path := os.Getenv("PRESENCED_TEST_CHROMIUM")
	if path == "" {
		t.Skip("set PRESENCED_TEST_CHROMIUM=/usr/bin/chromium to run the browser test (.ci/run does)")
	}
	ts := startServer(t, func(c *config.Config) { c.PushAllowPrivate = true })
	waitReady(t, ts)
	alice := ts.user(t, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sub, err := subscribePush(t, ctx, alice, pushtest.New(t, ts.Push.Keys.Public, "mailto:postmaster@localhost"), "Phone")
	must(t, err)

	page := testbrowser.Launch(t, ctx, path).NewPage(t, ctx, ts.URL+"/")
	signInPage(t, ctx, page, "alice")
	page.Click(t, ctx, `#nav a[data-view="account"]`)
	page.WaitFor(t, ctx, `!!document.querySelector('#push-devices li[data-id="`+sub.ID+`"]')`)
	// the service worker the page subscribes with is served and runs
	// (its scope is /static/: push reaches it whatever page is open, so
	// it need not control the page, and ready would not resolve here)
	page.Eval(t, ctx, `window.swURL = ""; navigator.serviceWorker.register("/static/sw.js").then(async (r) => {
		while (!r.active) await new Promise((ok) => setTimeout(ok, 50));
		window.swURL = r.active.scriptURL; }); true`)
	page.WaitFor(t, ctx, `window.swURL === location.origin + "/static/sw.js"`)
	page.Click(t, ctx, `#push-devices li[data-id="`+sub.ID+`"] button[data-action="remove-push"]`)
	page.WaitFor(t, ctx, `!document.querySelector('#push-devices li[data-id]')`)
	var list struct{ Subscriptions []any }
	must(t, alice.Do(ctx, "GET", "/v1/push/subscriptions", nil, &list))
	if len(list.Subscriptions) != 0 {
		t.Fatalf("after Remove: %+v", list)
	}
	// Account's message history switch, beside (docs/offline.md)
	page.WaitFor(t, ctx, `document.getElementById("history-on").checked`)
	page.Click(t, ctx, "#history-on")
	page.WaitFor(t, ctx, `document.getElementById("notice").textContent.includes("no longer kept")`)
	var on struct{ On bool }
	must(t, alice.Do(ctx, "GET", "/v1/history", nil, &on))
	if on.On {
		t.Fatal("the page's switch did not turn history off")
	}
}

// TestOfflineMessageWakesADevice: a message stored for bob, who has no
// session, wakes his subscribed device by Web Push (the loopback push
// service checks the VAPID signature and decrypts: it says who wrote); a
// stranger's message is refused as today and wakes nothing.
func TestOfflineMessageWakesADevice(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.PushAllowPrivate = true })
	waitReady(t, ts)
	ctx := tctx(t)
	alice, bob, carol := ts.user(t, "alice"), ts.user(t, "bob"), ts.user(t, "carol")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	ps := pushtest.New(t, ts.Push.Keys.Public, "mailto:postmaster@localhost")
	_, err := subscribePush(t, ctx, bob, ps, "phone")
	must(t, err)

	cs := connected(t, ctx, carol, client.Presence{Availability: "available"})
	var ce *client.Error
	if _, err := cs.Message(ctx, "bob@localhost", "hello stranger"); !errors.As(err, &ce) || ce.Code != "unavailable" {
		t.Fatalf("a stranger's message: %v", err)
	}
	as := connected(t, ctx, alice, client.Presence{Availability: "available"})
	if _, err := as.Message(ctx, "bob@localhost", "are you there?"); err != nil {
		t.Fatalf("a message for bob, offline: %v", err)
	}
	for len(ps.Taken()) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("no push reached bob's device")
		case <-time.After(10 * time.Millisecond):
		}
	}
	got := ps.Taken()
	var p struct{ Kind, From string }
	must(t, json.Unmarshal(got[0].Payload, &p))
	if len(got) != 1 || p.Kind != "message" || p.From != "alice@localhost" || got[0].Urgency != "normal" {
		t.Fatalf("bob's device was told %s (%+v)", got[0].Payload, got)
	}
}

// TestCallToOfflineWakesADevice: a call to bob, who has no session, is
// answered unavailable as today, and wakes his device, urgently.
func TestCallToOfflineWakesADevice(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.PushAllowPrivate = true })
	waitReady(t, ts)
	ctx := tctx(t)
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	ps := pushtest.New(t, ts.Push.Keys.Public, "mailto:postmaster@localhost")
	_, err := subscribePush(t, ctx, bob, ps, "phone")
	must(t, err)
	as := connected(t, ctx, alice, client.Presence{Availability: "available"})
	var ce *client.Error
	if _, _, err := as.Call(ctx, "bob@localhost", nil); !errors.As(err, &ce) || ce.Code != "unavailable" {
		t.Fatalf("calling bob, offline: %v", err)
	}
	for len(ps.Taken()) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("no push reached bob's device")
		case <-time.After(10 * time.Millisecond):
		}
	}
	got := ps.Taken()[0]
	var p struct{ Kind, From string }
	must(t, json.Unmarshal(got.Payload, &p))
	if p.Kind != "call" || p.From != "alice@localhost" || got.Urgency != "high" {
		t.Fatalf("bob's device was told %s, urgency %q", got.Payload, got.Urgency)
	}
}

// TestDocsPushExamples runs docs/push.md's shell examples against a server
// ($TOKEN a user's) and checks that its payload examples are what the
// service worker is sent.
func TestDocsPushExamples(t *testing.T) {
	ts, token := docServer(t)
	for _, b := range docShell(t, "docs/push.md") {
		out, err := runShell(ts, b, "TOKEN="+token)
		if err != nil || strings.Contains(out, `"code":`) || !strings.Contains(out, ts.Push.Keys.Public) {
			t.Errorf("docs/push.md example failed: %v\n%s\n%s", err, b, out)
		}
	}
	doc := repoFile(t, "docs/push.md")
	for _, b := range codeBlocks(doc, "json") {
		for _, line := range strings.Split(strings.TrimSpace(b), "\n") {
			dec := json.NewDecoder(strings.NewReader(line))
			dec.DisallowUnknownFields()
			var p webpush.Payload
			if err := dec.Decode(&p); err != nil || (p.Kind != core.NotifyMessage && p.Kind != core.NotifyCall) || p.From == "" {
				t.Errorf("docs/push.md: %s is not a payload presenced sends: %v", line, err)
			}
		}
	}
}
