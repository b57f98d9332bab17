package main

import "syscall"

// childProcAttr makes a child die with the parent process (the demo's
// nodes must not outlive it, even if it is killed).
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
