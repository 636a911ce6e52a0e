package c2s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	msasl "mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/selfsigned"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/store/sqlite"
	"github.com/presenced/presenced/internal/tlsrecord"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

type rig struct {
	addr, tlsAddr string
	wsURL         string // XMPP over WebSocket
	roots         *x509.CertPool
	hub           *core.Hub
	auth          *auth.Auth
	srv           *Server
}

func start(t *testing.T, allowPlaintext bool, opts ...func(*Server)) rig {
	return startClock(t, allowPlaintext, clock.Real{}, opts...)
}

// startClock starts a rig whose hub and XMPP server tell time by clk (the
// core's grace period is a second of it).
func startClock(t *testing.T, allowPlaintext bool, clk clock.Clock, opts ...func(*Server)) rig {
	return startStore(t, allowPlaintext, clk, nil, opts...)
}

// startStore starts a rig whose hub reads and writes the store through
// wrap (nil: directly), for tests that watch what the server reads.
func startStore(t *testing.T, allowPlaintext bool, clk clock.Clock, wrap func(store.Store) store.Store, opts ...func(*Server)) rig {
	return startDomains(t, allowPlaintext, clk, wrap, []string{"localhost"}, opts...)
}

// startDomains starts a rig serving domains, the first the primary (the
// certificate names them all); alice@localhost has an account.
func startDomains(t *testing.T, allowPlaintext bool, clk clock.Clock, wrap func(store.Store) store.Store, domains []string, opts ...func(*Server)) rig {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	var st store.Store = db
	if wrap != nil {
		st = wrap(db)
	}
	a := &auth.Auth{Store: st, Clock: clock.Real{}, Hasher: auth.NewHasher(auth.Params{MemoryKiB: 64, Time: 1, Threads: 1}, 2, 8),
		Throttle: auth.NewThrottle(clock.Real{})}
	if _, err := a.CreateAccount(context.Background(), "alice@localhost", "alice-password"); err != nil {
		t.Fatal(err)
	}
	cert, pool, err := selfsigned.ForTest(domains[0], domains[1:]...)
	if err != nil {
		t.Fatal(err)
	}
	hub := core.New(core.Config{Domain: domains[0], Domains: domains, Grace: time.Second}, st, clk, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s := &Server{Hub: hub, Auth: a, TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		AllowPlaintext: allowPlaintext, Clock: clk, Secret: []byte("k"), Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Limits: xmlstream.DefaultLimits}
	for _, o := range opts {
		o(s)
	}
	r := rig{roots: pool, hub: hub, auth: a, srv: s}
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
			c.SetDeadline(time.Now().Add(time.Minute))
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
	c.SetDeadline(time.Now().Add(time.Minute))
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
	const idle = 2 * time.Second // keepalives come ten times as often: a busy machine still keeps it alive
	r := start(t, false, func(s *Server) { s.IdleTimeout = idle })
	s, err := r.login(t, "alice-password", msasl.ScramSha256)
	if err != nil {
		t.Fatal(err)
	}
	conn := s.Conn()
	for start := time.Now(); time.Since(start) < idle+idle/2; { // keepalives past the idle limit
		time.Sleep(idle / 10)
		if _, err := conn.Write([]byte(" ")); err != nil {
			t.Fatalf("kept-alive stream closed: %v", err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // far past the limit and the sweep's interval
	buf := make([]byte, 4096)
	for {
		if _, err := conn.Read(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("a silent stream was not closed")
			}
			return // closed by the server after silence
		}
	}
}

// rawStream is a hand-written client stream over plaintext TCP (the rig
// allows it), for what client libraries do not let a test do.
type rawStream struct {
	t      *testing.T
	conn   net.Conn
	rd     *xmlstream.Reader
	domain string // the header's to; "": localhost
}

func (x *rawStream) send(format string, args ...any) {
	fmt.Fprintf(x.conn, format, args...)
}

func (x *rawStream) next() *xmlstream.Element {
	x.t.Helper()
	el, err := x.rd.Next()
	if err != nil {
		x.t.Fatal(err)
	}
	return el
}

// expect skips to the first element with that local name.
func (x *rawStream) expect(local string) *xmlstream.Element {
	x.t.Helper()
	for {
		if el := x.next(); el.Name.Local == local {
			return el
		}
	}
}

func (x *rawStream) open() {
	x.t.Helper()
	to := x.domain
	if to == "" {
		to = "localhost"
	}
	x.send(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>`, to)
	x.rd = newTestReader(x.conn)
	x.next() // features
}

// streamOn opens a stream on conn (closed when the test ends) and returns
// it with the features the server offered.
func streamOn(t *testing.T, conn net.Conn) (*rawStream, string) {
	t.Helper()
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(time.Minute))
	x := &rawStream{t: t, conn: conn}
	x.send(`<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`)
	x.rd = newTestReader(conn)
	return x, x.next().String("")
}

// newTestReader reads the server's stream header.
func newTestReader(conn net.Conn) *xmlstream.Reader {
	rd := xmlstream.NewReader(conn, xmlstream.DefaultLimits)
	rd.Open()
	return rd
}

// signIn authenticates local with SCRAM-SHA-256 and restarts the stream.
func (r rig) signIn(t *testing.T, local string) *rawStream {
	t.Helper()
	return r.signInOn(t, local, "localhost")
}

// signInOn is signIn on a stream to domain.
func (r rig) signInOn(t *testing.T, local, domain string) *rawStream {
	t.Helper()
	x := r.authenticate(t, local, domain)
	x.open()
	return x
}

// authenticate is signInOn up to SASL's success, before the restart.
func (r rig) authenticate(t *testing.T, local, domain string) *rawStream {
	t.Helper()
	conn, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// a guard against a stream that hangs, for the whole test that uses
	// it: generous, since a busy machine under -race is slow (a test of
	// many steps ran past 10 s there)
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	x := &rawStream{t: t, conn: conn, domain: domain}
	x.open()
	c := msasl.NewClient(msasl.ScramSha256, msasl.Credentials(func() ([]byte, []byte, []byte) { return []byte(local), []byte(local + "-password"), nil }))
	_, out, _ := c.Step(nil)
	x.send(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>%s</auth>`, base64.StdEncoding.EncodeToString(out))
	for el := x.next(); el.Name.Local != "success"; el = x.next() {
		in, _ := base64.StdEncoding.DecodeString(el.Text())
		if _, out, err = c.Step(in); err != nil {
			t.Fatal(err)
		}
		x.send(`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>`, base64.StdEncoding.EncodeToString(out))
	}
	return x
}

// bindAs signs alice in and binds the resource she asks for (mellium's
// binding asks for none); it returns the stream and the bound address.
func (r rig) bindAs(t *testing.T, resource string) (*xmlstream.Reader, string) {
	t.Helper()
	x := r.signIn(t, "alice")
	x.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>%s</resource></bind></iq>`, resource)
	res := x.next()
	x.conn.SetDeadline(time.Time{})
	if b := res.Child("urn:ietf:params:xml:ns:xmpp-bind", "bind"); b != nil {
		if j := b.Child("urn:ietf:params:xml:ns:xmpp-bind", "jid"); j != nil {
			return x.rd, j.Text()
		}
	}
	t.Fatalf("bind answered %s", res.String(""))
	return nil, ""
}

// TestResourceConflict: a client gets the resource it asks for; a second
// connection asking for the same one takes it, and the first is closed
// with the conflict stream error (RFC 6120 § 7.7.2.2, § 4.9.3.3).
func TestResourceConflict(t *testing.T) {
	r := start(t, true)
	first, bound := r.bindAs(t, "phone")
	if bound != "alice@localhost/phone" {
		t.Fatalf("bound %s, asked for alice@localhost/phone", bound)
	}
	if _, bound := r.bindAs(t, "phone"); bound != "alice@localhost/phone" {
		t.Fatalf("second bound %s", bound)
	}
	for {
		el, err := first.Next()
		if err != nil {
			t.Fatalf("first connection ended without the conflict stream error: %v", err)
		}
		if el.Name.Local == "error" {
			if el.Child("urn:ietf:params:xml:ns:xmpp-streams", "conflict") == nil {
				t.Fatalf("stream error %s", el.String(""))
			}
			break
		}
	}
}

// TestMalformedAddresses: a stanza to an address that is not a JID gets
// jid-malformed (RFC 6120 § 8.3.3.8), for messages and iqs alike.
func TestMalformedAddresses(t *testing.T) {
	r := start(t, true)
	x := r.signIn(t, "alice")
	x.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`)
	x.expect("iq")
	x.send(`<message to='a b@localhost' id='m1' type='chat'><body>hi</body></message>`)
	if e := x.expect("message"); e.AttrValue("type") != "error" || !strings.Contains(e.String(""), "jid-malformed") {
		t.Fatalf("message: %s", e.String(""))
	}
	x.send(`<iq to='bob@loc alhost' type='get' id='i1'><ping xmlns='urn:xmpp:ping'/></iq>`)
	if e := x.expect("iq"); e.AttrValue("type") != "error" || !strings.Contains(e.String(""), "jid-malformed") {
		t.Fatalf("iq: %s", e.String(""))
	}
}

// TestFloodAndHugeStanzas: a client over the request budget gets
// resource-constraint, then is disconnected; a multi-MiB stanza ends the
// stream with policy-violation without being buffered.
func TestFloodAndHugeStanzas(t *testing.T) {
	r := start(t, true)
	x := r.signIn(t, "alice")
	x.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`)
	x.expect("iq")
	go func() {
		for i := 0; i < 2000; i++ {
			fmt.Fprintf(x.conn, `<iq type='get' id='p%d'><ping xmlns='urn:xmpp:ping'/></iq>`, i)
		}
	}()
	refused := false
	for {
		el, err := x.rd.Next()
		if err != nil {
			t.Fatalf("stream ended without a stream error: %v", err)
		}
		if strings.Contains(el.String(""), "resource-constraint") {
			refused = true
		}
		if el.Name.Local == "error" && el.Name.Space == "http://etherx.jabber.org/streams" {
			if !refused || el.Child("urn:ietf:params:xml:ns:xmpp-streams", "policy-violation") == nil {
				t.Fatalf("refused=%v, then %s", refused, el.String(""))
			}
			break
		}
	}

	y := r.signIn(t, "alice")
	y.send(`<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`)
	y.expect("iq")
	go func() {
		fmt.Fprint(y.conn, `<message to='bob@localhost'><body>`)
		chunk := strings.Repeat("x", 64<<10)
		for i := 0; i < 64; i++ { // 4 MiB
			if _, err := fmt.Fprint(y.conn, chunk); err != nil {
				return
			}
		}
	}()
	for {
		el, err := y.rd.Next()
		if err != nil {
			t.Fatalf("stream ended without a stream error: %v", err)
		}
		if el.Name.Local == "error" {
			if el.Child("urn:ietf:params:xml:ns:xmpp-streams", "policy-violation") == nil {
				t.Fatalf("got %s", el.String(""))
			}
			break
		}
	}
}

// waitParked waits until n streams wait in r's poller (Linux only).
func (r rig) waitParked(t *testing.T, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); r.srv.poller.Parked() != n; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams parked, want %d", r.srv.poller.Parked(), n)
		}
	}
}

// TestIdleStreamParks: a bound stream over TLS that goes quiet waits in the
// poller without a reader goroutine. Bytes wake it, including a stanza
// that arrived in the same TLS record as the one before it and so waits
// inside TLS, not on the socket; and a goaway from the core reaches a
// parked stream and closes it.
func TestIdleStreamParks(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("streams park on Linux only (epoll)")
	}
	r := start(t, false)
	s, err := r.login(t, "alice-password", msasl.ScramSha256)
	if err != nil {
		t.Fatal(err)
	}
	conn := s.Conn()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r.waitParked(t, 1)
	// The stream reader takes 2048 bytes at a time (xmlstream): a first
	// stanza of exactly that size leaves the second inside TLS.
	first := func(id string) string { return `<iq type='get' id='` + id + `'><ping xmlns='urn:xmpp:ping'/></iq>` }
	id := "p1" + strings.Repeat("x", 2048-len(first("p1")))
	if len(first(id)) != 2048 {
		t.Fatal("bad padding")
	}
	if _, err := conn.Write([]byte(first(id) + first("p2"))); err != nil {
		t.Fatal(err)
	}
	readUntil(t, conn, "'p2'")
	r.waitParked(t, 1)
	r.hub.EndAllSessions("alice@localhost")
	if got := readUntilEOF(conn); !strings.Contains(got, "</stream:stream>") {
		t.Fatalf("a parked stream ended without its close: %q", got)
	}
	r.waitParked(t, 0)
}

// readUntilEOF reads what comes until the connection ends.
func readUntilEOF(c net.Conn) string {
	b, _ := io.ReadAll(c)
	return string(b)
}

// TestIdleStreamsHoldNothing: idle bound streams over TLS 1.3 (STARTTLS
// and direct TLS) keep no goroutine, and their TLS is the record layer at
// rest: no AEAD, no buffer (internal/tlsrecord).
func TestIdleStreamsHoldNothing(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("streams park on Linux only (epoll)")
	}
	var mu sync.Mutex
	var parked []string // per park: the TLS's type, and whether it was at rest
	parkHook = func(c *conn) {
		rc, ok := c.tls.(*tlsrecord.Conn)
		mu.Lock()
		parked = append(parked, fmt.Sprintf("%T at rest %v", c.tls, ok && rc.AtRest()))
		mu.Unlock()
	}
	t.Cleanup(func() { parkHook = nil })
	r := start(t, false)
	time.Sleep(100 * time.Millisecond) // the listeners' goroutines are up
	before := runtime.NumGoroutine()
	const n = 12
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cfg := &tls.Config{ServerName: "localhost", RootCAs: r.roots}
		var conn net.Conn
		var err error
		features := []xmpp.StreamFeature{xmpp.SASL("", "alice-password", msasl.ScramSha256Plus), xmpp.BindResource()}
		if i%2 == 0 {
			conn, err = net.Dial("tcp", r.addr)
			features = append([]xmpp.StreamFeature{xmpp.StartTLS(cfg)}, features...)
		} else {
			conn, err = tls.Dial("tcp", r.tlsAddr, cfg)
		}
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		// no resource asked for: each gets its own
		if _, err := xmpp.NewClientSession(ctx, jid.MustParse("alice@localhost"), conn, features...); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	r.waitParked(t, n)
	// The flushes of the logins' presence end soon after; then the n
	// streams hold no goroutine (the client side of these sessions starts
	// none either).
	var now int
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if now = runtime.NumGoroutine(); now-before < n/2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines more with %d idle streams", now-before, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(parked) < n {
		t.Fatalf("%d parks seen", len(parked))
	}
	for _, p := range parked {
		if p != "*tlsrecord.Conn at rest true" {
			t.Fatalf("a stream parked with %s", p)
		}
	}
}
