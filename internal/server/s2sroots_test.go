package server

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/selfsigned"
)

// TestS2SRoots: s2s_ca_file adds its certificates to the roots; a file
// with none, or no file, is an error; no setting leaves the system's.
func TestS2SRoots(t *testing.T) {
	if pool, err := s2sRoots(""); pool != nil || err != nil {
		t.Fatalf("no setting: %v, %v", pool, err)
	}
	dir := t.TempDir()
	certPEM, _, err := selfsigned.New("ca.test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	good, junk := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "junk.pem")
	os.WriteFile(good, certPEM, 0o644)
	os.WriteFile(junk, []byte("not a certificate"), 0o644)
	pool, err := s2sRoots(good)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, _ := x509.ParseCertificate(block.Bytes)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "ca.test"}); err != nil {
		t.Fatalf("the file's certificate is not trusted: %v", err)
	}
	for _, f := range []string{junk, filepath.Join(dir, "missing.pem")} {
		if _, err := s2sRoots(f); err == nil {
			t.Fatalf("%s: no error", f)
		}
	}
}
