package ws

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/wire"
)

// heartbeatServer serves the JSON protocol with the given heartbeat; a
// client proves its account by a header (no token lookup).
func heartbeatServer(t *testing.T, heartbeat time.Duration) (url string, account func(string) http.Header) {
	t.Helper()
	_, url, account = heartbeatHandler(t, heartbeat, core.DefaultLimits)
	return url, account
}

// heartbeatHandler is heartbeatServer with its handler, and the hub's
// limits.
func heartbeatHandler(t *testing.T, heartbeat time.Duration, lim core.Limits) (h *Handler, url string, account func(string) http.Header) {
	t.Helper()
	ctx := context.Background()
	db := testStore(t)
	hub := core.New(core.Config{Domain: "localhost", Grace: time.Minute, Limits: lim}, db, clock.Real{}, nil, discard)
	h = &Handler{
		Proto: &wire.Server{Hub: hub, Auth: &auth.Auth{Store: db, Clock: clock.Real{}}, Grace: time.Minute, Heartbeat: heartbeat},
		Authenticate: func(r *http.Request) *store.Token {
			if a := r.Header.Get("X-Test-Account"); a != "" {
				return &store.Token{Account: a}
			}
			return nil
		},
		OriginAllowed: func(*http.Request, string) bool { return true },
		Log:           discard,
		Live:          new(atomic.Int64),
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, "ws" + strings.TrimPrefix(srv.URL, "http"), func(name string) http.Header {
		address := name + "@localhost"
		if err := db.CreateAccount(ctx, store.Account{Address: address, PasswordHash: "-", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return http.Header{"X-Test-Account": {address}}
	}
}

// welcomed dials url and says hello; the test reads under a generous
// deadline (a hang guard).
func welcomed(t *testing.T, url string, hdr http.Header) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.DefaultDialer.Dial(url, hdr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"hello","id":"h"}`))
	for {
		f := next(t, c)
		if f.Type == "welcome" {
			return c
		}
	}
}

type frame struct {
	Type, ID string
	Seq      uint64
}

// next reads the next frame, skipping events (which carry a seq; the
// welcome also does).
func next(t *testing.T, c *websocket.Conn) frame {
	t.Helper()
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("reading: %v", err)
		}
		var f frame
		if err := json.Unmarshal(msg, &f); err != nil {
			t.Fatalf("%s: %v", msg, err)
		}
		if f.Seq == 0 || f.Type == "welcome" {
			return f
		}
	}
}

// TestHeartbeatsAnswered: heartbeats are answered however they arrive:
// one per wake-up of a parked connection, several in one TCP segment
// (read ahead together), one split across segments (the rest read from
// the socket), among other frames, and as WebSocket pings.
func TestHeartbeatsAnswered(t *testing.T) {
	url, account := heartbeatServer(t, 30*time.Second)
	c := welcomed(t, url, account("alice"))
	for i := 0; i < 5; i++ { // each after the connection parked (or not: either must work)
		time.Sleep(20 * time.Millisecond)
		c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
		if f := next(t, c); f.Type != "pong" || f.ID != "" {
			t.Fatalf("ping %d answered with %+v", i, f)
		}
		c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ack","seq":1}`)) // no answer
	}
	c.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping","id":"p"}`))
	if f := next(t, c); f.Type != "pong" || f.ID != "p" {
		t.Fatalf("ping p answered with %+v", f)
	}

	// raw frames on a second connection: masked client frames, written
	// several at once and split
	raw := rawClient(t, url, account("bob"))
	ping := clientFrame(websocket.TextMessage, `{"type":"ping"}`)
	withID := clientFrame(websocket.TextMessage, `{"type":"ping","id":"x"}`)
	ack := clientFrame(websocket.TextMessage, `{"type":"ack","seq":3}`)
	raw.write(t, append(append(append(append([]byte{}, ping...), ack...), withID...), ping...))
	raw.expect(t, `{"type":"pong"}`, `{"type":"pong","id":"x"}`, `{"type":"pong"}`)
	for _, at := range []int{1, 2, 6, len(ping) - 1} {
		raw.write(t, ping[:at])
		time.Sleep(20 * time.Millisecond)
		raw.write(t, ping[at:])
		raw.expect(t, `{"type":"pong"}`)
	}
	raw.write(t, clientFrame(websocket.PingMessage, "hi"))
	raw.expectFrame(t, 0x8A, "hi")
}

// TestSilentSessionsEnd: a session that stops sending is closed after
// three heartbeat periods, whether it went silent between frames (parked
// in the poller) or in the middle of one (its reader waiting on the
// socket with a read deadline).
func TestSilentSessionsEnd(t *testing.T) {
	url, account := heartbeatServer(t, 100*time.Millisecond)
	between := rawClient(t, url, account("alice"))
	within := rawClient(t, url, account("bob"))
	within.write(t, clientFrame(websocket.TextMessage, `{"type":"ping"}`)[:5])
	for name, r := range map[string]*frameClient{"between frames": between, "within a frame": within} {
		if code := r.closeCode(t); code != 1008 {
			t.Errorf("silent %s: closed with %d, want 1008", name, code)
		}
	}
}

// frameClient is a client speaking WebSocket frames by hand after the
// handshake, to send frames split or together as a test needs.
type frameClient struct {
	nc  net.Conn
	buf []byte
}

func rawClient(t *testing.T, url string, hdr http.Header) *frameClient {
	t.Helper()
	c := welcomed(t, url, hdr)
	nc := c.NetConn()
	nc.SetDeadline(time.Now().Add(30 * time.Second)) // a hang guard
	return &frameClient{nc: nc}
}

// clientFrame is one masked, final client frame.
func clientFrame(op int, payload string) []byte {
	mask := [4]byte{1, 2, 3, 4}
	b := []byte{0x80 | byte(op), 0x80 | byte(len(payload))}
	b = append(b, mask[:]...)
	for i := 0; i < len(payload); i++ {
		b = append(b, payload[i]^mask[i&3])
	}
	return b
}

func (r *frameClient) write(t *testing.T, b []byte) {
	t.Helper()
	if _, err := r.nc.Write(b); err != nil {
		t.Fatal(err)
	}
}

// readFrame reads one unmasked server frame (payload under 64 KiB).
func (r *frameClient) readFrame(t *testing.T) (byte, string) {
	t.Helper()
	for {
		if len(r.buf) >= 2 {
			hdr, n := 2, int(r.buf[1]&0x7F)
			if n == 127 {
				t.Fatalf("unexpected frame of 64 KiB or more")
			}
			if n == 126 {
				hdr, n = 4, 1<<20 // not read yet
				if len(r.buf) >= 4 {
					n = int(r.buf[2])<<8 | int(r.buf[3])
				}
			}
			if len(r.buf) >= hdr+n {
				op, payload := r.buf[0], string(r.buf[hdr:hdr+n])
				r.buf = r.buf[hdr+n:]
				return op, payload
			}
		}
		b := make([]byte, 4096)
		n, err := r.nc.Read(b)
		if err != nil {
			t.Fatalf("reading: %v", err)
		}
		r.buf = append(r.buf, b[:n]...)
	}
}

// expectFrame reads the next frame that is not an event, which must be
// op with payload.
func (r *frameClient) expectFrame(t *testing.T, op byte, payload string) {
	t.Helper()
	o, p := r.readFrame(t)
	for o == 0x81 && strings.Contains(p, `"seq":`) {
		o, p = r.readFrame(t)
	}
	if o != op || p != payload {
		t.Fatalf("got frame %#x %q, want %#x %q", o, p, op, payload)
	}
}

func (r *frameClient) expect(t *testing.T, texts ...string) {
	t.Helper()
	for _, s := range texts {
		r.expectFrame(t, 0x81, s)
	}
}

// closeCode reads until the server's close frame and returns its code.
func (r *frameClient) closeCode(t *testing.T) int {
	t.Helper()
	for {
		op, p := r.readFrame(t)
		if op == 0x88 && len(p) >= 2 {
			return int(p[0])<<8 | int(p[1])
		}
	}
}
