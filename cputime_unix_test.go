//go:build unix

package yggr

import "syscall"

// processCPUNanos returns the user+system CPU time of the process so far:
// on a machine shared with other work, CPU time per op is a steadier
// measure than wall time.
func processCPUNanos() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
