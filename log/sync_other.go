//go:build !linux

package log

import "os"

// datasync flushes f to stable storage; without fdatasync(2) this is a
// full fsync.
func datasync(f *os.File) error { return f.Sync() }
