//go:build unix

package log

import "golang.org/x/sys/unix"

// FreeBytes returns the bytes an unprivileged process may still write to
// the file system holding path (statfs's available blocks times their
// size).
func FreeBytes(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), nil
}
