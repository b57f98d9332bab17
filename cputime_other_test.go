//go:build !unix

package yggr

// processCPUNanos is unavailable here; benchmarks report 0 CPU time.
func processCPUNanos() int64 { return 0 }
