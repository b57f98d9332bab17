package kv

import "syscall"

// mapPopulate asks mmap to fault a slab's pages in at once. A slab is
// written from front to back right after it is mapped, and taking its 256
// page faults one by one as the writes reach them cost more than the copies
// themselves: BenchmarkRestore1M 705-770 -> 476-574 ms, BenchmarkApplyPut
// -16% CPU (p=0.002, n=6), BenchmarkReopen with 1M keys 870-1121 -> 684-702
// ms. A slab is at most 1 MiB, so at most one
// partly written slab per store holds pages it does not use yet.
const mapPopulate = syscall.MAP_POPULATE
