//go:build !linux

package snapshot

import "os"

// adviseWillNeed does nothing where posix_fadvise is not used; chunks are
// then read when they are loaded.
func adviseWillNeed(f *os.File) error { return nil }
