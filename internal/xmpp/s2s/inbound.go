package s2s

// Inbound streams: another server's stream to us (RFC 6120 with
// jabber:server), addressed to any of the served domains. STARTTLS first,
// then dialback authenticates each domain the peer sends for (several may
// be multiplexed on one stream); only then are its stanzas taken, and only
// from the domains it authenticated, to any served domain.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// Serve accepts other servers' streams on ln until Close (STARTTLS).
func (s *Server) Serve(ln net.Listener) error { return s.serve(ln, false) }

// ServeDirectTLS accepts streams that start with TLS (XEP-0368).
func (s *Server) ServeDirectTLS(ln net.Listener) error { return s.serve(ln, true) }

func (s *Server) serve(ln net.Listener, direct bool) error {
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		ln.Close()
		return nil
	default:
	}
	s.ln = append(s.ln, ln)
	s.wg.Add(1) // Close waits for this loop, so the streams it adds are counted before
	s.mu.Unlock()
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return err
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(nc, direct)
		}()
	}
}

// inConn is one inbound stream.
type inConn struct {
	s      *Server
	nc     net.Conn
	tls    bool
	id     string
	local  string // the served domain the peer's latest header is to
	peer   string // the from of the peer's latest header
	r      *xmlstream.Reader
	wmu    sync.Mutex
	authed map[string]bool // domains dialback verified; guarded by wmu
	// bidi: the peer asked for a bidirectional stream (XEP-0288); our
	// stanzas to the domains it authenticates may then go on this one
	bidi  atomic.Bool
	ended chan struct{} // closed when the stream ends
	// verifying counts dialback verifications in flight: each opens a
	// stream to another server, so a peer gets only a few at once
	verifying atomic.Int32
}

const maxVerifying = 4

// errRestricted ends a stream from a domain the operator does not
// federate with (RFC 6120 § 4.9.3.12), as Prosody's s2s lists do.
var errRestricted = &xmlstream.StreamError{Condition: "policy-violation", Text: "communication with this domain is restricted"}

func (c *inConn) write(el *xmlstream.Element) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.nc.Write([]byte(serialise(el)))
	return err
}

func (c *inConn) noneAuthed() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return len(c.authed) == 0
}

func (c *inConn) isAuthed(domain string) bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.authed[domain]
}

func (s *Server) serveConn(nc net.Conn, direct bool) {
	c := &inConn{s: s, nc: nc, authed: map[string]bool{}, ended: make(chan struct{})}
	defer close(c.ended)
	defer s.forgetBidi(c)
	if direct && s.cfg.TLS != nil {
		tc := tls.Server(nc, s.serverTLS("xmpp-server"))
		nc.SetDeadline(time.Now().Add(negotiateTimeout))
		if err := tc.Handshake(); err != nil {
			nc.Close()
			return
		}
		c.nc, c.tls = tc, true
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // Close ends every stream
		select {
		case <-s.done:
			c.nc.Close()
		case <-stop:
		}
	}()
	err := c.serve()
	var se *xmlstream.StreamError
	switch {
	case errors.As(err, &se):
		c.write(streamError(se.Condition, se.Text))
	case err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, xmlstream.ErrClosed) && !errors.Is(err, net.ErrClosed):
		s.cfg.Log.Debug("s2s: inbound stream ended", "err", err)
	}
	c.wmu.Lock()
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.nc.Write([]byte(streamEnd))
	c.wmu.Unlock()
	c.nc.Close()
}

// open reads the peer's header and answers with ours and the features.
func (c *inConn) open() error {
	c.nc.SetReadDeadline(time.Now().Add(negotiateTimeout))
	c.r = xmlstream.NewReader(c.nc, c.s.cfg.Limits)
	st, err := c.r.Open()
	id := make([]byte, 12)
	rand.Read(id)
	c.peer = strings.ToLower(headerAttr(st, "from"))
	c.id = hex.EncodeToString(id)
	c.local = c.s.cfg.Domain // our header's from, before a host-unknown error
	if to := strings.ToLower(headerAttr(st, "to")); c.s.serves(to) {
		c.local = to
	}
	c.wmu.Lock()
	_, werr := c.nc.Write([]byte(header(c.local, headerAttr(st, "from"), c.id)))
	c.wmu.Unlock()
	if err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	switch {
	case headerAttr(st, "xmlns") != nsServer:
		return &xmlstream.StreamError{Condition: "invalid-namespace", Text: "the default namespace must be jabber:server"}
	case !c.s.serves(headerAttr(st, "to")):
		return &xmlstream.StreamError{Condition: "host-unknown", Text: "this server does not serve " + headerAttr(st, "to")}
	case !strings.HasPrefix(headerAttr(st, "version"), "1."):
		return &xmlstream.StreamError{Condition: "unsupported-version", Text: "version 1.0 is required"}
	case c.peer != "" && !c.s.federates(c.peer):
		return errRestricted
	}
	feats := xmlstream.New(xmlstream.NSStream, "features")
	if !c.tls {
		feats.Add(xmlstream.New(nsTLS, "starttls").Add(xmlstream.New(nsTLS, "required")))
	} else {
		if c.certified(c.peer) && !c.isAuthed(c.peer) {
			feats.Add(xmlstream.New(nsSASL, "mechanisms").Add(xmlstream.New(nsSASL, "mechanism").AddText("EXTERNAL")))
		}
		if c.s.cfg.Dialback {
			feats.Add(xmlstream.New(nsDBFeat, "dialback").Add(xmlstream.New(nsDBFeat, "errors")))
		}
		if !c.bidi.Load() && c.noneAuthed() {
			feats.Add(xmlstream.New(nsBidiFeat, "bidi"))
		}
	}
	return c.write(feats)
}

func (c *inConn) serve() error {
	if c.s.cfg.TLS == nil {
		return &xmlstream.StreamError{Condition: "internal-server-error", Text: "no certificate"}
	}
	if err := c.open(); err != nil {
		return err
	}
	for {
		// an idle stream is closed; the peer reopens it on demand
		c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout + time.Minute))
		el, err := c.r.Next()
		if err != nil {
			return err
		}
		switch {
		case el.Name.Space == nsTLS && el.Name.Local == "starttls" && !c.tls:
			if err := c.write(xmlstream.New(nsTLS, "proceed")); err != nil {
				return err
			}
			tc := tls.Server(c.nc, c.s.serverTLS())
			c.nc.SetDeadline(time.Now().Add(negotiateTimeout))
			if err := tc.Handshake(); err != nil {
				return err
			}
			c.nc, c.tls = tc, true
			if err := c.open(); err != nil {
				return err
			}
		case !c.tls:
			return &xmlstream.StreamError{Condition: "policy-violation", Text: "STARTTLS is required"}
		case el.Name.Space == nsBidi && el.Name.Local == "bidi":
			c.bidi.Store(true) // XEP-0288: lent once a domain authenticates
		case el.Name.Space == nsSASL && el.Name.Local == "auth":
			ok, err := c.onExternal(el)
			if err != nil {
				return err
			}
			if ok {
				if err := c.open(); err != nil { // the stream restarts after SASL
					return err
				}
				if c.bidi.Load() { // only now: nothing of ours may precede the restarted header
					c.s.lendBidi(c, link{c.local, c.peer})
				}
			}
		case el.Name.Space == nsDialback && el.Name.Local == "result":
			if err := c.onResult(el); err != nil {
				return err
			}
		case el.Name.Space == nsDialback && el.Name.Local == "verify":
			if err := c.onVerify(el); err != nil {
				return err
			}
		case el.Name.Space == nsServer && (el.Name.Local == "message" || el.Name.Local == "presence" || el.Name.Local == "iq"):
			if err := c.onStanza(el); err != nil {
				return err
			}
		default:
			return &xmlstream.StreamError{Condition: "unsupported-stanza-type", Text: el.Name.Local}
		}
	}
}

// onResult is a peer's dialback request for a domain (XEP-0220 § 2.1.2)
// towards one of ours: verified with the domain's authoritative server,
// then answered.
func (c *inConn) onResult(el *xmlstream.Element) error {
	from, to, key := strings.ToLower(el.AttrValue("from")), strings.ToLower(el.AttrValue("to")), el.Text()
	if el.AttrValue("type") != "" {
		return nil // an answer: we never ask on an inbound stream
	}
	answerFrom := c.local
	if c.s.serves(to) {
		answerFrom = to
	}
	answer := func(typ string, cond string) error {
		r := xmlstream.New(nsDialback, "result").Set("from", answerFrom).Set("to", from).Set("type", typ)
		if cond != "" {
			r.Add(xmlstream.New(nsServer, "error").Set("type", "cancel").Add(xmlstream.New(nsStanzas, cond)))
		}
		return c.write(r)
	}
	switch {
	case !c.s.serves(to):
		return answer("error", "item-not-found")
	case !c.s.cfg.Dialback:
		return answer("error", "not-acceptable")
	case addr.Domain(from) != nil || c.s.serves(from) || key == "":
		return answer("error", "bad-request")
	case !c.s.federates(from):
		return answer("error", "forbidden") // another domain multiplexed on the stream is refused alone
	case c.verifying.Add(1) > maxVerifying:
		c.verifying.Add(-1)
		return answer("error", "resource-constraint")
	}
	id := c.id
	go func() {
		defer c.verifying.Add(-1)
		ctx, cancel := context.WithTimeout(context.Background(), negotiateTimeout)
		defer cancel()
		valid, err := c.s.verify(ctx, to, from, id, key)
		if err != nil {
			c.s.cfg.Log.Info("s2s: dialback verification failed", "domain", from, "err", err)
			answer("error", "remote-connection-failed")
			return
		}
		if valid {
			c.wmu.Lock()
			c.authed[from] = true
			c.wmu.Unlock()
			c.s.reachable(from)
			c.s.cfg.Log.Info("s2s: inbound domain authenticated", "domain", from, "mechanism", "dialback", "bidi", c.bidi.Load())
			if err := answer("valid", ""); err == nil && c.bidi.Load() {
				c.s.lendBidi(c, link{to, from}) // after the answer: the peer takes our stanzas once it knows
			}
			return
		}
		c.s.cfg.Log.Warn("s2s: invalid dialback key", "domain", from)
		answer("invalid", "")
	}()
	return nil
}

// onVerify answers whether a key is one this server gave, from one of its
// domains (to) (XEP-0220 § 2.1.3): recomputed from the secret, never
// stored.
func (c *inConn) onVerify(el *xmlstream.Element) error {
	from, to, id, key := el.AttrValue("from"), strings.ToLower(el.AttrValue("to")), el.AttrValue("id"), el.Text()
	typ, answerFrom := "invalid", c.local
	if c.s.serves(to) {
		answerFrom = to
		if id != "" && key != "" && c.s.cfg.Dialback && hmacEqual(Key(c.s.cfg.Secret, strings.ToLower(from), to, id), key) {
			typ = "valid"
		}
	}
	return c.write(xmlstream.New(nsDialback, "verify").Set("from", answerFrom).Set("to", from).Set("id", id).Set("type", typ))
}

// serverTLS is the TLS of an inbound stream: it asks for the peer's
// certificate (for SASL EXTERNAL) without requiring one.
func (s *Server) serverTLS(alpn ...string) *tls.Config {
	cfg := s.cfg.TLS.Clone()
	cfg.ClientAuth = tls.RequestClientCert
	if len(alpn) > 0 {
		cfg.NextProtos = alpn
	}
	return cfg
}

// certified reports whether the peer's TLS certificate proves domain.
func (c *inConn) certified(domain string) bool {
	tc, ok := c.nc.(*tls.Conn)
	return ok && domain != "" && c.s.certifies(tc.ConnectionState().PeerCertificates, domain)
}

// onExternal is SASL EXTERNAL (RFC 6120 § 6, XEP-0178): the identity is
// the header's from (or the authorization identity, which must be the
// same), proven by the certificate.
func (c *inConn) onExternal(el *xmlstream.Element) (bool, error) {
	fail := func(cond string) (bool, error) {
		return false, c.write(xmlstream.New(nsSASL, "failure").Add(xmlstream.New(nsSASL, cond)))
	}
	if el.AttrValue("mechanism") != "EXTERNAL" {
		return fail("invalid-mechanism")
	}
	domain := c.peer
	if text := strings.TrimSpace(el.Text()); text != "" && text != "=" {
		raw, err := base64.StdEncoding.DecodeString(text)
		if err != nil {
			return fail("incorrect-encoding")
		}
		if !strings.EqualFold(string(raw), domain) {
			return fail("invalid-authzid")
		}
	}
	if c.s.serves(domain) || !c.certified(domain) { // a peer never speaks for a domain served here
		return fail("not-authorized")
	}
	c.wmu.Lock()
	c.authed[domain] = true
	c.wmu.Unlock()
	c.s.reachable(domain)
	c.s.cfg.Log.Info("s2s: inbound domain authenticated", "domain", domain, "mechanism", "EXTERNAL", "bidi", c.bidi.Load())
	return true, c.write(xmlstream.New(nsSASL, "success"))
}
