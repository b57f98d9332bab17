//go:build !linux

package main

import "syscall"

// childProcAttr: no parent-death signal outside Linux; the demo stops its
// nodes on exit and on Ctrl-C.
func childProcAttr() *syscall.SysProcAttr { return nil }
