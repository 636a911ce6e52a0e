package c2s

// An idle bound TCP stream keeps no goroutine, no XML decoder, and of its
// TLS 1.3 only the keys (internal/tlsrecord, rested here and after each
// flush): between stanzas, when nothing waits to be read (in the stream
// reader, inside TLS, on the socket), its reader parks it in the server's
// poller (internal/netpoll) and exits, and a new reader resumes it when
// bytes arrive. Its stack, the largest part of an idle stream, is gone
// meanwhile. Streams over
// WebSocket and BOSH ride on HTTP connections and keep their readers.
//
// Whoever holds a stream's reader owns its descriptor: other goroutines
// (a goaway from the core, a failed write) do not close it but interrupt
// the reader, which ends the stream.

import (
	"errors"
	"os"
	"time"

	"github.com/presenced/presenced/internal/netpoll"
	"github.com/presenced/presenced/internal/tlsrecord"
)

// errParked ends a reader whose stream went idle in the poller.
var errParked = errors.New("xmpp: parked")

// parkHook, when set (by tests only), sees each stream about to park, on
// its reader.
var parkHook func(c *conn)

// errStopped ends a reader that another goroutine interrupted.
var errStopped = errors.New("xmpp: stream stopped")

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout <= 0 {
		return DefaultIdleTimeout
	}
	return s.IdleTimeout
}

// startPoller starts the poller and its sweep, which ends parked streams
// silent for the idle timeout (a blocked reader's read deadline would).
func (s *Server) startPoller() {
	s.poller = netpoll.New()
	if s.poller == nil {
		return
	}
	idle := s.idleTimeout()
	go func() {
		for range time.Tick(max(idle/8, time.Second)) {
			s.poller.Sweep(idle)
		}
	}()
}

// awaitStanza returns once bytes of the next stanza are buffered, or
// errParked once the stream waits in the poller. Whitespace keepalives
// are consumed here, so that a client that sent only one leaves nothing
// half-parsed behind.
func (c *conn) awaitStanza() error {
	for {
		c.r.SkipSpace()
		if c.r.Buffered() > 0 {
			return nil
		}
		if c.parks && !c.pc.Readable() && !c.tlsPending() {
			c.r.Rest() // nor the XML decoder's state: made anew when bytes come
			if rc, ok := c.tls.(*tlsrecord.Conn); ok {
				rc.Rest() // nor TLS's AEADs: made anew from the keys
			}
			if parkHook != nil {
				parkHook(c)
			}
			if c.s.poller.Park(&c.pc, c.stopping.Load) {
				return errParked
			}
		}
		if err := c.r.Fill(); err != nil {
			return err
		}
	}
}

// tlsPending reports whether TLS holds bytes it already took from the
// socket: the rest of a record's plaintext, or whole records behind it.
// tlsrecord says so; from crypto/tls (TLS 1.2), a read that may not wait
// tells (a deadline is not an error that it keeps), and what it gets goes
// back to the stream reader.
func (c *conn) tlsPending() bool {
	if rc, ok := c.tls.(*tlsrecord.Conn); ok {
		return rc.Pending()
	}
	if c.tls == nil {
		return false
	}
	c.nc.SetReadDeadline(time.Unix(1, 0))
	var b [1]byte
	n, _ := c.tls.Read(b[:])
	if n == 0 {
		return false
	}
	c.r.Unread(b[:n])
	return true
}

// Resume (netpoll.Owner) reads a parked stream that bytes woke, on a new
// goroutine.
func (c *conn) Resume() {
	defer c.recoverPanic()
	c.stopped(c.serveStanzas())
}

// Expire (netpoll.Owner) ends a parked stream silent for the idle
// timeout, as its read deadline would have.
func (c *conn) Expire() {
	defer c.recoverPanic()
	c.stopped(os.ErrDeadlineExceeded)
}

// interrupt makes the stream's reader end the stream, from another
// goroutine: a blocked read returns at once, and a parked stream gets a
// reader for it. Streams that do not park are simply closed.
func (c *conn) interrupt() {
	if !c.parks {
		c.nc.Close()
		return
	}
	c.stopping.Store(true)
	c.nc.SetReadDeadline(time.Now())
	if c.pc.Take() {
		go c.Resume()
	}
}
