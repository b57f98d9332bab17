//go:build !linux

package snapshot

// dropFileCache does nothing where posix_fadvise is not used:
// BenchmarkReadCold then reads from the page cache.
func dropFileCache(path string) error { return nil }
