package c2s

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha256" // crypto.SHA256 and SHA384/512 below
	_ "crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"
)

// TestServerEndPoint: tls-server-end-point hashes the certificate with
// its signature algorithm's hash, SHA-256 in place of SHA-1 (RFC 5929
// § 4.1), and is not offered for Ed25519, which has no single hash.
func TestServerEndPoint(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	sum := func(h crypto.Hash) func([]byte) []byte {
		return func(b []byte) []byte { x := h.New(); x.Write(b); return x.Sum(nil) }
	}
	for _, tc := range []struct {
		key  crypto.Signer
		alg  x509.SignatureAlgorithm
		want func([]byte) []byte // nil: not offered
	}{
		{p256, x509.ECDSAWithSHA256, sum(crypto.SHA256)},
		{p384, x509.ECDSAWithSHA384, sum(crypto.SHA384)},
		{p521, x509.ECDSAWithSHA512, sum(crypto.SHA512)},
		{rsaKey, x509.SHA256WithRSA, sum(crypto.SHA256)},
		{rsaKey, x509.SHA384WithRSAPSS, sum(crypto.SHA384)},
		{rsaKey, x509.SHA512WithRSA, sum(crypto.SHA512)},
		{rsaKey, x509.SHA1WithRSA, sum(crypto.SHA256)},
		{edKey, x509.PureEd25519, nil},
	} {
		t.Run(tc.alg.String(), func(t *testing.T) {
			der := certificate(t, tc.key, tc.alg)
			got, ok := serverEndPoint(tls.Certificate{Certificate: [][]byte{der}})
			if tc.want == nil {
				if ok {
					t.Fatalf("offered for %s", tc.alg)
				}
				return
			}
			if !ok || !bytes.Equal(got, tc.want(der)) {
				t.Fatalf("%x, %v; want %x", got, ok, tc.want(der))
			}
		})
	}
}

// certificate makes a self-signed certificate signed with alg.
func certificate(t *testing.T, key crypto.Signer, alg x509.SignatureAlgorithm) []byte {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, SignatureAlgorithm: alg}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("%s: %v", alg, err)
	}
	return der
}

// TestChannelBindingsOffered: the features list, without computing any,
// exactly the channel bindings a -PLUS mechanism then gets, on real TLS
// 1.2 and 1.3 connections with a certificate that has a
// tls-server-end-point binding and one that has none.
func TestChannelBindingsOffered(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name    string
		key     crypto.Signer
		alg     x509.SignatureAlgorithm
		version uint16
		want    []string
	}{
		{"TLS 1.3, ECDSA", p256, x509.ECDSAWithSHA256, tls.VersionTLS13, []string{"tls-exporter", "tls-server-end-point"}},
		{"TLS 1.2, ECDSA", p256, x509.ECDSAWithSHA256, tls.VersionTLS12, []string{"tls-server-end-point", "tls-unique"}},
		{"TLS 1.3, Ed25519", edKey, x509.PureEd25519, tls.VersionTLS13, []string{"tls-exporter"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			der := certificate(t, tc.key, tc.alg)
			config := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: tc.key}},
				MinVersion: tc.version, MaxVersion: tc.version}
			cs := handshake(t, config)
			offered := bindingsOffered(cs, config)
			if !slices.Equal(offered, tc.want) {
				t.Fatalf("offered %v, want %v", offered, tc.want)
			}
			for _, typ := range bindingTypes {
				data, ok := bindingOf(cs, config, typ)
				if ok != slices.Contains(offered, typ) || ok && len(data) == 0 {
					t.Errorf("%s: %x, %v; offered: %v", typ, data, ok, offered)
				}
			}
		})
	}
	if offered := bindingsOffered(nil, nil); offered != nil {
		t.Fatalf("without TLS: %v", offered)
	}
}

// handshake runs a TLS handshake over a pipe with crypto/tls's client and
// returns the server's connection state.
func handshake(t *testing.T, config *tls.Config) *tls.ConnectionState {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		done <- tls.Client(b, &tls.Config{InsecureSkipVerify: true, MinVersion: config.MinVersion, MaxVersion: config.MaxVersion}).Handshake()
	}()
	server := tls.Server(a, config)
	if err := server.Handshake(); err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	cs := server.ConnectionState()
	return &cs
}
