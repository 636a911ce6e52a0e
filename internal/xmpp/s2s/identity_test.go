package s2s

import (
	"crypto/x509"
	"testing"
)

// TestCertIdentities: a certificate proves a domain by a DNS-ID, an SRV-ID
// of the _xmpp-server (or _xmpps-server) service, or an XmppAddr that is
// the domain (RFC 6120 § 13.7.1.2, RFC 6125 § 6), and only when it chains
// to a trusted root.
func TestCertIdentities(t *testing.T) {
	ca, other := NewTestCA(t), NewTestCA(t)
	s := New(Config{Domain: "here.test", RootCAs: ca.Pool()}, nil)
	cases := []struct {
		name   string
		ca     *TestCA
		ids    Identities
		domain string
		want   bool
	}{
		{"DNS-ID", ca, Identities{CommonName: "x", DNS: []string{"a.test"}}, "a.test", true},
		{"DNS-ID wildcard", ca, Identities{CommonName: "x", DNS: []string{"*.a.test"}}, "chat.a.test", true},
		{"DNS-ID wildcard not the base", ca, Identities{CommonName: "x", DNS: []string{"*.a.test"}}, "a.test", false},
		{"DNS-ID other domain", ca, Identities{CommonName: "x", DNS: []string{"b.test"}}, "a.test", false},
		{"SRV-ID", ca, Identities{CommonName: "x", SRV: []string{"_xmpp-server.a.test"}}, "a.test", true},
		{"SRV-ID direct TLS", ca, Identities{CommonName: "x", SRV: []string{"_xmpps-server.A.Test"}}, "a.test", true},
		{"SRV-ID of the client service", ca, Identities{CommonName: "x", SRV: []string{"_xmpp-client.a.test"}}, "a.test", false},
		{"SRV-ID other domain", ca, Identities{CommonName: "x", SRV: []string{"_xmpp-server.b.test"}}, "a.test", false},
		{"XmppAddr", ca, Identities{CommonName: "x", XMPP: []string{"a.test"}}, "a.test", true},
		{"XmppAddr of an account", ca, Identities{CommonName: "x", XMPP: []string{"alice@a.test"}}, "a.test", false},
		{"XmppAddr, empty subject, critical SAN", ca, Identities{XMPP: []string{"a.test"}}, "a.test", true},
		{"SRV-ID among others", ca, Identities{CommonName: "x", DNS: []string{"mx.a.test"}, XMPP: []string{"b.test"}, SRV: []string{"_xmpp-server.a.test"}}, "a.test", true},
		{"common name only", ca, Identities{CommonName: "a.test"}, "a.test", false},
		{"untrusted CA", other, Identities{CommonName: "x", DNS: []string{"a.test"}, SRV: []string{"_xmpp-server.a.test"}, XMPP: []string{"a.test"}}, "a.test", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pair, _, _ := tc.ca.Issue(t, tc.ids)
			leaf, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			if got := s.certifies([]*x509.Certificate{leaf}, tc.domain); got != tc.want {
				t.Fatalf("certifies(%+v, %s) = %v, want %v", tc.ids, tc.domain, got, tc.want)
			}
		})
	}
}

func TestParseOtherNamesMalformed(t *testing.T) {
	good := SANForTest(t, Identities{SRV: []string{"_xmpp-server.a.test"}, XMPP: []string{"a.test"}})
	names, err := parseOtherNames(good)
	if err != nil || len(names.srv) != 1 || len(names.xmpp) != 1 {
		t.Fatalf("parseOtherNames = %+v, %v", names, err)
	}
	for i := range good { // every truncation is an error, never a panic
		if _, err := parseOtherNames(good[:i]); err == nil {
			t.Fatalf("truncated at %d: no error", i)
		}
	}
	many := make([]string, maxOtherNames+1)
	for i := range many {
		many[i] = "a.test"
	}
	if _, err := parseOtherNames(SANForTest(t, Identities{XMPP: many})); err == nil {
		t.Fatal("more otherNames than the bound: no error")
	}
}

// FuzzOtherNames: any subjectAltName DER is read without panicking, and
// what is read is bounded.
func FuzzOtherNames(f *testing.F) {
	f.Add(SANForTest(f, Identities{DNS: []string{"a.test"}, SRV: []string{"_xmpp-server.a.test"}, XMPP: []string{"a.test"}}))
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{0x30, 0x04, 0xa0, 0x02, 0x06, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		names, err := parseOtherNames(der)
		if err == nil && len(names.srv)+len(names.xmpp) > maxOtherNames {
			t.Fatalf("%d names", len(names.srv)+len(names.xmpp))
		}
	})
}
