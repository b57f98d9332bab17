//go:build darwin || freebsd || netbsd || openbsd

package kv

import "syscall"

// mapSlab returns n bytes of anonymous memory outside the Go heap and the
// function that unmaps them, or heap memory and nil if mapping fails.
// Pages fault in as they are written (Linux: slab_linux.go).
func mapSlab(n int) ([]byte, func([]byte)) {
	mem, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]byte, n), nil
	}
	return mem, unmapSlab
}

func unmapSlab(mem []byte) { _ = syscall.Munmap(mem) }
