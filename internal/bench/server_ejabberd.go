package bench

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// ejabberdLibs is where Debian's ejabberd package keeps its Erlang
// applications (ejabberdctl's ERL_LIBS).
const ejabberdLibs = "/usr/lib/x86_64-linux-gnu"

// ejabberdServer is Debian's ejabberd with its default Mnesia storage. It is
// started by erl directly, as ejabberdctl foreground would with Debian's
// ejabberdctl.cfg (+K true +P 250000, the same ERL_ variables), but without
// a node name: no distribution, no epmd, no cookie, nothing shared with a
// system ejabberd.
type ejabberdServer struct{ debPackage }

const ejabberdSettings = `auth_method internal (Mnesia), auth_password_format scram, auth_scram_hash sha256; Mnesia tables as ejabberd ` +
	`creates them (passwd and roster disc_only_copies, with ejabberd's default caches); modules mod_roster, mod_disco, mod_ping; ` +
	`listener backlog 1024 (ejabberd's default of 5 drops SYNs in a login storm: 1 s retransmits; Prosody's is 128, Go's the kernel's 4096); ` +
	`no shaper; Erlang VM flags of Debian's ejabberdctl (+K true +P 250000; schedulers' default busy-wait); loglevel warning`

// Provision starts ejabberd once on dir, writes the accounts (SCRAM
// records, values base64 as ejabberd_auth keeps them) and roster items
// (subscription both) into its Mnesia tables with dirty writes from a term
// file, and stops it: seconds for 10,000 accounts, where ejabberdctl
// register and add_rosteritem cost a process start each.
func (ejabberdServer) Provision(ctx context.Context, pop *Population, dir string, log io.Writer) error {
	b64 := base64.StdEncoding.EncodeToString
	bin := func(s string) string { return "<<\"" + s + "\">>" }
	var b strings.Builder
	for i, u := range pop.Users {
		us := "{" + bin(u.Local) + "," + bin(xmppDomain) + "}"
		fmt.Fprintf(&b, "{passwd,%s,{scram,%s,%s,%s,sha256,%d}}.\n", us,
			bin(b64(u.StoredKey)), bin(b64(u.ServerKey)), bin(b64(u.Salt)), pop.Iterations)
		for _, j := range pop.Neighbours(i) {
			ljid := "{" + bin(pop.Users[j].Local) + "," + bin(xmppDomain) + ",<<>>}"
			fmt.Fprintf(&b, "{roster,{%s,%s,%s},%s,%s,<<>>,both,none,[],<<>>,[]}.\n",
				bin(u.Local), bin(xmppDomain), ljid, us, ljid)
		}
	}
	terms := filepath.Join(dir, "provision.terms")
	if err := writeFiles(map[string][]byte{
		terms:                          []byte(b.String()),
		filepath.Join(dir, "cert.pem"): append(append([]byte{}, pop.CertPEM...), pop.KeyPEM...),
	}); err != nil {
		return err
	}
	addr, err := ejabberdConfig(dir)
	if err != nil {
		return err
	}
	done := filepath.Join(dir, "provisioned")
	load := fmt.Sprintf(`ok = mnesia:wait_for_tables([passwd, roster], 120000),
{ok, Terms} = file:consult(%q),
lists:foreach(fun(R) -> ok = mnesia:dirty_write(R) end, Terms),
ok = file:write_file(%q, integer_to_list(length(Terms))),
init:stop().`, terms, done)
	cmd := ejabberdCommand(ctx, dir, "-eval", load)
	f, err := os.Create(filepath.Join(dir, "provision.out"))
	if err != nil {
		return err
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	fmt.Fprintf(log, "ejabberd: loading %d records into Mnesia (listener %s unused)…\n", strings.Count(b.String(), "\n"), addr)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ejabberd provisioning: %w (see %s)", err, f.Name())
	}
	if _, err := os.Stat(done); err != nil {
		return fmt.Errorf("ejabberd provisioning did not finish (see %s and %s)", f.Name(), filepath.Join(dir, "ejabberd.log"))
	}
	return nil
}

// ejabberdConfig writes dir/ejabberd.yml with a free port and returns
// the listener's address.
func ejabberdConfig(dir string) (string, error) {
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	_, port, _ := net.SplitHostPort(addr)
	return addr, os.WriteFile(filepath.Join(dir, "ejabberd.yml"), []byte(fmt.Sprintf(`# written by presenced bench xmpp-compare
loglevel: warning
hosts:
  - %[3]s
certfiles:
  - %[1]q
auth_method: internal
auth_password_format: scram
auth_scram_hash: sha256
listen:
  -
    port: %[2]s
    ip: "127.0.0.1"
    module: ejabberd_c2s
    backlog: 1024
    starttls_required: true
    protocol_options:
      - "no_sslv3"
      - "no_tlsv1"
      - "no_tlsv1_1"
      - "no_tlsv1_2"
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
`, filepath.Join(dir, "cert.pem"), port, xmppDomain)), 0o644)
}

// ejabberdCommand is erl running ejabberd on dir's configuration and Mnesia
// directory, with extra arguments after -s ejabberd.
func ejabberdCommand(ctx context.Context, dir string, extra ...string) *exec.Cmd {
	args := append([]string{"+K", "true", "+P", "250000", "-noinput",
		"-mnesia", "dir", fmt.Sprintf("%q", filepath.Join(dir, "mnesia")), "-s", "ejabberd"}, extra...)
	cmd := exec.CommandContext(ctx, "erl", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"EJABBERD_CONFIG_PATH="+filepath.Join(dir, "ejabberd.yml"),
		"EJABBERD_LOG_PATH="+filepath.Join(dir, "ejabberd.log"),
		"ERL_LIBS="+ejabberdLibs,
		"ERL_CRASH_DUMP_BYTES=0",
		"ERL_MAX_PORTS=32000",
		"ERL_MAX_ETS_TABLES=1400",
		"HOME="+dir,
	)
	cmd.WaitDelay = 30 * time.Second
	return cmd
}

func (ejabberdServer) Start(ctx context.Context, dir string, log io.Writer) (*ServerProcess, error) {
	addr, err := ejabberdConfig(dir)
	if err != nil {
		return nil, err
	}
	p, err := startChild(ctx, ejabberdCommand(ctx, dir), filepath.Join(dir, "ejabberd.out"), addr)
	if err != nil {
		return nil, err
	}
	if pid := findExe(p.PID, "beam.smp"); pid != 0 {
		p.PID = pid
	} else {
		p.Stop()
		return nil, fmt.Errorf("ejabberd: no beam.smp under process %d", p.PID)
	}
	return p, nil
}
