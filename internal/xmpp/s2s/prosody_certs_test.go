package s2s_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/xmpp/c2s"
	"github.com/presenced/presenced/internal/xmpp/s2s"
	"github.com/presenced/presenced/internal/xmpp/xmlstream"
)

// TestProsodyCertificates federates presenced's "localhost" with Debian's
// Prosody (p.test) by certificates alone: a private CA made here issues
// both servers' certificates, each side trusts it (presenced's RootCAs,
// as s2s_ca_file sets them; Prosody's ssl.cafile), dialback is off on both
// (presenced without s2s_dialback, Prosody with s2s_secure_auth and no
// mod_dialback), so each stream must authenticate with SASL EXTERNAL
// (XEP-0178). carol@p.test is a slixmpp client of Prosody's, alice@localhost
// one of presenced's (talkAcross). Which mechanism each side used is read
// from both servers' logs afterwards.
//
// The certificates name the domains by DNS-ID, or (the second case) by
// SRV-ID and XmppAddr only, which each side must then read (RFC 6120 §
// 13.7.1.2, RFC 6125).
func TestProsodyCertificates(t *testing.T) {
	python := peersWithSlixmpp(t)
	dnsIDs := [2]s2s.Identities{{CommonName: "localhost", DNS: []string{"localhost"}}, {CommonName: "p.test", DNS: []string{"p.test"}}}
	for _, tc := range []struct {
		name string
		ids  [2]s2s.Identities // presenced's, Prosody's
		bidi bidiCase
	}{
		{"DNS-ID", dnsIDs, noBidi},
		{"SRV-ID and XmppAddr", [2]s2s.Identities{{CommonName: "presenced", XMPP: []string{"localhost"}, SRV: []string{"_xmpp-server.localhost"}},
			{CommonName: "prosody", SRV: []string{"_xmpp-server.p.test"}, XMPP: []string{"p.test"}}}, noBidi},
		{"bidi, presenced first", dnsIDs, bidiPresencedFirst},
		{"bidi, Prosody first", dnsIDs, bidiProsodyFirst},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runProsodyCertificates(t, python, tc.ids[0], tc.ids[1], tc.bidi)
		})
	}
}

// peersWithSlixmpp skips the test unless the peer servers
// (PRESENCED_TEST_PEERS) and slixmpp are there, and returns the python3.
func peersWithSlixmpp(t *testing.T) string {
	t.Helper()
	if os.Getenv("PRESENCED_TEST_PEERS") == "" {
		t.Skip("set PRESENCED_TEST_PEERS=1 with Debian's prosody and ejabberd installed to run")
	}
	python := os.Getenv("PRESENCED_TEST_SLIXMPP")
	if python == "" {
		t.Skip("set PRESENCED_TEST_SLIXMPP to a python3 with slixmpp (Debian: python3-slixmpp) to run")
	}
	return python
}

// bidiCase says whether Prosody offers XEP-0288 (mod_s2s_bidi) and which
// server opens the one stream.
type bidiCase int

const (
	noBidi bidiCase = iota
	bidiPresencedFirst
	bidiProsodyFirst
)

func runProsodyCertificates(t *testing.T, python string, presencedIDs, prosodyIDs s2s.Identities, bidi bidiCase) {
	ln := &countingListener{Listener: listenDefaultPort(t)}
	var modules []string
	if bidi != noBidi {
		modules = []string{"s2s_bidi"}
	}
	dir := t.TempDir()
	ca := s2s.NewTestCA(t)
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.PEM, 0o644)
	// Prosody's c2s certificate names p.test as slixmpp checks it (a
	// DNS-ID); its s2s certificate has the identities under test.
	_, c2sCert, c2sKey := ca.Issue(t, s2s.Identities{CommonName: "p.test", DNS: []string{"p.test"}})
	_, s2sCert, s2sKey := ca.Issue(t, prosodyIDs)
	pC2S, pS2S := freePort(t), freePort(t)
	startProsody(t, dir, pC2S, pS2S, prosodyOptions{certPEM: c2sCert, keyPEM: c2sKey, s2sCertPEM: s2sCert, s2sKeyPEM: s2sKey,
		caFile: caFile, secureAuth: true, modules: modules})

	var logs syncBuffer
	cert, _, _ := ca.Issue(t, presencedIDs)
	d := &domain{name: "localhost", ln: ln, cert: &cert, tweak: func(c *s2s.Config) {
		logTo(&logs)(c)
		c.RootCAs = ca.Pool()
	}}
	d.start(t, "secret-l", false, map[string]string{"p.test": "127.0.0.1:" + pS2S})

	talkAcross(t, python, d, "prosody", bidi == bidiProsodyFirst, "XMPP_PORT="+pC2S, "XMPP_DOMAIN=p.test", "XMPP_CA="+caFile)
	checkProsodyLogs(t, filepath.Join(dir, "prosody.log"), logs.String(), bidi)
	if n := ln.n.Load(); bidi == bidiPresencedFirst && n != 0 {
		t.Errorf("Prosody opened %d streams to presenced; the bidirectional one should have carried everything", n)
	}
}

// checkProsodyLogs checks, in each server's account of it, which
// mechanism authenticated each stream and that dialback was not used.
func checkProsodyLogs(t *testing.T, prosodyLogFile, ours string, bidi bidiCase) {
	t.Helper()
	theirs, _ := os.ReadFile(prosodyLogFile)
	var prosodyWants, oursWants, oursNots []string
	switch bidi {
	case noBidi:
		prosodyWants = []string{
			"Accepting SASL EXTERNAL identity from localhost", // presenced → Prosody
			"SASL EXTERNAL with localhost succeeded",          // Prosody → presenced
		}
		oursWants = []string{
			`msg="s2s: outbound stream authenticated" domain=p.test mechanism=EXTERNAL bidi=false`,
			`msg="s2s: inbound domain authenticated" domain=p.test mechanism=EXTERNAL bidi=false`,
		}
	case bidiPresencedFirst:
		prosodyWants = []string{"Accepting SASL EXTERNAL identity from localhost", "Requested bidirectional stream"}
		oursWants = []string{`msg="s2s: outbound stream authenticated" domain=p.test mechanism=EXTERNAL bidi=true`}
		oursNots = []string{"inbound domain authenticated"}
	case bidiProsodyFirst:
		prosodyWants = []string{"SASL EXTERNAL with localhost succeeded", "Requesting bidirectional stream"}
		oursWants = []string{`msg="s2s: inbound domain authenticated" domain=p.test mechanism=EXTERNAL bidi=true`,
			`msg="s2s: bidirectional stream" domain=p.test`}
		oursNots = []string{"outbound stream authenticated"}
	}
	for _, want := range prosodyWants {
		if !bytes.Contains(theirs, []byte(want)) {
			t.Errorf("Prosody's log lacks %q", want)
		}
	}
	for _, want := range oursWants {
		if !strings.Contains(ours, want) {
			t.Errorf("presenced's log lacks %q:\n%s", want, ours)
		}
	}
	for _, not := range append(oursNots, "mechanism=dialback") {
		if strings.Contains(ours, not) {
			t.Errorf("presenced's log has %q:\n%s", not, ours)
		}
	}
	if bytes.Contains(theirs, []byte("dialback")) {
		t.Error("Prosody's log mentions dialback")
	}
}

// talkAcross runs testdata/slixmpp_federation.py: alice@<d's domain>, a
// slixmpp client of d's presenced (its c2s listener, started here, as
// `presenced serve` has one), and carol, a slixmpp client of the other
// server (peerEnv: its c2s port, domain and the certificate file to trust;
// carol's password is carol-password), befriend and talk: subscriptions
// both ways, presence and status, messages, last activity and disco#info,
// personal events both ways, and alice's block. The script checks each
// step at the client it concerns and must end well. knockFirst: carol
// first messages alice, a stranger, so that the other server opens the
// first stream.
func talkAcross(t *testing.T, python string, d *domain, peer string, knockFirst bool, peerEnv ...string) {
	t.Helper()
	env := append(d.serveXMPP(t, "alice"), "XMPP_HOST=127.0.0.1", "CAROL=carol", "CAROL_PASSWORD=carol-password",
		"PEER="+peer, fmt.Sprint("KNOCK_FIRST=", knockFirst))
	sc := startSlixmpp(t, python, "slixmpp_federation.py", append(env, peerEnv...)...)
	sc.wait()
	t.Logf("slixmpp_federation.py:\n%s", sc.out.String()) // each step it saw, for -v
}

// serveXMPP serves XMPP clients of d's hub on a loopback port, with d's
// certificate, as `presenced serve` does beside federation, and creates
// the account user@d.name (password user-password). It returns what
// slixmpp_federation.py reads of it.
func (d *domain) serveXMPP(t *testing.T, user string) []string {
	t.Helper()
	a := &auth.Auth{Store: d.st, Clock: clock.Real{}, Hasher: auth.NewHasher(auth.Params{MemoryKiB: 64, Time: 1, Threads: 1}, 1, 4)}
	if _, err := a.CreateAccount(ctx, user+"@"+d.name, user+"-password"); err != nil {
		t.Fatal(err)
	}
	srv := &c2s.Server{Hub: d.hub, Auth: a, TLS: &tls.Config{Certificates: []tls.Certificate{*d.cert}}, Secret: []byte("c2s " + d.name),
		Log: slog.New(slog.DiscardHandler), Limits: xmlstream.DefaultLimits}
	ln := listen(t)
	go srv.Serve(ln, false)
	t.Cleanup(func() { ln.Close() })
	chain := d.cert.Certificate // the CA's last, or the self-signed certificate alone
	caFile := filepath.Join(t.TempDir(), "presenced-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: chain[len(chain)-1]}), 0o644); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return []string{"PRESENCED_PORT=" + port, "PRESENCED_DOMAIN=" + d.name, "PRESENCED_CA=" + caFile,
		"ALICE=" + user, "ALICE_PASSWORD=" + user + "-password"}
}

// logTo has the federation log to w, from the debug level on.
func logTo(w io.Writer) func(*s2s.Config) {
	return func(c *s2s.Config) {
		c.Log = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// syncBuffer is a log's destination read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// script is a slixmpp scenario running as a child; the test follows the
// steps it prints ("ok - ...").
type script struct {
	t      *testing.T
	lines  chan string
	exited chan error
	out    syncBuffer
}

func startSlixmpp(t *testing.T, python, file string, env ...string) *script {
	t.Helper()
	cmd := exec.Command(python, filepath.Join("testdata", file))
	cmd.Env = append(os.Environ(), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	sc := &script{t: t, lines: make(chan string, 100), exited: make(chan error, 1)}
	cmd.Stderr = &sc.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			sc.out.Write([]byte(s.Text() + "\n"))
			select {
			case sc.lines <- s.Text():
			default:
			}
		}
		sc.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		if t.Failed() {
			t.Logf("%s:\n%s", file, sc.out.String())
		}
	})
	return sc
}

// wait waits for the script to end, and fails the test unless it passed.
func (sc *script) wait() {
	sc.t.Helper()
	select {
	case err := <-sc.exited:
		if err != nil {
			sc.t.Fatalf("the client failed (%v):\n%s", err, sc.out.String())
		}
	case <-time.After(3 * wait):
		sc.t.Fatalf("the client did not end in %v:\n%s", 3*wait, sc.out.String())
	}
}
