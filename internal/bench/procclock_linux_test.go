package bench

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// The CPU clock counts what /proc/PID/stat's ticks count, finer: after
// this process burned some ticks, the clock moved at least as far (less
// one tick per reading's rounding).
func TestProcCPUClockCountsWhatTicksCount(t *testing.T) {
	pid := os.Getpid()
	ticks0, err := procTicks(pid)
	if err != nil {
		t.Fatal(err)
	}
	clock0, ok := procCPUClock(pid)
	if !ok {
		t.Fatal("no CPU clock for this process")
	}
	deadline := time.Now().Add(time.Minute) // a hang guard only
	x := 0
	for {
		for i := 0; i < 1e6; i++ {
			x += i
		}
		ticks1, _ := procTicks(pid)
		if ticks1-ticks0 >= 50*time.Millisecond || time.Now().After(deadline) {
			clock1, _ := procCPUClock(pid)
			if clock1-clock0 < ticks1-ticks0-20*time.Millisecond {
				t.Fatalf("CPU clock moved %v, ticks %v", clock1-clock0, ticks1-ticks0)
			}
			break
		}
	}
	_ = x
}

// Another process's clock can be read (the benchmarks read the server's).
func TestProcCPUClockOfAnotherProcess(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep command:", err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if _, ok := procCPUClock(cmd.Process.Pid); !ok {
		t.Fatal("cannot read a child's CPU clock")
	}
}
