package kv

import (
	"runtime"
	"unsafe"
)

// A blobList is a snapshot's items as the blobs of their entries, in key
// order, in memory outside the Go heap where the platform allows it (like
// the arena's slabs). A Snapshot walks its tree clone into one before it
// writes, then drops the clone.
//
// Why. A clone shares the tree's nodes, and the next write to each node of
// the live tree copies it (copy-on-write). While the clone is held, the
// nodes it shares stay live beside their copies: a snapshot written at the
// snapshot writer's paced rate (seconds for a million keys) under random
// writes held most of the tree twice, ~32 B/key more live heap, which
// GOGC=100 doubled again at the heap's peak. A blobList costs 16 B/item,
// outside the heap, and only while the snapshot is being written; the
// clone is dropped after one pass over it (tens of milliseconds for a
// million keys), so the live tree's copies leave garbage, not a second
// live tree. Measured in TestFootprint1M (see doc.go).
//
// Memory safety. The list's memory is not scanned by the collector, so
// what it points to must be kept alive by something the collector sees:
// the blobs in slabs by the snapshot's pinSet (every blob of the clone was
// in the live tree when the pinSet was taken), and the blobs on the Go heap
// (over the arena's maxBlob, or every blob where slabs fall back to the
// heap) by big, which holds each of them once more.
type blobList struct {
	blobs []string // the items' blobs in key order; aliases mem
	big   []string // the blobs among them that live on the Go heap
}

// flatten returns the blobs of t's entries in key order. Blobs not in a
// slab of pins are also kept in big.
func flatten(t *tree, pins *pinSet) *blobList {
	n := t.Len()
	l := &blobList{}
	if n == 0 {
		return l
	}
	mem, unmap := mapSlab(n * int(unsafe.Sizeof("")))
	l.blobs = unsafe.Slice((*string)(unsafe.Pointer(unsafe.SliceData(mem))), n)
	if unmap != nil {
		runtime.AddCleanup(l, unmap, mem)
	}
	i := 0
	var last *slab // consecutive blobs are often in the same slab
	t.Ascend(func(e entry) bool {
		if !inSlab(last, e.blob) {
			if last = pins.find(e.blob); last == nil {
				l.big = append(l.big, e.blob)
			}
		}
		l.blobs[i] = e.blob
		i++
		return true
	})
	return l
}

// inSlab reports whether blob lies in s (nil: no).
func inSlab(s *slab, blob string) bool {
	if s == nil {
		return false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(s.mem)))
	addr := uintptr(unsafe.Pointer(unsafe.StringData(blob)))
	return base <= addr && addr < base+uintptr(len(s.mem))
}
