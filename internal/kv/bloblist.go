package kv

import (
	"runtime"
	"unsafe"
)

// A blobList is a snapshot's items as the refs of their entries (see
// entry.ref), in key order, in memory outside the Go heap where the
// platform allows it (like the arena's slabs). A Snapshot walks its tree
// clone into one before it writes, then drops the clone.
//
// Why. A clone shares the tree's nodes, and the next write to each node of
// the live tree copies it (copy-on-write). While the clone is held, the
// nodes it shares stay live beside their copies: a snapshot written at the
// snapshot writer's paced rate (seconds for a million keys) under random
// writes held most of the tree twice, ~20-30 B/key more live heap, which
// GOGC=100 doubled again at the heap's peak. A blobList costs 8 B/item,
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
	refs []*byte // the items' refs in key order; in memory the list maps
	big  []*byte // the refs among them to the Go heap
}

// flatten returns the refs of t's entries in key order. Refs not into a
// slab of pins are also kept in big.
func flatten(t *tree, pins *pinSet) *blobList {
	n := t.Len()
	l := &blobList{}
	if n == 0 {
		return l
	}
	mem, unmap := mapSlab(n * int(unsafe.Sizeof((*byte)(nil))))
	l.refs = unsafe.Slice((**byte)(unsafe.Pointer(unsafe.SliceData(mem))), n)
	if unmap != nil {
		runtime.AddCleanup(l, unmap, mem)
	}
	i := 0
	var last *slab // consecutive blobs are often in the same slab
	t.Ascend(func(e entry) bool {
		if !inSlab(last, e.ref) {
			if last = pins.find(e.ref); last == nil {
				l.big = append(l.big, e.ref)
			}
		}
		l.refs[i] = e.ref
		i++
		return true
	})
	return l
}

// inSlab reports whether p points into s (nil: no).
func inSlab(s *slab, p *byte) bool {
	if s == nil {
		return false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(s.mem)))
	addr := uintptr(unsafe.Pointer(p))
	return base <= addr && addr < base+uintptr(len(s.mem))
}
