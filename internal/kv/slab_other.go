//go:build !(linux || darwin || freebsd || netbsd || openbsd)

package kv

// mapSlab returns n bytes of Go heap: no anonymous mappings here. The
// collector frees a slab once nothing refers to it.
func mapSlab(n int) ([]byte, func([]byte)) { return make([]byte, n), nil }
