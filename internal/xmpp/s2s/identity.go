package s2s

// Certificate identities of a domain (RFC 6120 § 13.7.1.2, RFC 6125 §
// 6): a DNS-ID (dNSName), an SRV-ID (otherName SRVName, RFC 4985, of the
// service "_xmpp-server") or an XmppAddr (otherName id-on-xmppAddr,
// RFC 6120 § 13.7.1.4) in the subjectAltName. Go's x509 reads only the
// dNSName, so the otherNames are read here, from the extension's DER.

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"
)

var (
	oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}
	// id-on-xmppAddr, RFC 6120 § 13.7.1.4
	oidXmppAddr = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 5}
	// id-on-dnsSRV, RFC 4985
	oidSRVName = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 8, 7}
)

// maxOtherNames bounds the otherNames read from one certificate.
const maxOtherNames = 64

// otherNames are the SRV-IDs and XmppAddrs of a subjectAltName.
type otherNames struct {
	srv  []string // SRVName values, as "_service.domain"
	xmpp []string // XmppAddr values
}

var errSAN = errors.New("s2s: malformed subjectAltName")

// parseOtherNames reads the otherName entries of a DER subjectAltName
// (GeneralNames, RFC 5280 § 4.2.1.6); other kinds of names are skipped.
// Anything malformed is an error: the certificate then proves nothing by
// them.
func parseOtherNames(der []byte) (otherNames, error) {
	var out otherNames
	var seq asn1.RawValue
	rest, err := asn1.Unmarshal(der, &seq)
	if err != nil || len(rest) > 0 || seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
		return out, errSAN
	}
	names := seq.Bytes
	for n := 0; len(names) > 0; n++ {
		if n >= 4*maxOtherNames {
			return out, errSAN
		}
		var gn asn1.RawValue
		if names, err = asn1.Unmarshal(names, &gn); err != nil {
			return out, errSAN
		}
		if gn.Class != asn1.ClassContextSpecific || gn.Tag != 0 {
			continue // not an otherName
		}
		if len(out.srv)+len(out.xmpp) >= maxOtherNames {
			return out, errSAN
		}
		oid, value, err := parseOtherName(gn)
		if err != nil {
			return out, err
		}
		switch {
		case oid.Equal(oidXmppAddr) && value.Tag == asn1.TagUTF8String:
			out.xmpp = append(out.xmpp, string(value.Bytes))
		case oid.Equal(oidSRVName) && value.Tag == asn1.TagIA5String:
			out.srv = append(out.srv, string(value.Bytes))
		}
	}
	return out, nil
}

// parseOtherName splits an otherName ([0] IMPLICIT SEQUENCE { type-id
// OBJECT IDENTIFIER, value [0] EXPLICIT ANY }) into its type and the
// universal value inside.
func parseOtherName(gn asn1.RawValue) (asn1.ObjectIdentifier, asn1.RawValue, error) {
	var oid asn1.ObjectIdentifier
	var wrapped, value asn1.RawValue
	if !gn.IsCompound {
		return nil, value, errSAN
	}
	rest, err := asn1.Unmarshal(gn.Bytes, &oid)
	if err != nil {
		return nil, value, errSAN
	}
	if rest, err = asn1.Unmarshal(rest, &wrapped); err != nil || len(rest) > 0 ||
		wrapped.Class != asn1.ClassContextSpecific || wrapped.Tag != 0 || !wrapped.IsCompound {
		return nil, value, errSAN
	}
	if rest, err = asn1.Unmarshal(wrapped.Bytes, &value); err != nil || len(rest) > 0 ||
		value.Class != asn1.ClassUniversal || !utf8.Valid(value.Bytes) {
		return nil, value, errSAN
	}
	return oid, value, nil
}

// sanExtension is the subjectAltName extension of cert, if any.
func sanExtension(cert *x509.Certificate) ([]byte, bool) {
	for _, e := range cert.Extensions {
		if e.Id.Equal(oidSubjectAltName) {
			return e.Value, true
		}
	}
	return nil, false
}

// namesDomain reports whether cert names domain as an XMPP server may be
// named (RFC 6120 § 13.7.1.2): a DNS-ID (wildcards in the left-most label
// only, no common-name fallback), an SRV-ID for the service _xmpp-server
// (or _xmpps-server, XEP-0368), or an XmppAddr that is the domain.
func namesDomain(cert *x509.Certificate, domain string) bool {
	if len(cert.DNSNames) > 0 && cert.VerifyHostname(domain) == nil {
		return true
	}
	der, ok := sanExtension(cert)
	if !ok {
		return false
	}
	names, err := parseOtherNames(der)
	if err != nil {
		return false
	}
	for _, v := range names.xmpp {
		if strings.EqualFold(v, domain) {
			return true
		}
	}
	for _, v := range names.srv {
		svc, d, ok := strings.Cut(v, ".")
		if ok && (strings.EqualFold(svc, "_xmpp-server") || strings.EqualFold(svc, "_xmpps-server")) &&
			strings.EqualFold(strings.TrimSuffix(d, "."), domain) {
			return true
		}
	}
	return false
}

// withoutSANCritical is cert with a critical subjectAltName no longer
// counted as unhandled: Go's x509 marks one it found no names in (only
// otherNames, as a certificate with an empty subject and only an XmppAddr
// has, RFC 5280 § 4.2.1.6) unhandled, and namesDomain handles it.
func withoutSANCritical(cert *x509.Certificate) *x509.Certificate {
	i := slices.IndexFunc(cert.UnhandledCriticalExtensions, func(id asn1.ObjectIdentifier) bool { return id.Equal(oidSubjectAltName) })
	if i < 0 {
		return cert
	}
	c := *cert
	c.UnhandledCriticalExtensions = slices.Delete(slices.Clone(cert.UnhandledCriticalExtensions), i, i+1)
	return &c
}
