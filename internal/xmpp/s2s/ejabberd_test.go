package s2s_test

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/core"
	"github.com/presenced/presenced/internal/selfsigned"
	"github.com/presenced/presenced/internal/xmpp/s2s"
)

// TestEjabberdInterop federates presenced's "localhost" with Debian's
// ejabberd 23.01 (e.test) over STARTTLS and dialback with self-signed
// certificates, both ways. ejabberd runs as a child on its own
// configuration and free ports (as internal/bench runs it); it finds
// presenced's domain "localhost" by the system's resolver on the default
// port 5269 (ejabberd has no static routes), presenced reaches e.test by a
// static route. carol@e.test is a slixmpp client of ejabberd's.
func TestEjabberdInterop(t *testing.T) {
	python := peersWithSlixmpp(t)
	if _, err := exec.LookPath("erl"); err != nil {
		t.Skip("Debian's ejabberd (erl) is not installed")
	}
	ln := listenDefaultPort(t)
	dir := t.TempDir()
	eC2S, eS2S := freePort(t), freePort(t)
	caFile := startEjabberd(t, dir, eC2S, eS2S)
	var logs syncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("presenced's log:\n%s", logs.String())
		}
	})
	d := &domain{name: "localhost", ln: ln, tweak: func(c *s2s.Config) {
		c.Log = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}}
	d.start(t, "secret-l", true, map[string]string{"e.test": "127.0.0.1:" + eS2S}, "alice@localhost")
	alice := d.connect(t, "alice@localhost", &core.Presence{Availability: core.Available, Status: "on presenced"})

	carol := startSlixmpp(t, python, "slixmpp_federation.py", "XMPP_HOST=127.0.0.1", "XMPP_PORT="+eC2S, "XMPP_CA="+caFile,
		"XMPP_DOMAIN=e.test", "CAROL=carol", "CAROL_PASSWORD=carol-password", "PEER=alice@localhost", "KNOCK_FIRST=false")
	carol.await("carol signed in")
	talkWithCarol(t, d, alice, carol, "carol@e.test")
	for _, want := range []string{
		`msg="s2s: outbound stream authenticated" domain=e.test mechanism=dialback`,
		`msg="s2s: inbound domain authenticated" domain=e.test mechanism=dialback`,
	} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("presenced's log lacks %q:\n%s", want, logs.String())
		}
	}
}

// startEjabberd runs Debian's ejabberd as a child (erl, no node name, no
// epmd) with its own configuration, certificate and Mnesia directory,
// registers carol@e.test, and returns the certificate file clients trust.
func startEjabberd(t *testing.T, dir, c2sPort, s2sPort string) string {
	t.Helper()
	certPEM, keyPEM, err := selfsigned.New("e.test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, certPEM, 0o644)
	os.WriteFile(filepath.Join(dir, "cert.pem"), append(certPEM, keyPEM...), 0o600)
	os.WriteFile(filepath.Join(dir, "ejabberd.yml"), []byte(fmt.Sprintf(`# written by presenced's s2s interop test
loglevel: info
hosts:
  - e.test
certfiles:
  - %[1]q
auth_method: internal
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
  mod_s2s_dialback: {}
`, filepath.Join(dir, "cert.pem"), c2sPort, s2sPort)), 0o644)
	register := `{ok, _} = application:ensure_all_started(ejabberd), ok = ejabberd_auth:try_register(<<"carol">>, <<"e.test">>, <<"carol-password">>).`
	cmd := exec.Command("erl", "-noinput", "-mnesia", "dir", fmt.Sprintf("%q", filepath.Join(dir, "mnesia")), "-s", "ejabberd", "-eval", register)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "EJABBERD_CONFIG_PATH="+filepath.Join(dir, "ejabberd.yml"),
		"EJABBERD_LOG_PATH="+filepath.Join(dir, "ejabberd.log"), "ERL_LIBS=/usr/lib/x86_64-linux-gnu", "HOME="+dir)
	runServer(t, cmd, dir, "ejabberd", c2sPort, "ejabberd.out", "ejabberd.log")
	return caFile
}
