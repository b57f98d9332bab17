//go:build !unix

package yggr

import "os"

// lockFile is a no-op where flock is not available: the storage engine's
// own lock still refuses a second Open, later and in its own words.
func lockFile(*os.File) error { return nil }
