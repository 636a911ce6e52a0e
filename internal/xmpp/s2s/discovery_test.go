package s2s

import (
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
)

// FakeDNS answers from maps: SRV by "_service._proto.name", addresses by
// host (exported for the external tests).
type FakeDNS struct {
	SRV   map[string][]*net.SRV
	Hosts map[string][]string
}

func (f FakeDNS) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	if r, ok := f.SRV["_"+service+"._"+proto+"."+name]; ok {
		return "", r, nil
	}
	return "", nil, errors.New("no such record")
}

func (f FakeDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	var out []net.IPAddr
	for _, a := range f.Hosts[host] {
		out = append(out, net.IPAddr{IP: net.ParseIP(a)})
	}
	if len(out) == 0 {
		return nil, errors.New("no such host")
	}
	return out, nil
}

func TestCandidates(t *testing.T) {
	dns := FakeDNS{
		SRV: map[string][]*net.SRV{
			"_xmpp-server._tcp.srv.test":   {{Target: "b.srv.test.", Port: 5270, Priority: 10}, {Target: "a.srv.test.", Port: 5269, Priority: 5}},
			"_xmpps-server._tcp.srv.test":  {{Target: "a.srv.test.", Port: 5271, Priority: 5, Weight: 10}},
			"_xmpp-server._tcp.none.test":  {{Target: ".", Port: 0}},
			"_xmpp-server._tcp.inner.test": {{Target: "in.inner.test.", Port: 5269}},
		},
		Hosts: map[string][]string{
			"a.srv.test":    {"8.8.8.8"},
			"b.srv.test":    {"2001:4860:4860::8888", "10.0.0.1"},
			"plain.test":    {"1.1.1.1"},
			"in.inner.test": {"127.0.0.1", "192.168.1.2", "169.254.1.1", "::1"},
		},
	}
	s := New(Config{Domain: "me.test", Resolver: dns, Routes: map[string]string{"static.test": "127.0.0.1:5999"}}, nil)
	cases := []struct {
		domain string
		want   []candidate
		err    string
	}{
		// a static route is trusted, loopback or not
		{"static.test", []candidate{{addr: "127.0.0.1:5999"}}, ""},
		// by priority, xmpps (direct TLS) before xmpp at equal priority and
		// higher weight; the private address of b.srv.test is left out
		{"srv.test", []candidate{{addr: "8.8.8.8:5271", directTLS: true}, {addr: "8.8.8.8:5269"}, {addr: "[2001:4860:4860::8888]:5270"}}, ""},
		// no SRV: the domain's own addresses on 5269
		{"plain.test", []candidate{{addr: "1.1.1.1:5269"}}, ""},
		// "." says there is no service
		{"none.test", nil, "no address"},
		// only non-public addresses: refused
		{"inner.test", nil, "non-public"},
	}
	for _, c := range cases {
		got, err := s.candidates(context.Background(), c.domain)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: %v, %v; want error %q", c.domain, got, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %+v, %v; want %+v", c.domain, got, err, c.want)
		}
	}
	// the operator's switch lets discovery reach private addresses
	s.cfg.AllowPrivate = true
	got, err := s.candidates(context.Background(), "inner.test")
	if err != nil || len(got) != 4 || got[0].addr != "127.0.0.1:5269" || got[3].addr != "[::1]:5269" {
		t.Fatalf("with s2s_allow_private: %+v %v", got, err)
	}
}
