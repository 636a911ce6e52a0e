package server

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/presenced/presenced/internal/selfsigned"
	"github.com/presenced/presenced/internal/store"
)

// The server's secrets live in the store (store.Secrets), so every node of
// a cluster signs and checks with the same ones. A data directory of an
// older presenced holds them as files: a store without them takes the
// files' on its first start, so the tokens, sessions and certificates made
// with them stay valid. The files are left in place and no longer read.

// Names of the server's secrets in the store.
const (
	serverSecret = "server"           // the server secret (KeyFile's 32 bytes)
	certSecret   = "xmpp-certificate" // the self-signed XMPP certificate (storedCert)
)

// loadKey returns the server secret: CSRF tokens, pairwise handles, the
// s2s dialback key and SCRAM's fake credentials for unknown users derive
// from it, so nodes that differed would tell a stranger which accounts
// exist. Made on the first start, or taken from dataDir's KeyFile.
func loadKey(ctx context.Context, st store.Secrets, dataDir string) ([]byte, error) {
	key, err := store.SecretOrMake(ctx, st, serverSecret, func() ([]byte, error) {
		path := filepath.Join(dataDir, KeyFile)
		key, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
			key = make([]byte, 32)
			rand.Read(key)
			return key, nil
		case err != nil:
			return nil, err
		case len(key) < 32:
			return nil, fmt.Errorf("%s is shorter than 32 bytes", path)
		}
		return key, nil
	})
	if err == nil && len(key) < 32 {
		err = fmt.Errorf("the stored server secret is shorter than 32 bytes")
	}
	if err != nil {
		return nil, fmt.Errorf("server secret: %w", err)
	}
	return key, nil
}

// storedCert is the self-signed XMPP certificate as the store keeps it.
type storedCert struct {
	Cert string `json:"cert"` // PEM
	Key  string `json:"key"`  // PEM
}

// selfSignedCert is the deployment's self-signed XMPP certificate naming
// every one of domains: the stored one, or one taken from dataDir's files
// of an older presenced, or a new one; made anew (by one node, the others
// taking it) when the served domains changed. Every node offers the same,
// so a client that trusted it once is not asked again by another node.
func selfSignedCert(ctx context.Context, st store.Secrets, dataDir string, domains []string) (tls.Certificate, error) {
	b, err := store.SecretOrMake(ctx, st, certSecret, func() ([]byte, error) {
		certPEM, err := os.ReadFile(filepath.Join(dataDir, XMPPCertFile))
		if err == nil {
			keyPEM, err := os.ReadFile(filepath.Join(dataDir, XMPPKeyFile))
			if err != nil {
				return nil, err
			}
			if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
				return nil, fmt.Errorf("%s: %w", XMPPCertFile, err)
			}
			return json.Marshal(storedCert{Cert: string(certPEM), Key: string(keyPEM)})
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		return newCert(domains)
	})
	for attempt := 0; err == nil; attempt++ {
		var cert tls.Certificate
		var s storedCert
		if err = json.Unmarshal(b, &s); err != nil {
			break
		}
		if cert, err = tls.X509KeyPair([]byte(s.Cert), []byte(s.Key)); err != nil || names(cert, domains) || attempt == 3 {
			if err == nil {
				err = os.WriteFile(filepath.Join(dataDir, XMPPCertFile), []byte(s.Cert), 0o644)
			}
			return cert, err
		}
		var fresh []byte
		if fresh, err = newCert(domains); err != nil {
			break
		}
		switch err = st.ReplaceSecret(ctx, certSecret, b, fresh); {
		case err == nil:
			b = fresh
		case errors.Is(err, store.ErrConflict): // another node made one: take it
			b, err = st.Secret(ctx, certSecret)
		}
	}
	return tls.Certificate{}, fmt.Errorf("xmpp certificate: %w", err)
}

func newCert(domains []string) ([]byte, error) {
	certPEM, keyPEM, err := selfsigned.ForHosts(domains, 5*365*24*time.Hour)
	if err != nil {
		return nil, err
	}
	return json.Marshal(storedCert{Cert: string(certPEM), Key: string(keyPEM)})
}
