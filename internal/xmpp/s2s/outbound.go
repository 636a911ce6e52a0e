package s2s

// Outbound streams: one per pair of a served domain and a remote domain
// (a stanza leaves on a stream authenticated for its sender's domain),
// opened when something must go there, negotiated (STARTTLS, then SASL
// EXTERNAL or dialback for the local domain), closed when idle. Stanzas
// wait in a bounded queue meanwhile; a domain that cannot be reached is
// retried with exponential backoff and jitter, and the core is told its
// accounts are gone.

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// link names an outbound stream: from a served domain to a remote one.
type link struct{ local, remote string }

// peer is the outbound side from one served domain (local) towards one
// remote domain.
type peer struct {
	s      *Server
	local  string
	domain string        // the remote domain
	wake   chan struct{} // something was queued
	back   chan struct{} // the domain's server was heard from: end any backoff
	stop   chan struct{}

	queue []*xmlstream.Element // guarded by s.mu
	// latest indexes the queued availability presences by sender and
	// recipient, since the last stanza of another kind (guarded by s.mu):
	// a newer one replaces it (latest wins), so a burst of changes of one
	// user costs one stanza per viewer however long the stream is slow.
	latest map[string]int
}

// enqueue queues stanzas for domain, each on the stream of its sender's
// served domain (localOf), and reports whether they were all taken. Over
// a queue's bound, a presence replaces the oldest queued presence (latest
// wins), and a message is bounced to its sender.
func (s *Server) enqueue(domain string, els ...*xmlstream.Element) bool {
	if !s.federates(domain) {
		return false // no connection is made: Route refused what matters
	}
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		return false
	default:
	}
	taken := true
	var bounced []*xmlstream.Element
	woken := map[*peer]bool{}
	for _, el := range els {
		p := s.peerFor(link{local: s.localOf(el.AttrValue("from")), remote: domain})
		woken[p] = true
		if !p.add(el, s.cfg.QueueLimit) {
			taken = false
			bounced = append(bounced, el)
		}
	}
	s.mu.Unlock()
	for p := range woken {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	if len(bounced) > 0 {
		go s.bounce(bounced, "remote-server-timeout")
	}
	return taken
}

// watch starts the outbound side of domain (from the primary domain) if
// there is none: it checks the domain's server every keepalive while its
// accounts are shown online (core.WatchDomain), though nothing is sent to it.
func (s *Server) watch(domain string) {
	domain = strings.ToLower(domain)
	if s.serves(domain) || !s.federates(domain) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
	default:
		s.peerFor(link{local: s.domains[0], remote: domain})
	}
}

// peerFor is the outbound side of l, started on first use; s.mu is held.
func (s *Server) peerFor(l link) *peer {
	p := s.peers[l]
	if p == nil {
		p = &peer{s: s, local: l.local, domain: l.remote, wake: make(chan struct{}, 1), back: make(chan struct{}, 1), stop: make(chan struct{})}
		s.peers[l] = p
		s.wg.Add(1)
		go p.run()
	}
	return p
}

// reachable is told that a stream from domain was just authenticated: its
// server is up again, so the streams to it (one per served domain) are
// retried at once rather than after the rest of a backoff (and the domain
// resynchronised).
func (s *Server) reachable(domain string) {
	s.mu.Lock()
	var back []*peer
	for l, p := range s.peers {
		if l.remote == domain {
			back = append(back, p)
		}
	}
	s.mu.Unlock()
	for _, p := range back {
		select {
		case p.back <- struct{}{}:
		default:
		}
	}
}

// Queued is how many stanzas wait for domain's streams (at most
// Config.QueueLimit for each served domain, and as many again being
// written).
func (s *Server) Queued(domain string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for l, p := range s.peers {
		if l.remote == domain {
			n += len(p.queue)
		}
	}
	return n
}

// add queues el (the caller holds s.mu) and reports whether it was taken.
// An availability presence replaces the queued one of the same sender to
// the same recipient; over limit, it replaces the oldest queued
// availability presence; anything else over limit is refused.
func (p *peer) add(el *xmlstream.Element, limit int) bool {
	key, isPresence := availabilityKey(el)
	if !isPresence {
		p.latest = nil // what follows must not overtake el
	} else if i, ok := p.latest[key]; ok {
		p.queue[i] = el
		return true
	}
	switch {
	case len(p.queue) < limit:
		p.queue = append(p.queue, el)
	case isPresence:
		i := oldestPresence(p.queue)
		if i < 0 {
			return false
		}
		p.queue = append(append(p.queue[:i:i], p.queue[i+1:]...), el)
		p.latest = nil // indexes moved
	default:
		return false
	}
	if isPresence {
		if p.latest == nil {
			p.latest = map[string]int{}
		}
		p.latest[key] = len(p.queue) - 1
	}
	return true
}

// availabilityKey is the sender and recipient of an availability presence
// (available or unavailable: not a subscription stanza, a probe nor a
// room's join, which must all arrive).
func availabilityKey(el *xmlstream.Element) (string, bool) {
	if el.Name.Local != "presence" || isJoin(el) {
		return "", false
	}
	if t := el.AttrValue("type"); t != "" && t != "unavailable" {
		return "", false
	}
	return el.AttrValue("from") + "\x00" + el.AttrValue("to"), true
}

func oldestPresence(q []*xmlstream.Element) int {
	for i, el := range q {
		if _, ok := availabilityKey(el); ok {
			return i
		}
	}
	return -1
}

// bounce tells local senders that their messages could not be carried
// (RFC 6120 § 8.3.3.16 remote-server-timeout), through the core like any
// message from that remote address.
func (s *Server) bounce(els []*xmlstream.Element, condition string) {
	if s.core == nil {
		return
	}
	for _, el := range els {
		if el.Name.Local != "message" || el.AttrValue("type") == "error" {
			continue
		}
		s.stats.bounced.Add(1)
		errEl := xmlstream.New(nsServer, "error").Set("type", "wait").Add(xmlstream.New(nsStanzas, condition))
		s.core.RemoteMessage(context.Background(), core.Message{ID: el.AttrValue("id"), Kind: core.KindMessage, Type: core.TypeError,
			From: el.AttrValue("to"), To: el.AttrValue("from"), Payload: errEl.String(nsServer)})
	}
}

func (p *peer) take() []*xmlstream.Element {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	q := p.queue
	p.queue, p.latest = nil, nil
	return q
}

// putBack returns stanzas that were not written to the front of the queue.
func (p *peer) putBack(els []*xmlstream.Element) {
	p.s.mu.Lock()
	p.queue, p.latest = append(els, p.queue...), nil
	var over []*xmlstream.Element
	if n := len(p.queue) - p.s.cfg.QueueLimit; n > 0 {
		over = p.queue[:n]
		p.queue = p.queue[n:]
	}
	p.s.mu.Unlock()
	if len(over) > 0 {
		go p.s.bounce(over, "remote-server-timeout")
	}
}

func (p *peer) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
}

// Backoff bounds between attempts to reach a domain.
const (
	minBackoff = 500 * time.Millisecond
	maxBackoff = 5 * time.Minute
)

// run owns the stream to the domain.
func (p *peer) run() {
	s := p.s
	defer s.wg.Done()
	var c *outConn
	defer func() {
		if c != nil {
			c.close()
		}
	}()
	idle := time.NewTimer(s.cfg.IdleTimeout)
	defer idle.Stop()
	tick := time.NewTicker(keepalive)
	defer tick.Stop()
	backoff := minBackoff
	var retry <-chan time.Time
	lost := false // a stream was lost or could not be opened: resynchronise on the next
	for {
		var dead <-chan struct{}
		if c != nil {
			dead = c.dead
		}
		check := false // make sure the domain is reachable while its accounts are shown online
		select {
		case <-s.done:
			return
		case <-p.stop:
			return
		case <-p.wake:
		case <-p.back:
			if retry != nil { // it restarted: no need to wait out the backoff
				retry, check, backoff = nil, true, minBackoff
			}
		case <-retry:
			retry, check = nil, true
		case <-dead:
			c.close()
			c, lost, check = nil, true, true
		case <-tick.C:
			check = true
		case <-idle.C:
			if c != nil && !(s.core != nil && s.core.RemoteOnline(p.domain)) {
				c.close() // reopened on demand
				c = nil
			}
			continue
		}
		if retry != nil {
			continue // waiting out a backoff
		}
		batch := p.take()
		if len(batch) == 0 && !(check && s.core != nil && s.core.RemoteOnline(p.domain)) {
			continue
		}
		if c == nil {
			ctx, cancel := context.WithTimeout(context.Background(), negotiateTimeout)
			var err error
			if c = s.bidiConn(link{p.local, p.domain}); c == nil {
				c, err = s.connect(ctx, p.local, p.domain)
			}
			cancel()
			if err != nil {
				s.cfg.Log.Info("s2s: cannot reach domain", "domain", p.domain, "from", p.local, "err", err, "retry", backoff)
				p.putBack(batch)
				lost = true
				if s.core != nil {
					s.core.RemoteDomainGone(p.domain)
				}
				retry = time.After(backoff/2 + rand.N(backoff/2+1)) // jitter
				backoff = min(backoff*2, maxBackoff)
				continue
			}
			backoff = minBackoff
			if lost && s.core != nil {
				lost = false
				s.core.RemoteResync(p.domain) // queues probes: written below or next round
				batch = append(batch, p.take()...)
			}
		}
		if sent, err := c.writeBatch(batch, &s.stats); err != nil {
			p.putBack(batch[sent:])
			c.close()
			c, lost = nil, true
			select {
			case p.wake <- struct{}{}:
			default:
			}
		}
		idle.Reset(s.cfg.IdleTimeout)
	}
}

// outConn is a negotiated outbound stream, or an inbound bidirectional
// one borrowed to send (XEP-0288).
type outConn struct {
	nc   net.Conn
	wmu  *sync.Mutex   // serialises writes with the stream's other writer
	dead chan struct{} // closed when the peer closed or failed the stream
	// borrowed: the stream is an inbound one's, which ends it; closing
	// only stops using it
	borrowed bool
}

// maxWrite bounds what one write to a stream carries: what is queued for
// a domain goes out in as few writes as this allows.
const maxWrite = 64 << 10

// writeBatch sends what was queued for the domain (counted in n), as few writes as
// maxWrite allows (stanzas to one domain are batched, not written one by
// one), or a whitespace keepalive (RFC 6120 § 4.6.1) when there is
// nothing. It returns how many stanzas went out in writes that completed:
// those of a failed write are sent again on the next stream.
func (c *outConn) writeBatch(batch []*xmlstream.Element, n *counters) (int, error) {
	if len(batch) == 0 {
		return 0, c.flush([]byte(" "), 0, n)
	}
	var buf []byte
	sent, pending := 0, 0
	for _, el := range batch {
		buf = append(buf, serialise(el)...)
		pending++
		if len(buf) >= maxWrite {
			if err := c.flush(buf, pending, n); err != nil {
				return sent, err
			}
			sent, pending, buf = sent+pending, 0, buf[:0]
		}
	}
	if pending > 0 {
		if err := c.flush(buf, pending, n); err != nil {
			return sent, err
		}
	}
	return len(batch), nil
}

// flush writes b in one write, within writeTimeout: a remote that stops
// reading costs its own stream, never local delivery (Route only queues).
func (c *outConn) flush(b []byte, stanzas int, n *counters) error {
	err := c.writeRaw(b)
	if err == nil {
		n.writes.Add(1)
		n.stanzasOut.Add(int64(stanzas))
	}
	return err
}

// writeRaw writes out in one write, serialised with the stream's other
// writer (a borrowed bidirectional stream has one).
func (c *outConn) writeRaw(out []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.nc.Write(out)
	return err
}

func (c *outConn) close() {
	if c.borrowed {
		return
	}
	c.wmu.Lock()
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.nc.Write([]byte(streamEnd))
	c.wmu.Unlock()
	c.nc.Close()
}

// initiator is the initiating side of a stream under negotiation, from
// the served domain local to domain.
type initiator struct {
	s        *Server
	local    string
	domain   string
	nc       net.Conn
	r        *xmlstream.Reader
	id       string // the stream ID the receiving server gave
	verified bool   // the peer's certificate proves domain (certifies)
	bidi     bool   // we asked for a bidirectional stream (XEP-0288)
}

// open sends our header and reads the peer's header and features.
func (in *initiator) open() (*xmlstream.Element, error) {
	if _, err := in.nc.Write([]byte(header(in.local, in.domain, ""))); err != nil {
		return nil, err
	}
	in.r = xmlstream.NewReader(in.nc, in.s.cfg.Limits)
	st, err := in.r.Open()
	if err != nil {
		return nil, err
	}
	in.id = headerAttr(st, "id")
	feats, err := in.r.Next()
	if err != nil {
		return nil, err
	}
	if feats.Name.Space == xmlstream.NSStream && feats.Name.Local == "error" {
		return nil, fmt.Errorf("stream error from %s: %s", in.domain, condition(feats))
	}
	if feats.Name.Space != xmlstream.NSStream || feats.Name.Local != "features" {
		return nil, fmt.Errorf("%s sent %s instead of features", in.domain, feats.Name.Local)
	}
	return feats, nil
}

func condition(streamErr *xmlstream.Element) string {
	for _, n := range streamErr.Children {
		if el, ok := n.(*xmlstream.Element); ok && el.Name.Space == nsStreams && el.Name.Local != "text" {
			return el.Name.Local
		}
	}
	return "undefined-condition"
}

func (in *initiator) write(el *xmlstream.Element) error {
	_, err := in.nc.Write([]byte(serialise(el)))
	return err
}

// handshake opens a stream from local to domain and runs STARTTLS
// (required).
func (s *Server) handshake(ctx context.Context, local, domain string) (*initiator, *xmlstream.Element, error) {
	nc, direct, err := s.dial(ctx, domain)
	if err != nil {
		return nil, nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	in := &initiator{s: s, local: local, domain: domain, nc: nc}
	if direct { // XEP-0368: TLS first, with the ALPN protocol xmpp-server
		tc := tls.Client(nc, s.clientTLS(domain, "xmpp-server"))
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, nil, err
		}
		in.nc, in.verified = tc, s.certifies(tc.ConnectionState().PeerCertificates, domain)
		feats, err := in.open()
		if err != nil {
			nc.Close()
			return nil, nil, err
		}
		return in, feats, nil
	}
	feats, err := in.open()
	if err == nil && feats.Child(nsTLS, "starttls") == nil {
		err = fmt.Errorf("%s does not offer STARTTLS", domain)
	}
	if err == nil {
		err = in.write(xmlstream.New(nsTLS, "starttls"))
	}
	var el *xmlstream.Element
	if err == nil {
		el, err = in.r.Next()
	}
	if err == nil && (el.Name.Space != nsTLS || el.Name.Local != "proceed") {
		err = fmt.Errorf("%s refused STARTTLS", domain)
	}
	if err == nil {
		tc := tls.Client(nc, s.clientTLS(domain))
		if err = tc.HandshakeContext(ctx); err == nil {
			in.nc, in.verified = tc, s.certifies(tc.ConnectionState().PeerCertificates, domain)
			feats, err = in.open()
		}
	}
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return in, feats, nil
}

var errNoDialback = errors.New("s2s: the domain's certificate does not prove it (SASL EXTERNAL) and dialback is off (s2s_dialback)")

// clientTLS is the TLS of our side of an outbound stream. The peer's
// certificate is checked after the handshake (certifies), not by it: a
// certificate that does not prove the domain still protects the stream,
// and dialback, where the operator allows it, authenticates the domain
// instead (XEP-0220 § 1.3, XEP-0344). Ours is presented for SASL EXTERNAL.
func (s *Server) clientTLS(domain string, alpn ...string) *tls.Config {
	cfg := &tls.Config{ServerName: domain, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12, NextProtos: alpn}
	if s.cfg.TLS != nil {
		cfg.Certificates = s.cfg.TLS.Certificates
	}
	return cfg
}

// external authenticates with SASL EXTERNAL (XEP-0178) when the peer's
// certificate proves its domain and it offers the mechanism; it reports
// whether the stream is then authenticated (and restarted).
func (in *initiator) external(feats *xmlstream.Element) (bool, error) {
	mechs := feats.Child(nsSASL, "mechanisms")
	if !in.verified || mechs == nil {
		return false, nil
	}
	offered := false
	for _, n := range mechs.Children {
		if m, ok := n.(*xmlstream.Element); ok && m.Name.Local == "mechanism" && strings.TrimSpace(m.Text()) == "EXTERNAL" {
			offered = true
		}
	}
	if !offered {
		return false, nil
	}
	authzid := base64.StdEncoding.EncodeToString([]byte(in.local))
	if err := in.write(xmlstream.New(nsSASL, "auth").Set("mechanism", "EXTERNAL").AddText(authzid)); err != nil {
		return false, err
	}
	el, err := in.r.Next()
	if err != nil {
		return false, err
	}
	if el.Name.Space != nsSASL || el.Name.Local != "success" {
		return false, nil // our certificate did not convince it: dialback may
	}
	_, err = in.open() // the stream restarts after SASL
	return err == nil, err
}

// connect opens an outbound stream to domain, authenticated for the
// served domain local: by certificate (SASL EXTERNAL) when both
// certificates verify, else by dialback if allowed.
func (s *Server) connect(ctx context.Context, local, domain string) (*outConn, error) {
	in, feats, err := s.handshake(ctx, local, domain)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*outConn, error) {
		in.nc.Close()
		return nil, err
	}
	if offersBidi(feats) { // XEP-0288 § 2.2: asked before authenticating
		if err := in.write(xmlstream.New(nsBidi, "bidi")); err != nil {
			return fail(err)
		}
		in.bidi = true
	}
	if ok, err := in.external(feats); err != nil {
		return fail(err)
	} else if ok {
		s.cfg.Log.Info("s2s: outbound stream authenticated", "domain", domain, "mechanism", "EXTERNAL", "bidi", in.bidi)
		return in.authenticated(), nil
	}
	if !s.cfg.Dialback {
		return fail(errNoDialback)
	}
	key := Key(s.cfg.Secret, domain, local, in.id)
	if err := in.write(xmlstream.New(nsDialback, "result").Set("from", local).Set("to", domain).AddText(key)); err != nil {
		return fail(err)
	}
	for {
		el, err := in.r.Next()
		if err != nil {
			return fail(err)
		}
		if el.Name.Space == xmlstream.NSStream && el.Name.Local == "error" {
			return fail(fmt.Errorf("stream error from %s: %s", domain, condition(el)))
		}
		if el.Name.Space != nsDialback || el.Name.Local != "result" {
			continue
		}
		if el.AttrValue("type") != "valid" {
			return fail(fmt.Errorf("%s refused our dialback (%s)", domain, el.AttrValue("type")))
		}
		break
	}
	s.cfg.Log.Info("s2s: outbound stream authenticated", "domain", domain, "mechanism", "dialback", "bidi", in.bidi)
	return in.authenticated(), nil
}

// authenticated turns a negotiated stream into the domain's outbound one.
// On a bidirectional stream the peer's stanzas to us are taken
// (readBidi); on another it says nothing but its end or an error.
func (in *initiator) authenticated() *outConn {
	in.nc.SetDeadline(time.Time{})
	c := &outConn{nc: in.nc, wmu: new(sync.Mutex), dead: make(chan struct{})}
	go func() {
		defer close(c.dead)
		if in.bidi {
			in.readBidi(c)
			return
		}
		for {
			if _, err := in.r.Next(); err != nil {
				return
			}
		}
	}()
	return c
}

// verify asks the authoritative server of originating whether key is the
// one it gave for the stream id towards our served domain receiving
// (XEP-0220 § 2.1.3: db:verify), over a stream of its own.
func (s *Server) verify(ctx context.Context, receiving, originating, id, key string) (bool, error) {
	in, _, err := s.handshake(ctx, receiving, originating)
	if err != nil {
		return false, err
	}
	defer func() {
		in.nc.Write([]byte(streamEnd))
		in.nc.Close()
	}()
	if err := in.write(xmlstream.New(nsDialback, "verify").Set("from", receiving).Set("to", originating).Set("id", id).AddText(key)); err != nil {
		return false, err
	}
	for {
		el, err := in.r.Next()
		if err != nil {
			return false, err
		}
		if el.Name.Space == xmlstream.NSStream && el.Name.Local == "error" {
			return false, fmt.Errorf("stream error from %s: %s", originating, condition(el))
		}
		if el.Name.Space == nsDialback && el.Name.Local == "verify" && el.AttrValue("id") == id {
			return el.AttrValue("type") == "valid", nil
		}
	}
}
