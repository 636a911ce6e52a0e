package s2s

// Bidirectional streams (XEP-0288): after STARTTLS, a receiving server
// offers <bidi xmlns='urn:xmpp:features:bidi'/>; an initiating server that
// wants it answers <bidi xmlns='urn:xmpp:bidi'/> before authenticating.
// Then the one TCP stream carries both directions: the receiving server
// sends, from the domain the stream is to, to each domain the initiator
// authenticated (by SASL EXTERNAL or dialback), and the initiator takes
// those stanzas as it would on a stream of the receiver's own.

import (
	"errors"
	"io"
	"net"

	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

const (
	nsBidiFeat = "urn:xmpp:features:bidi"
	nsBidi     = "urn:xmpp:bidi"
)

// offersBidi reports whether features offer bidirectional streams.
func offersBidi(feats *xmlstream.Element) bool { return feats.Child(nsBidiFeat, "bidi") != nil }

// lendBidi makes an inbound bidirectional stream to the served domain
// l.local, on which the peer just authenticated l.remote, the way stanzas
// from l.local to l.remote leave, until the stream ends or a newer one
// replaces it.
func (s *Server) lendBidi(c *inConn, l link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bidi[l] = c
	s.cfg.Log.Info("s2s: bidirectional stream", "domain", l.remote, "from", l.local)
}

// bidiConn is an inbound bidirectional stream that may carry stanzas from
// l.local to l.remote, as an outbound one, or nil.
func (s *Server) bidiConn(l link) *outConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.bidi[l]
	if c == nil {
		return nil
	}
	select {
	case <-c.ended:
		delete(s.bidi, l)
		return nil
	default:
	}
	return &outConn{nc: c.nc, wmu: &c.wmu, dead: c.ended, borrowed: true}
}

// forgetBidi drops what lendBidi registered for c, when c ends.
func (s *Server) forgetBidi(c *inConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for d, b := range s.bidi {
		if b == c {
			delete(s.bidi, d)
		}
	}
}

// readBidi takes the stanzas the receiving server sends back on a
// bidirectional outbound stream to domain, as an inbound stream
// authenticated for domain would, until the stream ends. A stanza from
// another domain ends the stream with invalid-from.
func (in *initiator) readBidi(c *outConn) {
	back := &inConn{s: in.s, nc: in.nc, tls: true, r: in.r, local: in.local, peer: in.domain, authed: map[string]bool{in.domain: true}}
	for {
		el, err := in.r.Next()
		if err == nil {
			if el.Name.Space != nsServer {
				continue // dialback answers and the like: nothing to do here
			}
			err = back.onStanza(el)
		}
		if err == nil {
			continue
		}
		var se *xmlstream.StreamError
		if errors.As(err, &se) {
			c.writeRaw([]byte(streamError(se.Condition, se.Text).In(scope)))
		} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, xmlstream.ErrClosed) {
			in.s.cfg.Log.Debug("s2s: bidirectional stream ended", "domain", in.domain, "err", err)
		}
		return
	}
}
