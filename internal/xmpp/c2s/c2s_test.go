package c2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	msasl "mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/selfsigned"
	"github.com/presenced/presenced/internal/store/sqlite"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

type rig struct {
	addr, tlsAddr string
	wsURL         string // XMPP over WebSocket
	roots         *x509.CertPool
}

func start(t *testing.T, allowPlaintext bool, opts ...func(*Server)) rig {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := &auth.Auth{Store: st, Clock: clock.Real{}, Hasher: auth.NewHasher(auth.Params{MemoryKiB: 64, Time: 1, Threads: 1}, 2, 8),
		Throttle: auth.NewThrottle(clock.Real{}, 10, time.Minute)}
	if _, err := a.CreateAccount(context.Background(), "alice@localhost", "alice-password"); err != nil {
		t.Fatal(err)
	}
	cert, pool, err := selfsigned.ForTest("localhost")
	if err != nil {
		t.Fatal(err)
	}
	hub := core.New(core.Config{Domain: "localhost", Grace: time.Second}, st, clock.Real{}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s := &Server{Domain: "localhost", Hub: hub, Auth: a, TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		AllowPlaintext: allowPlaintext, Secret: []byte("k"), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: xmlstream.DefaultLimits}
	for _, o := range opts {
		o(s)
	}
	r := rig{roots: pool}
	for _, direct := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		if direct {
			r.tlsAddr = ln.Addr().String()
		} else {
			r.addr = ln.Addr().String()
		}
		go s.Serve(ln, direct)
	}
	hs := httptest.NewServer(http.HandlerFunc(s.ServeWebSocket))
	t.Cleanup(hs.Close)
	r.wsURL = "ws" + strings.TrimPrefix(hs.URL, "http")
	return r
}

func (r rig) login(t *testing.T, password string, mechs ...msasl.Mechanism) (*xmpp.Session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return xmpp.NewClientSession(ctx, jid.MustParse("alice@localhost/phone"), conn,
		xmpp.StartTLS(&tls.Config{ServerName: "localhost", RootCAs: r.roots}),
		xmpp.SASL("", password, mechs...),
		xmpp.BindResource())
}

func TestNegotiationWithMellium(t *testing.T) {
	r := start(t, false)
	for _, m := range []msasl.Mechanism{msasl.ScramSha256Plus, msasl.ScramSha256, msasl.ScramSha1Plus, msasl.ScramSha1, msasl.Plain} {
		t.Run(m.Name, func(t *testing.T) {
			s, err := r.login(t, "alice-password", m)
			if err != nil {
				t.Fatalf("negotiation: %v", err)
			}
			if a := s.LocalAddr(); a.Bare().String() != "alice@localhost" || a.Resourcepart() == "" {
				t.Fatalf("bound %s", a)
			}
		})
	}
	if _, err := r.login(t, "wrong-password", msasl.ScramSha256); err == nil {
		t.Fatal("wrong password accepted")
	}
}

func TestDirectTLS(t *testing.T) {
	r := start(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := tls.Dial("tcp", r.tlsAddr, &tls.Config{ServerName: "localhost", RootCAs: r.roots})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	s, err := xmpp.NewClientSession(ctx, jid.MustParse("alice@localhost"), conn, xmpp.SASL("", "alice-password", msasl.ScramSha256), xmpp.BindResource())
	if err != nil {
		t.Fatalf("direct TLS: %v", err)
	}
	if s.LocalAddr().Resourcepart() == "" {
		t.Fatal("no resource bound")
	}
}

func TestStreamErrors(t *testing.T) {
	r := start(t, false)
	for name, tc := range map[string]struct{ send, want string }{
		"no TLS":       {`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAGFsaWNlLXBhc3N3b3Jk</auth>`, "policy-violation"},
		"unknown host": {`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'>`, "host-unknown"},
		"wrong ns":     {`<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`, "invalid-namespace"},
		"old version":  {`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>`, "unsupported-version"},
		"DOCTYPE":      {`<!DOCTYPE x [<!ENTITY a 'aaa'>]>`, "restricted-xml"},
		"not xml":      {`hello <x/>`, "not-well-formed"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", r.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tc.send)
			got, _ := io.ReadAll(c)
			if !strings.Contains(string(got), "<"+tc.want+" xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>") || !strings.HasSuffix(string(got), "</stream:stream>") {
				t.Fatalf("got %s", got)
			}
		})
	}
}

// TestPlaintextSwitch speaks the protocol by hand on a server that allows
// plaintext streams: SCRAM is offered, PLAIN is not and is refused.
func TestPlaintextSwitch(t *testing.T) {
	r := start(t, true)
	c, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`+
		`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAGFsaWNlLXBhc3N3b3Jk</auth>`)
	got := readUntil(t, c, "</failure>")
	if !strings.Contains(got, "<encryption-required/>") {
		t.Fatalf("PLAIN without TLS: %s", got)
	}
	io.WriteString(c, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>biwsbj1hbGljZSxyPWFiYw==</auth>`)
	if got := readUntil(t, c, "</challenge>"); !strings.Contains(got, "<challenge") {
		t.Fatalf("SCRAM over a plaintext stream: %s", got)
	}
}

func readUntil(t *testing.T, c net.Conn, end string) string {
	t.Helper()
	var b strings.Builder
	buf := make([]byte, 4096)
	for !strings.Contains(b.String(), end) {
		n, err := c.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			t.Fatalf("reading until %s: %v (got %s)", end, err, b.String())
		}
	}
	return b.String()
}

// TestIdleStreamIsClosed: a bound stream that goes silent is closed; one
// that sends whitespace keepalives is not.
func TestIdleStreamIsClosed(t *testing.T) {
	r := start(t, false, func(s *Server) { s.IdleTimeout = 300 * time.Millisecond })
	s, err := r.login(t, "alice-password", msasl.ScramSha256)
	if err != nil {
		t.Fatal(err)
	}
	conn := s.Conn()
	for i := 0; i < 4; i++ { // 800 ms of keepalives, past the idle limit
		time.Sleep(200 * time.Millisecond)
		if _, err := conn.Write([]byte(" ")); err != nil {
			t.Fatalf("kept-alive stream closed: %v", err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := conn.Read(buf); err != nil {
			return // closed by the server after silence
		}
	}
}
