package yggr

import (
	"os"

	"golang.org/x/sys/unix"
)

// dropFileCache asks the kernel to drop path's clean pages from the page
// cache (posix_fadvise DONTNEED).
func dropFileCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
