package server

import (
	"bytes"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/presenced/presenced/client"
)

// TestWebPageScreenshot renders the page people see after signing in, with
// contacts in several states, a request, personal events and an unread
// message, at a desktop and a phone width. With PRESENCED_UPDATE_SCREENSHOT=1
// it writes the desktop one to docs/screenshot.png, which the README shows.
func TestWebPageScreenshot(t *testing.T) {
	ts, ctx, b := browserWorld(t)
	alice := ts.user(t, "alice")
	others := map[string]client.Presence{
		"bob":   {Availability: "available", Status: "at the office"},
		"carol": {Availability: "dnd", Status: "in a call", Activity: &client.Activity{Kind: "call"}},
		"dave":  {Availability: "away", Status: "lunch"},
	}
	sessions := map[string]*client.Session{}
	for _, name := range []string{"bob", "carol", "dave"} {
		c := ts.user(t, name)
		befriend(t, ctx, alice, c, "alice@localhost", name+"@localhost")
		sessions[name] = connected(t, ctx, c, others[name])
	}
	_, err := sessions["bob"].Request(ctx, "publish", map[string]any{"topic": "tune", "data": map[string]string{"artist": "Yes", "title": "Heart of the Sunrise"}})
	must(t, err)
	_, err = sessions["carol"].Request(ctx, "publish", map[string]any{"topic": "mood", "data": map[string]string{"mood": "happy"}})
	must(t, err)
	erin := ts.user(t, "erin")
	_, err = erin.SubscriptionAction(ctx, "alice@localhost", "subscribe")
	must(t, err)
	ts.user(t, "frank")
	_, err = alice.SubscriptionAction(ctx, "frank@localhost", "subscribe")
	must(t, err)
	for _, c := range []struct{ name, address string }{{"Bob Builder", "bob@localhost"}, {"Carol Singer", "carol@localhost"}, {"Dave Diver", "dave@localhost"}} {
		must(t, alice.Do(ctx, "POST", "/v1/contacts", map[string]string{"name": c.name, "address": c.address}, nil))
	}

	page := b.NewPage(t, ctx, ts.URL+"/")
	signInPage(t, ctx, page, "alice")
	_, err = sessions["bob"].Message(ctx, "alice@localhost", "lunch at noon?")
	must(t, err)
	page.WaitFor(t, ctx, `document.getElementById("unread-count").textContent === "1" &&
		document.querySelector('#contacts li[data-address="bob@localhost"] .pe.tune') &&
		document.querySelector('#contacts li[data-address="carol@localhost"] .name')?.textContent === "Carol Singer"`)
	page.Eval(t, ctx, `document.activeElement.blur(); true`)
	for _, size := range []struct{ w, h int }{{1000, 720}, {390, 844}} {
		shot := page.Screenshot(t, ctx, size.w, size.h)
		img, err := png.Decode(bytes.NewReader(shot))
		must(t, err)
		if got := img.Bounds().Dx(); got != size.w {
			t.Fatalf("screenshot %d px wide, want %d", got, size.w)
		}
		if out := os.Getenv("PRESENCED_SCREENSHOT_DIR"); out != "" {
			must(t, os.WriteFile(filepath.Join(out, fmt.Sprintf("screenshot-%d.png", size.w)), shot, 0o644))
		}
		if size.w == 1000 && os.Getenv("PRESENCED_UPDATE_SCREENSHOT") == "1" {
			must(t, os.WriteFile(filepath.Join("..", "..", "docs", "screenshot.png"), shot, 0o644))
		}
	}
}
