package kv

import (
	"encoding/binary"
	"runtime"
	"slices"
	"sync/atomic"
	"unsafe"
)

// An arena holds the blobs of a store's items in slabs: large blocks
// mapped from the OS outside the Go heap where the platform allows it
// (slab_unix.go), so that the collector neither scans nor counts them: at
// GOGC=100 the Go heap peaks near twice its live size, and the blobs are
// most of a store's memory. A blob over maxBlob is allocated on the
// Go heap as before.
//
// Reclamation. A slab is unmapped by a cleanup (runtime.AddCleanup) on its
// handle, the *slab, once nothing reachable holds the handle. Whatever
// may read a blob holds the handle of its slab through a pinSet, the
// sorted handles of every slab the live tree could reference when it was
// taken:
//   - the Store holds its arena's current pinSet;
//   - a clone of the tree (Snapshot, Range's iterator) holds the pinSet of
//     the moment it was cloned: every blob the clone references was in the
//     live tree then, so its slab was in that set;
//   - a reader that copies an entry after releasing the lock (GetAt,
//     GetValueAt, ScanAt) keeps the pinSet it saw under the lock alive
//     until it has copied;
//   - an Event holds the pinSet of the moment it was recorded, which
//     covers its two blobs.
//
// A pinSet is never modified once published: adding or dropping a slab
// makes a new one. So a slab is freed only when no tree, clone, event or
// reader can reach it. Per slab, the arena counts the bytes of blobs the
// live tree references (live); when a full slab falls under half live,
// compact moves its live blobs to the current slab and drops it from the
// current pinSet. Off-heap memory is then at most about twice the live
// blobs plus one slab, and a dropped slab lingers only while an older
// clone, event or reader holds it.
//
// All methods run under the store's write lock (or, in Restore, on an
// arena nobody else sees yet).
type arena struct {
	slabSize int // bytes per slab; blobs up to slabSize/16 go in slabs
	pins     *pinSet
	cur      *slab   // the slab allocations go to; in pins; nil before the first
	sparse   []*slab // full slabs under half live, to compact
}

// slab is one block of blobs and the handle that keeps it mapped. Each
// blob is preceded by its length as a uvarint, so that compact can walk
// the slab.
type slab struct {
	mem    []byte
	used   int  // bytes allocated from the front of mem
	live   int  // bytes (with length prefixes) of blobs the live tree references
	marked bool // in the arena's sparse list
}

// pinSet is an immutable set of slabs sorted by address.
type pinSet struct {
	slabs []*slab
}

// slabBytes is the size of a slab: one transparent huge page on Linux
// (slab_linux.go). Compacting one copies at most half of it under the
// write lock.
const slabBytes = 2 << 20

func newArena() *arena { return newArenaSize(slabBytes) }

// newArenaSize returns an arena of slabs of size bytes (tests use small
// ones, to compact often).
func newArenaSize(size int) *arena { return &arena{slabSize: size, pins: &pinSet{}} }

// maxBlob is the largest blob a holds.
func (a *arena) maxBlob() int { return a.slabSize / 16 }

// slabsMapped counts the slabs mapped and not yet freed, in all arenas.
var slabsMapped atomic.Int64

// alloc returns n bytes in the current slab (n <= maxBlob), counted
// live, for a blob about to go into the live tree, and the entry's ref to
// it: its length, written in front of it.
func (a *arena) alloc(n int) (ref *byte, b []byte) {
	need := n + uvarintLen(uint64(n))
	if a.cur == nil || len(a.cur.mem)-a.cur.used < need {
		a.newSlab()
	}
	s := a.cur
	ref = &s.mem[s.used]
	h := binary.AppendUvarint(s.mem[s.used:s.used], uint64(n))
	start := s.used + len(h)
	s.used = start + n
	s.live += need
	return ref, s.mem[start : start+n : start+n]
}

// newSlab maps a slab and makes it current, in a new pinSet.
func (a *arena) newSlab() {
	mem, unmap := mapSlab(a.slabSize)
	s := &slab{mem: mem}
	slabsMapped.Add(1)
	runtime.AddCleanup(s, func(mem []byte) {
		if unmap != nil {
			unmap(mem)
		}
		slabsMapped.Add(-1)
	}, mem)
	if old := a.cur; old != nil {
		a.maybeSparse(old)
	}
	a.cur = s
	slabs := make([]*slab, 0, len(a.pins.slabs)+1)
	slabs = append(slabs, a.pins.slabs...)
	i, _ := slices.BinarySearchFunc(slabs, s, cmpSlab)
	slabs = slices.Insert(slabs, i, s)
	a.pins = &pinSet{slabs: slabs}
}

func cmpSlab(x, y *slab) int {
	px, py := uintptr(unsafe.Pointer(unsafe.SliceData(x.mem))), uintptr(unsafe.Pointer(unsafe.SliceData(y.mem)))
	switch {
	case px < py:
		return -1
	case px > py:
		return 1
	}
	return 0
}

// find returns the slab in p that holds the byte at ref, or nil (a heap
// blob, or nil).
func (p *pinSet) find(ref *byte) *slab {
	if len(p.slabs) == 0 || ref == nil {
		return nil
	}
	addr := uintptr(unsafe.Pointer(ref))
	i, _ := slices.BinarySearchFunc(p.slabs, addr, func(s *slab, addr uintptr) int {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(s.mem)))
		switch {
		case base+uintptr(len(s.mem)) <= addr:
			return -1
		case base > addr:
			return 1
		}
		return 0
	})
	if i < len(p.slabs) && inSlab(p.slabs[i], ref) {
		return p.slabs[i]
	}
	return nil
}

// release records that the blob of e left the live tree (overwritten or
// deleted).
func (a *arena) release(e entry) {
	s := a.pins.find(e.ref)
	if s == nil {
		return
	}
	n := len(e.blob())
	s.live -= n + uvarintLen(uint64(n))
	if s != a.cur {
		a.maybeSparse(s)
	}
}

// maybeSparse queues a full slab under half live for compaction.
func (a *arena) maybeSparse(s *slab) {
	if !s.marked && 2*s.live < s.used {
		s.marked = true
		a.sparse = append(a.sparse, s)
	}
}

// compact moves the live blobs of the sparse slabs queued so far into the
// current slab, replacing their entries in t (the live tree), and drops
// the emptied slabs from the current pinSet.
func (a *arena) compact(t *tree) {
	if len(a.sparse) == 0 {
		return
	}
	todo := a.sparse
	a.sparse = nil
	var drop []*slab
	for _, s := range todo {
		for off := 0; off < s.used; {
			e := entry{ref: &s.mem[off]}
			blob := e.blob()
			k := uvarintLen(uint64(len(blob)))
			off += k + len(blob)
			e.prefix = keyPrefix(e.key())
			got, found := t.Get(e)
			if !found || got.ref != e.ref {
				continue // overwritten or deleted: garbage
			}
			ref, b := a.alloc(len(blob))
			copy(b, blob)
			t.ReplaceOrInsert(entry{prefix: got.prefix, ref: ref})
			s.live -= len(blob) + k
		}
		if s.live == 0 {
			drop = append(drop, s)
		} // else a bug in the accounting: keep the slab, which is safe
	}
	if len(drop) > 0 {
		slabs := slices.DeleteFunc(slices.Clone(a.pins.slabs), func(s *slab) bool { return slices.Contains(drop, s) })
		a.pins = &pinSet{slabs: slabs}
	}
}

// bytes returns the bytes of the slabs in the current pinSet.
func (a *arena) bytes() int {
	n := 0
	for _, s := range a.pins.slabs {
		n += len(s.mem)
	}
	return n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
