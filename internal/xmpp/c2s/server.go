package c2s

// The listener and the life of one connection: accepted here, negotiated
// (negotiate.go: stream headers and STARTTLS; sasl.go; bind.go), then a
// bound stream whose stanzas become core calls (stanzas.go, iq.go and a
// file per feature, registered in registry.go) and whose core events become
// stanzas (sink.go, events.go).

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/netpoll"
	"github.com/presenced/presenced/internal/tlsrecord"
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
//
// The domains it serves are the hub's (core.Hub.Serves): each stream is
// for the one its header names (conn.domain).
type Server struct {
	// MUCDomain is the address of the multi-user chat service (muc.go)
	// on every stream; "" means conference.<the stream's domain>.
	MUCDomain      string
	Hub            *core.Hub
	Auth           *auth.Auth
	TLS            *tls.Config // nil: no TLS (then AllowPlaintext must be set)
	AllowPlaintext bool        // accept clients that never start TLS (tests, loopback)
	Register       bool        // in-band registration (XEP-0077) before authentication
	Secret         []byte      // keys SASL's fake credentials for unknown users
	// Issuer, if set, tells the OAuth issuer, whose discovery document
	// OAUTHBEARER's error challenge names (RFC 7628 § 3.2.2).
	Issuer func() string
	Log    *slog.Logger
	Limits xmlstream.Limits
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

	pollOnce sync.Once
	poller   *netpoll.Poller // parks idle TCP streams (park.go)
	tlsOnce  sync.Once
	tlsOuter *tls.Config // TLS as tlsrecord.Handshake takes it (tlsConfig)

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
	s.pollOnce.Do(s.startPoller)
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
	tls           tlsConn              // *tlsrecord.Conn for TLS 1.3, else *tls.Conn
	tlsState      *tls.ConnectionState // for channel bindings, until bound
	registrations int32                // XEP-0077 requests on this stream (register.go)
	registered    bool                 // … one of which created an account
	overHTTP      bool                 // XMPP over WebSocket: TLS, if any, is the HTTP listener's
	httpsTLS      bool                 // … and it is on
	parks         bool                 // a TCP stream: it waits in the poller while idle (park.go)
	domain        string               // the served domain the client's first stream header named (negotiate.go)
	account       string               // after SASL
	app           *appSignIn           // … when an app's token signed in (oauthbearer.go)
	checked       core.Checkpoint      // taken before SASL read the credentials
	signIn        *core.AccountRead    // the account's row SCRAM read, for Connect (dropped at binding)
	pc            netpoll.Conn
	// (the fields are ordered so that none pads: conn is held by every
	// idle stream)

	frame   framing     // TCP's stream, or RFC 7395's framing (websocket.go); it also closes the transport
	wmu     sync.Mutex  // writes come from the reader and from the flush goroutine
	batch   *[]byte     // what send gathers inside batched; under wmu
	writing atomic.Bool // a flush goroutine runs
	leaving atomic.Bool // the client closed the stream
	// stopping: another goroutine asked the reader to end the stream (interrupt)
	stopping atomic.Bool
	// unhooked: this connection is no longer the core session's sink
	// (dropped, logged out, replaced by a resumption or a newer binding).
	// The session's outbox then fills for another sink, or for none, and
	// nothing will wake this connection again, so its flush must stop
	// rather than loop on Session.Pending (session.go).
	unhooked atomic.Bool
	*live    // the core session, after binding (session.go)
}

func (s *Server) handle(nc net.Conn, directTLS bool) {
	c := &conn{s: s, nc: nc, frame: tcpFraming{}, parks: true}
	c.pc.Init(nc, c)
	c.serve(directTLS)
}

// finish closes the transport once the stream is over (closed: both sides
// closed it cleanly). The framing does it, by a method rather than a
// closure kept by every connection.
func (c *conn) finish(closed bool) { c.frame.finish(c, closed) }

// finish (framing) takes a TCP stream out of the poller, lets the
// client's last bytes arrive, and closes the socket under the TLS.
func (tcpFraming) finish(c *conn, _ bool) {
	c.pc.Done()
	c.s.poller.Unpark(&c.pc) // before the descriptor closes (netpoll)
	c.linger()
	c.raw().Close()
}

// raw is the stream's socket, under its TLS if any.
func (c *conn) raw() net.Conn {
	if c.tls != nil {
		return c.tls.NetConn()
	}
	return c.nc
}

// tlsConn is a stream's TLS: a *tlsrecord.Conn or a *tls.Conn.
type tlsConn interface {
	net.Conn
	CloseWrite() error
	NetConn() net.Conn
}

// tlsConfig is the TLS configuration for tlsrecord.Handshake, made once:
// session tickets are keyed by it.
func (s *Server) tlsConfig() *tls.Config {
	s.tlsOnce.Do(func() { s.tlsOuter = tlsrecord.Config(s.TLS) })
	return s.tlsOuter
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
	raw := c.raw()
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
func (c *conn) serve(directTLS bool) {
	defer c.recoverPanic()
	c.nc.SetDeadline(time.Now().Add(negotiationTimeout))
	var err error
	if directTLS {
		err = c.startTLS()
	}
	if err == nil {
		err = c.negotiate()
	}
	if errors.Is(err, errBound) {
		go c.runBound()
		return
	}
	c.finish(c.ended(err))
}

// runBound runs a bound stream until it ends or parks.
func (c *conn) runBound() {
	defer c.recoverPanic()
	c.stopped(c.serveBound())
}

// stopped ends the stream its reader left with err (unhooking the core
// session first), unless the stream parked.
func (c *conn) stopped(err error) {
	if errors.Is(err, errParked) {
		return
	}
	c.unhook(err)
	c.finish(c.ended(err))
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

// idleReader is a bound stream's input: it pushes the read deadline
// forward on every read, so any bytes, whitespace keepalives included,
// keep a bound stream alive; it fails once the stream is being stopped
// (interrupt). A conversion of the conn, not a value of its own: an
// interface holding one would be one more allocation per idle stream.
type idleReader conn

func (r *idleReader) Read(p []byte) (int, error) {
	c := (*conn)(r)
	if c.stopping.Load() {
		return 0, errStopped
	}
	c.pc.Touch()
	c.nc.SetReadDeadline(time.Now().Add(c.s.idleTimeout()))
	if c.stopping.Load() { // interrupt's deadline may have come before ours
		return 0, errStopped
	}
	return c.nc.Read(p)
}
