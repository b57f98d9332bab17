//go:build !unix

package log

import (
	"io"
	"os"
)

// mapSegment reads the first size bytes of f (no mmap here); release does
// nothing.
func mapSegment(f *os.File, size int64) ([]byte, func(), error) {
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, nil, err
	}
	return data, func() {}, nil
}
