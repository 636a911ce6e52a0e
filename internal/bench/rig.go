// Package bench holds presenced's load generators (presenced bench …). Each
// starts the real server binary as a child process on loopback, prepares
// accounts directly in its data directory, drives it with the Go client
// and reads the server's own memory and CPU from /proc. See
// docs/benchmarks.md for how to run them and what they measured.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/presenced/presenced/internal/auth"
	"github.com/presenced/presenced/internal/clock"
	"github.com/presenced/presenced/internal/freeport"
	"github.com/presenced/presenced/internal/server"
	"github.com/presenced/presenced/internal/store"
)

// Rig is a presenced server process under test.
type Rig struct {
	DataDir string
	URL     string
	Admin   string
	cmd     *exec.Cmd
}

// Account is a prepared account with a bearer token.
type Account struct {
	Address string
	Token   string
}

// Prepare creates accounts name0…name{n-1}@bench.test with tokens, in one
// data directory, before the server starts. Passwords are not hashed: the
// benchmark signs in with tokens, as reconnecting clients do.
func Prepare(ctx context.Context, dataDir, name string, n int) ([]Account, store.Store, error) {
	return PrepareDomain(ctx, dataDir, name, "bench.test", n)
}

// PrepareDomain is Prepare for accounts of domain.
func PrepareDomain(ctx context.Context, dataDir, name, domain string, n int) ([]Account, store.Store, error) {
	st, err := server.OpenStore(ctx, dataDir)
	if err != nil {
		return nil, nil, err
	}
	out, err := prepareAccounts(ctx, st, name, domain, 0, n, 1)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return out, st, nil
}

// prepareAccounts creates accounts name{from}…name{from+n-1}@domain in st,
// each with a token, workers at a time (a networked store such as
// PostgreSQL gains from several; SQLite writes one at a time anyway).
func prepareAccounts(ctx context.Context, st store.Store, name, domain string, from, n, workers int) ([]Account, error) {
	a := &auth.Auth{Store: st, Clock: clock.Real{}}
	out := make([]Account, n)
	err := parallel(n, workers, func(i int) error {
		address := fmt.Sprintf("%s%d@%s", name, from+i, domain)
		if err := st.CreateAccount(ctx, store.Account{Address: address, PasswordHash: "-", CreatedAt: time.Now()}); err != nil {
			return err
		}
		secret, _, err := a.IssueToken(ctx, address, "bench")
		out[i] = Account{Address: address, Token: secret}
		return err
	})
	return out, err
}

var servingURL = regexp.MustCompile(`on (https?://\S+)/`)

// Start runs bin serve on dataDir with extra flags and waits until ready.
func Start(ctx context.Context, bin, dataDir string, extra ...string) (*Rig, error) {
	admin, err := freeport.Addr()
	if err != nil {
		return nil, err
	}
	// every listener on a free port (extra may name others: the last wins)
	args := []string{"serve", "--data-dir", dataDir, "--http-addr", "127.0.0.1:0", "--admin-addr", admin, "--xmpp-addr", "127.0.0.1:0",
		"--log-level", "warn", "--session-rate", "1000000", "--session-burst", "1000000"}
	if !slices.Contains(extra, "--domain") {
		args = append(args, "--domain", "bench.test")
	}
	args = append(args, extra...)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &Rig{DataDir: dataDir, Admin: "http://" + admin, cmd: cmd}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := servingURL.FindStringSubmatch(sc.Text()); m != nil {
			r.URL = strings.Replace(m[1], "localhost", "127.0.0.1", 1)
			break
		}
	}
	go io.Copy(io.Discard, out)
	if r.URL == "" {
		r.Stop()
		return nil, fmt.Errorf("server did not start")
	}
	if WaitReady(r.URL + "/readyz") {
		return r, nil
	}
	r.Stop()
	return nil, fmt.Errorf("server not ready")
}

// WaitReady polls url until it answers 200, for up to a minute (a node of
// a cluster on a busy machine needs its store and NATS first).
func WaitReady(url string) bool {
	for i := 0; i < 1200; i++ {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// Stop ends the server.
func (r *Rig) Stop() { StopProcess(r.cmd) }

// StopProcess interrupts a server process and waits for it to end, killing
// it after 15 s.
func StopProcess(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
	}
}

// GC asks the server to collect garbage.
func (r *Rig) GC() { ForceGC(r.Admin) }

// ForceGC asks the Go program serving net/http/pprof at base (…/debug/pprof
// under it) to collect garbage, through pprof's heap?gc=1: how every Go
// server measured here is collected.
func ForceGC(base string) {
	if resp, err := http.Get(base + "/debug/pprof/heap?gc=1"); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// ProfileCPU records the server's CPU profile for d into the file named by
// PRESENCED_BENCH_CPU, if set; it returns at once.
func (r *Rig) ProfileCPU(d time.Duration) {
	go r.saveProfile("PRESENCED_BENCH_CPU", fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d/time.Second)))
}

// SaveHeapProfile writes the server's heap profile to the file named by
// PRESENCED_BENCH_HEAP, if set (for go tool pprof).
func (r *Rig) SaveHeapProfile() { r.saveProfile("PRESENCED_BENCH_HEAP", "/debug/pprof/heap?gc=1") }

// saveProfile fetches an admin pprof path into the file env names, if any.
func (r *Rig) saveProfile(env, path string) {
	file := os.Getenv(env)
	if file == "" {
		return
	}
	resp, err := http.Get(r.Admin + path)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	if f, err := os.Create(file); err == nil {
		io.Copy(f, resp.Body)
		f.Close()
	}
}

// Allocs is how many heap objects and bytes the server allocated so far
// (the Go runtime's Mallocs and TotalAlloc, as the admin listener's heap
// profile heads them): a measure of a phase's garbage, exact where the
// profile's samples are not.
func (r *Rig) Allocs() (objects, bytes uint64, err error) {
	resp, err := http.Get(r.Admin + "/debug/pprof/heap?debug=1")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	found := 0
	for sc.Scan() {
		f := strings.Fields(sc.Text()) // "# Mallocs = N"
		if len(f) != 4 || f[0] != "#" || f[2] != "=" {
			continue
		}
		switch f[1] {
		case "Mallocs":
			objects, err = strconv.ParseUint(f[3], 10, 64)
			found++
		case "TotalAlloc":
			bytes, err = strconv.ParseUint(f[3], 10, 64)
			found++
		}
		if err != nil {
			return 0, 0, err
		}
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("no Mallocs and TotalAlloc in the heap profile")
	}
	return objects, bytes, sc.Err()
}

// PID is the server's process id.
func (r *Rig) PID() int { return r.cmd.Process.Pid }

// RSS is the server's resident set size in bytes.
func (r *Rig) RSS() (int64, error) { return procRSS(r.cmd.Process.Pid) }

// Writes is how many write(2) calls (and the like) the server made so
// far (/proc/PID/io syscw): every socket write, so a measure of batching.
func (r *Rig) Writes() (int64, error) { return procWrites(r.cmd.Process.Pid) }

// CPU is the server's user+system CPU time so far.
func (r *Rig) CPU() (time.Duration, error) { return procCPU(r.cmd.Process.Pid) }

// Metric reads one unlabelled series from the server's /metrics, which is
// served on the admin listener only.
func (r *Rig) Metric(name string) float64 {
	resp, err := http.Get(r.Admin + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			v, _ := strconv.ParseFloat(f[1], 64)
			return v
		}
	}
	return -1
}
