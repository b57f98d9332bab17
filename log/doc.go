// Package log keeps a node's durable Raft state (log entries, hard state,
// snapshot metadata) in a write-ahead log and a Badger database, both under
// dir/raft.
//
// Every change is first one record of the write-ahead log (dir/raft/wal,
// wal.go): one write and one fdatasync, into a segment filled with zeros
// ahead of time, so that the sync flushes the record and nothing else. A
// checkpoint goroutine then moves what the WAL holds into Badger, the
// entries as runs (several consecutive entries under one key), and deletes
// the WAL segments it no longer needs: the log lives in Badger, and the WAL
// holds only its newest 8 MiB or so (Options.CheckpointBytes). The entries
// not yet moved are also kept in memory, so readers never read the WAL:
// the very entries Write was given (the engine caches the same ones), not
// a copy, released once a checkpoint has moved them.
//
// Every Badger value and every WAL record carries a CRC-32C (format.go and
// wal.go document the bytes; testdata/records.golden locks them). A record
// that fails verification is an error wrapping ErrCorrupt that names the
// record (the entries, for a run; the segment file and offset, for the WAL)
// and the directory.
//
// # Usage
//
//	s, err := log.Open(dir, log.Options{ClusterID: "c1", NodeID: "n1", Logger: logger})
//	st, err := s.Load() // → engine.Recover{HardState: st.HardState, Snapshot: st.Snapshot, Entries: st.Entries}
//	// or, without holding the whole log's data at once (a runtime that
//	// applies the committed entries as it reads them: Recover.Applied):
//	st, err = s.LoadMeta()
//	err = s.Replay(st.Snapshot.Index+1, 4<<20, func(es []engine.Entry) error { ...; return nil })
//	// per driver iteration, all persist actions of the step(s) in one call:
//	err = s.Write(log.Batch{TruncateFrom: t, Entries: ents, HardState: &hs})
//	// snapshots:
//	err = s.SetSnapshot(meta)  // own snapshot taken at meta.Index
//	err = s.Compact(meta.Index) // CompactLog
//	err = s.ResetTo(meta, keepLog) // RestoreSnapshot
//	defer s.Close()
//
// The driver calls the write methods from one goroutine; Entries, Term,
// FirstIndex and LastIndex may be called concurrently from others (for
// example a sender reading entries for a follower). Readers never see half
// of a write: a write is published once it is durable. Compact may run from
// another goroutine beside writes and reads.
//
// # Durability and group commit
//
// Write turns a Batch into one WAL record, written with one pwrite and one
// fdatasync, however many entries the batch holds: one device flush per
// driver iteration (format 1, yggr v0.1, cost two msyncs and an LSM insert
// per entry). Measured on a 2-core VM with a virtio disk, go test -bench
// Append ./log, benchstat of 6 interleaved runs of each format: a synced
// batch of 256 entries of 128 bytes took 0.89 ms against 3.0 ms (-71%), of
// 16 entries 0.21 ms against 0.55 ms (-61%); an append and fdatasync of
// the same bytes to a plain file took 0.41 ms. Most of the difference is
// the checkpoint's copy of every byte into Badger's value log, off the
// write path but on the same two cores.
//
// Badger runs with SyncWrites: each of a checkpoint's Badger transactions
// is synced inside the request that writes it, so nothing a checkpoint
// claims lives in a file nobody synced. The checkpoint record names the last
// WAL record included; Open replays the WAL records after it. A checkpoint
// writes its runs in a new generation, then its records, then deletes the
// runs it made stale; Open reads the newest generation where runs overlap,
// ignores runs outside the checkpoint's extent and deletes them, so a crash
// between any two of those transactions recovers the same log (see
// checkpoint.go; the property test cuts checkpoints at every point).
//
// # Recovery
//
// Open reads Badger's records and run keys, then the WAL's records after
// the checkpoint, in LSN order. A torn last record (a Write that never
// returned) is dropped, zeroed on disk and reported by Load in
// State.Dropped. A damaged record followed by a valid one, a gap in the
// LSNs, a missing run or a damaged Badger record is corruption: Open or
// Load fails with ErrCorrupt rather than lose entries that may be
// committed.
//
// # Format versions
//
// Badger's 'f' record names the directory's format; the records keep a
// version byte of their own (format.go). A new directory is of format 3.
// One of format 2 (earlier releases, with the identity record) opens and
// stays format 2, so that the releases of format 2 still open it. A
// directory of format 1 (yggr v0.1: one Badger key per entry, no WAL) is
// migrated in place to format 2 by Open (migrate.go; tested on a committed
// fixture, testdata/store-v1.tar.gz). A directory of a newer format is
// refused with ErrFormat, naming its format and the formats this code
// reads, before anything in it changes.
//
// # Badger tuning
//
// Memory is tuned for a tiny database: two 1 MiB memtables, 1 MiB block and
// index caches, two compactors, no compression (entries are small and often
// already compressed), no conflict detection (there is one writer) and no
// metrics. Runs hold at most 4 KiB of entry data and live in Badger's value
// log (16 MiB files), so the LSM tree holds only keys and pointers and its
// table builders stay small (runs in the LSM tree made Badger's pooled
// builders hold 190 MiB for a 1M-key log, measured). Badger reclaims a
// value-log file only once LSM compactions have reported the runs deleted
// in it, and a log's LSM tree (a key and a pointer per run) is too small
// to fill even a 1 MiB memtable often. A goroutine owned by the Store runs
// RunValueLogGC every Options.GCInterval and after each checkpoint that
// deleted runs; after the latter it first has Badger flush its memtable
// and compact level 0 (gc.go, flushDeletes), so that the deleted runs are
// counted. The value log is memory-mapped and written through the mapping:
// its pages count in the process's RSS (as file-backed, reclaimable pages)
// until the file is reclaimed. For issue 15's load (10k entries of 15 KB,
// a snapshot every 64 MiB of log) that was 32 MiB at the end and 66 MiB
// at most, against 137 MiB (all of the log ever written) without the
// flush (TestFootprintNodeLoad). The log a node keeps is still large
// (with snapshots sized by bytes, up to the size of its state above the
// snapshot), so after each checkpoint and each GC run the Store also asks
// the kernel to page out the finished value-log files (madvise
// MADV_PAGEOUT, Linux only; pageout_linux.go), and since then the file
// being written as well (what a checkpoint writes stays resident until
// the next one). Writing 1M keys as 10k
// transactions of 100 puts (TestFootprint1M in the root package) kept
// 90-141 MiB of value log resident before, 8-10 MiB with the newest file
// left out, none now;
// TestFootprintNodeLoad's value log now peaks at 23 MiB and ends at 3 MiB.
// Badger's logger is routed to Options.Logger at warning level and above.
//
// # Caveats
//
//   - After a failed write or checkpoint the Store refuses further use
//     (every method returns the error): the on-disk state is only known
//     again after a reopen. A failed fdatasync is never retried.
//   - Compact deletes whole runs: a run that reaches above the compaction
//     index stays until a later Compact passes its end. Badger reclaims the
//     space of deleted runs when its value-log GC rewrites or drops the
//     files that hold them, so the directory shrinks later, not at once.
//   - SetSnapshot does not delete entries: Compact does, and only up to the
//     recorded snapshot index, so a runtime may keep entries behind the
//     snapshot for slow followers but cannot read them through the Store
//     (FirstIndex is the snapshot index + 1).
//   - The crash test kills a real process (SIGKILL), which checks that
//     acknowledged writes reach the operating system in a recoverable
//     form; it cannot check that the sync reaches the disk (power loss).
//   - In-memory stores (Options.InMemory) keep no WAL and limit entries to
//     about 1 MiB.
package log
