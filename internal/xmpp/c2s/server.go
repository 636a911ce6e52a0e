package c2s

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/sasl"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// Namespaces of the negotiation (RFC 6120).
const (
	nsClient  = "jabber:client"
	nsStreams = "urn:ietf:params:xml:ns:xmpp-streams"
	nsTLS     = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL    = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind    = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession = "urn:ietf:params:xml:ns:xmpp-session"
	nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsSASLCB  = "urn:xmpp:sasl-cb:0" // XEP-0440
)

// Server accepts XMPP client connections.
type Server struct {
	Domain         string
	Hub            *core.Hub
	Auth           *auth.Auth
	TLS            *tls.Config // nil: no TLS (then AllowPlaintext must be set)
	AllowPlaintext bool        // accept clients that never start TLS (tests, loopback)
	Register       bool        // in-band registration (XEP-0077) before authentication
	Secret         []byte      // keys SASL's fake credentials for unknown users
	Log            *slog.Logger
	Limits         xmlstream.Limits
	// IdleTimeout closes a bound stream that sent nothing, not even a
	// whitespace keepalive, for this long; 0 means DefaultIdleTimeout.
	IdleTimeout time.Duration

	// ResumeWindow is how long a XEP-0198 stream whose connection dropped
	// can be resumed, counted from the drop; its core session stays online
	// as long. 0 means DefaultResumeWindow.
	ResumeWindow time.Duration
	// Clock tells the time of resumption windows and last activity; nil
	// means the wall clock.
	Clock clock.Clock

	caps   capsCache    // verified entity capabilities (caps.go)
	resume resumable    // streams that may be resumed (sm.go)
	bosh   boshSessions // BOSH sessions by sid (bosh.go)
}

// DefaultResumeWindow is the resumption window of XEP-0198 streams: long
// enough for a phone to change networks or wake from sleep.
const DefaultResumeWindow = 5 * time.Minute

func (s *Server) resumeWindow() time.Duration {
	if s.ResumeWindow <= 0 {
		return DefaultResumeWindow
	}
	return s.ResumeWindow
}

func (s *Server) clock() clock.Clock {
	if s.Clock == nil {
		return clock.Real{}
	}
	return s.Clock
}

// DefaultIdleTimeout is the idle limit of a bound stream.
const DefaultIdleTimeout = 5 * time.Minute

const writeTimeout = 10 * time.Second

const negotiationTimeout = 30 * time.Second

// Serve accepts connections on ln until it is closed. directTLS means the
// listener speaks TLS from the first byte (XEP-0368).
func (s *Server) Serve(ln net.Listener, directTLS bool) error {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go s.handle(c, directTLS)
	}
}

// conn is one client connection during and after negotiation.
type conn struct {
	s             *Server
	nc            net.Conn
	r             *xmlstream.Reader
	tls           *tls.Conn
	registrations int    // XEP-0077 requests on this stream (register.go)
	registered    bool   // … one of which created an account
	overHTTP      bool   // XMPP over WebSocket: TLS, if any, is the HTTP listener's
	httpsTLS      bool   // … and it is on
	account       string // after SASL
	resource      string // after binding

	frame   framing           // TCP's stream, or RFC 7395's framing (websocket.go)
	finish  func(closed bool) // closes the transport once the stream is over
	wmu     sync.Mutex        // writes come from the reader and from the flush goroutine
	writing atomic.Bool       // a flush goroutine runs
	leaving atomic.Bool       // the client closed the stream
	// unhooked: this connection is no longer the core session's sink
	// (dropped, logged out, replaced by a resumption or a newer binding).
	// The session's outbox then fills for another sink, or for none, and
	// nothing will wake this connection again, so its flush must stop
	// rather than loop on Session.Pending (session.go).
	unhooked atomic.Bool
	*live    // the core session, after binding (session.go)
}

func (s *Server) handle(nc net.Conn, directTLS bool) {
	c := &conn{s: s, nc: nc, frame: tcpFraming{}}
	c.finish = func(bool) {
		c.linger()
		nc.Close()
	}
	if directTLS {
		c.startTLS()
	}
	c.serve()
}

// linger lets what the client still sends arrive before the connection
// closes: closing with data unread (its TLS close_notify, the rest of a
// stanza too large) makes the kernel answer with a reset, which can destroy
// our last words (the stream error, our close) before the client reads
// them. We stop writing, then read and discard for a bounded time and
// amount (RFC 6120 § 4.4 has each side wait for the other's close).
func (c *conn) linger() {
	if c.tls != nil {
		c.tls.CloseWrite()
	}
	raw := c.nc
	if c.tls != nil {
		raw = c.tls.NetConn()
	}
	if cw, ok := raw.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	raw.SetReadDeadline(time.Now().Add(2 * time.Second))
	io.Copy(io.Discard, io.LimitReader(raw, 16<<20))
}

// serve negotiates the stream on the calling goroutine and, once a
// resource is bound, runs the session on a fresh one: the negotiation's
// deep stack (TLS handshake, SCRAM) is not kept for the session's life.
// c.finish runs when the stream is over.
func (c *conn) serve() {
	defer c.recoverPanic()
	c.nc.SetDeadline(time.Now().Add(negotiationTimeout))
	err := c.negotiate()
	if errors.Is(err, errBound) {
		go c.runBound()
		return
	}
	c.finish(c.ended(err))
}

// runBound runs a bound stream until it ends.
func (c *conn) runBound() {
	defer c.recoverPanic()
	c.finish(c.ended(c.serveBound()))
}

func (c *conn) recoverPanic() {
	if r := recover(); r != nil {
		c.s.Log.Error("xmpp connection panicked", "panic", r)
		c.finish(false)
	}
}

// ended closes our side of a stream that ended with err, and reports
// whether both sides closed it cleanly.
func (c *conn) ended(err error) (closed bool) {
	var se *xmlstream.StreamError
	switch {
	case errors.As(err, &se):
		c.end(se.Condition, se.Text)
	case errors.Is(err, xmlstream.ErrClosed):
		c.end("", "") // the client closed its stream: close ours (RFC 6120 § 4.4)
		return true
	case err != nil && !errors.Is(err, io.EOF):
		c.s.Log.Debug("xmpp stream ended", "err", err)
	}
	return false
}

// encrypted: the stream runs over TLS, its own or the HTTP listener's.
func (c *conn) encrypted() bool { return c.tls != nil || c.httpsTLS }

func (c *conn) startTLS() {
	c.tls = tls.Server(c.nc, c.s.TLS)
	c.nc = c.tls
}

// write sends one top-level element, framed for the transport.
func (c *conn) write(format string, args ...any) error {
	return c.send(c.frame.element(fmt.Sprintf(format, args...)))
}

// send writes what the framing made, in one Write (one WebSocket message),
// counting stanzas for stream management.
func (c *conn) send(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.live != nil {
		if sm := c.sm.Load(); sm != nil && isStanza(s) {
			sm.out.Add(1)
		}
	}
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout)) // a client that stops reading is dropped
	_, err := io.WriteString(c.nc, s)
	return err
}

// end sends a stream error, if any, and the end of the stream.
func (c *conn) end(condition, text string) {
	if condition != "" {
		t := ""
		if text != "" {
			t = fmt.Sprintf(`<text xmlns='%s'>%s</text>`, nsStreams, esc(text))
		}
		c.write(`<stream:error><%s xmlns='%s'/>%s</stream:error>`, condition, nsStreams, t)
	}
	c.send(c.frame.close())
}

// idleReader pushes the read deadline forward on every read, so any bytes,
// whitespace keepalives included, keep a bound stream alive.
type idleReader struct {
	nc   net.Conn
	idle time.Duration
}

func (r idleReader) Read(p []byte) (int, error) {
	r.nc.SetReadDeadline(time.Now().Add(r.idle))
	return r.nc.Read(p)
}

func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// openStream reads the client's stream header and answers with ours and
// the features of this stage (RFC 6120 § 4.3).
func (c *conn) openStream(features string) error {
	c.r = xmlstream.NewReader(c.nc, c.s.Limits)
	start, err := c.r.Open()
	id := make([]byte, 8)
	rand.Read(id)
	// the response header goes out even on error, so a stream error can follow it
	c.send(c.frame.open(hex.EncodeToString(id), c.s.Domain))
	if err != nil {
		return err
	}
	var to, version, defaultNS string
	for _, a := range start.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "to":
			to = a.Value
		case a.Name.Space == "" && a.Name.Local == "version":
			version = a.Value
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			defaultNS = a.Value
		}
	}
	switch {
	case defaultNS != nsClient:
		return &xmlstream.StreamError{Condition: "invalid-namespace", Text: "the default namespace must be jabber:client"}
	case !strings.EqualFold(to, c.s.Domain):
		return &xmlstream.StreamError{Condition: "host-unknown", Text: "this server does not serve " + to}
	case !strings.HasPrefix(version, "1."):
		return &xmlstream.StreamError{Condition: "unsupported-version", Text: "version 1.0 is required"}
	}
	return c.write(`<stream:features>%s</stream:features>`, features)
}

// negotiate runs TLS, SASL and binding; it returns once a resource is
// bound (or the stream fails).
func (c *conn) negotiate() error {
	if c.tls == nil && c.s.TLS != nil && !c.overHTTP {
		features := fmt.Sprintf(`<starttls xmlns='%s'><required/></starttls>`, nsTLS)
		if c.s.AllowPlaintext { // TLS optional: authentication may start at once
			features = fmt.Sprintf(`<starttls xmlns='%s'/>`, nsTLS) + c.mechanisms()
		}
		if err := c.openStream(features); err != nil {
			return err
		}
		el, err := c.r.Next()
		if err != nil {
			return err
		}
		switch {
		case el.Name.Space == nsTLS && el.Name.Local == "starttls":
			if err := c.write(`<proceed xmlns='%s'/>`, nsTLS); err != nil {
				return err
			}
			c.startTLS()
			if err := c.tls.Handshake(); err != nil {
				return err
			}
		case !c.s.AllowPlaintext:
			return &xmlstream.StreamError{Condition: "policy-violation", Text: "STARTTLS is required"}
		default:
			return c.authenticate(el)
		}
	} else if c.tls == nil && !c.overHTTP && !c.s.AllowPlaintext {
		return &xmlstream.StreamError{Condition: "policy-violation", Text: "TLS is required"}
	}
	if err := c.openStream(c.mechanisms()); err != nil {
		return err
	}
	el, err := c.r.Next()
	if err != nil {
		return err
	}
	return c.authenticate(el)
}

// mechanisms lists what SASL offers now: -PLUS and PLAIN only under TLS.
func (c *conn) mechanisms() string {
	var m []string
	if c.tls != nil {
		m = append(m, "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS")
	}
	m = append(m, auth.ScramSHA256, auth.ScramSHA1)
	if c.encrypted() {
		m = append(m, "PLAIN")
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<mechanisms xmlns='%s'>`, nsSASL)
	for _, x := range m {
		fmt.Fprintf(&b, `<mechanism>%s</mechanism>`, x)
	}
	b.WriteString(`</mechanisms>`)
	if c.s.Register && (c.encrypted() || c.s.AllowPlaintext) {
		fmt.Fprintf(&b, `<register xmlns='%s'/>`, nsRegisterFeature)
	}
	if c.tls != nil { // XEP-0440: which channel bindings the -PLUS mechanisms can use
		cb := c.channelBinding()
		fmt.Fprintf(&b, `<sasl-channel-binding xmlns='%s'>`, nsSASLCB)
		for _, typ := range []string{"tls-exporter", "tls-server-end-point", "tls-unique"} {
			if _, ok := cb(typ); ok {
				fmt.Fprintf(&b, `<channel-binding type='%s'/>`, typ)
			}
		}
		b.WriteString(`</sasl-channel-binding>`)
	}
	return b.String()
}

func (c *conn) saslFailure(condition, text string) error {
	return c.write(`<failure xmlns='%s'><%s/><text>%s</text></failure>`, nsSASL, condition, esc(text))
}

// clientIP is the peer address throttling counts failures against.
func (c *conn) clientIP() string {
	host, _, err := net.SplitHostPort(c.nc.RemoteAddr().String())
	if err != nil {
		return c.nc.RemoteAddr().String()
	}
	return host
}

// authenticate runs SASL (RFC 6120 § 6), starting from the client's <auth/>;
// a failed attempt may be retried on the same stream.
func (c *conn) authenticate(el *xmlstream.Element) error {
	for attempt := 0; ; attempt++ {
		for isRegistration(el) {
			if err := c.register(el); err != nil {
				return err
			}
			var err error
			if el, err = c.r.Next(); err != nil {
				return err
			}
		}
		if el.Name.Space != nsSASL || el.Name.Local != "auth" {
			return &xmlstream.StreamError{Condition: "not-authorized", Text: "authenticate first"}
		}
		if attempt >= 5 {
			return &xmlstream.StreamError{Condition: "policy-violation", Text: "too many authentication attempts"}
		}
		account, err := c.saslExchange(el)
		if err == nil {
			c.account = account
			return c.bind()
		}
		var f *sasl.Failure
		if !errors.As(err, &f) {
			return err
		}
		if err := c.saslFailure(f.Condition, f.Text); err != nil {
			return err
		}
		if el, err = c.r.Next(); err != nil {
			return err
		}
	}
}

// saslExchange runs one mechanism to its end and returns the account.
func (c *conn) saslExchange(el *xmlstream.Element) (string, error) {
	mech := el.AttrValue("mechanism")
	in, err := base64.StdEncoding.DecodeString(strings.TrimSpace(el.Text()))
	if err != nil {
		return "", &sasl.Failure{Condition: "incorrect-encoding", Text: "bad base64"}
	}
	if mech == "PLAIN" {
		return c.plain(in)
	}
	s, err := sasl.NewScram(mech, sasl.Config{Lookup: c.lookup, ChannelBinding: c.channelBinding(), OffersPlus: c.tls != nil, Secret: c.s.Secret})
	if err != nil {
		return "", err
	}
	th := c.s.Auth.Throttle
	var keys []string // throttle keys, once the client-first message named the user
	ended := false
	defer func() {
		if keys != nil && !ended {
			th.Failed(keys...) // a SCRAM attempt that did not succeed
		}
	}()
	for {
		out, done, err := s.Step(in)
		if err != nil {
			return "", err
		}
		if keys == nil {
			k := []string{"acct:" + strings.ToLower(s.Username()) + "@" + c.s.Domain, "from:" + c.clientIP()}
			if err := th.Begin(k...); err != nil {
				return "", &sasl.Failure{Condition: "temporary-auth-failure", Text: err.Error()}
			}
			keys = k
		}
		if done {
			ended = true
			th.Succeeded(keys[0], keys[1:]...)
			account, err := addr.Bare(s.Username() + "@" + c.s.Domain)
			if err != nil {
				return "", &sasl.Failure{Condition: "not-authorized", Text: "authentication failed"}
			}
			// additional data with success (RFC 6120 § 6.3.10): the server signature
			return account, c.write(`<success xmlns='%s'>%s</success>`, nsSASL, base64.StdEncoding.EncodeToString(out))
		}
		if err := c.write(`<challenge xmlns='%s'>%s</challenge>`, nsSASL, base64.StdEncoding.EncodeToString(out)); err != nil {
			return "", err
		}
		resp, err := c.r.Next()
		if err != nil {
			return "", err
		}
		if resp.Name.Space == nsSASL && resp.Name.Local == "abort" {
			return "", &sasl.Failure{Condition: "aborted", Text: "aborted by the client"}
		}
		if resp.Name.Space != nsSASL || resp.Name.Local != "response" {
			return "", &sasl.Failure{Condition: "malformed-request", Text: "expected <response/>"}
		}
		if in, err = base64.StdEncoding.DecodeString(strings.TrimSpace(resp.Text())); err != nil {
			return "", &sasl.Failure{Condition: "incorrect-encoding", Text: "bad base64"}
		}
	}
}

// lookup finds an account's SCRAM credential by its local part.
func (c *conn) lookup(username, mechanism string) (store.ScramCredential, bool) {
	bare, err := addr.Bare(username + "@" + c.s.Domain)
	if err != nil {
		return store.ScramCredential{}, false
	}
	return c.s.Auth.ScramCredential(context.Background(), bare, mechanism)
}

// channelBinding offers tls-exporter (RFC 9266), tls-server-end-point
// (RFC 5929) and, before TLS 1.3 only, tls-unique (RFC 5929) once TLS is up.
func (c *conn) channelBinding() func(string) ([]byte, bool) {
	if c.tls == nil {
		return nil
	}
	cs := c.tls.ConnectionState()
	return func(typ string) ([]byte, bool) {
		switch typ {
		case "tls-exporter":
			if cs.Version < tls.VersionTLS13 {
				return nil, false
			}
			b, err := cs.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
			return b, err == nil
		case "tls-unique": // undefined for TLS 1.3 (RFC 9266 § 3): Go leaves it nil there
			return cs.TLSUnique, cs.TLSUnique != nil
		case "tls-server-end-point":
			if len(c.s.TLS.Certificates) == 0 {
				return nil, false
			}
			return serverEndPoint(c.s.TLS.Certificates[0])
		}
		return nil, false
	}
}

// serverEndPoint is the tls-server-end-point channel binding of cert (RFC
// 5929 § 4.1): the hash of its DER encoding with the hash function of its
// signature algorithm, SHA-256 where that is MD5 or SHA-1. Where the
// algorithm has no single hash function (Ed25519) or is unknown, the
// binding is undefined and not offered.
func serverEndPoint(cert tls.Certificate) ([]byte, bool) {
	if len(cert.Certificate) == 0 {
		return nil, false
	}
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, false
		}
	}
	var h hash.Hash
	switch leaf.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.DSAWithSHA256, x509.ECDSAWithSHA256, x509.SHA256WithRSAPSS:
		h = sha256.New()
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h = sha512.New384()
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h = sha512.New()
	default:
		return nil, false
	}
	h.Write(cert.Certificate[0])
	return h.Sum(nil), true
}

// plain checks SASL PLAIN (RFC 4616), offered only under TLS.
func (c *conn) plain(msg []byte) (string, error) {
	if !c.encrypted() {
		return "", &sasl.Failure{Condition: "encryption-required", Text: "PLAIN needs TLS"}
	}
	parts := strings.Split(string(msg), "\x00")
	if len(parts) != 3 {
		return "", &sasl.Failure{Condition: "malformed-request", Text: "PLAIN is authzid NUL authcid NUL password"}
	}
	account, err := c.s.Auth.CheckPassword(context.Background(), c.clientIP(), parts[1]+"@"+c.s.Domain, parts[2])
	switch {
	case errors.Is(err, auth.ErrThrottled), errors.Is(err, auth.ErrBusy):
		return "", &sasl.Failure{Condition: "temporary-auth-failure", Text: err.Error()}
	case err != nil:
		return "", &sasl.Failure{Condition: "not-authorized", Text: "authentication failed"}
	}
	if parts[0] != "" && parts[0] != account {
		return "", &sasl.Failure{Condition: "invalid-authzid", Text: "cannot act for another account"}
	}
	return account, c.write(`<success xmlns='%s'/>`, nsSASL)
}
