package pgtest

import (
	"fmt"
	"net"
	"os"
	osexec "os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// Server is a PostgreSQL server of one test's own, which the test may stop
// and start again (the shared one of Env must never be): Debian's
// binaries, a cluster in a temporary directory, a free port, trust
// authentication on 127.0.0.1.
type Server struct {
	t    testing.TB
	bin  string // the directory of initdb and pg_ctl
	dir  string
	port int
	uid  int // to run as (the postgres user when the test runs as root), or -1
}

// Private starts a server for t alone, stopped when t ends. It skips t
// unless Env is set (the switch of PostgreSQL tests) and Debian's
// binaries are installed (/usr/lib/postgresql/*/bin, as .ci/run installs).
func Private(t testing.TB) *Server {
	t.Helper()
	AdminDSN(t)
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(bins) == 0 {
		t.Skip("no PostgreSQL binaries in /usr/lib/postgresql/*/bin: no private server to restart (apt-get install postgresql)")
	}
	slices.Sort(bins) // one version is installed here; of several, any will do
	s := &Server{t: t, bin: filepath.Dir(bins[len(bins)-1]), uid: -1}
	dir, err := os.MkdirTemp("", "presenced-pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 { // PostgreSQL refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("running as root and no postgres user to run PostgreSQL as: %v", err)
		}
		s.uid, _ = strconv.Atoi(u.Uid)
		if err := os.Chown(dir, s.uid, -1); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	s.run("initdb", "-D", s.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8")
	s.Start()
	t.Cleanup(func() { s.ctl("-m", "immediate", "stop") })
	return s
}

// DSN is the URL of the server's postgres database, as its superuser.
func (s *Server) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// Start starts the server (again), waiting until it accepts connections.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.ctl("-l", filepath.Join(s.dir, "log"), "-w", "-t", "120",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", s.port, s.dir), "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		s.t.Fatalf("pg_ctl start: %v\n%s", err, log)
	}
}

// Crash stops the server as a crash would (immediate mode: no checkpoint;
// the next start recovers from the write-ahead log).
func (s *Server) Crash() {
	s.t.Helper()
	if err := s.ctl("-m", "immediate", "-w", "stop"); err != nil {
		s.t.Fatalf("pg_ctl stop: %v", err)
	}
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) ctl(args ...string) error {
	return s.command("pg_ctl", append([]string{"-D", s.data()}, args...)...).Run()
}

func (s *Server) run(name string, args ...string) {
	s.t.Helper()
	if out, err := s.command(name, args...).CombinedOutput(); err != nil {
		s.t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

// command runs a PostgreSQL binary as the user the server runs as.
func (s *Server) command(name string, args ...string) *osexec.Cmd {
	path := filepath.Join(s.bin, name)
	if s.uid >= 0 {
		return osexec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return osexec.Command(path, args...)
}
