//go:build !linux

package yggr

// dropFileCache does nothing where posix_fadvise is not used: the cold
// variant of BenchmarkReopen then measures a warm cache.
func dropFileCache(path string) error { return nil }
