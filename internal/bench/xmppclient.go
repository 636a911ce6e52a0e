package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// xmppClients logs a Population's accounts in to one server the same way
// whatever the server: mellium.im/xmpp over TCP, STARTTLS with TLS 1.3
// only (X25519, no session resumption), SCRAM-SHA-256 with the cached
// SaltedPassword, resource binding, roster get, initial presence.
type xmppClients struct {
	addr  string
	pop   *Population
	tls   *tls.Config
	cache *ScramCache
	// presences counts the presence stanzas the sessions received from
	// other accounts (a server's echo of one's own presence is left out).
	presences atomic.Int64
	// negotiated is what the first login's TLS handshake agreed on.
	negotiated sync.Once
	tlsInfo    string
}

func newXMPPClients(addr string, pop *Population, cache *ScramCache) *xmppClients {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pop.CertPEM)
	return &xmppClients{addr: addr, pop: pop, cache: cache, tls: &tls.Config{
		ServerName: xmppDomain, RootCAs: roots,
		MinVersion: tls.VersionTLS13, MaxVersion: tls.VersionTLS13,
		// Go would offer X25519MLKEM768 first, which only presenced's Go
		// TLS accepts: every server gets the same key exchange.
		CurvePreferences: []tls.CurveID{tls.X25519},
	}}
}

// xmppConn is one logged-in session.
type xmppConn struct {
	conn net.Conn
	s    *xmpp.Session
}

// Close drops the connection (no closing stream tag), as a client that
// loses its network does.
func (c *xmppConn) Close() error { return c.conn.Close() }

// login opens a session for account i.
func (c *xmppClients) login(ctx context.Context, i int) (*xmppConn, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	u := c.pop.Users[i]
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, err
	}
	s, err := xmpp.NewClientSession(ctx, jid.MustParse(u.JID()), conn,
		xmpp.StartTLS(c.tls),
		xmpp.SASL("", u.Password, c.cache.Mechanism()),
		xmpp.BindResource())
	if err != nil {
		conn.Close()
		return nil, err
	}
	c.negotiated.Do(func() {
		cs := s.ConnectionState()
		c.tlsInfo = fmt.Sprintf("%s, %s, %s", tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite), cs.CurveID)
	})
	self := u.JID()
	go s.Serve(xmpp.HandlerFunc(func(_ xmlstream.TokenReadEncoder, start *xml.StartElement) error {
		if start.Name.Local == "presence" {
			for _, a := range start.Attr {
				if a.Name.Local == "from" && a.Name.Space == "" && a.Value != self && !strings.HasPrefix(a.Value, self+"/") {
					c.presences.Add(1)
				}
			}
		}
		return nil
	}))
	resp, err := s.SendIQ(ctx, xml.NewDecoder(strings.NewReader(`<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>`)))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("roster: %w", err)
	}
	resp.Close()
	if err := s.Send(ctx, xml.NewDecoder(strings.NewReader(`<presence/>`))); err != nil {
		conn.Close()
		return nil, err
	}
	return &xmppConn{conn: conn, s: s}, nil
}

// changePresence sends a presence update: away, or available.
func (c *xmppConn) changePresence(ctx context.Context, away bool) error {
	p := `<presence/>`
	if away {
		p = `<presence><show>away</show></presence>`
	}
	return c.s.Send(ctx, xml.NewDecoder(strings.NewReader(p)))
}
