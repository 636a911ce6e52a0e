package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	jsclient "github.com/presenced/presenced/clients/js"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/testbrowser"
)

// callPage is a static page on its own origin that uses the SDK to call
// and be called, with a WebRTC peer connection per call whose offer,
// answer and ICE candidates travel as the call's signals.
const callPage = `<!doctype html><meta charset="utf-8"><title>calls</title>
<script type="module">
import { Presenced } from "./presenced.js";
window.log = [];
window.start = async (server, token, device) => {
  const p = new Presenced({ url: server, token, device, calls: true, presence: { availability: "available" } });
  window.p = p;
  p.addEventListener("incoming", (e) => {
    window.incoming = e.detail;
    log.push("incoming " + e.detail.peer);
    e.detail.addEventListener("ended", (x) => log.push("ended " + x.detail.reason));
  });
  await p.connect();
  return p.address;
};
// wire gives a call its peer connection; the offerer makes the offer
function wire(call, offerer) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  window.pc = pc;
  let chain = Promise.resolve();
  const early = []; // candidates before the remote description
  const media = navigator.mediaDevices.getUserMedia({ audio: true, video: true })
    .then((s) => { for (const t of s.getTracks()) pc.addTrack(t, s); });
  pc.onicecandidate = (e) => { if (e.candidate) call.signal({ candidate: e.candidate.toJSON() }).catch(() => {}); };
  call.addEventListener("signal", (e) => {
    const d = e.detail.data;
    chain = chain.then(async () => {
      if (d.sdp) {
        await pc.setRemoteDescription(d.sdp);
        for (const c of early.splice(0)) await pc.addIceCandidate(c);
        if (d.sdp.type === "offer") {
          await media;
          await pc.setLocalDescription(await pc.createAnswer());
          await call.signal({ sdp: pc.localDescription.toJSON() });
        }
      } else if (d.candidate) {
        if (pc.remoteDescription) await pc.addIceCandidate(d.candidate);
        else early.push(d.candidate);
      }
    }).catch((err) => log.push("error " + err));
  });
  call.addEventListener("ended", () => pc.close());
  if (offerer) chain = chain.then(async () => {
    await media;
    await pc.setLocalDescription(await pc.createOffer());
    await call.signal({ sdp: pc.localDescription.toJSON() });
  }).catch((err) => log.push("error " + err));
}
window.dial = async (to) => {
  try {
    const call = await p.call(to, { video: true });
    window.outgoing = call;
    call.addEventListener("ringing", (e) => log.push("ringing " + e.detail.from));
    call.addEventListener("ended", (e) => log.push("ended " + e.detail.reason));
    call.addEventListener("answered", (e) => { log.push("answered " + e.detail.from); wire(call, true); });
    return "rang " + call.rung;
  } catch (e) {
    return "failed " + e.code;
  }
};
window.pickUp = async () => { wire(incoming, false); await incoming.answer(); return true; };
window.ready = true;
</script>`

// TestCallInTheBrowser: alice calls bob from a page using the SDK; bob has
// two devices (two more pages), both ring and acknowledge, the first
// answers and both ends reach RTCPeerConnection "connected" through
// signals of the call (host candidates, no STUN); bob's other device is
// told "answered elsewhere"; hanging up ends it for bob; a call to an
// offline contact fails cleanly. Headless Chromium with fake media.
func TestCallInTheBrowser(t *testing.T) {
	path := os.Getenv("PRESENCED_TEST_CHROMIUM")
	if path == "" {
		t.Skip("set PRESENCED_TEST_CHROMIUM=/usr/bin/chromium to run the browser test (.ci/run does)")
	}
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/presenced.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(jsclient.Source)
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(callPage))
		default:
			http.NotFound(w, r)
		}
	}))
	defer site.Close()
	ts := startServer(t, func(c *config.Config) { c.AllowedOrigins = []string{site.URL} })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice, bob, carol := ts.user(t, "alice"), ts.user(t, "bob"), ts.user(t, "carol")
	befriend(t, ctx, alice, bob, "alice@localhost", "bob@localhost")
	befriend(t, ctx, alice, carol, "alice@localhost", "carol@localhost")
	b := testbrowser.Launch(t, ctx, path, testbrowser.FakeMedia...)

	open := func(local, device string) *testbrowser.Page {
		t.Helper()
		token, _, err := ts.Auth.IssueToken(ctx, local+"@localhost", "test")
		must(t, err)
		p := b.NewPage(t, ctx, site.URL+"/")
		p.WaitFor(t, ctx, `window.ready`)
		address := p.Eval(t, ctx, fmt.Sprintf(`start(%q, %q, %q)`, ts.URL, token, device)).(string)
		if !strings.HasPrefix(address, local+"@localhost/"+device+"-") {
			t.Fatalf("%s's page is %s", local, address)
		}
		return p
	}
	a := open("alice", "laptop")
	b1, b2 := open("bob", "phone"), open("bob", "tablet")
	b1addr, b2addr := b1.Eval(t, ctx, `p.address`).(string), b2.Eval(t, ctx, `p.address`).(string)

	if got := a.Eval(t, ctx, `dial("bob@localhost")`); got != "rang 2" {
		t.Fatalf("alice's call: %v", got)
	}
	for _, p := range []*testbrowser.Page{b1, b2} {
		p.WaitFor(t, ctx, `log.includes("incoming " + `+jsString(a.Eval(t, ctx, `p.address`).(string))+`)`)
	}
	// each device acknowledged the ring
	a.WaitFor(t, ctx, `log.includes("ringing `+b1addr+`") && log.includes("ringing `+b2addr+`")`)

	b1.Eval(t, ctx, `pickUp()`)
	a.WaitFor(t, ctx, `log.includes("answered `+b1addr+`")`)
	b2.WaitFor(t, ctx, `log.includes("ended answered_elsewhere") && incoming.state === "ended"`)
	a.WaitFor(t, ctx, `window.pc && pc.connectionState === "connected"`)
	b1.WaitFor(t, ctx, `window.pc && pc.connectionState === "connected"`)
	if b2.Eval(t, ctx, `!!window.pc`) != false {
		t.Fatal("the device that did not answer set up media")
	}
	for _, p := range []*testbrowser.Page{a, b1} {
		if errs := p.Eval(t, ctx, `log.filter((l) => l.startsWith("error")).join("; ")`); errs != "" {
			t.Fatalf("WebRTC errors: %v", errs)
		}
	}

	a.Eval(t, ctx, `outgoing.hangup().then(() => true)`)
	b1.WaitFor(t, ctx, `log.includes("ended hangup") && incoming.state === "ended"`)
	b1.WaitFor(t, ctx, `pc.connectionState === "closed" || pc.signalingState === "closed"`)

	// carol is offline: the call fails at once, as for someone unknown
	if got := a.Eval(t, ctx, `dial("carol@localhost")`); got != "failed unavailable" {
		t.Fatalf("a call to an offline contact: %v", got)
	}
	if got := a.Eval(t, ctx, `dial("nobody@localhost")`); got != "failed unavailable" {
		t.Fatalf("a call to nobody: %v", got)
	}
}

func jsString(s string) string { return fmt.Sprintf("%q", s) }
