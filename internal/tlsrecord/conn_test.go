package tlsrecord

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/selfsigned"
)

// server listens on loopback and runs handle on each connection that
// Handshake took, with cfg (SessionTicketsDisabled if noTickets).
type server struct {
	addr  string
	roots *tls.Config // a client's configuration that trusts the server
	conns chan net.Conn
	errs  chan error
}

func startServer(t *testing.T, noTickets bool, handle func(net.Conn)) *server {
	t.Helper()
	cert, pool, err := selfsigned.ForTest("localhost")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config(&tls.Config{Certificates: []tls.Certificate{cert}, SessionTicketsDisabled: noTickets})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s := &server{addr: ln.Addr().String(), roots: &tls.Config{ServerName: "localhost", RootCAs: pool},
		conns: make(chan net.Conn, 16), errs: make(chan error, 16)}
	go func() {
		for {
			raw, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer raw.Close()
				raw.SetDeadline(time.Now().Add(10 * time.Second)) // a guard against a hang
				c, _, err := Handshake(raw, cfg)
				if err != nil {
					s.errs <- err
					return
				}
				s.conns <- c
				handle(c)
			}()
		}
	}()
	return s
}

// echo writes back what it reads, until the client closes.
func echo(c net.Conn) { echoThen(c, nil) }

// echoThen is echo calling after, if set, on its goroutine (the reader's)
// after each write.
func echoThen(c net.Conn, after func(*Conn)) {
	buf := make([]byte, 3000) // not a multiple of a record
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, err := c.Write(buf[:n]); err != nil {
				return
			}
			if after != nil {
				after(c.(*Conn))
			}
		}
		if err != nil {
			c.Close()
			return
		}
	}
}

func (s *server) taken(t *testing.T) *Conn {
	t.Helper()
	select {
	case c := <-s.conns:
		rc, ok := c.(*Conn)
		if !ok {
			t.Fatalf("TLS 1.3 stayed a %T", c)
		}
		return rc
	case err := <-s.errs:
		t.Fatalf("handshake: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("no connection")
	}
	return nil
}

// holdConn holds back what the client writes once the handshake's first
// flight is answered (its Finished, then application data), until flush:
// the server then reads the client's Finished and its first data at once.
type holdConn struct {
	net.Conn
	mu      sync.Mutex
	hold    bool
	flushed bool
	held    []byte
}

func (h *holdConn) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.hold || !h.flushed && len(p) > 0 && (p[0] == typeAppData || p[0] == 20) { // encrypted, or the compatibility CCS
		h.hold = true
		h.held = append(h.held, p...)
		return len(p), nil
	}
	return h.Conn.Write(p)
}

func (h *holdConn) flush() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hold, h.flushed = false, true
	_, err := h.Conn.Write(h.held)
	return err
}

// exchange writes each size of random bytes and reads it echoed back.
func exchange(t *testing.T, c net.Conn, sizes ...int) {
	t.Helper()
	for _, n := range sizes {
		want := make([]byte, n)
		rand.Read(want)
		go c.Write(want)
		got := make([]byte, n)
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%d bytes came back changed", n)
		}
	}
}

// TestRoundTrip: crypto/tls's client and the record layer understand each
// other, with and without a session ticket in the server's first flight,
// with application data that arrived with the client's Finished, and in
// records of every size; a resumed session works the same.
func TestRoundTrip(t *testing.T) {
	for _, noTickets := range []bool{false, true} {
		t.Run(map[bool]string{false: "tickets", true: "no tickets"}[noTickets], func(t *testing.T) {
			s := startServer(t, noTickets, echo)
			cache := tls.NewLRUClientSessionCache(4)
			for round := range 2 {
				raw, err := net.Dial("tcp", s.addr)
				if err != nil {
					t.Fatal(err)
				}
				h := &holdConn{Conn: raw}
				cfg := s.roots.Clone()
				cfg.ClientSessionCache = cache
				c := tls.Client(h, cfg)
				c.SetDeadline(time.Now().Add(10 * time.Second))
				if err := c.Handshake(); err != nil {
					t.Fatal(err)
				}
				if _, err := c.Write([]byte("first")); err != nil {
					t.Fatal(err)
				}
				if err := h.flush(); err != nil {
					t.Fatal(err)
				}
				s.taken(t)
				got := make([]byte, 5)
				if _, err := io.ReadFull(c, got); err != nil || string(got) != "first" {
					t.Fatalf("read %q, %v", got, err)
				}
				exchange(t, c, 1, 100, maxPlaintext, maxPlaintext+1, 100000)
				if resumed := c.ConnectionState().DidResume; round == 1 && resumed == noTickets {
					t.Fatalf("resumed: %v, with tickets off: %v", resumed, noTickets)
				}
				c.Close()
			}
		})
	}
}

// TestKeyUpdate: a KeyUpdate the server asks for is answered by
// crypto/tls's client with its own, which the server takes, and data
// flows both ways on the new keys.
func TestKeyUpdate(t *testing.T) {
	secrets := make(chan []byte, 1000)
	s := startServer(t, false, func(c net.Conn) {
		echoThen(c, func(c *Conn) { secrets <- c.in.secret })
	})
	c, err := tls.Dial("tcp", s.addr, s.roots)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	rc := s.taken(t)
	exchange(t, c, 10)
	in := <-secrets
	if err := rc.sendKeyUpdate(true); err != nil { // the writing side: any goroutine
		t.Fatal(err)
	}
	exchange(t, c, 10)    // the client reads our KeyUpdate, and sends its own…
	exchange(t, c, 20000) // … before this, which the server reads after it
	var last []byte
	for len(secrets) > 0 {
		last = <-secrets
	}
	if bytes.Equal(in, last) {
		t.Fatal("the client's KeyUpdate was not taken")
	}
}

// TestRest: a connection at rest holds no reading AEAD and no buffer, its
// writing AEAD goes once the rester sees it idle, and it goes on when
// bytes come.
func TestRest(t *testing.T) {
	type state struct{ aead, buf, queued bool }
	states := make(chan state, 1)
	s := startServer(t, false, func(c net.Conn) {
		first := true
		echoThen(c, func(c *Conn) {
			if first {
				first = false
				c.Rest()
				c.wmu.Lock()
				states <- state{c.in.aead != nil, c.buf != nil, c.out.aead == nil || c.out.queued}
				c.wmu.Unlock()
			}
		})
	})
	c, err := tls.Dial("tcp", s.addr, s.roots)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	rc := s.taken(t)
	exchange(t, c, 10)
	if st := <-states; st.aead || st.buf || !st.queued {
		t.Fatalf("at rest: reading AEAD kept %v, buffer kept %v, writing AEAD dropped or queued %v", st.aead, st.buf, st.queued)
	}
	for deadline := time.Now().Add(20 * time.Second); writeAEAD(rc); time.Sleep(10 * time.Millisecond) { // a hang guard
		if time.Now().After(deadline) {
			t.Fatal("the rester never dropped the writing AEAD of an idle connection")
		}
	}
	exchange(t, c, 10, 50000)
}

// writeAEAD reports whether c holds its writing AEAD.
func writeAEAD(c *Conn) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.out.aead != nil
}

// TestRestWriteWaitsForAQuietTick: a writing AEAD whose rest is asked for
// serves the writes that follow within the rester's tick, and goes at the
// first look that finds the connection wrote nothing since the last.
func TestRestWriteWaitsForAQuietTick(t *testing.T) {
	raw, peer := net.Pipe()
	t.Cleanup(func() { raw.Close(); peer.Close() })
	go io.Copy(io.Discard, peer)
	secret := func() []byte { b := make([]byte, 32); rand.Read(b); return b }
	c, err := newConn(raw, tls.TLS_AES_128_GCM_SHA256, secret(), secret())
	if err != nil {
		t.Fatal(err)
	}
	r := &rester{every: time.Hour, running: true} // looked at by hand below: no goroutine
	write := func() {
		t.Helper()
		if _, err := c.Write([]byte("<presence/>")); err != nil {
			t.Fatal(err)
		}
	}
	write()
	aead := c.out.aead
	c.restWrite(r)
	c.restWrite(r) // queued once
	if len(r.queue) != 1 || !c.out.queued {
		t.Fatalf("queued %d times (%v)", len(r.queue), c.out.queued)
	}
	write() // the next burst, before the rester looked
	if c.out.aead != aead {
		t.Fatal("the writing AEAD was made anew for a write right after RestWrite")
	}
	if !r.look() || c.out.aead != aead {
		t.Fatal("the rester dropped the writing AEAD of a connection that wrote since it was queued")
	}
	if r.look() || c.out.aead != nil || c.out.queued || len(r.queue) != 0 || r.running {
		t.Fatalf("after a quiet tick: AEAD kept %v, queued %v, queue %d, running %v", c.out.aead != nil, c.out.queued, len(r.queue), r.running)
	}
	c.restWrite(r) // no AEAD: nothing to queue
	if len(r.queue) != 0 {
		t.Fatal("a connection without a writing AEAD was queued")
	}
	write() // made anew from the key
	if c.out.aead == nil {
		t.Fatal("no writing AEAD after a write")
	}
}

// TestOpenSSL: OpenSSL's client, with the suites crypto/tls's client does
// not pick here (ChaCha20-Poly1305, AES-256-GCM), and its KeyUpdate.
func TestOpenSSL(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	type keys struct {
		suite   *suite
		in, out []byte
	}
	seen := make(chan keys, 100)
	s := startServer(t, false, func(c net.Conn) {
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			rc := c.(*Conn)
			rc.wmu.Lock()
			seen <- keys{rc.in.suite, rc.in.secret, rc.out.secret}
			rc.wmu.Unlock()
			c.Write([]byte("echo:" + line))
		}
	})
	ids := map[string]uint16{"TLS_CHACHA20_POLY1305_SHA256": tls.TLS_CHACHA20_POLY1305_SHA256,
		"TLS_AES_256_GCM_SHA384": tls.TLS_AES_256_GCM_SHA384, "TLS_AES_128_GCM_SHA256": tls.TLS_AES_128_GCM_SHA256}
	for name, id := range ids {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "s_client", "-connect", s.addr, "-tls1_3", "-ciphersuites", name, "-verify_quiet")
			stdin, _ := cmd.StdinPipe()
			stdout, w := io.Pipe() // both: OpenSSL says KEYUPDATE on stderr
			cmd.Stdout, cmd.Stderr = w, w
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				stdin.Close()
				go io.Copy(io.Discard, stdout)
				cmd.Wait()
				w.Close()
			}()
			out := bufio.NewScanner(stdout)
			wait := func(want string) {
				t.Helper()
				for out.Scan() {
					if out.Text() == want {
						return
					}
				}
				t.Fatalf("no %q from openssl: %v", want, out.Err())
			}
			expect := func(want string) keys {
				t.Helper()
				wait(want)
				return <-seen
			}
			io.WriteString(stdin, "one\n")
			before := expect("echo:one")
			s.taken(t)
			if before.suite != suites[id] {
				t.Fatalf("suite %s not negotiated", name)
			}
			io.WriteString(stdin, "K\n") // OpenSSL: KeyUpdate, asking for ours
			wait("KEYUPDATE")            // (a line read with the next would be lost)
			io.WriteString(stdin, "two\n")
			after := expect("echo:two")
			if bytes.Equal(before.in, after.in) || bytes.Equal(before.out, after.out) {
				t.Fatal("keys not updated")
			}
		})
	}
}

// TestFallback: a TLS 1.2 client gets crypto/tls's connection.
func TestFallback(t *testing.T) {
	s := startServer(t, false, echo)
	cfg := s.roots.Clone()
	cfg.MaxVersion = tls.VersionTLS12
	c, err := tls.Dial("tcp", s.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	select {
	case got := <-s.conns:
		if _, ok := got.(*tls.Conn); !ok {
			t.Fatalf("TLS 1.2 got a %T", got)
		}
	case <-time.After(time.Minute):
		t.Fatal("no connection")
	}
	exchange(t, c, 10, 50000)
}

// TestBadRecords: what the client sends wrong ends the connection with an
// error, not a panic, and the sticky error stays.
func TestBadRecords(t *testing.T) {
	for name, tc := range map[string]struct {
		typ     byte
		content []byte
		raw     []byte // sent as is instead
	}{
		"bad MAC":          {raw: append([]byte{23, 3, 3, 0, 20}, make([]byte, 20)...)},
		"plaintext record": {raw: []byte{22, 3, 3, 0, 1, 0}},
		"oversized":        {raw: []byte{23, 3, 3, 0x50, 0}},
		"short":            {raw: []byte{23, 3, 3, 0, 3, 1, 2, 3}},
		"unknown type":     {typ: 99, content: []byte("x")},
		"only padding":     {typ: 0, content: nil},
		"ticket":           {typ: typeHandshake, content: []byte{4, 0, 0, 1, 0}},
		"split KeyUpdate":  {typ: typeHandshake, content: []byte{24, 0, 0, 1}},
		"bad KeyUpdate":    {typ: typeHandshake, content: []byte{24, 0, 0, 1, 7}},
		// a KeyUpdate must end its record (RFC 8446 § 5.1): several in one
		// would make the server derive keys and answer without bound
		"two KeyUpdates":       {typ: typeHandshake, content: []byte{24, 0, 0, 1, 1, 24, 0, 0, 1, 1}},
		"KeyUpdate and a byte": {typ: typeHandshake, content: []byte{24, 0, 0, 1, 0, 0}},
		"long alert":           {typ: typeAlert, content: []byte{2, 40, 1}},
		"fatal alert":          {typ: typeAlert, content: []byte{2, 40}},
	} {
		t.Run(name, func(t *testing.T) {
			srv, cli := pair(t)
			in := tc.raw
			if in == nil {
				in = cli.seal(tc.typ, tc.content)
			}
			srv.raw.(*fakeConn).r = bytes.NewReader(in)
			_, err := srv.Read(make([]byte, 10))
			if err == nil || errors.Is(err, io.EOF) {
				t.Fatalf("read: %v", err)
			}
			if _, again := srv.Read(make([]byte, 10)); again == nil {
				t.Fatal("the error did not stick")
			}
		})
	}
}

// TestNothingSentAfterFatalAlert: once the client sent a fatal alert, the
// connection writes nothing more (RFC 8446 § 6.2).
func TestNothingSentAfterFatalAlert(t *testing.T) {
	srv, cli := pair(t)
	srv.raw.(*fakeConn).r = bytes.NewReader(cli.seal(typeAlert, []byte{2, 40}))
	if _, err := srv.Read(make([]byte, 10)); err == nil {
		t.Fatal("a fatal alert read without an error")
	}
	if n, err := srv.Write([]byte("still there?")); err == nil {
		t.Fatalf("wrote %d bytes after the client's fatal alert", n)
	}
}

// TestCloseNotify: close_notify reads as the end of the stream.
func TestCloseNotify(t *testing.T) {
	srv, cli := pair(t)
	in := append(cli.seal(typeAppData, []byte("hi")), cli.seal(typeAlert, []byte{1, alertClose})...)
	srv.raw.(*fakeConn).r = bytes.NewReader(in)
	got, err := io.ReadAll(srv)
	if err != nil || string(got) != "hi" {
		t.Fatalf("read %q, %v", got, err)
	}
	if srv.buf != nil {
		t.Fatal("a buffer is kept after the end")
	}
}

// fakeConn reads from r and discards writes.
type fakeConn struct {
	net.Conn
	r io.Reader
}

func (f *fakeConn) Read(p []byte) (int, error)  { return f.r.Read(p) }
func (f *fakeConn) Write(p []byte) (int, error) { return len(p), nil }
func (f *fakeConn) SetWriteDeadline(time.Time) error {
	return nil
}

// client seals records as the client would.
type client struct{ out half }

func (c *client) seal(typ byte, content []byte) []byte {
	n := len(content) + 1 + tagLen
	rec := append([]byte{typeAppData, 3, 3, byte(n >> 8), byte(n)}, content...)
	rec = append(rec, typ)
	c.out.build()
	nonce := c.out.nonce()
	rec = c.out.aead.Seal(rec[:recordHeaderLen], nonce[:], rec[recordHeaderLen:], rec[:recordHeaderLen])
	c.out.seq++
	return rec
}

// pair is a server connection on a fake socket and the client that
// writes to it.
func pair(t testing.TB) (*Conn, *client) {
	cs, ss := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	srv, err := newConn(&fakeConn{r: strings.NewReader("")}, tls.TLS_AES_128_GCM_SHA256, cs, ss)
	if err != nil {
		t.Fatal(err)
	}
	cli := &client{out: half{suite: srv.in.suite}}
	if err := cli.out.setSecret(cs); err != nil {
		t.Fatal(err)
	}
	return srv, cli
}

// FuzzRead feeds the record layer what a client could send: raw bytes
// (mode 0) or records sealed with the right key, each a content type, a
// length and that many bytes of content (any other mode).
func FuzzRead(f *testing.F) {
	f.Add([]byte{0, 23, 3, 3, 0, 1, 0})
	f.Add([]byte{1, 23, 2, 'h', 'i', 22, 5, 24, 0, 0, 1, 1, 21, 2, 1, 0})
	f.Add([]byte{1, 22, 10, 24, 0, 0, 1, 0, 24, 0, 0, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return
		}
		srv, cli := pair(t)
		in := data[1:]
		if data[0] != 0 {
			var recs []byte
			for b := in; len(b) >= 2; {
				typ, n := b[0], min(int(b[1]), len(b)-2)
				recs = append(recs, cli.seal(typ, b[2:2+n])...)
				b = b[2+n:]
			}
			in = recs
		}
		srv.raw.(*fakeConn).r = bytes.NewReader(in)
		buf := make([]byte, 7)
		for range len(data) + 2 { // each read takes a byte, or ends
			n, err := srv.Read(buf)
			if n > len(buf) {
				t.Fatal("read too much")
			}
			if err != nil {
				if srv.buf != nil && !srv.Pending() {
					t.Fatal("an empty buffer is kept")
				}
				return
			}
		}
		t.Fatal("reads never ended")
	})
}

// FuzzHandshake feeds the handshake's record reader (hsConn) what a
// client could send before its Finished: it never panics, and a client
// that ends without finishing fails the handshake.
func FuzzHandshake(f *testing.F) {
	cert, _, err := selfsigned.ForTest("localhost")
	if err != nil {
		f.Fatal(err)
	}
	cfg := Config(&tls.Config{Certificates: []tls.Certificate{cert}})
	f.Add([]byte{22, 3, 1, 0, 5, 1, 0, 0, 1, 0})
	f.Add([]byte{22, 3, 1, 0xff, 0xff, 1})
	f.Add([]byte{23, 3, 3, 0, 0, 22, 3, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := Handshake(&fakeConn{r: bytes.NewReader(data)}, cfg)
		if err == nil {
			t.Fatalf("a handshake completed on %x: %T", data, c)
		}
	})
}

// TestPaddedOverflow: a record whose content, type and padding exceed
// 2^14 + 1 bytes is refused, even with little content.
func TestPaddedOverflow(t *testing.T) {
	srv, cli := pair(t)
	inner := append([]byte{'x', typeAppData}, make([]byte, maxPlaintext)...) // zeros: padding
	n := len(inner) + tagLen
	rec := append([]byte{typeAppData, 3, 3, byte(n >> 8), byte(n)}, inner...)
	cli.out.build()
	nonce := cli.out.nonce()
	rec = cli.out.aead.Seal(rec[:recordHeaderLen], nonce[:], rec[recordHeaderLen:], rec[:recordHeaderLen])
	srv.raw.(*fakeConn).r = bytes.NewReader(rec)
	if _, err := srv.Read(make([]byte, 10)); err == nil || !strings.Contains(err.Error(), "plaintext") {
		t.Fatalf("read: %v", err)
	}
}
