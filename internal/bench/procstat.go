package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"time"
)

// procRSS is a process's resident set size in bytes (VmRSS of
// /proc/PID/status), read the same way for every server measured.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, err := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for process %d", pid)
}

// procCPU is a process's user+system CPU time so far: its CPU clock in
// nanoseconds where the system has one (procCPUClock), else
// /proc/PID/stat's ticks.
func procCPU(pid int) (time.Duration, error) {
	if d, ok := procCPUClock(pid); ok {
		return d, nil
	}
	return procTicks(pid)
}

// procTicks is a process's user+system CPU time from /proc/PID/stat, in
// 10 ms ticks.
func procTicks(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

// findExe returns root or the first of its descendants whose executable is
// named exe (a server started through a wrapper script, such as Erlang's
// erl, is measured in its real process: beam.smp), or 0.
func findExe(root int, exe string) int {
	if target, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", root)); err == nil && filepath.Base(target) == exe {
		return root
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", root, root))
	if err != nil {
		return 0
	}
	for _, c := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(c); err == nil {
			if found := findExe(pid, exe); found != 0 {
				return found
			}
		}
	}
	return 0
}

// selfCPU is this process's CPU time so far: the load generator's, read the
// same way as the server's.
func selfCPU() time.Duration {
	d, _ := procCPU(os.Getpid())
	return d
}

// profileSelf records this process's CPU profile for d into the file named
// by PRESENCED_BENCH_SELF_CPU, if set, so the load generator can be checked
// for being the bottleneck; stop ends it early. It returns at once.
func profileSelf(d time.Duration) (stop func()) {
	file := os.Getenv("PRESENCED_BENCH_SELF_CPU")
	if file == "" {
		return func() {}
	}
	f, err := os.Create(file)
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	var once sync.Once
	end := func() {
		once.Do(func() {
			pprof.StopCPUProfile()
			f.Close()
		})
	}
	time.AfterFunc(d, end)
	return end
}

// procWrites is a process's count of write system calls so far
// (/proc/PID/io syscw).
func procWrites(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw:"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no syscw in /proc/%d/io", pid)
}

// ProcRSS and ProcCPU read another server's memory and CPU exactly as the
// Rig reads presenced's (bench/centrifugo measures Centrifugo with them).
func ProcRSS(pid int) (int64, error) { return procRSS(pid) }

// ProcCPU: see ProcRSS.
func ProcCPU(pid int) (time.Duration, error) { return procCPU(pid) }
