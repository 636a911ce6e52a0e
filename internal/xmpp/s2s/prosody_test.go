package s2s_test

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	msasl "mellium.im/sasl"
	mxmlstream "mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/presenced/presenced/internal/freeport"
	"github.com/presenced/presenced/internal/selfsigned"
)

// TestProsodyInterop federates presenced with Debian's Prosody over
// dialback and self-signed certificates, both ways: Prosody reaches
// presenced's domain "localhost" on 127.0.0.1:5269 (its resolver reads a
// hosts file of the test's; Prosody has no static routes), presenced
// reaches Prosody's p.test by a static route. alice@localhost, a slixmpp
// client of presenced's c2s listener, and carol@p.test, a slixmpp client of
// Prosody's, run testdata/slixmpp_federation.py (talkAcross). Which
// mechanism authenticated each stream is read from both servers' logs.
func TestProsodyInterop(t *testing.T) {
	python := peersWithSlixmpp(t)
	ln := listenDefaultPort(t)
	dir := t.TempDir()
	pC2S, pS2S := freePort(t), freePort(t)
	startProsody(t, dir, pC2S, pS2S, prosodyOptions{})

	var logs syncBuffer
	d := &domain{name: "localhost", ln: ln, tweak: logTo(&logs)}
	d.start(t, "secret-l", true, map[string]string{"p.test": "127.0.0.1:" + pS2S})
	talkAcross(t, python, d, "prosody", false, "XMPP_PORT="+pC2S, "XMPP_DOMAIN=p.test", "XMPP_CA="+filepath.Join(dir, "cert.pem"))

	for _, want := range []string{
		`msg="s2s: outbound stream authenticated" domain=p.test mechanism=dialback`,
		`msg="s2s: inbound domain authenticated" domain=p.test mechanism=dialback`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("presenced's log lacks %q:\n%s", want, logs.String())
		}
	}
	theirs, _ := os.ReadFile(filepath.Join(dir, "prosody.log"))
	for _, want := range []string{
		"sent dialback key on outgoing s2s stream", // Prosody → presenced
		"asking localhost if key",                  // presenced → Prosody, verified by connecting back
	} {
		if !strings.Contains(string(theirs), want) {
			t.Errorf("Prosody's log lacks %q", want)
		}
	}
}

// withProsody starts Prosody (p.test, with opt) and presenced serving
// "localhost" with alice@localhost, on 127.0.0.1:5269, with static routes to
// p.test and to routed, more domains of Prosody's (its components); it
// skips without PRESENCED_TEST_PEERS. It returns presenced's domain,
// Prosody's directory and its c2s port.
func withProsody(t *testing.T, opt prosodyOptions, routed ...string) (d *domain, dir, c2sPort string) {
	t.Helper()
	if os.Getenv("PRESENCED_TEST_PEERS") == "" {
		t.Skip("set PRESENCED_TEST_PEERS=1 with Debian's prosody installed to run")
	}
	ln := listenDefaultPort(t)
	dir = t.TempDir()
	c2sPort, s2sPort := freePort(t), freePort(t)
	startProsody(t, dir, c2sPort, s2sPort, opt)
	routes := map[string]string{"p.test": "127.0.0.1:" + s2sPort}
	for _, r := range routed {
		routes[r] = "127.0.0.1:" + s2sPort
	}
	d = &domain{name: "localhost", ln: ln}
	d.start(t, "secret-l", true, routes, "alice@localhost")
	return d, dir, c2sPort
}

// prosodyClient signs carol@p.test in on Prosody's c2s port (mellium.im/xmpp)
// and returns how to send her stanzas and wait for one she receives.
func prosodyClient(t *testing.T, ctx context.Context, dir, c2sPort string) (send func(string), expect func(string, func(string) bool) string) {
	t.Helper()
	conn, err := net.Dial("tcp", "127.0.0.1:"+c2sPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	carol, err := xmpp.NewClientSession(ctx, jid.MustParse("carol@p.test/pc"), conn,
		xmpp.StartTLS(&tls.Config{ServerName: "p.test", InsecureSkipVerify: true}),
		xmpp.SASL("", "carol-password", msasl.ScramSha1, msasl.Plain), xmpp.BindResource())
	if err != nil {
		t.Fatal(err)
	}
	in := make(chan string, 100)
	go carol.Serve(xmpp.HandlerFunc(func(r mxmlstream.TokenReadEncoder, start *xml.StartElement) error {
		var b strings.Builder
		enc := xml.NewEncoder(&b)
		if _, err := mxmlstream.Copy(enc, mxmlstream.MultiReader(mxmlstream.Token(*start), mxmlstream.Inner(r), mxmlstream.Token(start.End()))); err != nil {
			return err
		}
		enc.Flush()
		in <- b.String()
		return nil
	}))
	send = func(s string) {
		t.Helper()
		if err := carol.Send(ctx, xml.NewDecoder(strings.NewReader(s))); err != nil {
			t.Fatal(err)
		}
	}
	expect = func(what string, ok func(string) bool) string {
		t.Helper()
		deadline := time.After(wait)
		for {
			select {
			case s := <-in:
				if ok(s) {
					return s
				}
			case <-deadline:
				t.Fatalf("carol: %s not seen in %v (Prosody's log: %s)", what, wait, filepath.Join(dir, "prosody.log"))
			}
		}
	}
	return send, expect
}

// listenDefaultPort is presenced's s2s listener on 127.0.0.1:5269: the
// peer servers have no static routes and dial a domain's default port.
func listenDefaultPort(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:5269")
	if err != nil {
		t.Fatalf("presenced's s2s listener needs 127.0.0.1:5269 (the peer server dials the default port): %v", err)
	}
	return ln
}

func freePort(t *testing.T) string {
	t.Helper()
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return strconv.Itoa(port)
}

// prosodyOptions change Prosody's configuration from the default of
// TestProsodyInterop (dialback, a self-signed certificate for p.test).
type prosodyOptions struct {
	// certPEM and keyPEM, if set, are Prosody's certificate (c2s and s2s
	// alike unless s2sCertPEM is set); caFile is the CA it trusts for
	// other servers' certificates; secureAuth turns dialback off and
	// requires certificates that verify (s2s_secure_auth).
	certPEM, keyPEM       []byte
	s2sCertPEM, s2sKeyPEM []byte
	caFile                string
	secureAuth            bool
	modules               []string // more modules to enable, e.g. "s2s_bidi"
	extra                 string   // appended to the configuration, e.g. a Component section
}

// startProsody runs Prosody as a child with its own configuration, data,
// certificate and hosts file, and registers carol@p.test.
func startProsody(t *testing.T, dir, c2sPort, s2sPort string, opt prosodyOptions) {
	t.Helper()
	if opt.certPEM == nil {
		var err error
		if opt.certPEM, opt.keyPEM, err = selfsigned.New("p.test", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(dir, "data"), 0o700)
	os.WriteFile(filepath.Join(dir, "cert.pem"), opt.certPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), opt.keyPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "hosts"), []byte("127.0.0.1 localhost\n"), 0o644)
	// pep and lastactivity: what slixmpp_federation.py asks of carol's server
	modules := []string{"roster", "saslauth", "tls", "disco", "ping", "pep", "lastactivity"}
	if !opt.secureAuth {
		modules = append(modules, "dialback")
	}
	modules = append(modules, opt.modules...)
	ca := ""
	if opt.caFile != "" {
		ca = fmt.Sprintf(", cafile = %q", opt.caFile)
	}
	tlsCfg := fmt.Sprintf("ssl = { certificate = %[1]q, key = %[2]q%[3]s }\n",
		filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), ca)
	if opt.s2sCertPEM != nil {
		os.WriteFile(filepath.Join(dir, "s2s-cert.pem"), opt.s2sCertPEM, 0o600)
		os.WriteFile(filepath.Join(dir, "s2s-key.pem"), opt.s2sKeyPEM, 0o600)
		tlsCfg += fmt.Sprintf("s2s_ssl = { certificate = %[1]q, key = %[2]q%[3]s }\n",
			filepath.Join(dir, "s2s-cert.pem"), filepath.Join(dir, "s2s-key.pem"), ca)
	}
	cfg := filepath.Join(dir, "prosody.cfg.lua")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`-- written by presenced's s2s interop test
run_as_root = true
pidfile = %[1]q .. "/prosody.pid"
data_path = %[1]q .. "/data"
log = { debug = %[1]q .. "/prosody.log" }
c2s_ports = { %[2]s }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = { %[3]s }
s2s_interfaces = { "127.0.0.1" }
http_ports = { }
https_ports = { }
modules_enabled = { %[4]s }
authentication = "internal_hashed"
storage = "internal"
c2s_require_encryption = true
s2s_require_encryption = true
s2s_secure_auth = %[5]t
unbound = { hoststxt = %[1]q .. "/hosts" }
%[6]sVirtualHost "p.test"
%[7]s`, dir, c2sPort, s2sPort, luaStrings(modules), opt.secureAuth, tlsCfg, opt.extra)), 0o644)
	if out, err := exec.Command("prosodyctl", "--config", cfg, "register", "carol", "p.test", "carol-password").CombinedOutput(); err != nil {
		t.Fatalf("prosodyctl register: %v: %s", err, out)
	}
	runServer(t, exec.Command("prosody", "--config", cfg, "-F"), dir, "prosody", c2sPort, "prosody.log")
}

// runServer runs an XMPP server as a child of the test until it ends,
// with its output in dir/NAME.out, and waits (a minute or two at most) for
// its c2s port. When the test fails, the end of each of logs (in dir) is
// printed.
func runServer(t *testing.T, cmd *exec.Cmd, dir, name, c2sPort string, logs ...string) {
	t.Helper()
	out, _ := os.Create(filepath.Join(dir, name+".out"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			for _, f := range logs {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				if len(b) > 20000 {
					b = b[len(b)-20000:]
				}
				t.Logf("%s (end):\n%s", f, b)
			}
		}
	})
	deadline := time.Now().Add(2 * wait)
	for {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+c2sPort, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, name+".out"))
			t.Fatalf("%s exited: %s", name, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// luaStrings is a Lua list's items: "a", "b".
func luaStrings(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
