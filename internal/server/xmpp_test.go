package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	msasl "mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/presenced/presenced/internal/config"
)

// TestXMPPListenerSignsInWithPresencedAccounts: with --xmpp-addr, a real
// XMPP client library negotiates STARTTLS against the generated
// certificate, authenticates an account made for the JSON protocol with
// SCRAM, and binds a resource.
func TestXMPPListenerSignsInWithPresencedAccounts(t *testing.T) {
	ts := startServer(t, func(c *config.Config) { c.XMPPAddr = "127.0.0.1:0" })
	ts.user(t, "alice")
	for !ts.ready.Load() {
		time.Sleep(5 * time.Millisecond)
	}
	pemBytes, err := os.ReadFile(filepath.Join(ts.Config.DataDir, XMPPCertFile))
	must(t, err)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatal("generated certificate unreadable")
	}
	conn, err := net.Dial("tcp", ts.xmppAddrs[0])
	must(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := xmpp.NewClientSession(ctx, jid.MustParse("alice@localhost"), conn,
		xmpp.StartTLS(&tls.Config{ServerName: "localhost", RootCAs: roots}),
		xmpp.SASL("", "password-alice", msasl.ScramSha256Plus, msasl.ScramSha256),
		xmpp.BindResource())
	if err != nil {
		t.Fatalf("XMPP sign-in: %v", err)
	}
	if s.LocalAddr().Bare().String() != "alice@localhost" || s.LocalAddr().Resourcepart() == "" {
		t.Fatalf("bound %s", s.LocalAddr())
	}
}
