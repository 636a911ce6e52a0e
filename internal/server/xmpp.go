package server

import (
	"context"
	"crypto/tls"
)

// Files of the generated XMPP certificate in the data directory: a copy
// of the certificate (the store keeps it and its key: secrets.go), and the
// key as an older presenced kept it, taken into the store on upgrade.
const (
	XMPPCertFile = "xmpp-cert.pem"
	XMPPKeyFile  = "xmpp-key.pem"
)

// xmppTLS is the certificate XMPP offers: the configured one (which must
// name every served domain: docs/federation.md), else the deployment's
// self-signed one naming them all (secrets.go), of which the data
// directory gets a copy of the public part (XMPPCertFile) for clients to
// trust.
func (s *Server) xmppTLS(ctx context.Context) (*tls.Config, error) {
	var cert tls.Certificate
	var err error
	if s.Config.TLSCert == "" {
		cert, err = selfSignedCert(ctx, s.Store, s.Config.DataDir, s.Config.ServedDomains())
	} else {
		cert, err = tls.LoadX509KeyPair(s.Config.TLSCert, s.Config.TLSKey)
	}
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// names reports whether cert's leaf names every one of domains.
func names(cert tls.Certificate, domains []string) bool {
	if cert.Leaf == nil {
		return false
	}
	for _, d := range domains {
		if cert.Leaf.VerifyHostname(d) != nil {
			return false
		}
	}
	return true
}

// serveXMPP starts the configured XMPP listeners; they stop with ctx.
func (s *Server) serveXMPP(ctx context.Context) error {
	if s.Config.XMPPAddr == "" && s.Config.XMPPTLSAddr == "" {
		return nil
	}
	cfg, err := s.xmppTLS(ctx)
	if err != nil {
		return err
	}
	x := s.XMPP
	x.TLS = cfg
	for _, l := range []struct {
		addr   string
		direct bool
	}{{s.Config.XMPPAddr, false}, {s.Config.XMPPTLSAddr, true}} {
		if l.addr == "" {
			continue
		}
		ln, err := Listen(l.addr)
		if err != nil {
			return err
		}
		s.xmppAddrs = append(s.xmppAddrs, ln.Addr().String())
		go func() {
			<-ctx.Done()
			ln.Close()
		}()
		go x.Serve(ln, l.direct)
	}
	return nil
}
