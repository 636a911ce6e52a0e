// Package tlsrecord carries a server's TLS 1.3 connection after
// crypto/tls's handshake with a record layer of its own, which holds only
// the traffic keys and sequence numbers while the connection is idle: a
// crypto/tls Conn keeps two AEAD states (their key schedules and GHASH
// tables), its record and handshake buffers and the handshake's secrets for
// the connection's life, about 3.7 KiB per connection, which a server of
// many idle streams pays for each (issue 9).
//
// crypto/tls still runs the whole handshake (certificates, key exchange,
// resumption tickets); this package only takes the connection over once it
// is complete. It learns the application traffic secrets through the
// handshake's key log (tls.Config.KeyLogWriter, set on a per-connection
// copy of the configuration and never written anywhere), keeps crypto/tls
// from reading past the client's Finished (it hands it whole records only),
// and learns how many records crypto/tls already protected with the
// server's application key (its session ticket) by opening them with it.
// Anything else (TLS 1.2, a suite it does not know) stays a *tls.Conn.
//
// Post-handshake messages: KeyUpdate is answered as RFC 8446 § 4.6.3
// requires; any other handshake message, and a handshake message split
// across records (which no implementation does for KeyUpdate's five bytes),
// ends the connection with an unexpected_message alert.
package tlsrecord

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net"
)

// Config returns the configuration to hand to Handshake, made once per
// listener from cfg: a copy whose GetConfigForClient gives each
// handshake a copy of cfg (or of what cfg's own GetConfigForClient
// returns) that logs its secrets to the connection (instead of cfg's own
// KeyLogWriter, which is not written). Session tickets stay keyed by the
// returned configuration, so they resume across connections.
func Config(cfg *tls.Config) *tls.Config {
	outer := cfg.Clone()
	inner := cfg.GetConfigForClient
	outer.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		base := cfg
		if inner != nil {
			c, err := inner(hello)
			if err != nil {
				return nil, err
			}
			if c != nil {
				base = c
			}
		}
		h, ok := hello.Conn.(*hsConn)
		if !ok {
			return base, nil
		}
		per := base.Clone()
		per.KeyLogWriter = (*keyLog)(h)
		return per, nil
	}
	return outer
}

// Handshake runs the server's side of a TLS handshake on raw with cfg (made
// by Config), under raw's deadlines. It returns a *Conn for TLS 1.3 with a
// suite this package knows, else the *tls.Conn, and the connection's state
// (for channel bindings).
func Handshake(raw net.Conn, cfg *tls.Config) (net.Conn, *tls.ConnectionState, error) {
	h := &hsConn{Conn: raw}
	tc := tls.Server(h, cfg)
	if err := tc.Handshake(); err != nil {
		h.release()
		return nil, nil, err
	}
	cs := tc.ConnectionState()
	h.through = true
	if cs.Version != tls.VersionTLS13 || h.clientSecret == nil || h.serverSecret == nil || h.overflow {
		return tc, &cs, nil
	}
	c, err := newConn(raw, cs.CipherSuite, h.clientSecret, h.serverSecret)
	if err != nil {
		return tc, &cs, nil
	}
	c.out.seq = c.out.count(h.sent)
	c.adopt(h.buf, h.pos, h.n) // what the client sent after its Finished
	h.buf = nil
	return c, &cs, nil
}

// hsConn is the socket as crypto/tls sees it during the handshake: it
// reads ahead into a buffer of its own but gives crypto/tls no byte beyond
// the record it is reading, so that whatever the client sent after its
// Finished is still here for the record layer; and it keeps what crypto/tls
// writes. After the handshake (through) it is a plain socket, for a
// connection that stays a *tls.Conn.
type hsConn struct {
	net.Conn
	buf                        *[]byte // pooled; nil when empty
	pos, n                     int     // unread bytes: (*buf)[pos:n]
	left                       int     // bytes of the current record not given to crypto/tls yet
	through                    bool
	sent                       []byte // what crypto/tls wrote during the handshake
	overflow                   bool   // … more than maxSent: not kept, the record layer is not used
	clientSecret, serverSecret []byte
}

// maxSent bounds what is kept of the handshake's writes (a long certificate
// chain makes them a few KiB).
const maxSent = 64 << 10

func (h *hsConn) Read(p []byte) (int, error) {
	if h.through {
		if h.buf == nil {
			return h.Conn.Read(p)
		}
		return h.give(p, h.n-h.pos), nil
	}
	if h.left == 0 { // at a record's header: learn the record's length
		for h.n-h.pos < recordHeaderLen {
			if err := h.more(); err != nil {
				return 0, err
			}
		}
		h.left = recordHeaderLen + int(binary.BigEndian.Uint16((*h.buf)[h.pos+3:]))
	}
	if h.buf == nil || h.pos == h.n {
		if err := h.more(); err != nil {
			return 0, err
		}
	}
	n := h.give(p, h.left)
	h.left -= n
	return n, nil
}

// give copies up to max buffered bytes into p.
func (h *hsConn) give(p []byte, max int) int {
	n := copy(p[:min(len(p), max)], (*h.buf)[h.pos:h.n])
	h.pos += n
	if h.pos == h.n {
		h.release()
	}
	return n
}

// more reads from the socket, after what is buffered.
func (h *hsConn) more() error {
	if h.buf == nil {
		h.buf, h.pos, h.n = getBuf(smallBuf), 0, 0
	}
	if h.n == len(*h.buf) { // room at the front only
		h.n = copy(*h.buf, (*h.buf)[h.pos:h.n])
		h.pos = 0
	}
	m, err := h.Conn.Read((*h.buf)[h.n:])
	h.n += m
	if m > 0 {
		return nil
	}
	if h.pos == h.n {
		h.release()
	}
	if err == nil {
		err = errors.New("tlsrecord: read made no progress")
	}
	return err
}

func (h *hsConn) release() {
	if h.buf != nil {
		putBuf(h.buf)
		h.buf, h.pos, h.n = nil, 0, 0
	}
}

func (h *hsConn) Write(p []byte) (int, error) {
	if !h.through && !h.overflow {
		if len(h.sent)+len(p) > maxSent {
			h.overflow, h.sent = true, nil
		} else {
			h.sent = append(h.sent, p...)
		}
	}
	return h.Conn.Write(p)
}

// CloseWrite shuts the socket's sending side (a connection that stays a
// *tls.Conn lingers through it).
func (h *hsConn) CloseWrite() error {
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// keyLog takes the handshake's key log lines (NSS key log format: label,
// client random, secret, in hex) and keeps the application traffic
// secrets.
type keyLog hsConn

func (k *keyLog) Write(line []byte) (int, error) {
	f := bytes.Fields(line)
	if len(f) != 3 {
		return len(line), nil
	}
	var dst *[]byte
	switch string(f[0]) {
	case "CLIENT_TRAFFIC_SECRET_0":
		dst = &k.clientSecret
	case "SERVER_TRAFFIC_SECRET_0":
		dst = &k.serverSecret
	default:
		return len(line), nil
	}
	s := make([]byte, hex.DecodedLen(len(f[2])))
	if _, err := hex.Decode(s, f[2]); err != nil {
		return 0, err
	}
	*dst = s
	return len(line), nil
}
