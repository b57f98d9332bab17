package kv

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePageBytes is the size of an x86-64 or arm64 (4 KiB granule)
// transparent huge page, and of a slab (slabBytes): a slab aligned on it is
// one page.
const hugePageBytes = 2 << 20

// noPopulateWrite is set once MADV_POPULATE_WRITE (Linux 5.14) failed:
// slabs are then mapped with MAP_POPULATE, as before huge pages.
var noPopulateWrite atomic.Bool

// mapSlab returns n bytes of anonymous memory outside the Go heap, faulted
// in at once, and the function that unmaps them, or heap memory and nil if
// mapping fails.
//
// A slab is written from front to back right after it is mapped, and
// taking its page faults one by one as the writes reach them cost more than
// the copies themselves. So the slab is aligned on a huge page, marked
// MADV_HUGEPAGE and populated with MADV_POPULATE_WRITE: one fault, one page
// table entry and one TLB entry for its 2 MiB instead of 512 of each, which
// matters most on a virtual machine, where page table updates are dear.
// Where transparent huge pages are off ("never") the kernel maps small
// pages and populates them the same way; where its defrag setting lets a
// fault compact memory for a huge page, a slab's first fault may wait for
// that (slabs are mapped while applying, every 2 MiB of blobs).
//
// Measured against 1 MiB slabs mapped with MAP_POPULATE, base and new test
// binaries alternated on an idle machine: BenchmarkReopen with 450k keys,
// Open 349/369/353 -> 225/244/261 ms; TestFootprint1M's reopen 1.16/1.17 ->
// 1.00/1.03 s with its VmHWM unchanged (the slabs were fully resident
// before too); BenchmarkPut/conc=64 and BenchmarkGetBenchLoop no
// difference beyond the noise.
func mapSlab(n int) ([]byte, func([]byte)) {
	if noPopulateWrite.Load() {
		return mapSlabPopulate(n)
	}
	mem, err := mapAligned(n)
	if err != nil {
		return make([]byte, n), nil
	}
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE) // best effort: THP may be off
	if err := unix.Madvise(mem, unix.MADV_POPULATE_WRITE); err != nil {
		noPopulateWrite.Store(true)
		unmapSlab(mem)
		return mapSlabPopulate(n)
	}
	return mem, unmapSlab
}

// mapAligned maps n bytes (a multiple of hugePageBytes) at an address
// aligned on hugePageBytes. Recent kernels align such a mapping
// themselves; otherwise it maps n more bytes and unmaps the ends.
func mapAligned(n int) ([]byte, error) {
	mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil || n%hugePageBytes != 0 || addrOf(mem)%hugePageBytes == 0 {
		return mem, err
	}
	unmapSlab(mem)
	return mapTrimmed(n)
}

// mapTrimmed maps n+hugePageBytes bytes and unmaps the ends around the
// aligned n in the middle.
func mapTrimmed(n int) ([]byte, error) {
	big, err := unix.Mmap(-1, 0, n+hugePageBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return nil, err
	}
	head := int((hugePageBytes - addrOf(big)%hugePageBytes) % hugePageBytes)
	if head > 0 {
		_ = unix.Munmap(big[:head])
	}
	if tail := big[head+n:]; len(tail) > 0 {
		_ = unix.Munmap(tail)
	}
	return big[head : head+n : head+n], nil
}

func addrOf(mem []byte) uintptr { return uintptr(unsafe.Pointer(unsafe.SliceData(mem))) }

// mapSlabPopulate maps n bytes faulted in by mmap itself (MAP_POPULATE).
func mapSlabPopulate(n int) ([]byte, func([]byte)) {
	mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE|unix.MAP_POPULATE)
	if err != nil {
		return make([]byte, n), nil
	}
	return mem, unmapSlab
}

func unmapSlab(mem []byte) { _ = unix.Munmap(mem) }
