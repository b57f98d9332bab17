//go:build unix

package log

import (
	"os"

	"golang.org/x/sys/unix"
)

// mapSegment maps the first size bytes of f read-only and returns them
// with the function that unmaps them. A segment is scanned through the
// mapping, so its bytes are paged in as they are read and never copied to
// the heap: a segment file of any length (one a large record made, or a
// damaged directory's) costs page cache, which the kernel can reclaim,
// not memory the process must hold. Nothing may keep a slice of the
// mapping after release.
func mapSegment(f *os.File, size int64) ([]byte, func(), error) {
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, err
	}
	return data, func() { unix.Munmap(data) }, nil
}
