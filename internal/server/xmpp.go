package server

import (
	"context"
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/presenced/presenced/internal/selfsigned"
)

// Files of the generated XMPP certificate in the data directory.
const (
	XMPPCertFile = "xmpp-cert.pem"
	XMPPKeyFile  = "xmpp-key.pem"
)

// xmppTLS is the certificate XMPP offers: the configured one (which must
// name every served domain: docs/federation.md), else a self-signed one
// naming them all, made on first use and kept in the data directory
// (clients will ask their user to trust it), and made anew when the
// served domains changed since.
func (s *Server) xmppTLS() (*tls.Config, error) {
	certFile, keyFile := s.Config.TLSCert, s.Config.TLSKey
	domains := s.Config.ServedDomains()
	generated := certFile == ""
	if generated {
		certFile, keyFile = filepath.Join(s.Config.DataDir, XMPPCertFile), filepath.Join(s.Config.DataDir, XMPPKeyFile)
		if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
			if err := selfSign(domains, certFile, keyFile); err != nil {
				return nil, err
			}
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	if generated && !names(cert, domains) {
		if err := selfSign(domains, certFile, keyFile); err != nil {
			return nil, err
		}
		if cert, err = tls.LoadX509KeyPair(certFile, keyFile); err != nil {
			return nil, err
		}
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

func selfSign(domains []string, certFile, keyFile string) error {
	certPEM, keyPEM, err := selfsigned.ForHosts(domains, 5*365*24*time.Hour)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, certPEM, 0o644)
}

// serveXMPP starts the configured XMPP listeners; they stop with ctx.
func (s *Server) serveXMPP(ctx context.Context) error {
	if s.Config.XMPPAddr == "" && s.Config.XMPPTLSAddr == "" {
		return nil
	}
	cfg, err := s.xmppTLS()
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
