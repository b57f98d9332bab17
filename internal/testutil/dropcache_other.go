//go:build !linux

package testutil

// DropFileCache does nothing where posix_fadvise is not used: a "cold"
// benchmark then reads from the page cache.
func DropFileCache(path string) error { return nil }
