package testutil

import (
	"os"

	"golang.org/x/sys/unix"
)

// DropFileCache asks the kernel to drop path's clean pages from the page
// cache (posix_fadvise DONTNEED), so that a benchmark reads the file from
// the device as after a reboot or an O_DIRECT write.
func DropFileCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}
