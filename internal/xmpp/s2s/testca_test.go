package s2s

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// TestCA is a private certificate authority made in a test, issuing
// server certificates with the identities a test asks for.
type TestCA struct {
	Cert *x509.Certificate
	PEM  []byte
	key  *ecdsa.PrivateKey
}

// NewTestCA makes a CA valid for an hour.
func NewTestCA(t testing.TB) *TestCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "presenced test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &TestCA{Cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Pool is a pool holding only the CA.
func (ca *TestCA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Identities are the names a certificate carries.
type Identities struct {
	CommonName string   // "": an empty subject
	DNS        []string // DNS-IDs
	SRV        []string // SRVName values, e.g. "_xmpp-server.example.org"
	XMPP       []string // XmppAddr values
}

// Issue makes a server certificate (for TLS servers and clients, as s2s
// uses both) naming ids, and returns it with its PEM certificate and key.
func (ca *TestCA) Issue(t testing.TB, ids Identities) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: ids.CommonName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	if len(ids.DNS)+len(ids.SRV)+len(ids.XMPP) > 0 {
		tpl.ExtraExtensions = []pkix.Extension{{Id: oidSubjectAltName, Critical: ids.CommonName == "", Value: SANForTest(t, ids)}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(append(certPEM, ca.PEM...), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, append(certPEM, ca.PEM...), keyPEM
}

// SANForTest is the DER subjectAltName of ids, with the otherNames
// written as RFC 6120 § 13.7.1.4 and RFC 4985 say.
func SANForTest(t testing.TB, ids Identities) []byte {
	t.Helper()
	var names []asn1.RawValue
	other := func(oid asn1.ObjectIdentifier, tag int, v string) {
		inner, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(v)})
		if err != nil {
			t.Fatal(err)
		}
		oidDER, _ := asn1.Marshal(oid)
		explicit, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: inner})
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: append(oidDER, explicit...)})
	}
	for _, d := range ids.DNS {
		names = append(names, asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte(d)})
	}
	for _, v := range ids.SRV {
		other(oidSRVName, asn1.TagIA5String, v)
	}
	for _, v := range ids.XMPP {
		other(oidXmppAddr, asn1.TagUTF8String, v)
	}
	der, err := asn1.Marshal(names)
	if err != nil {
		t.Fatal(err)
	}
	return der
}
