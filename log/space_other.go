//go:build !unix

package log

import "errors"

// FreeBytes is not implemented on this platform: it returns an error, and
// callers then do not limit writes by free space.
func FreeBytes(path string) (uint64, error) {
	return 0, errors.New("log: free space is not known on this platform")
}
