//go:build unix

package main

import (
	"os"
	"syscall"
)

// resume continues a process that may have been stopped (SIGSTOP), so that
// it can act on a termination signal.
func resume(p *os.Process) { p.Signal(syscall.SIGCONT) }
