package server

import (
	"crypto/x509"
	"errors"
	"os"
)

// s2sRoots are the roots other domains' certificates are checked against:
// nil (the system's) without s2s_ca_file; else the system's roots and the
// file's certificates, so a private CA is trusted without distrusting
// public ones.
func s2sRoots(caFile string) (*x509.CertPool, error) {
	if caFile == "" {
		return nil, nil
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool() // no system roots here: the file's alone
	}
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, errors.New("no PEM certificate in the file")
	}
	return pool, nil
}
