package ws

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/wire"
)

// helloRig runs connections of a Handler on pipes, from where ServeHTTP
// leaves them after the opening handshake: a net.Pipe delivers each write
// to reads of its own, so a test sees how the server grouped its frames.
type helloRig struct {
	h     *Handler
	auth  *auth.Auth
	token string // alice's
}

func newHelloRig(t *testing.T) *helloRig {
	t.Helper()
	ctx := context.Background()
	db := testDB(t)
	a := &auth.Auth{Store: db, Clock: clock.Real{}}
	secret, _, err := a.IssueToken(ctx, "alice@localhost", "t")
	if err != nil {
		t.Fatal(err)
	}
	hub := core.New(core.Config{Domain: "localhost", Grace: time.Minute, Limits: core.DefaultLimits}, db, clock.Real{}, nil, discard)
	h := &Handler{Proto: &wire.Server{Hub: hub, Auth: a, Grace: time.Minute, Heartbeat: 30 * time.Second}, Log: discard, Live: new(atomic.Int64)}
	return &helloRig{h: h, auth: a, token: secret}
}

// open starts a connection whose upgrade carried bearer in its
// Authorization header ("": none) and returns the client's end.
func (r *helloRig) open(t *testing.T, bearer string) net.Conn {
	t.Helper()
	server, peer := net.Pipe()
	t.Cleanup(func() { peer.Close(); server.Close() })
	r.h.startOnce.Do(r.h.start)
	c := &conn{h: r.h, nc: server, proto: r.h.Proto.NewConn("ws", nil, r.h.Proto.Hub.Checkpoint())}
	c.proto.SetBearer(bearer)
	go c.serve()
	peer.SetDeadline(time.Now().Add(20 * time.Second)) // a hang guard only
	return peer
}

// masked is a client's text frame of payload (RFC 6455: masked).
func masked(payload string) []byte {
	key := [4]byte{0x11, 0x22, 0x33, 0x44}
	b := []byte{0x81}
	if n := len(payload); n < 126 {
		b = append(b, 0x80|byte(n))
	} else {
		b = binary.BigEndian.AppendUint16(append(b, 0x80|126), uint16(n))
	}
	b = append(b, key[:]...)
	for i := 0; i < len(payload); i++ {
		b = append(b, payload[i]^key[i&3])
	}
	return b
}

// frameTypes reads server frames (unmasked, unfragmented) from r until a
// close frame or n data frames, and returns their JSON types ("close" for
// a close frame).
func frameTypes(t *testing.T, r io.Reader, n int) []string {
	t.Helper()
	var types []string
	for len(types) < n {
		var hdr [2]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			t.Fatalf("after %v: %v", types, err)
		}
		size := int(hdr[1] & 0x7F)
		switch size {
		case 126:
			var ext [2]byte
			io.ReadFull(r, ext[:])
			size = int(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			io.ReadFull(r, ext[:])
			size = int(binary.BigEndian.Uint64(ext[:]))
		}
		payload := make([]byte, size)
		if _, err := io.ReadFull(r, payload); err != nil {
			t.Fatalf("after %v: %v", types, err)
		}
		if hdr[0]&0x0F == 0x8 {
			return append(types, "close")
		}
		var f struct{ Type, Code string }
		if err := json.Unmarshal(payload, &f); err != nil {
			t.Fatalf("frame %q: %v", payload, err)
		}
		if f.Code != "" {
			f.Type += ":" + f.Code
		}
		types = append(types, f.Type)
	}
	return types
}

// TestWelcomeAndFirstEventsInOneWrite: the welcome goes out in the same
// write as the events the session queued while starting (its snapshot,
// its own presence), where they used to take two.
func TestWelcomeAndFirstEventsInOneWrite(t *testing.T) {
	r := newHelloRig(t)
	peer := r.open(t, "")
	go peer.Write(masked(`{"type":"hello","id":"h","token":"` + r.token + `","presence":{"availability":"available"}}`))
	buf := make([]byte, 64<<10)
	n, err := peer.Read(buf) // one read: what one write of the server's carried
	if err != nil {
		t.Fatal(err)
	}
	got := frameTypes(t, strings.NewReader(string(buf[:n])), 3)
	if strings.Join(got, " ") != "welcome snapshot presence" {
		t.Fatalf("the first write carried %v", got)
	}
}

// TestBearerOfTheUpgradeIsVerifiedWithTheHello: a token in the upgrade's
// Authorization header is checked when the hello comes, against the store
// then: a hello without a token of its own is welcomed with a good one,
// refused with a bad one or one revoked since the upgrade; a hello's own
// token takes the place of the header's.
func TestBearerOfTheUpgradeIsVerifiedWithTheHello(t *testing.T) {
	ctx := context.Background()
	r := newHelloRig(t)
	hello := func(peer net.Conn, token string) []string {
		t.Helper()
		f := `{"type":"hello","id":"h"}`
		if token != "" {
			f = `{"type":"hello","id":"h","token":"` + token + `"}`
		}
		go peer.Write(masked(f))
		return frameTypes(t, bufio.NewReader(peer), 2)
	}
	if got := hello(r.open(t, r.token), ""); got[0] != "welcome" {
		t.Fatalf("good header token: %v", got)
	}
	if got := hello(r.open(t, "pd_not-a-token"), ""); strings.Join(got, " ") != "error:unauthorized close" {
		t.Fatalf("bad header token: %v", got)
	}
	if got := hello(r.open(t, "pd_not-a-token"), r.token); got[0] != "welcome" {
		t.Fatalf("bad header token, good hello token: %v", got)
	}

	// revoked between the upgrade and the hello: refused, at once
	secret, tok, err := r.auth.IssueToken(ctx, "alice@localhost", "soon revoked")
	if err != nil {
		t.Fatal(err)
	}
	peer := r.open(t, secret)
	if err := r.auth.Revoke(ctx, "alice@localhost", tok.ID); err != nil {
		t.Fatal(err)
	}
	if got := hello(peer, ""); strings.Join(got, " ") != "error:unauthorized close" {
		t.Fatalf("token revoked after the upgrade: %v", got)
	}
}

// TestHelloReadAhead: the hello is read with one read of the socket, and
// what the client sent after it in the same segment is not lost: a ping
// right behind the hello is answered; a hello trickling in a byte at a
// time is still one.
func TestHelloReadAhead(t *testing.T) {
	r := newHelloRig(t)
	peer := r.open(t, "")
	two := append(masked(`{"type":"hello","id":"h","token":"`+r.token+`"}`), masked(`{"type":"ping","id":"p"}`)...)
	go peer.Write(two)
	if got := frameTypes(t, bufio.NewReader(peer), 3); strings.Join(got, " ") != "welcome snapshot pong" {
		t.Fatalf("hello and ping in one write: %v", got)
	}

	peer = r.open(t, "")
	go func() {
		for _, b := range masked(`{"type":"hello","id":"h","token":"` + r.token + `"}`) {
			if _, err := peer.Write([]byte{b}); err != nil {
				return
			}
		}
	}()
	if got := frameTypes(t, bufio.NewReader(peer), 1); got[0] != "welcome" {
		t.Fatalf("a hello a byte at a time: %v", got)
	}
}
