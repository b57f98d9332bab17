// Package kv implements yggr's replicated key-value state machine: an
// ordered in-memory B-tree (github.com/google/btree) of items, the byte
// encoding of the commands that travel in Raft log entries and of the
// results that travel back to a proposing node, and snapshot/restore as a
// checksummed byte stream.
//
// Every item records the log index that created its key (CreateIndex), the
// index of its last modification (ModIndex) and how many times it has been
// modified (Version), so that clients can compare-and-swap on a value or on
// a modification index, take locks (create if missing), and keep counters.
//
// # Usage
//
// The node's apply goroutine owns the writes; readers may run anywhere:
//
//	s := kv.New()
//	limits := kv.Limits{} // defaults
//	if err := limits.CheckPut(key, value); err != nil { ... } // before proposing
//	entry := kv.EncodePut(key, value)                          // the Raft entry's data
//	// ... once the entry is committed at index i, on the apply goroutine:
//	res, err := kv.DecodeResult(s.Apply(i, entry))
//	// ... anywhere:
//	it, ok := s.Get(key)
//	for it := range s.Range(start, nil) { ... }
//	// ... snapshot: clone on the apply goroutine, write out elsewhere:
//	sn := s.Snapshot()
//	// ... then, on a snapshot goroutine, while Applies go on:
//	n, err := sn.WriteTo(w)
//	// ... install a snapshot, on the apply goroutine:
//	err = s.Restore(r)
//
// Transactions (EncodeTxn) evaluate every Compare against the state before
// the transaction, then run the Then requests if all hold, else the Else
// requests, in order, at one log index; a get inside a transaction sees the
// puts and deletes before it. A missing key has ModIndex 0, so CmpModIndex
// with ModIndex 0 means "create only if missing" as well as CmpMissing does.
// CmpCreateIndex tests the index that created the key (0: missing): it
// holds only while the very key created then exists, across later puts to
// it, which is what a lock holder's fencing compare needs.
//
// # Design
//
// Apply and the readers share the tree under a sync.RWMutex; a command
// holds the write lock for its whole application, which makes transactions
// atomic for readers. Range and Snapshot take an O(1) copy-on-write Clone
// of the tree, so long iterations and snapshot writes never block Apply.
// A Snapshot's WriteTo first walks its clone into a list of blobs outside
// the heap (8 B/item) and drops the clone, so that the nodes the live tree
// copies on write while a paced snapshot is written are garbage rather
// than a second live tree (bloblist.go).
// Entries are never modified in place once in the tree (clones share
// them); Get, Scan and Range copy what they return.
//
// Memory is the state machine's main cost, so an item takes two pieces: a
// 16-byte tree entry, stored by value in the B-tree's nodes, and one
// immutable blob that holds everything else (uvarint key length, key,
// uvarint CreateIndex, ModIndex and Version, value), which the entry
// points at through the blob's length written in front of it. Blobs up
// to 128 KiB are packed into 2 MiB slabs mapped outside the Go heap (see
// arena.go): the collector neither scans them nor counts them toward
// GOGC's goal, which at GOGC=100 let the heap peak near twice its live
// size. A slab is unmapped only once no tree, clone, event or reader can
// reach it, and a slab under half live is compacted. The entry
// is the blob's pointer and the first 8 bytes of the key as an integer, so most
// comparisons in a large tree do not follow the blob pointer (a cache
// miss): this roughly halved Get's CPU time on a 1M-key store. The tree has
// degree 32 (nodes of up to 63 entries, 1 KiB), where smaller degrees
// waste more node capacity and larger ones make each copy-on-write copy
// after a Clone dearer. Restore inserts each batch of keys in descending
// order, which leaves the tree's nodes allocated at their size instead of
// half empty (see insertDescending).
//
// Measured with TestFootprint1M on 1M keys of 16 B with 128 B values (144
// B/key raw): the tree 23 B/key of live heap after 1M puts or 10k
// transactions of 100 puts, 20 after Restore, and slabs of 152-154 B/key
// (153 bytes of blob and length prefix each); after overwriting every key
// once more, 24 and 160. The heap peaks at 41-49 B/key while building.
// With 24-byte entries (a string for the blob) the tree took 32, 28 and
// 33 B/key and the heap peaked at 56-69. With
// each blob its own heap allocation (the layout before slabs) the live
// heap was 192 B/key and peaked near 380; before that (80-byte entries of
// an Item, the key and value in a separate allocation, degree 16) 266 and
// 329 B/key live.
//
// Encodings are written by hand with encoding/binary: a version byte, a
// kind byte, then canonical uvarints and uvarint-length-prefixed bytes.
// Decoders bound every length by the bytes actually left before they
// allocate, reject what the encoder would never write (so whatever decodes
// re-encodes to the same bytes), and never panic. Golden files in testdata
// lock the bytes.
//
// # Caveats
//
//   - Apply's behaviour is part of the replicated protocol: every replica
//     must decode and apply the same bytes the same way. Changing what
//     DecodeCommand accepts, or what a command does, needs a new command
//     version and a rolling-upgrade plan. Limits are deliberately not
//     checked by Apply for this reason: check them before proposing.
//   - Store.Apply does not fill Result.Prev (it would copy the previous
//     value, up to MaxValueBytes, on every write); the field is reserved.
//   - Every Range or Snapshot makes the next writes to each touched B-tree
//     node copy it (about 1.5 KiB per node); frequent ranges on a write-heavy
//     store cost allocation. Scan reads under the read lock instead, so a
//     Scan with no limit over a large range delays Apply while it collects:
//     use Range for large iterations.
//   - The whole state lives in memory; Restore builds the new tree next to
//     the old one before swapping, so it briefly needs twice the memory.
//   - Go's collector lets the heap grow to about twice the live heap
//     between collections (GOGC=100); the slabs are outside that, but the
//     tree's nodes (~32 B/key) and the rest of the process's heap are not.
//     Slabs are memory the Go runtime does not report (runtime.MemStats,
//     GOMEMLIMIT): a host sizing a memory limit must leave room for them.
//     On platforms without anonymous mappings (slab_other.go) the slabs
//     are Go heap.
//   - Every blob in a slab pins the slab while anything holds it: a Range
//     iterator or Snapshot kept long after the store moved on keeps every
//     slab of its time mapped, and an Event keeps its two blobs' slabs
//     (the strings Event.Key returns are valid only while the Event is
//     held).
//   - Restore rejects keys over 1 MiB and values over 1 GiB regardless of
//     Limits; keep configured limits below these.
//   - DecodeCommand and DecodeResult return slices that alias their input.
package kv
