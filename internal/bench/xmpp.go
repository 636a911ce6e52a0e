package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"

	msasl "mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/server"
)

const xmppPassword = "bench-password"

// XMPPIdle is Idle over XMPP: n clients (mellium.im/xmpp) negotiate
// STARTTLS, SCRAM-SHA-256 and a resource, send initial presence, then idle.
func XMPPIdle(ctx context.Context, bin string, n int, log io.Writer) (IdleResult, error) {
	var addr string
	var roots *x509.CertPool
	prepare := func(dir string, accts []Account) ([]string, error) {
		st, err := server.OpenStore(ctx, dir)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		fmt.Fprintf(log, "deriving SCRAM credentials…\n")
		for _, a := range accts {
			if err := st.SetCredentials(ctx, a.Address, "-", auth.NewScramCredentials(xmppPassword)); err != nil {
				return nil, err
			}
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		addr = ln.Addr().String()
		ln.Close()
		return []string{"--xmpp-addr", addr}, nil
	}
	connect := func(rig *Rig, a Account) (io.Closer, error) {
		if roots == nil { // the server made its certificate at start
			pemBytes, err := os.ReadFile(filepath.Join(rig.DataDir, server.XMPPCertFile))
			if err != nil {
				return nil, err
			}
			pool := x509.NewCertPool()
			pool.AppendCertsFromPEM(pemBytes)
			roots = pool
		}
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		s, err := xmpp.NewClientSession(ctx, jid.MustParse(a.Address), conn,
			xmpp.StartTLS(&tls.Config{ServerName: "bench.test", RootCAs: roots}),
			xmpp.SASL("", xmppPassword, msasl.ScramSha256),
			xmpp.BindResource())
		if err != nil {
			conn.Close()
			return nil, err
		}
		if _, err := io.WriteString(s.Conn(), "<presence/>"); err != nil {
			return nil, err
		}
		return conn, nil
	}
	return idle(ctx, bin, n, log, prepare, connect)
}
