package c2s

// SASL (RFC 6120 § 6): SCRAM with channel binding on the stored
// credentials (internal/sasl), PLAIN under TLS, the throttle shared with
// the other sign-ins; OAUTHBEARER for apps under TLS (oauthbearer.go).

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"hash"
	"net"
	"strings"

	"github.com/presenced/presenced/internal/addr"
	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/sasl"
	"github.com/presenced/presenced/internal/store"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// mechanisms lists what SASL offers now: -PLUS, PLAIN and OAUTHBEARER
// only under TLS.
func (c *conn) mechanisms() []xmlstream.Node {
	var m []string
	if c.tls != nil {
		m = append(m, "SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS")
	}
	m = append(m, auth.ScramSHA256, auth.ScramSHA1)
	if c.encrypted() {
		m = append(m, "PLAIN")
	}
	if c.offersBearer() {
		m = append(m, sasl.OAuthBearer)
	}
	mechs := xmlstream.New(nsSASL, "mechanisms")
	for _, x := range m {
		mechs.Add(xmlstream.New(nsSASL, "mechanism").AddText(x))
	}
	features := []xmlstream.Node{mechs}
	if c.s.Register && (c.encrypted() || c.s.AllowPlaintext) {
		features = append(features, xmlstream.New(nsRegisterFeature, "register"))
	}
	if c.tls != nil { // XEP-0440: which channel bindings the -PLUS mechanisms can use
		bindings := xmlstream.New(nsSASLCB, "sasl-channel-binding")
		for _, typ := range bindingsOffered(c.tlsState, c.s.TLS) {
			bindings.Add(xmlstream.New(nsSASLCB, "channel-binding").Set("type", typ))
		}
		features = append(features, bindings)
	}
	return features
}

func (c *conn) saslFailure(condition, text string) error {
	return c.write(xmlstream.New(nsSASL, "failure").Add(xmlstream.New(nsSASL, condition), xmlstream.New(nsSASL, "text").AddText(text)))
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
		checked := c.s.Hub.Checkpoint() // before the credentials are read: core.Checkpoint
		account, err := c.saslExchange(el)
		if err == nil {
			c.account, c.checked = account, checked
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
	switch mech {
	case "PLAIN":
		return c.plain(in)
	case sasl.OAuthBearer:
		return c.oauthBearer(in)
	}
	s, err := sasl.NewScram(mech, sasl.Config{Lookup: c.lookup, ChannelBinding: c.channelBinding(), OffersPlus: c.tls != nil, Secret: c.s.Secret})
	if err != nil {
		return "", err
	}
	th := c.s.Auth.Throttle
	var ticket *auth.Ticket // once the client-first message named the user
	defer func() {
		if ticket != nil {
			ticket.Failed() // a SCRAM attempt that did not succeed; no-op after Succeeded
		}
	}()
	for {
		out, done, err := s.Step(in)
		if err != nil {
			return "", err
		}
		if ticket == nil {
			at := auth.Client{IP: c.clientIP()}.Attempt(s.Username() + "@" + c.domain)
			if ticket, err = th.Begin(at); err != nil {
				return "", &sasl.Failure{Condition: "temporary-auth-failure", Text: err.Error()}
			}
		}
		if done {
			ticket.Succeeded()
			account, err := addr.Bare(s.Username() + "@" + c.domain)
			if err != nil {
				return "", &sasl.Failure{Condition: "not-authorized", Text: "authentication failed"}
			}
			// additional data with success (RFC 6120 § 6.3.10): the server signature
			return account, c.write(xmlstream.New(nsSASL, "success").AddText(base64.StdEncoding.EncodeToString(out)))
		}
		if in, err = c.saslResponse(out); err != nil {
			return "", err
		}
	}
}

// lookup finds an account's SCRAM credential by its local part. The row
// it read is kept for Connect (core.AccountRead): a login reads it once.
func (c *conn) lookup(username, mechanism string) (store.ScramCredential, bool) {
	c.signIn = nil
	bare, err := addr.Bare(username + "@" + c.domain)
	if err != nil {
		return store.ScramCredential{}, false
	}
	read, err := c.s.Hub.ReadAccount(context.Background(), bare)
	if err != nil {
		return store.ScramCredential{}, false
	}
	c.signIn = read
	return read.Scram(mechanism)
}

// channelBinding offers tls-exporter (RFC 9266), tls-server-end-point
// (RFC 5929) and, before TLS 1.3 only, tls-unique (RFC 5929) once TLS is
// up. Each is computed when a -PLUS mechanism asks for it, not before.
func (c *conn) channelBinding() func(string) ([]byte, bool) {
	if c.tlsState == nil {
		return nil
	}
	cs, config := c.tlsState, c.s.TLS
	return func(typ string) ([]byte, bool) {
		return bindingOf(cs, config, typ)
	}
}

// bindingTypes are the channel binding types there are, in the order
// offered.
var bindingTypes = [...]string{"tls-exporter", "tls-server-end-point", "tls-unique"}

// bindingsOffered lists the types bindingOf gives on cs (XEP-0440), found
// without computing any: every stream's features list them, and few
// clients use one.
func bindingsOffered(cs *tls.ConnectionState, config *tls.Config) []string {
	if cs == nil {
		return nil
	}
	offered := make([]string, 0, len(bindingTypes))
	for _, typ := range bindingTypes {
		var ok bool
		switch typ {
		case "tls-exporter":
			ok = cs.Version >= tls.VersionTLS13
		case "tls-server-end-point":
			_, ok = endPointHash(serverCertificate(config))
		case "tls-unique":
			ok = cs.TLSUnique != nil
		}
		if ok {
			offered = append(offered, typ)
		}
	}
	return offered
}

// bindingOf is the channel binding data of type typ on cs, whose server
// side config configured.
func bindingOf(cs *tls.ConnectionState, config *tls.Config, typ string) ([]byte, bool) {
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
		return serverEndPoint(serverCertificate(config))
	}
	return nil, false
}

// serverCertificate is the certificate config presents (none: empty).
func serverCertificate(config *tls.Config) tls.Certificate {
	if config == nil || len(config.Certificates) == 0 {
		return tls.Certificate{}
	}
	return config.Certificates[0]
}

// serverEndPoint is the tls-server-end-point channel binding of cert (RFC
// 5929 § 4.1): the hash of its DER encoding (endPointHash).
func serverEndPoint(cert tls.Certificate) ([]byte, bool) {
	newHash, ok := endPointHash(cert)
	if !ok {
		return nil, false
	}
	h := newHash()
	h.Write(cert.Certificate[0])
	return h.Sum(nil), true
}

// endPointHash is the hash function of cert's tls-server-end-point
// binding: that of its signature algorithm, SHA-256 where that is MD5 or
// SHA-1. Where the algorithm has no single hash function (Ed25519) or is
// unknown, the binding is undefined and not offered.
func endPointHash(cert tls.Certificate) (func() hash.Hash, bool) {
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
	switch leaf.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.SHA1WithRSA, x509.DSAWithSHA1, x509.ECDSAWithSHA1,
		x509.SHA256WithRSA, x509.DSAWithSHA256, x509.ECDSAWithSHA256, x509.SHA256WithRSAPSS:
		return sha256.New, true
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		return sha512.New384, true
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		return sha512.New, true
	}
	return nil, false
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
	account, err := c.s.Auth.CheckPassword(context.Background(), auth.Client{IP: c.clientIP()}, parts[1]+"@"+c.domain, parts[2])
	switch {
	case errors.Is(err, auth.ErrThrottled), errors.Is(err, auth.ErrBusy):
		return "", &sasl.Failure{Condition: "temporary-auth-failure", Text: err.Error()}
	case err != nil:
		return "", &sasl.Failure{Condition: "not-authorized", Text: "authentication failed"}
	}
	if parts[0] != "" && parts[0] != account {
		return "", &sasl.Failure{Condition: "invalid-authzid", Text: "cannot act for another account"}
	}
	return account, c.write(xmlstream.New(nsSASL, "success"))
}
