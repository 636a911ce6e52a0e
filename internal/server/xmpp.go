package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/presenced/presenced/internal/xmpp/c2s"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// Files of the generated XMPP certificate in the data directory.
const (
	XMPPCertFile = "xmpp-cert.pem"
	XMPPKeyFile  = "xmpp-key.pem"
)

// xmppTLS is the certificate XMPP offers: the configured one, else a
// self-signed one for the domain, made on first use and kept in the data
// directory (clients will ask their user to trust it).
func (s *Server) xmppTLS() (*tls.Config, error) {
	certFile, keyFile := s.Config.TLSCert, s.Config.TLSKey
	if certFile == "" {
		certFile, keyFile = filepath.Join(s.Config.DataDir, XMPPCertFile), filepath.Join(s.Config.DataDir, XMPPKeyFile)
		if _, err := os.Stat(certFile); errors.Is(err, os.ErrNotExist) {
			if err := selfSign(s.Config.Domain, certFile, keyFile); err != nil {
				return nil, err
			}
		}
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

func selfSign(domain, certFile, keyFile string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: domain}, DNSNames: []string{domain},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(5, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
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
	x := &c2s.Server{Domain: s.Config.Domain, Auth: s.Auth, TLS: cfg, AllowPlaintext: s.Config.XMPPPlaintext,
		Secret: s.key, Log: s.Log, Limits: xmlstream.DefaultLimits}
	for _, l := range []struct {
		addr   string
		direct bool
	}{{s.Config.XMPPAddr, false}, {s.Config.XMPPTLSAddr, true}} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
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
