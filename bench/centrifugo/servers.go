package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/bench"
	"github.com/presenced/presenced/internal/store"
)

// server is one server process under test, with n identities (0 is the
// fan-out's publisher when fanout is set).
type server interface {
	name() string
	pid() int
	// gc forces a garbage collection in the server (both are Go programs:
	// net/http/pprof's heap?gc=1 on each one's debug listener).
	gc()
	// dial opens identity i's session; watch subscribes it to the
	// publisher; available gives it a presence (presenced's idle sessions).
	dial(ctx context.Context, i int, watch, available bool) (*session, error)
	// publisher returns what sends the fan-out's updates.
	publisher(ctx context.Context) (publisher, error)
	stop()
}

// publisher sends update n of a run tagged tag; with wait it returns once
// the server answered (closed loop), else as soon as it is sent.
type publisher interface {
	send(ctx context.Context, tag string, n int, wait bool) error
	// concurrent: open-loop sends may run at once (each waits for its answer)
	concurrent() bool
	close()
}

// ---- presenced ----

type presencedServer struct {
	rig       *bench.Rig
	dir       string
	accts     []bench.Account
	heartbeat time.Duration
}

// startPresenced prepares n accounts with tokens in a fresh data directory
// (with fanout, account 0 approves every other to see its presence) and
// starts bin serve on it with the given heartbeat.
func startPresenced(ctx context.Context, bin string, n int, fanout bool, heartbeat time.Duration) (*presencedServer, error) {
	dir, err := os.MkdirTemp("", "centrifugo-compare-presenced-")
	if err != nil {
		return nil, err
	}
	accts, st, err := bench.Prepare(ctx, dir, "c", n)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if fanout {
		for _, w := range accts[1:] {
			if err := st.PutRelation(ctx, store.Relation{Subject: accts[0].Address, Viewer: w.Address, State: store.Approved}); err != nil {
				st.Close()
				os.RemoveAll(dir)
				return nil, err
			}
		}
	}
	st.Close()
	rig, err := bench.Start(ctx, bin, dir, "--heartbeat", heartbeat.String())
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &presencedServer{rig: rig, dir: dir, accts: accts, heartbeat: heartbeat}, nil
}

func (p *presencedServer) name() string { return "presenced" }
func (p *presencedServer) pid() int     { return p.rig.PID() }
func (p *presencedServer) gc()          { p.rig.GC() }
func (p *presencedServer) stop()        { p.rig.Stop(); os.RemoveAll(p.dir) }

func (p *presencedServer) dial(ctx context.Context, i int, watch, available bool) (*session, error) {
	var r role
	if watch {
		r.pubMark = []byte(`"address":"` + p.accts[0].Address + `"`)
	}
	return dialPresenced(ctx, p.rig.URL, p.accts[i].Token, available, p.heartbeat, r)
}

func (p *presencedServer) publisher(ctx context.Context) (publisher, error) {
	s, err := dialPresenced(ctx, p.rig.URL, p.accts[0].Token, false, p.heartbeat, role{replies: true})
	if err != nil {
		return nil, err
	}
	return presencedPublisher{s}, nil
}

// presencedPublisher changes the publisher's presence over its own
// WebSocket session: the status carries the update's tag and number.
type presencedPublisher struct{ s *session }

func (p presencedPublisher) send(ctx context.Context, tag string, n int, wait bool) error {
	id := tag + ":" + strconv.Itoa(n)
	if wait {
		p.drain() // replies to open-loop updates no one waited for
	}
	p.s.write([]byte(`{"type":"presence","id":"` + id + `","availability":"available","status":"` + id + `"}`))
	timeout := time.After(30 * time.Second) // a hang guard
	for wait {
		select {
		case <-timeout:
			return fmt.Errorf("no answer to update %s in 30 s", id)
		case got := <-p.s.replies:
			if got == id {
				return nil
			}
		case <-p.s.done:
			return fmt.Errorf("publisher's connection closed")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (p presencedPublisher) drain() {
	for {
		select {
		case <-p.s.replies:
		default:
			return
		}
	}
}

func (p presencedPublisher) close()           { p.s.close() }
func (p presencedPublisher) concurrent() bool { return false }

// ---- Centrifugo ----

// fanChannel is the channel the fan-out's subscribers watch.
const fanChannel = "fan"

type centrifugoServer struct {
	cmd     *exec.Cmd
	dir     string
	url     string
	secret  []byte
	apiKey  string
	tokens  []string
	http    *http.Client
	stopped sync.Once
}

// centrifugoConfig is the whole configuration given to Centrifugo:
// defaults but for what the scenarios need (loopback port, HMAC tokens,
// clients may subscribe to channels without a namespace, the HTTP API key,
// pprof for the forced GC, health for readiness, no usage statistics, quiet
// logs), the ping interval set to the same period as presenced's
// heartbeat, and websocket.use_write_buffer_pool, Centrifugo's documented
// setting for many mostly idle connections (no write buffer held per
// connection), so it is measured at its best for this load.
func centrifugoConfig(port int, secret, apiKey string, heartbeat time.Duration) map[string]any {
	return map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "error"},
		"client": map[string]any{
			"token":         map[string]any{"hmac_secret_key": secret},
			"ping_interval": heartbeat.String(),
			"pong_timeout":  pongTimeout(heartbeat).String(),
		},
		"channel":     map[string]any{"without_namespace": map[string]any{"allow_subscribe_for_client": true}},
		"http_api":    map[string]any{"key": apiKey},
		"websocket":   map[string]any{"use_write_buffer_pool": true},
		"debug":       map[string]any{"enabled": true},
		"health":      map[string]any{"enabled": true},
		"usage_stats": map[string]any{"disabled": true},
	}
}

// pongTimeout is Centrifugo's default 8 s, shortened for a short ping
// interval (Centrifugo needs it shorter than the interval).
func pongTimeout(heartbeat time.Duration) time.Duration { return min(8*time.Second, heartbeat/3) }

// startCentrifugo writes a configuration on a free loopback port, mints n
// connection tokens (HS256 JWTs, sub u0…u{n-1}) and starts bin on it.
func startCentrifugo(ctx context.Context, bin string, n int, heartbeat time.Duration) (*centrifugoServer, error) {
	dir, err := os.MkdirTemp("", "centrifugo-compare-centrifugo-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &centrifugoServer{dir: dir, url: fmt.Sprintf("http://127.0.0.1:%d", port),
		secret: []byte(randomHex(32)), apiKey: randomHex(16),
		http: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	cfg, _ := json.MarshalIndent(centrifugoConfig(port, string(c.secret), c.apiKey, heartbeat), "", "  ")
	cfgFile := filepath.Join(dir, "config.json")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		return nil, err
	}
	c.tokens = make([]string, n)
	for i := range c.tokens {
		c.tokens[i] = jwtHS256(c.secret, fmt.Sprintf(`{"sub":"u%d"}`, i))
	}
	c.cmd = exec.CommandContext(ctx, bin, "-c", cfgFile)
	c.cmd.Dir = dir
	c.cmd.Stdout, c.cmd.Stderr = os.Stderr, os.Stderr
	if err := c.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if bench.WaitReady(c.url + "/health") {
		return c, nil
	}
	c.stop()
	return nil, fmt.Errorf("centrifugo did not become ready on %s", c.url)
}

func (c *centrifugoServer) name() string { return "centrifugo" }
func (c *centrifugoServer) pid() int     { return c.cmd.Process.Pid }

func (c *centrifugoServer) gc() { bench.ForceGC(c.url) }

func (c *centrifugoServer) stop() {
	c.stopped.Do(func() {
		bench.StopProcess(c.cmd)
		os.RemoveAll(c.dir)
	})
}

func (c *centrifugoServer) dial(ctx context.Context, i int, watch, available bool) (*session, error) {
	if !watch {
		return dialCentrifugo(ctx, c.url, c.tokens[i], "", role{})
	}
	return dialCentrifugo(ctx, c.url, c.tokens[i], fanChannel, role{pubMark: []byte(`"channel":"` + fanChannel + `"`)})
}

func (c *centrifugoServer) publisher(context.Context) (publisher, error) { return c, nil }

// send publishes through Centrifugo's server HTTP API, as a backend does.
func (c *centrifugoServer) send(ctx context.Context, tag string, n int, wait bool) error {
	body := []byte(`{"channel":"` + fanChannel + `","data":{"s":"` + tag + ":" + strconv.Itoa(n) + `"}}`)
	req, err := http.NewRequestWithContext(ctx, "POST", c.url+"/api/publish", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("X-API-Key", c.apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || bytes.Contains(b, []byte(`"error"`)) {
		return fmt.Errorf("publish %s:%d: %d %s", tag, n, resp.StatusCode, b)
	}
	return nil
}

func (c *centrifugoServer) close()           {}
func (c *centrifugoServer) concurrent() bool { return true }

// jwtHS256 signs claims (a JSON object) as a compact HS256 JWT.
func jwtHS256(secret []byte, claims string) string {
	enc := base64.RawURLEncoding
	unsigned := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(claims))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(unsigned))
	return unsigned + "." + enc.EncodeToString(mac.Sum(nil))
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
