//go:build !linux

package bench

import "time"

// procCPUClock is Linux-only; elsewhere procCPU reads /proc.
func procCPUClock(int) (time.Duration, bool) { return 0, false }
