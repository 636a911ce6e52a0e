package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/presenced/presenced/internal/freeport"
)

// XMPPServer is an XMPP server under test. The side-by-side comparison
// (XMPPCompare) gives each the same Population, runs each as a child
// process on a free loopback port with its own configuration and data
// directory, and drives each with the same client.
type XMPPServer interface {
	Name() string
	// Version as the server's package or binary reports it.
	Version() string
	// Settings says how it is run, for the report.
	Settings() string
	// Provision writes the population into dir, once, before any round.
	Provision(ctx context.Context, pop *Population, dir string, log io.Writer) error
	// Start runs the server on dir until ServerProcess.Stop (once a round).
	Start(ctx context.Context, dir string, log io.Writer) (*ServerProcess, error)
}

// NewXMPPServer returns the server under test of that name: presenced (the
// binary bin), prosody or ejabberd (Debian's packages).
func NewXMPPServer(name, bin string) (XMPPServer, error) {
	switch name {
	case "presenced":
		return presencedServer{bin: bin}, nil
	case "prosody":
		if _, err := exec.LookPath(prosodyBin); err != nil {
			return nil, fmt.Errorf("prosody: %w (Debian: apt-get install prosody)", err)
		}
		return prosodyServer{debPackage{"prosody", prosodySettings}}, nil
	case "ejabberd":
		if _, err := os.Stat(ejabberdLibs); err != nil {
			return nil, fmt.Errorf("ejabberd: %w (Debian: apt-get install ejabberd)", err)
		}
		return ejabberdServer{debPackage{"ejabberd", ejabberdSettings}}, nil
	}
	return nil, fmt.Errorf("unknown server %q (presenced, prosody, ejabberd)", name)
}

// ServerProcess is a running server under test.
type ServerProcess struct {
	Addr string // XMPP client listener (STARTTLS), host:port
	PID  int    // the process whose memory and CPU are read
	cmd  *exec.Cmd
	done chan struct{}
	stop func() // nil: SIGTERM to PID
}

// RSS is the server's resident set size in bytes.
func (p *ServerProcess) RSS() (int64, error) { return procRSS(p.PID) }

// CPU is the server's user+system CPU time so far.
func (p *ServerProcess) CPU() (time.Duration, error) { return procCPU(p.PID) }

// Stop ends the server: SIGTERM, then SIGKILL after 20 s.
func (p *ServerProcess) Stop() {
	if p.stop != nil {
		p.stop()
		return
	}
	syscall.Kill(p.PID, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		syscall.Kill(p.PID, syscall.SIGKILL)
		p.cmd.Process.Kill()
		<-p.done
	}
}

// startChild runs cmd with its output in logFile and waits until addr
// accepts connections.
func startChild(ctx context.Context, cmd *exec.Cmd, logFile, addr string) (*ServerProcess, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, err
	}
	p := &ServerProcess{Addr: addr, PID: cmd.Process.Pid, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	if err := waitListening(ctx, addr, p.done, 90*time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%s: %w (see %s)", filepath.Base(cmd.Path), err, logFile)
	}
	return p, nil
}

// waitListening waits until addr accepts a TCP connection.
func waitListening(ctx context.Context, addr string, exited <-chan struct{}, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before listening on %s", addr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %s", addr, limit)
		}
	}
}

// freeAddr is a loopback address with a port nothing listens on now.
func freeAddr() (string, error) { return freeport.Addr() }

// debPackage names a server installed from the Debian package of that name.
type debPackage struct{ name, settings string }

func (d debPackage) Name() string     { return d.name }
func (d debPackage) Settings() string { return d.settings }

// Version is the installed package's version.
func (d debPackage) Version() string {
	out, err := exec.Command("dpkg-query", "-W", "-f", "${Version}", d.name).Output()
	if err != nil {
		return "(unknown)"
	}
	return strings.TrimSpace(string(out))
}

func writeFiles(files map[string][]byte) error {
	for name, b := range files {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(name, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
