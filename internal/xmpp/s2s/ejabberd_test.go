package s2s_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/selfsigned"
	"github.com/presenced/presenced/internal/xmpp/s2s"
)

// TestEjabberdInterop federates presenced's "localhost" with Debian's
// ejabberd 23.01 (e.test), both ways: over STARTTLS and dialback with
// self-signed certificates, and by certificates alone (a private CA made
// here, trusted by both; dialback off on both: no s2s_dialback, no
// mod_s2s_dialback), so SASL EXTERNAL. ejabberd runs as a child on its
// own configuration and free ports (as internal/bench runs it); it finds
// presenced's domain "localhost" by the system's resolver on the default
// port 5269 (ejabberd has no static routes), presenced reaches e.test by a
// static route. carol@e.test is a slixmpp client of ejabberd's,
// alice@localhost one of presenced's (talkAcross). Which mechanism
// authenticated each stream is read from both servers' logs.
func TestEjabberdInterop(t *testing.T) {
	python := peersWithSlixmpp(t)
	if _, err := exec.LookPath("erl"); err != nil {
		t.Skip("Debian's ejabberd (erl) is not installed")
	}
	for _, mech := range []string{"dialback", "EXTERNAL"} {
		t.Run(mech, func(t *testing.T) { runEjabberdInterop(t, python, mech) })
	}
}

func runEjabberdInterop(t *testing.T, python, mech string) {
	ln := listenDefaultPort(t)
	dir := t.TempDir()
	eC2S, eS2S := freePort(t), freePort(t)
	var logs syncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("presenced's log:\n%s", logs.String())
		}
	})
	d := &domain{name: "localhost", ln: ln}
	var ca *s2s.TestCA
	if mech == "EXTERNAL" {
		ca = s2s.NewTestCA(t)
		cert, _, _ := ca.Issue(t, s2s.Identities{CommonName: "localhost", DNS: []string{"localhost"}})
		d.cert = &cert
	}
	caFile := startEjabberd(t, dir, eC2S, eS2S, ca)
	d.tweak = func(c *s2s.Config) {
		logTo(&logs)(c)
		if ca != nil {
			c.RootCAs = ca.Pool()
		}
	}
	d.start(t, "secret-l", mech == "dialback", map[string]string{"e.test": "127.0.0.1:" + eS2S})
	talkAcross(t, python, d, "ejabberd", false, "XMPP_PORT="+eC2S, "XMPP_DOMAIN=e.test", "XMPP_CA="+caFile)
	for _, want := range []string{
		`msg="s2s: outbound stream authenticated" domain=e.test mechanism=` + mech,
		`msg="s2s: inbound domain authenticated" domain=e.test mechanism=` + mech,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("presenced's log lacks %q:\n%s", want, logs.String())
		}
	}
	theirs, _ := os.ReadFile(filepath.Join(dir, "ejabberd.out")) // its log file is written late; its output at once
	for _, want := range []string{
		"Accepted inbound s2s " + mech + " authentication localhost -> e.test",
		"Accepted outbound s2s " + mech + " authentication e.test -> localhost",
	} {
		if !strings.Contains(string(theirs), want) {
			t.Errorf("ejabberd's log lacks %q", want)
		}
	}
}

// startEjabberd runs Debian's ejabberd as a child (erl, no node name, no
// epmd) with its own configuration, certificate and Mnesia directory,
// registers carol@e.test, and returns the certificate file clients trust.
func startEjabberd(t *testing.T, dir, c2sPort, s2sPort string, ca *s2s.TestCA) string {
	t.Helper()
	caFile := filepath.Join(dir, "ca.pem")
	var certPEM, keyPEM []byte
	dialback, caOption := "\n  mod_s2s_dialback: {}", ""
	if ca != nil { // certificates of ca, trusted for peers; no dialback
		_, certPEM, keyPEM = ca.Issue(t, s2s.Identities{CommonName: "e.test", DNS: []string{"e.test"}})
		os.WriteFile(caFile, ca.PEM, 0o644)
		dialback, caOption = "", fmt.Sprintf("ca_file: %q\n", caFile)
	} else {
		var err error
		if certPEM, keyPEM, err = selfsigned.New("e.test", time.Hour); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(caFile, certPEM, 0o644)
	}
	os.WriteFile(filepath.Join(dir, "cert.pem"), append(certPEM, keyPEM...), 0o600)
	os.WriteFile(filepath.Join(dir, "ejabberd.yml"), []byte(fmt.Sprintf(`# written by presenced's s2s interop test
loglevel: info
hosts:
  - e.test
certfiles:
  - %[1]q
%[4]sauth_method: internal
s2s_use_starttls: required
s2s_access: all
s2s_dns_timeout: 2
s2s_dns_retries: 1
outgoing_s2s_families:
  - ipv4
listen:
  -
    port: %[2]s
    ip: "127.0.0.1"
    module: ejabberd_c2s
    starttls_required: true
  -
    port: %[3]s
    ip: "127.0.0.1"
    module: ejabberd_s2s_in
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
  c2s:
    allow: all
modules:
  mod_roster: {}
  mod_disco: {}
  mod_ping: {}
  mod_caps: {}
  mod_last: {}
  mod_pubsub:
    plugins:
      - flat
      - pep%[5]s
`, filepath.Join(dir, "cert.pem"), c2sPort, s2sPort, caOption, dialback)), 0o644)
	register := `{ok, _} = application:ensure_all_started(ejabberd), ok = ejabberd_auth:try_register(<<"carol">>, <<"e.test">>, <<"carol-password">>).`
	cmd := exec.Command("erl", "-noinput", "-mnesia", "dir", fmt.Sprintf("%q", filepath.Join(dir, "mnesia")), "-s", "ejabberd", "-eval", register)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "EJABBERD_CONFIG_PATH="+filepath.Join(dir, "ejabberd.yml"),
		"EJABBERD_LOG_PATH="+filepath.Join(dir, "ejabberd.log"), "ERL_LIBS=/usr/lib/x86_64-linux-gnu", "HOME="+dir)
	runServer(t, cmd, dir, "ejabberd", c2sPort, "ejabberd.out", "ejabberd.log")
	return caFile
}
