// Package interop runs XMPP client libraries other than our own against a
// real server: the presenced binary by default, or Prosody with
// PRESENCED_INTEROP_SERVER=prosody, so the scenarios are checked against
// what the RFCs say rather than what presenced happens to do.
//
// Each client library is switched on by an environment variable that
// .ci/run sets after installing it:
//
//	PRESENCED_TEST_SLIXMPP=/usr/bin/python3   (Debian's python3-slixmpp)
//	PRESENCED_TEST_XMPPJS=DIR                 (DIR/node_modules/@xmpp/client)
package interop

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/freeport"
	"github.com/presenced/presenced/internal/selfsigned"
	"github.com/presenced/presenced/internal/testbrowser"
)

// target is a running XMPP server with two fresh accounts.
type target struct {
	host        string
	port        int    // c2s with STARTTLS
	httpBase    string // for XMPP over WebSocket; "" if the target has none
	ca          string // certificate file the clients trust
	domain      string
	alice, bob  string
	passA, pass string
}

func (tg target) env() []string {
	return append(os.Environ(),
		"XMPP_HOST="+tg.host, fmt.Sprint("XMPP_PORT=", tg.port), "XMPP_DOMAIN="+tg.domain, "XMPP_CA="+tg.ca,
		"XMPP_WS="+tg.wsURL(), "NODE_EXTRA_CA_CERTS="+tg.ca, "ALICE="+tg.alice, "BOB="+tg.bob, "ALICE_PASSWORD="+tg.passA, "BOB_PASSWORD="+tg.pass)
}

func (tg target) wsURL() string {
	if tg.httpBase == "" {
		return ""
	}
	return "ws" + strings.TrimPrefix(tg.httpBase, "http") + "/xmpp-websocket"
}

// runScenario runs a scenario program and fails the test with its output
// unless it exits 0.
func runScenario(t *testing.T, tg target, name string, args ...string) {
	t.Helper()
	for _, a := range args {
		os.Stat(a) // so go test's cache knows the scenario files it ran
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = tg.env()
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("%s %s:\n%s", name, strings.Join(args, " "), out.String())
	if err != nil {
		t.Fatalf("scenario failed: %v", err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// startTarget starts the server the scenarios run against.
func startTarget(t *testing.T) target {
	if os.Getenv("PRESENCED_INTEROP_SERVER") == "prosody" {
		return startProsody(t)
	}
	return startPresenced(t)
}

// startPresenced builds and runs the presenced binary with its XMPP
// listener and the generated self-signed certificate.
func startPresenced(t *testing.T) target {
	dir := t.TempDir()
	bin := filepath.Join(dir, "presenced")
	build := exec.Command("go", "build", "-o", bin, "github.com/presenced/presenced/cmd/presenced")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data := filepath.Join(dir, "data")
	tg := target{host: "127.0.0.1", port: freePort(t), domain: "localhost", alice: "alice", bob: "bob",
		passA: "alice-password", pass: "bob-password", ca: filepath.Join(data, "xmpp-cert.pem")}
	httpPort := freePort(t)
	tg.httpBase = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	srv := exec.Command(bin, "serve", "--data-dir", data, "--http-addr", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--xmpp-addr", fmt.Sprintf("127.0.0.1:%d", tg.port), "--grace", "1s")
	var log bytes.Buffer
	srv.Stdout, srv.Stderr = &log, &log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
		if t.Failed() {
			t.Logf("presenced log:\n%s", log.String())
		}
	})
	waitListening(t, tg.port)
	// accounts are added beside the running server, as the README does: only
	// serve creates a data directory
	for _, u := range [][2]string{{tg.alice, tg.passA}, {tg.bob, tg.pass}} {
		cmd := exec.Command(bin, "user", "add", u[0]+"@localhost", "--password-stdin", "--data-dir", data)
		cmd.Stdin = strings.NewReader(u[1] + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("user add: %v\n%s", err, out)
		}
	}
	return tg
}

func waitListening(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on port %d", port)
}

func TestSlixmpp(t *testing.T) {
	python := os.Getenv("PRESENCED_TEST_SLIXMPP")
	if python == "" {
		t.Skip("set PRESENCED_TEST_SLIXMPP to a python3 with slixmpp (Debian: python3-slixmpp) to run")
	}
	runScenario(t, startTarget(t), python, "slixmpp_scenario.py")
}

// startProsody runs Debian's Prosody in a scratch directory with the
// modules the scenarios use, and registers the two accounts.
func startProsody(t *testing.T) target {
	bin, err := exec.LookPath("prosody")
	if err != nil {
		t.Skip("PRESENCED_INTEROP_SERVER=prosody needs Debian's prosody package")
	}
	dir := t.TempDir()
	tg := target{host: "127.0.0.1", port: freePort(t), domain: "localhost", alice: "alice", bob: "bob",
		passA: "alice-password", pass: "bob-password", ca: filepath.Join(dir, "cert.pem")}
	httpPort := freePort(t)
	tg.httpBase = fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	certPEM, keyPEM, err := selfsigned.New("localhost", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(tg.ca, certPEM, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "key.pem"), keyPEM, 0o600))
	cfgFile := filepath.Join(dir, "prosody.cfg.lua")
	must(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
run_as_root = true
pidfile = %[1]q .. "/prosody.pid"
data_path = %[1]q
log = { debug = %[1]q .. "/prosody.log" }
admin_socket = %[1]q .. "/admin.sock"
c2s_ports = { %[2]d }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = { }
http_ports = { %[3]d }
http_interfaces = { "127.0.0.1" }
https_ports = { }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "pep", "blocklist", "carbons", "smacks",
  "lastactivity", "websocket", "bosh", "posix" }
modules_disabled = { "s2s" }
authentication = "internal_hashed"
c2s_require_encryption = true
consider_websocket_secure = true
consider_bosh_secure = true
cross_domain_websocket = true
cross_domain_bosh = true
ssl = { certificate = %[1]q .. "/cert.pem", key = %[1]q .. "/key.pem" }
VirtualHost "localhost"
`, dir, tg.port, httpPort)), 0o644))
	for _, u := range [][2]string{{tg.alice, tg.passA}, {tg.bob, tg.pass}} {
		cmd := exec.Command("prosodyctl", "--config", cfgFile, "register", u[0], "localhost", u[1])
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("prosodyctl register: %v\n%s", err, out)
		}
	}
	srv := exec.Command(bin, "--config", cfgFile, "-F")
	var log bytes.Buffer
	srv.Stdout, srv.Stderr = &log, &log
	must(t, srv.Start())
	t.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "prosody.log"))
			t.Logf("prosody output:\n%s\nlog tail:\n%s", log.String(), tail(b, 8000))
		}
	})
	waitListening(t, tg.port)
	return tg
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// xmppjs returns node and the scenario of @xmpp/client, or skips.
func xmppjs(t *testing.T) (node, script string) {
	dir := os.Getenv("PRESENCED_TEST_XMPPJS")
	if dir == "" {
		t.Skip("set PRESENCED_TEST_XMPPJS to test/interop/xmppjs after `npm ci` there to run")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node on PATH")
	}
	abs, err := filepath.Abs(filepath.Join(dir, "scenario.mjs"))
	must(t, err)
	return node, abs
}

func TestXMPPJSOverTCP(t *testing.T) {
	node, script := xmppjs(t)
	runScenario(t, startTarget(t), node, script, "tcp")
}

func TestXMPPJSOverWebSocket(t *testing.T) {
	node, script := xmppjs(t)
	runScenario(t, startTarget(t), node, script, "websocket")
}

// TestStropheOverBOSH runs the BOSH scenario in a real browser (headless
// Chromium) with Strophe.js from npm: the kind of client BOSH exists for.
func TestStropheOverBOSH(t *testing.T) {
	chromium := os.Getenv("PRESENCED_TEST_CHROMIUM")
	dir := os.Getenv("PRESENCED_TEST_XMPPJS")
	if chromium == "" || dir == "" {
		t.Skip("set PRESENCED_TEST_CHROMIUM and PRESENCED_TEST_XMPPJS (with strophe.js installed there) to run")
	}
	tg := startTarget(t)
	mux := http.NewServeMux()
	mux.Handle("/", http.FileServer(http.Dir("strophe")))
	mux.HandleFunc("/strophe.esm.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(dir, "node_modules", "strophe.js", "dist", "strophe.esm.js"))
	})
	pages := httptest.NewServer(mux)
	defer pages.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	b := testbrowser.Launch(t, ctx, chromium)
	q := url.Values{"bosh": {tg.httpBase + "/http-bind"}, "domain": {tg.domain}, "alice": {tg.alice}, "alicePassword": {tg.passA},
		"bob": {tg.bob}, "bobPassword": {tg.pass}}
	p := b.NewPage(t, ctx, pages.URL+"/scenario.html?"+q.Encode())
	p.WaitFor(t, ctx, "window.__result")
	t.Logf("Strophe.js over BOSH:\n%v", p.Eval(t, ctx, `window.__log.join("\n")`))
	if r := p.Eval(t, ctx, "window.__result"); r != "PASS" {
		t.Fatalf("scenario: %v", r)
	}
}
