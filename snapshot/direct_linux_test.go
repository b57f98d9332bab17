package snapshot

import (
	"slices"
	"testing"
	"unsafe"
)

// TestDirectChunks checks that full chunks of an aligned size are written
// with O_DIRECT where the file system allows it, that the bytes read back
// are the bytes written, and that the page-cache path writes the same.
func TestDirectChunks(t *testing.T) {
	for _, direct := range []bool{true, false} {
		t.Run(map[bool]string{true: "direct", false: "page cache"}[direct], func(t *testing.T) {
			defer func(old bool) { directIO = old }(directIO)
			directIO = direct
			s := openStore(t, t.TempDir(), Options{ChunkBytes: 4 * directAlign})
			w, err := s.Create(metaOf(9, 2))
			if err != nil {
				t.Fatal(err)
			}
			defer w.Abort()
			if w.direct != direct {
				t.Fatalf("new Writer: direct %v, want %v", w.direct, direct)
			}
			if p := uintptr(unsafe.Pointer(unsafe.SliceData(w.buf))); direct && p%directAlign != 0 {
				t.Fatalf("buffer at %#x is not aligned to %d", p, directAlign)
			}
			data := payload(5, 5*4*directAlign+123)
			for p := data; len(p) > 0; {
				k := min(len(p), 3000)
				if _, err := w.Write(p[:k]); err != nil {
					t.Fatal(err)
				}
				p = p[k:]
			}
			if direct && !w.direct {
				t.Skip("the test directory's file system refuses O_DIRECT; the page-cache fallback wrote the chunks")
			}
			if _, err := w.Commit(); err != nil {
				t.Fatal(err)
			}
			got, err := readSnap(s, 9, 2)
			if err != nil || !slices.Equal(got, data) {
				t.Fatalf("read back %d bytes, %v; want the %d written", len(got), err, len(data))
			}
		})
	}
}
