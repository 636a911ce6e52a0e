package c2s

// Stream headers and STARTTLS (RFC 6120 § 4, § 5): the stages before SASL.

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"strings"

	"github.com/presenced/presenced/internal/tlsrecord"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// startTLS runs the TLS handshake; the stream then runs over it. A TLS 1.3
// stream is carried by internal/tlsrecord, whose connection holds only its
// keys while idle.
func (c *conn) startTLS() error {
	tc, cs, err := tlsrecord.Handshake(c.nc, c.s.tlsConfig())
	if err != nil {
		return err
	}
	c.tls = tc.(tlsConn)
	c.tlsState = cs
	c.nc = tc
	return nil
}

// openStream reads the client's stream header and answers with ours and
// the features of this stage (RFC 6120 § 4.3).
func (c *conn) openStream(features ...xmlstream.Node) error {
	c.r = xmlstream.NewReader(c.nc, c.s.Limits)
	start, err := c.r.Open()
	id := make([]byte, 8)
	rand.Read(id)
	// the response header goes out even on error, so a stream error can
	// follow it; with the features, in one write
	return c.batched(func() error {
		c.send(c.frame.open(hex.EncodeToString(id), c.replyDomain(headerTo(start))), false)
		if err != nil {
			return err
		}
		return c.checkHeader(start, features)
	})
}

// headerTo is the to of a client's stream header.
func headerTo(start xml.StartElement) string {
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local == "to" {
			return a.Value
		}
	}
	return ""
}

// replyDomain is the from of our answer to a stream header addressed to
// to: the stream's domain once chosen, else to if served, else the
// primary domain (the header before a host-unknown error).
func (c *conn) replyDomain(to string) string {
	switch {
	case c.domain != "":
		return c.domain
	case c.s.Hub.Serves(to):
		return strings.ToLower(to)
	}
	return c.s.Hub.Domain()
}

// checkHeader answers the client's stream header with the features, or
// the stream error it deserves (RFC 6120 § 4.9.3). The first header picks
// the stream's domain among those served; a restarted stream (after TLS
// or SASL) stays on it.
func (c *conn) checkHeader(start xml.StartElement, features []xmlstream.Node) error {
	to := headerTo(start)
	var version, defaultNS string
	for _, a := range start.Attr {
		switch {
		case a.Name.Space == "" && a.Name.Local == "version":
			version = a.Value
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			defaultNS = a.Value
		}
	}
	switch {
	case defaultNS != nsClient:
		return &xmlstream.StreamError{Condition: "invalid-namespace", Text: "the default namespace must be jabber:client"}
	case c.domain == "" && !c.s.Hub.Serves(to):
		return &xmlstream.StreamError{Condition: "host-unknown", Text: "this server does not serve " + to}
	case c.domain != "" && !strings.EqualFold(to, c.domain):
		return &xmlstream.StreamError{Condition: "host-unknown", Text: "this stream is for " + c.domain}
	case !strings.HasPrefix(version, "1."):
		return &xmlstream.StreamError{Condition: "unsupported-version", Text: "version 1.0 is required"}
	}
	c.domain = strings.ToLower(to)
	return c.write(xmlstream.New(xmlstream.NSStream, "features").Add(features...))
}

// negotiate runs TLS, SASL and binding; it returns once a resource is
// bound (or the stream fails).
func (c *conn) negotiate() error {
	if c.tls == nil && c.s.TLS != nil && !c.overHTTP {
		features := []xmlstream.Node{xmlstream.New(nsTLS, "starttls").Add(xmlstream.New(nsTLS, "required"))}
		if c.s.AllowPlaintext { // TLS optional: authentication may start at once
			features = append([]xmlstream.Node{xmlstream.New(nsTLS, "starttls")}, c.mechanisms()...)
		}
		if err := c.openStream(features...); err != nil {
			return err
		}
		el, err := c.r.Next()
		if err != nil {
			return err
		}
		switch {
		case el.Name.Space == nsTLS && el.Name.Local == "starttls":
			if err := c.write(xmlstream.New(nsTLS, "proceed")); err != nil {
				return err
			}
			if err := c.startTLS(); err != nil {
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
	if err := c.openStream(c.mechanisms()...); err != nil {
		return err
	}
	el, err := c.r.Next()
	if err != nil {
		return err
	}
	return c.authenticate(el)
}
