package bench

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	msasl "mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/server"
	"github.com/presenced/presenced/internal/store"
)

const xmppPassword = "bench-password"

// XMPPIdle is Idle over XMPP: n clients (mellium.im/xmpp) negotiate
// STARTTLS, SCRAM-SHA-256 and a resource, fetch their roster, send initial
// presence, then idle. Each account has contacts mutual contacts (its
// neighbours in a ring of accounts), so logins fetch real rosters and
// presence flows between the sessions.
func XMPPIdle(ctx context.Context, bin string, n, contacts int, idleFor time.Duration, log io.Writer) (IdleResult, error) {
	var addr string
	var roots *x509.CertPool
	prepare := func(dir string, accts []Account) ([]string, error) {
		st, err := server.OpenStore(ctx, dir)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		fmt.Fprintf(log, "setting SCRAM credentials and %d contacts each…\n", contacts)
		creds := auth.NewScramCredentials(xmppPassword) // one salt for all: derived once
		for i, a := range accts {
			if err := st.SetCredentials(ctx, a.Address, "-", creds); err != nil {
				return nil, err
			}
			for d := 1; d <= contacts/2 && d < n; d++ {
				b := accts[(i+d)%n].Address
				for _, r := range []store.Relation{{Subject: a.Address, Viewer: b, State: store.Approved}, {Subject: b, Viewer: a.Address, State: store.Approved}} {
					if err := st.PutRelation(ctx, r); err != nil {
						return nil, err
					}
				}
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
		go s.Serve(nil) // answers our roster request; everything else is dropped
		resp, err := s.SendIQ(ctx, xml.NewDecoder(strings.NewReader(`<iq type='get' id='roster'><query xmlns='jabber:iq:roster'/></iq>`)))
		if err != nil {
			conn.Close()
			return nil, err
		}
		resp.Close()
		if err := s.Send(ctx, xml.NewDecoder(strings.NewReader(`<presence/>`))); err != nil {
			return nil, err
		}
		return conn, nil
	}
	return idle(ctx, bin, n, idleFor, log, prepare, connect)
}
