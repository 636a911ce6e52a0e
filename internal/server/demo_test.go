package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/demo"
	"github.com/presenced/presenced/internal/store"
)

// TestDemoPagesAndSwitch: with the demos on, /demo/ serves both pages
// (with a CSP that keeps them to this origin) and the two apps are
// registered for the server's URL, the same apps again after a restart;
// with the demos off there are neither pages nor apps.
func TestDemoPagesAndSwitch(t *testing.T) {
	ctx := context.Background()
	get := func(url string) (int, http.Header, string) {
		t.Helper()
		resp, err := http.Get(url)
		must(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(body)
	}

	on := startServer(t, func(c *config.Config) { c.Demos = true })
	waitReady(t, on)
	for path, want := range map[string]string{"/demo/": "presenced demos", "/demo/call/": `src="call.js"`,
		"/demo/chat/": `src="chat.js"`, "/demo/common.js": `from "/sdk/presenced.js"`} {
		status, h, body := get(on.URL + path)
		if status != http.StatusOK || !strings.Contains(body, want) || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s: %d %v\n%.200s", path, status, h, body)
		}
	}
	before, err := on.Store.GetApp(ctx, demo.ChatApp)
	must(t, err)
	on.restart(t)
	waitReady(t, on)
	after, err := on.Store.GetApp(ctx, demo.ChatApp)
	must(t, err)
	if apps, _ := on.Store.ListApps(ctx, ""); len(apps) != 2 || !after.CreatedAt.Equal(before.CreatedAt) {
		t.Fatalf("after a restart: %+v (before %+v)", apps, before)
	}

	off := startServer(t, nil) // Demos false, as --demos=false
	waitReady(t, off)
	if status, _, _ := get(off.URL + "/demo/call/"); status != http.StatusNotFound {
		t.Errorf("demos off: /demo/call/ answers %d", status)
	}
	if _, err := off.Store.GetApp(ctx, demo.CallApp); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("demos off: the call app is %v", err)
	}
}
