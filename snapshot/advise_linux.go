package snapshot

import (
	"os"

	"golang.org/x/sys/unix"
)

// adviseWillNeed asks the kernel to start reading f into the page cache
// (posix_fadvise WILLNEED): it queues the reads and returns without
// waiting for them.
func adviseWillNeed(f *os.File) error {
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_WILLNEED)
}
