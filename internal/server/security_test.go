package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/presenced/presenced/client"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/config"
	"github.com/presenced/presenced/internal/selfsigned"
)

func dialWS(t *testing.T, ts *testServer, token string, hdr http.Header) (*websocket.Conn, *http.Response, error) {
	if hdr == nil {
		hdr = http.Header{}
	}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	d := websocket.Dialer{Subprotocols: []string{"presenced.v1"}}
	return d.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/v1/ws", hdr)
}

func TestWebSocketHandshakeChecks(t *testing.T) {
	ts := startServer(t, nil)
	alice := ts.user(t, "alice")
	// a page of another origin: what its request carries proves nothing
	// (a browser would send the user's cookie), its hello must
	c, _, err := dialWS(t, ts, alice.Token, http.Header{"Origin": {"https://evil.example"}})
	must(t, err)
	must(t, c.WriteJSON(map[string]any{"type": "hello", "id": "1"}))
	if _, frames := readClose(t, c); len(frames) != 1 || !strings.Contains(frames[0], `"unauthorized"`) {
		t.Fatalf("foreign origin without a token in hello: %v", frames)
	}
	c, _, err = dialWS(t, ts, "", http.Header{"Origin": {"https://app.example"}})
	must(t, err)
	must(t, c.WriteJSON(map[string]any{"type": "hello", "id": "1", "token": alice.Token}))
	var welcome map[string]any
	must(t, c.ReadJSON(&welcome))
	if welcome["type"] != "welcome" {
		t.Fatalf("foreign origin with a token in hello: %v", welcome)
	}
	c.Close()
	c, _, err = dialWS(t, ts, alice.Token, http.Header{"Origin": {ts.URL}})
	must(t, err)
	c.Close()
	d := websocket.Dialer{Subprotocols: []string{"mqtt"}}
	if _, resp, err := d.Dial("ws"+strings.TrimPrefix(ts.URL, "http")+"/v1/ws", nil); err == nil || resp.StatusCode != 400 {
		t.Fatalf("wrong subprotocol: %v", err)
	}
	resp, err := http.Get(ts.URL + "/v1/ws")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("plain GET: %d", resp.StatusCode)
	}
}

// readClose reads until the server closes and returns the close code.
func readClose(t *testing.T, c *websocket.Conn) (int, []string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var frames []string
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			if ce, ok := err.(*websocket.CloseError); ok {
				return ce.Code, frames
			}
			t.Fatalf("read: %v (frames %v)", err, frames)
		}
		frames = append(frames, string(msg))
	}
}

func TestWebSocketBadFramesClose(t *testing.T) {
	ts := startServer(t, nil)
	alice := ts.user(t, "alice")
	hello := `{"type":"hello","id":"h"}`
	for _, tc := range []struct {
		name string
		send func(c *websocket.Conn)
		code int
	}{
		{"first frame not hello", func(c *websocket.Conn) { c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`)) }, websocket.CloseNormalClosure},
		{"binary", func(c *websocket.Conn) { c.WriteMessage(websocket.BinaryMessage, []byte{1, 2}) }, websocket.CloseUnsupportedData},
		{"too big", func(c *websocket.Conn) {
			c.WriteMessage(websocket.TextMessage, []byte(hello))
			c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","body":"`+strings.Repeat("x", 70000)+`"}`))
		}, websocket.CloseMessageTooBig},
		{"invalid utf-8", func(c *websocket.Conn) {
			c.WriteMessage(websocket.TextMessage, []byte(hello))
			c.WriteMessage(websocket.TextMessage, []byte{'"', 0xff, '"'})
		}, websocket.CloseInvalidFramePayloadData},
		{"garbage again and again", func(c *websocket.Conn) {
			c.WriteMessage(websocket.TextMessage, []byte(hello))
			for i := 0; i < 30; i++ {
				c.WriteMessage(websocket.TextMessage, []byte(`{not json`))
			}
		}, websocket.CloseNormalClosure},
		{"flood", func(c *websocket.Conn) {
			c.WriteMessage(websocket.TextMessage, []byte(hello))
			for i := 0; i < 200; i++ {
				c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","id":"p"}`))
			}
		}, websocket.CloseNormalClosure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := dialWS(t, ts, alice.Token, nil)
			must(t, err)
			defer c.Close()
			tc.send(c)
			code, frames := readClose(t, c)
			if code != tc.code {
				t.Fatalf("close code %d, want %d; frames %v", code, tc.code, frames)
			}
			if tc.code == websocket.CloseNormalClosure && !strings.Contains(frames[len(frames)-1], `"type":"error"`) {
				t.Fatalf("closing without a typed error: %v", frames)
			}
		})
	}
	// the server is fine afterwards
	s, err := alice.Connect(tctx(t), client.ConnectOptions{})
	must(t, err)
	s.Drop()
}

func TestTokensAndBadHello(t *testing.T) {
	ts := startServer(t, nil)
	ctx := tctx(t)
	ts.user(t, "alice")
	alice, err := client.Login(ctx, ts.URL, "alice@localhost", "password-alice")
	must(t, err)
	var toks struct {
		Tokens []struct {
			ID      string
			Current bool
		}
	}
	must(t, alice.Do(ctx, "GET", "/v1/auth/tokens", nil, &toks))
	if len(toks.Tokens) != 2 {
		t.Fatalf("tokens %+v", toks)
	}
	var other string
	for _, tk := range toks.Tokens {
		if !tk.Current {
			other = tk.ID
		}
	}
	must(t, alice.Do(ctx, "DELETE", "/v1/auth/tokens/"+other, nil, nil))
	must(t, alice.Do(ctx, "POST", "/v1/auth/logout", nil, nil))
	var ce *client.Error
	if err := alice.Do(ctx, "GET", "/v1/me", nil, nil); !asError(err, &ce) || ce.Status != 401 {
		t.Fatalf("revoked token still works: %v", err)
	}
	if _, err := alice.Connect(ctx, client.ConnectOptions{}); err == nil {
		t.Fatal("revoked token opened a session")
	}
	c, _, err := dialWS(t, ts, "", nil)
	must(t, err)
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","id":"1","token":"pd_forged"}`))
	code, frames := readClose(t, c)
	if code != websocket.CloseNormalClosure || len(frames) != 1 || !strings.Contains(frames[0], `"code":"unauthorized"`) {
		t.Fatalf("forged token: %d %v", code, frames)
	}
}

func TestSignupSwitch(t *testing.T) {
	off := startServer(t, nil)
	on := startServer(t, func(c *config.Config) { c.Signup = true })
	ctx := tctx(t)
	body := map[string]string{"address": "new@localhost", "password": "new-password"}
	var ce *client.Error
	if err := client.New(off.URL, "").Do(ctx, "POST", "/v1/auth/signup", body, nil); !asError(err, &ce) || ce.Status != 404 {
		t.Fatalf("sign-up when disabled: %v", err)
	}
	must(t, client.New(on.URL, "").Do(ctx, "POST", "/v1/auth/signup", body, nil))
	if err := client.New(on.URL, "").Do(ctx, "POST", "/v1/auth/signup", body, nil); !asError(err, &ce) || ce.Status != 409 {
		t.Fatalf("taken address: %v", err)
	}
	if err := client.New(on.URL, "").Do(ctx, "POST", "/v1/auth/signup", map[string]string{"address": "x@elsewhere.org", "password": "new-password"}, nil); !asError(err, &ce) || ce.Status != 400 {
		t.Fatalf("foreign domain: %v", err)
	}
	if _, err := client.Login(ctx, on.URL, "new@localhost", "new-password"); err != nil {
		t.Fatal(err)
	}
}

// browserLike is an HTTP client with a cookie jar that has loaded the page
// (and so holds its CSRF cookie); post sends JSON with or without the
// CSRF header.
type browserLike struct {
	t    *testing.T
	ts   *testServer
	hc   *http.Client
	csrf string
}

func newBrowserLike(t *testing.T, ts *testServer) *browserLike {
	jar, _ := cookiejar.New(nil)
	b := &browserLike{t: t, ts: ts, hc: &http.Client{Jar: jar}}
	resp, err := b.hc.Get(ts.URL + "/")
	must(t, err)
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "presenced_csrf" {
			b.csrf = c.Value
		}
	}
	return b
}

func (b *browserLike) post(path, body string, withCSRF bool) *http.Response {
	req, _ := http.NewRequest("POST", b.ts.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if withCSRF {
		req.Header.Set("X-CSRF-Token", b.csrf)
	}
	resp, err := b.hc.Do(req)
	must(b.t, err)
	resp.Body.Close()
	return resp
}

func (b *browserLike) get(path string) *http.Response {
	resp, err := b.hc.Get(b.ts.URL + path)
	must(b.t, err)
	resp.Body.Close()
	return resp
}

func TestWebCookieNeedsCSRF(t *testing.T) {
	ts := startServer(t, nil)
	ts.user(t, "alice")
	b := newBrowserLike(t, ts)
	login := `{"address":"alice@localhost","password":"password-alice"}`
	if r := b.post("/web/login", login, false); r.StatusCode != 401 {
		t.Fatalf("login without CSRF: %d", r.StatusCode)
	}
	r := b.post("/web/login", login, true)
	if r.StatusCode != 204 {
		t.Fatalf("login: %d", r.StatusCode)
	}
	for _, c := range r.Cookies() {
		if c.Name == "presenced_session" && (!c.HttpOnly || c.SameSite != http.SameSiteStrictMode) {
			t.Fatalf("session cookie %+v", c)
		}
	}
	if r := b.post("/v1/contacts", `{"name":"x"}`, false); r.StatusCode != 401 {
		t.Fatalf("cookie write without CSRF: %d", r.StatusCode)
	}
	if r := b.post("/v1/contacts", `{"name":"x"}`, true); r.StatusCode != 201 {
		t.Fatalf("cookie write with CSRF: %d", r.StatusCode)
	}
	if r := b.get("/v1/contacts"); r.StatusCode != 200 { // reads need no CSRF token
		t.Fatalf("cookie read: %d", r.StatusCode)
	}
	if r := b.post("/web/logout", "", true); r.StatusCode != 204 {
		t.Fatalf("logout: %d", r.StatusCode)
	}
	if r := b.get("/web/session"); r.StatusCode != 401 {
		t.Fatalf("session after logout: %d", r.StatusCode)
	}
}

func TestWebSignup(t *testing.T) {
	body := `{"address":"carol@localhost","password":"carol-password"}`
	off := newBrowserLike(t, startServer(t, nil))
	if r := off.post("/web/signup", body, true); r.StatusCode != 404 {
		t.Fatalf("web sign-up when disabled: %d", r.StatusCode)
	}
	on := newBrowserLike(t, startServer(t, func(c *config.Config) { c.Signup = true }))
	if r := on.post("/web/signup", body, false); r.StatusCode != 401 {
		t.Fatalf("web sign-up without CSRF: %d", r.StatusCode)
	}
	if r := on.post("/web/signup", `{"address":"carol@elsewhere.org","password":"carol-password"}`, true); r.StatusCode != 400 {
		t.Fatalf("foreign domain: %d", r.StatusCode)
	}
	if r := on.post("/web/signup", body, true); r.StatusCode != 204 {
		t.Fatalf("web sign-up: %d", r.StatusCode)
	}
	if r := on.get("/web/session"); r.StatusCode != 200 {
		t.Fatalf("signed in after sign-up: %d", r.StatusCode)
	}
	if r := on.post("/web/signup", body, true); r.StatusCode != 409 {
		t.Fatalf("taken: %d", r.StatusCode)
	}
}

func TestSignInFloodIsBounded(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.HashWorkers = 1 })
	ts.user(t, "alice")
	ts.Auth.Throttle = nil // this test is about the hashing pool; TestSignInThrottle about the throttle
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for i := 0; i < 80; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(ts.URL+"/v1/auth/login", "application/json", strings.NewReader(`{"address":"alice@localhost","password":"wrong-password"}`))
			if err != nil {
				return
			}
			resp.Body.Close()
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
			if (resp.StatusCode == 503 || resp.StatusCode == 429) && resp.Header.Get("Retry-After") == "" {
				t.Errorf("%d without Retry-After", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	if codes[503] == 0 || codes[401] == 0 || codes[401]+codes[503] != 80 {
		t.Fatalf("80 concurrent sign-ins on one hashing worker: %v", codes)
	}
}

func TestMetricsHealthAndOpenAPI(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.AdminAddr = "127.0.0.1:0" })
	alice := ts.user(t, "alice")
	s, err := alice.Connect(tctx(t), client.ConnectOptions{})
	must(t, err)
	defer s.Drop()
	waitReady(t, ts)
	get := func(base, path string) (int, string) {
		resp, err := http.Get(base + path)
		must(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		must(t, err)
		return resp.StatusCode, string(b)
	}
	ok := func(base, path string) string {
		code, body := get(base, path)
		if code != 200 {
			t.Fatalf("%s%s: %d", base, path, code)
		}
		return body
	}
	m := ok("http://"+ts.adminAddr, "/metrics")
	for _, want := range []string{`presenced_sessions{transport="ws"} 1`, `presenced_sessions{transport="longpoll"} 0`, "presenced_websockets 1", "presenced_events_delivered_total", "presenced_queue_drops_total", "presenced_http_request_duration_seconds_bucket"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	ok("http://"+ts.adminAddr, "/debug/pprof/")
	var doc map[string]any
	must(t, json.Unmarshal([]byte(ok(ts.URL, "/openapi.json")), &doc))
	if doc["openapi"] != "3.1.0" {
		t.Fatal("openapi version")
	}
	ok(ts.URL, "/healthz")
	ok(ts.URL, "/readyz")
}

// TestNoMetricsOnThePublicListener: the session gauges and delivery counters
// move when an invisible user connects or changes status, so the public
// port must not serve them (nor pprof), with or without an admin listener.
func TestNoMetricsOnThePublicListener(t *testing.T) {
	for _, admin := range []string{"", "127.0.0.1:0"} {
		ts := startServer(t, func(c *config.Config) { c.AdminAddr = admin })
		waitReady(t, ts)
		for _, path := range []string{"/metrics", "/debug/pprof/"} {
			resp, err := http.Get(ts.URL + path)
			must(t, err)
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("admin %q: public %s answers %d, want 404", admin, path, resp.StatusCode)
			}
		}
	}
}

// TestAdminAddressInUseStopsTheStart: a taken admin address is an error
// from Serve, not a log line and a server without metrics.
func TestAdminAddressInUseStopsTheStart(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer taken.Close()
	ts := startServer(t, func(c *config.Config) { c.AdminAddr = taken.Addr().String() })
	select {
	case err := <-ts.done:
		ts.cancel = nil // Serve is over: nothing to stop
		if err == nil || !strings.Contains(err.Error(), "admin listener") {
			t.Fatalf("Serve: %v, want an admin listener error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve kept running with its admin address taken")
	}
}

func TestServesTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	certPEM, keyPEM, err := selfsigned.New("127.0.0.1", time.Hour)
	must(t, err)
	os.WriteFile(cert, certPEM, 0o600)
	os.WriteFile(key, keyPEM, 0o600)
	ts := startServer(t, func(c *config.Config) { c.TLSCert, c.TLSKey = cert, key })
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	url := strings.Replace(ts.URL, "http://", "https://", 1)
	resp, err := hc.Get(url + "/healthz")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("https: %d %v", resp.StatusCode, resp.TLS)
	}
	resp, err = hc.Get(url + "/")
	must(t, err)
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "presenced_csrf" && !c.Secure {
			t.Fatal("cookies must be Secure under TLS")
		}
	}
}

func TestSignInThrottle(t *testing.T) {
	ts := startServer(t, nil)
	ts.Auth.Throttle.BaseDelay = time.Minute // no attempt below may find the delay over
	ts.user(t, "alice")
	var retryAfter string
	login := func(password string) int {
		resp, err := http.Post(ts.URL+"/v1/auth/login", "application/json",
			strings.NewReader(`{"address":"alice@localhost","password":"`+password+`"}`))
		must(t, err)
		resp.Body.Close()
		retryAfter = resp.Header.Get("Retry-After")
		return resp.StatusCode
	}
	for i := 0; i < 3; i++ { // successful sign-ins never count against anyone
		if c := login("password-alice"); c != 200 {
			t.Fatalf("sign-in %d: %d", i, c)
		}
	}
	var codes []int
	for i := 0; i < 15; i++ {
		codes = append(codes, login("guess-"+fmt.Sprint(i)))
	}
	for i, c := range codes {
		if want := map[bool]int{true: 401, false: 429}[i < auth.DefaultPairFree]; c != want {
			t.Fatalf("attempt %d: %d, want %d (all: %v)", i, c, want, codes)
		}
	}
	if c := login("password-alice"); c != 429 {
		t.Fatalf("right password while throttled: %d (the throttle must not reveal it)", c)
	}
	// the real wait, not "1": the delay is a minute, a few ms of it passed
	if retryAfter != "60" && retryAfter != "59" {
		t.Fatalf("Retry-After: %q, want the minute the delay lasts", retryAfter)
	}
}

// TestSessionsMetricCoversEveryTransport: a session over each transport
// shows in presenced_sessions under its own label, and the labelled series
// add up to presenced_sessions_total (XMPP sessions were missing).
func TestSessionsMetricCoversEveryTransport(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.AdminAddr, c.XMPPAddr = "127.0.0.1:0", "127.0.0.1:0" })
	ctx := tctx(t)
	alice, bob := ts.user(t, "alice"), ts.user(t, "bob")
	ts.user(t, "carol")
	waitReady(t, ts)
	ws, err := alice.Connect(ctx, client.ConnectOptions{})
	must(t, err)
	defer ws.Drop()
	lp, err := bob.ConnectPoll(ctx, client.ConnectOptions{})
	must(t, err)
	defer lp.Drop()
	xmppClient(t, ts, "carol")

	resp, err := http.Get("http://" + ts.adminAddr + "/metrics")
	must(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	must(t, err)
	series := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		if f := strings.Fields(line); len(f) == 2 && strings.HasPrefix(f[0], "presenced_sessions") {
			var v float64
			fmt.Sscan(f[1], &v)
			series[f[0]] = v
		}
	}
	for _, tr := range []string{"ws", "longpoll", "xmpp"} {
		if name := `presenced_sessions{transport="` + tr + `"}`; series[name] != 1 {
			t.Errorf("%s = %v, want 1 (all: %v)", name, series[name], series)
		}
	}
	var sum float64
	for name, v := range series {
		if strings.HasPrefix(name, "presenced_sessions{") {
			sum += v
		}
	}
	if total := series["presenced_sessions_total"]; total != 3 || sum != total {
		t.Errorf("presenced_sessions_total %v, labelled series add up to %v (all: %v)", total, sum, series)
	}
}

// TestOpenRefusesZeroDurations: a configuration built in code (not by
// config.Load) with a zero heartbeat or grace is refused, not served.
func TestOpenRefusesZeroDurations(t *testing.T) {
	for _, tc := range []struct {
		key   string
		tweak func(*config.Config)
	}{
		{"heartbeat", func(c *config.Config) { c.Heartbeat = 0 }},
		{"grace", func(c *config.Config) { c.Grace = 0 }},
	} {
		cfg := config.Config{DataDir: t.TempDir(), Domain: "localhost", Grace: time.Second, Heartbeat: time.Second, HashWorkers: 1}
		tc.tweak(&cfg)
		srv, err := Open(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		var se *config.SettingError
		if !errors.As(err, &se) || se.Key != tc.key {
			if srv != nil {
				srv.Close()
			}
			t.Errorf("%s = 0: %v, want a SettingError", tc.key, err)
		}
	}
}

// fromIP is an HTTP client whose connections come from another loopback
// address, so the server sees another client IP.
func fromIP(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// TestSignInLockOutsCannotBeAimed: failing on purpose on somebody's
// address does not keep its owner out, over REST or XMPP, and one
// person's typos do not lock the other accounts of a shared address out.
func TestSignInLockOutsCannotBeAimed(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.XMPPAddr = "127.0.0.1:0" })
	ts.user(t, "alice")
	ts.user(t, "bob")
	ts.user(t, "carol")
	waitReady(t, ts)
	login := func(c *http.Client, address, password string) int {
		resp, err := c.Post(ts.URL+"/v1/auth/login", "application/json",
			strings.NewReader(`{"address":"`+address+`","password":"`+password+`"}`))
		must(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	attacker := fromIP("127.0.0.2")
	if c := login(attacker, "alice@localhost", "guess"); c != 401 {
		t.Skipf("cannot connect from 127.0.0.2 (%d): loopback has no second address here", c)
	}
	for i := 0; i < 30; i++ {
		login(attacker, "alice@localhost", fmt.Sprint("guess-", i))
	}
	if c := login(attacker, "alice@localhost", "guess-more"); c != 429 {
		t.Fatalf("the guessing address is not slowed down: %d", c)
	}
	// alice, elsewhere, signs in at once: over XMPP (SASL) and REST
	s, _ := xmppClient(t, ts, "alice")
	s.Close()
	if c := login(http.DefaultClient, "alice@localhost", "password-alice"); c != 200 {
		t.Fatalf("owner kept out over REST: %d", c)
	}
	// an office behind one address: bob's typos leave carol alone
	office := fromIP("127.0.0.3")
	for i := 0; i < 15; i++ {
		login(office, "bob@localhost", fmt.Sprint("typo-", i))
	}
	if c := login(office, "carol@localhost", "password-carol"); c != 200 {
		t.Fatalf("carol locked out by bob's typos from the same address: %d", c)
	}
}
