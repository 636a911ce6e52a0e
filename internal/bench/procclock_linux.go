package bench

import (
	"syscall"
	"time"
	"unsafe"
)

// procCPUClock reads a process's CPU clock: user and system time of all its
// threads, in nanoseconds. /proc/PID/stat counts in 10 ms ticks, too coarse
// for an idle server that spends a few ms a second (issue 9: the idle CPU
// per 1,000 sessions is a fraction of a per cent of a core).
func procCPUClock(pid int) (time.Duration, bool) {
	// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED) of the kernel's
	// posix-cpu-timers: the process's scheduler clock
	clock := int32(^uint32(pid)<<3 | 2)
	var ts syscall.Timespec
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(clock), uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
