// Package s2s is XMPP server-to-server federation (RFC 6120 with the
// jabber:server namespace; SASL EXTERNAL, XEP-0178, with the identities
// of RFC 6125 (identity.go); Server Dialback XEP-0220/XEP-0185;
// bidirectional streams, XEP-0288, bidi.go): a listener
// for other servers' streams, outbound streams opened on demand per remote
// domain, and a core.Router that carries what the core delivers to
// accounts of other domains. It decides nothing about privacy: the core's
// delivery path has decided before Route is called, and what arrives from
// a remote server goes into the core's Remote* calls (docs/federation.md).
package s2s

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/netguard"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// Namespaces.
const (
	nsServer   = "jabber:server"
	nsDialback = "jabber:server:dialback"
	nsDBFeat   = "urn:xmpp:features:dialback"
	nsTLS      = "urn:ietf:params:xml:ns:xmpp-tls"
	nsStreams  = "urn:ietf:params:xml:ns:xmpp-streams"
	nsStanzas  = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsSASL     = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsLast     = "jabber:iq:last"
)

// Core is what the federation needs of the core: the entry points of what
// remote servers send (implemented by *core.Hub).
type Core interface {
	RemotePresence(ctx context.Context, from, to string, p *core.Presence) error
	RemoteProbe(ctx context.Context, from, to string) error
	RemoteSubscription(ctx context.Context, from, to, kind string) error
	RemoteMessage(ctx context.Context, m core.Message) (int, error)
	RemotePersonalEvent(ctx context.Context, from, to string, ev core.PersonalEvent) error
	Seen(ctx context.Context, viewer, subject string) (core.PresenceView, bool, error)
	RemoteDomainGone(domain string)
	RemoteOnline(domain string) bool
	RemoteResync(domain string)
	// rooms across domains (core/roomremote.go)
	RemoteRoomJoin(ctx context.Context, from string, o core.JoinOptions) error
	RemoteRoomLeave(ctx context.Context, from, room string) error
	RemoteRoomSend(ctx context.Context, from, room, id, body string) (int, error)
	RemoteRoomSubject(ctx context.Context, from, room, subject string) error
	RemoteRoomPrivate(ctx context.Context, from, room, nick, id, body string) (int, error)
	RemoteRoomAdmin(from string) (core.RoomModerator, error)
	RemoteInvite(ctx context.Context, from, to, room, why string) error
	RemoteRooms(ctx context.Context) ([]core.RoomInfo, error)
	RemoteRoomInfo(ctx context.Context, from, room string) (core.RoomInfo, error)
	// rooms of other domains that local users join (core/foreignrooms.go)
	FromForeignRoom(ctx context.Context, st core.ForeignStanza) error
	// InForeignRooms reports whether a local session is in a room of
	// domain: only then are stanzas from it read as a room's.
	InForeignRooms(domain string) bool
}

// Config configures federation.
type Config struct {
	// Domain is the primary domain served; Domains every domain served,
	// Domain among them (nil: Domain alone). Stanzas between served
	// domains stay local; each leaves on a stream of its sender's domain.
	Domain  string
	Domains []string
	// TLS holds this server's certificate; STARTTLS is required both ways.
	TLS *tls.Config
	// Secret keys dialback (XEP-0185); it must stay the same across
	// restarts only as long as a dialback is in flight.
	Secret []byte
	// Dialback allows Server Dialback (XEP-0220) to authenticate domains
	// whose certificates do not verify (self-signed deployments): the
	// operator's explicit switch, s2s_dialback.
	Dialback bool
	// Routes are static routes: domain → host:port, trusted as given.
	Routes map[string]string
	// AllowPrivate lets addresses found in DNS be loopback, private or
	// reserved (tests, closed networks): s2s_allow_private.
	AllowPrivate bool
	// Resolver finds other domains' servers; nil: the system's.
	Resolver Resolver
	// RootCAs are what other domains' certificates are checked against
	// (RFC 6125 DNS-IDs) for SASL EXTERNAL (XEP-0178); nil: the system's.
	RootCAs *x509.CertPool
	// Limits bound each stanza; zero: xmlstream.DefaultLimits.
	Limits xmlstream.Limits
	// IdleTimeout closes an outbound stream that carried nothing this long
	// (reopened on demand); 0: DefaultIdleTimeout.
	IdleTimeout time.Duration
	// QueueLimit bounds the stanzas waiting for one remote domain; 0:
	// DefaultQueueLimit.
	QueueLimit int
	// Rate and Burst bound the stanzas each authenticated remote domain
	// may send, over all its streams (a token bucket per domain); 0:
	// DefaultRate, DefaultBurst.
	Rate  float64
	Burst int
	// Block lists domains never federated with (s2s_block); Allow, when
	// not empty, the only ones federated with (s2s_allow). Both are exact
	// domains, compared case-insensitively, and hold both ways.
	Block, Allow []string
	Log          *slog.Logger
}

// Defaults.
const (
	DefaultIdleTimeout = 5 * time.Minute
	DefaultQueueLimit  = 1024
	DefaultRate        = 200 // stanzas per second from one remote domain
	DefaultBurst       = 2000
	dialTimeout        = 10 * time.Second
	negotiateTimeout   = 30 * time.Second
	writeTimeout       = 10 * time.Second
	// keepalive: how often a domain whose accounts are shown online is
	// checked (a whitespace keepalive, RFC 6120 § 4.6.1, or a connection
	// attempt): a server gone silently is noticed within about twice that.
	keepalive = 20 * time.Second
)

// Server is the federation of the domains one process serves.
type Server struct {
	cfg     Config
	domains []string // served, lower-cased, the primary first
	core    Core
	local   core.Router

	mu    sync.Mutex
	peers map[link]*peer // outbound streams, by local and remote domain
	// bidi are inbound streams that also carry our stanzas from a served
	// domain to the domains their peers authenticated on them (XEP-0288,
	// bidi.go), by local and remote domain
	bidi map[link]*inConn

	ratesMu sync.Mutex
	rates   map[string]*domainRate // inbound stanza budgets, by remote domain (limit.go)

	viaMu   sync.Mutex
	via     map[string]string // remote occupant \x00 room → the MUC service it joined through (muc.go)
	shownMu sync.Mutex
	shown   map[string][]string // local subject \x00 remote viewer → resources announced (router.go)
	ln      []net.Listener
	stats   counters
	done    chan struct{}
	wg      sync.WaitGroup
}

// New returns the federation of cfg's domains. local is the router of
// this server's own sessions; SetCore must be called before Serve.
func New(cfg Config, local core.Router) *Server {
	if cfg.Limits == (xmlstream.Limits{}) {
		cfg.Limits = xmlstream.DefaultLimits
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.QueueLimit <= 0 {
		cfg.QueueLimit = DefaultQueueLimit
	}
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	cfg.Domain = strings.ToLower(cfg.Domain)
	cfg.Block, cfg.Allow = lowered(cfg.Block), lowered(cfg.Allow)
	s := &Server{cfg: cfg, local: local, peers: map[link]*peer{}, bidi: map[link]*inConn{}, rates: map[string]*domainRate{}, shown: map[string][]string{}, via: map[string]string{}, done: make(chan struct{})}
	for _, d := range append([]string{cfg.Domain}, cfg.Domains...) {
		if d = strings.ToLower(d); d != "" && !slices.Contains(s.domains, d) {
			s.domains = append(s.domains, d)
		}
	}
	return s
}

// serves reports whether domain is one of this server's (any case).
// Each served domain's MUC service, conference.<domain>, is served too: it
// has streams of its own (muc.go).
func (s *Server) serves(domain string) bool {
	return s.servesAccounts(domain) || s.isMUCService(domain)
}

// servesAccounts reports whether domain is one of this server's domains of
// accounts (any case).
func (s *Server) servesAccounts(domain string) bool {
	return slices.Contains(s.domains, strings.ToLower(domain))
}

// localOf is the served domain a stanza from the address from leaves
// for: the sender's own, else (an answer from an address of no served
// domain) the primary.
func (s *Server) localOf(from string) string {
	if d := domainOfAddress(from); s.serves(d) {
		return d
	}
	return s.cfg.Domain
}

func lowered(domains []string) []string {
	out := make([]string, len(domains))
	for i, d := range domains {
		out[i] = strings.ToLower(d)
	}
	return out
}

// federates reports whether the operator's lists let this server
// federate with domain (s2s_block, s2s_allow): no stream is taken from a
// domain refused, and none opened to it.
func (s *Server) federates(domain string) bool {
	domain = strings.ToLower(domain)
	if slices.Contains(s.cfg.Block, domain) {
		return false
	}
	return len(s.cfg.Allow) == 0 || slices.Contains(s.cfg.Allow, domain)
}

// counters are the federation's traffic since it started.
type counters struct {
	stanzasOut, writes, bounced atomic.Int64
}

// Stats is what the federation carried out, for metrics.
type Stats struct {
	StanzasOut int64 // stanzas written to outbound streams
	Writes     int64 // writes to outbound streams (what was queued for a domain shares them)
	Bounced    int64 // messages returned to their senders: remote-server-timeout
	Queued     int64 // stanzas waiting now, all domains together
}

// Stats returns the federation's counters.
func (s *Server) Stats() Stats {
	st := Stats{StanzasOut: s.stats.stanzasOut.Load(), Writes: s.stats.writes.Load(), Bounced: s.stats.bounced.Load()}
	s.mu.Lock()
	for _, p := range s.peers {
		st.Queued += int64(len(p.queue))
	}
	s.mu.Unlock()
	return st
}

// SetCore gives the federation the core's entry points (the hub is built
// with the federation's Router, so it comes second).
func (s *Server) SetCore(c Core) { s.core = c }

// SetLocal sets the router of local sessions (the hub's LocalRouter).
func (s *Server) SetLocal(r core.Router) { s.local = r }

// Close stops listening and closes every stream.
func (s *Server) Close() {
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	for _, ln := range s.ln {
		ln.Close()
	}
	peers := s.peers
	s.mu.Unlock()
	for _, p := range peers {
		p.close()
	}
	s.wg.Wait()
}

// certifies reports whether certs (a peer's chain, leaf first) prove
// domain: the chain verifies to RootCAs and the leaf names domain
// (namesDomain: a DNS-ID, SRV-ID or XmppAddr, RFC 6120 § 13.7.1.2,
// RFC 6125 § 6), as XEP-0178 asks before SASL EXTERNAL.
func (s *Server) certifies(certs []*x509.Certificate, domain string) bool {
	if len(certs) == 0 || !namesDomain(certs[0], domain) {
		return false
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := withoutSANCritical(certs[0]).Verify(x509.VerifyOptions{Roots: s.cfg.RootCAs, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

// Key is the dialback key of XEP-0185 § 3: HMAC-SHA256 keyed with the
// SHA-256 of the secret, over "Receiving Originating StreamID", in hex.
func Key(secret []byte, receiving, originating, streamID string) string {
	k := sha256.Sum256(secret)
	m := hmac.New(sha256.New, []byte(hex.EncodeToString(k[:])))
	m.Write([]byte(receiving + " " + originating + " " + streamID))
	return hex.EncodeToString(m.Sum(nil))
}

// Resolver is the DNS the federation asks (*net.Resolver is one).
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// candidate is an address a domain's server may listen at.
type candidate struct {
	addr      string
	directTLS bool // XEP-0368: TLS from the first byte
}

// candidates lists where the server of domain listens: its static route
// (trusted as given), else what DNS says (RFC 6120 § 3.2: SRV records of
// _xmpps-server._tcp, XEP-0368, and _xmpp-server._tcp, by priority; else
// the domain's A/AAAA on 5269), each address checked: loopback, private
// and reserved addresses are refused unless AllowPrivate.
func (s *Server) candidates(ctx context.Context, domain string) ([]candidate, error) {
	if a, ok := s.cfg.Routes[domain]; ok {
		return []candidate{{addr: a}}, nil
	}
	r := s.cfg.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	type record struct {
		srv *net.SRV
		tls bool
	}
	var recs []record
	for _, svc := range []struct {
		name string
		tls  bool
	}{{"xmpps-server", true}, {"xmpp-server", false}} {
		_, srvs, err := r.LookupSRV(ctx, svc.name, "tcp", domain)
		if err != nil {
			continue
		}
		for _, srv := range srvs {
			if srv.Target == "." || srv.Target == "" {
				continue // the domain offers no such service (RFC 2782)
			}
			recs = append(recs, record{srv, svc.tls})
		}
	}
	sort.SliceStable(recs, func(i, j int) bool {
		if recs[i].srv.Priority != recs[j].srv.Priority {
			return recs[i].srv.Priority < recs[j].srv.Priority
		}
		return recs[i].srv.Weight > recs[j].srv.Weight
	})
	if len(recs) == 0 {
		recs = []record{{srv: &net.SRV{Target: domain, Port: 5269}}}
	}
	var out []candidate
	var refused []string
	for _, rec := range recs {
		ips, err := r.LookupIPAddr(ctx, strings.TrimSuffix(rec.srv.Target, "."))
		if err != nil {
			continue
		}
		for _, ip := range ips {
			a, ok := netip.AddrFromSlice(ip.IP)
			if !ok {
				continue
			}
			if !s.cfg.AllowPrivate && !netguard.Public(a) {
				refused = append(refused, a.String())
				continue
			}
			out = append(out, candidate{addr: net.JoinHostPort(a.Unmap().String(), strconv.Itoa(int(rec.srv.Port))), directTLS: rec.tls})
		}
	}
	if len(out) == 0 {
		if len(refused) > 0 {
			return nil, fmt.Errorf("%s resolves only to non-public addresses %v (s2s_allow_private)", domain, refused)
		}
		return nil, fmt.Errorf("no address for %s", domain)
	}
	return out, nil
}

// dial connects to the first candidate of domain that answers.
func (s *Server) dial(ctx context.Context, domain string) (net.Conn, bool, error) {
	cands, err := s.candidates(ctx, domain)
	if err != nil {
		return nil, false, err
	}
	d := net.Dialer{Timeout: dialTimeout}
	var errs []error
	for _, c := range cands {
		nc, err := d.DialContext(ctx, "tcp", c.addr)
		if err == nil {
			return nc, c.directTLS, nil
		}
		errs = append(errs, err)
	}
	return nil, false, errors.Join(errs...)
}

// streamError is a stream error to send before closing (RFC 6120 § 4.9).
func streamError(condition, text string) *xmlstream.Element {
	e := xmlstream.New(xmlstream.NSStream, "error").Add(xmlstream.New(nsStreams, condition))
	if text != "" {
		e.Add(xmlstream.New(nsStreams, "text").AddText(text))
	}
	return e
}

var errClosed = errors.New("s2s: closed")

// header is a stream header of ours.
func header(from, to, id string) string {
	h := xmlstream.New(xmlstream.NSStream, "stream").
		Declare("", nsServer).Declare("stream", xmlstream.NSStream).Declare("db", nsDialback).
		Set("from", from).Set("version", "1.0")
	if to != "" {
		h.Set("to", to)
	}
	if id != "" {
		h.Set("id", id)
	}
	return `<?xml version='1.0'?>` + h.Start(xmlstream.Standalone)
}

var streamEnd = xmlstream.New(xmlstream.NSStream, "stream").End()

// scope is what stanzas are written in: the header's.
var scope = xmlstream.In(nsServer)

// headerAttr is the value of an unprefixed attribute of a stream header.
func headerAttr(st xml.StartElement, name string) string {
	for _, a := range st.Attr {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// serialise writes el for one of our streams. Dialback elements are
// written with the db: prefix the header binds (XEP-0220's examples, and
// what servers write): ejabberd recognises no other form of them.
func serialise(el *xmlstream.Element) string {
	if el.Name.Space != nsDialback {
		return el.In(scope)
	}
	var b strings.Builder
	b.WriteString("<db:" + el.Name.Local)
	for _, a := range el.Attr {
		if a.Name.Space == "" && a.Name.Local != "xmlns" {
			b.WriteString(" " + a.Name.Local + "='")
			xml.EscapeText(&b, []byte(a.Value))
			b.WriteString("'")
		}
	}
	if len(el.Children) == 0 {
		b.WriteString("/>")
		return b.String()
	}
	b.WriteString(">")
	for _, n := range el.Children {
		switch n := n.(type) {
		case xmlstream.CharData:
			xml.EscapeText(&b, []byte(n))
		case *xmlstream.Element:
			b.WriteString(n.In(scope)) // the default namespace is still jabber:server
		}
	}
	b.WriteString("</db:" + el.Name.Local + ">")
	return b.String()
}
