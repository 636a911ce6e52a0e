package bench

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const prosodyBin = "prosody"

// prosodyServer is Debian's Prosody, with its internal file storage (one
// Lua table per account and store under the data directory).
type prosodyServer struct{ debPackage }

const prosodySettings = `authentication "internal_hashed" with password_hash "SHA-256", storage "internal" (files), ` +
	`modules roster, saslauth, tls, disco, ping (+ those Prosody always loads; s2s off), network backend epoll (the default), log level warn`

// Provision writes the accounts and rosters as Prosody's internal storage
// keeps them (data_path/HOST/accounts/USER.dat, …/roster/USER.dat, HOST
// and USER %-encoded), which takes seconds where prosodyctl register takes
// a process start per account.
func (prosodyServer) Provision(ctx context.Context, pop *Population, dir string, log io.Writer) error {
	host := filepath.Join(dir, "data", prosodyEncode(xmppDomain))
	files := map[string][]byte{
		filepath.Join(dir, "cert.pem"): pop.CertPEM,
		filepath.Join(dir, "key.pem"):  pop.KeyPEM,
	}
	for i, u := range pop.Users {
		files[filepath.Join(host, "accounts", prosodyEncode(u.Local)+".dat")] = []byte(fmt.Sprintf(
			"return {\n\t[\"iteration_count\"] = %d;\n\t[\"salt\"] = %q;\n\t[\"server_key\"] = %q;\n\t[\"stored_key\"] = %q;\n};\n",
			pop.Iterations, u.Salt, hex.EncodeToString(u.ServerKey), hex.EncodeToString(u.StoredKey)))
		var b strings.Builder
		b.WriteString("return {\n\t[false] = {\n\t\t[\"pending\"] = {};\n\t\t[\"version\"] = 1;\n\t};\n")
		for _, j := range pop.Neighbours(i) {
			fmt.Fprintf(&b, "\t[%q] = {\n\t\t[\"groups\"] = {};\n\t\t[\"subscription\"] = \"both\";\n\t};\n", pop.Users[j].JID())
		}
		b.WriteString("};\n")
		files[filepath.Join(host, "roster", prosodyEncode(u.Local)+".dat")] = []byte(b.String())
	}
	return writeFiles(files)
}

// prosodyEncode is util.datamanager's encode: every non-alphanumeric byte
// as %xx.
func prosodyEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}

func (prosodyServer) Start(ctx context.Context, dir string, log io.Writer) (*ServerProcess, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	cfg := filepath.Join(dir, "prosody.cfg.lua")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`-- written by presenced bench xmpp-compare
run_as_root = true
pidfile = %[1]q .. "/prosody.pid"
data_path = %[1]q .. "/data"
log = { warn = %[1]q .. "/prosody.log" }
c2s_ports = { %[2]s }
c2s_interfaces = { "127.0.0.1" }
s2s_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "posix" }
modules_disabled = { "s2s" }
authentication = "internal_hashed"
password_hash = "SHA-256"
storage = "internal"
c2s_require_encryption = true
ssl = { certificate = %[1]q .. "/cert.pem", key = %[1]q .. "/key.pem", protocol = "tlsv1_3+" }
VirtualHost %[3]q
`, dir, port, xmppDomain)), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, prosodyBin, "--config", cfg, "-F")
	return startChild(ctx, cmd, filepath.Join(dir, "prosody.out"), addr)
}
