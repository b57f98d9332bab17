// Package log keeps a node's durable Raft state (log entries, hard state,
// snapshot metadata) in Badger.
//
// A Store is one Badger database in dir/raft. Keys are a kind byte plus, for
// entries, the big-endian index, so entries sort by index; the hard state,
// the snapshot meta and the node's identity have fixed one-byte keys. Every
// value starts with a version byte and ends with a CRC-32C over the key and
// the value (format.go documents the bytes; testdata/records.golden locks
// them). A record that fails verification is an error wrapping ErrCorrupt
// that names the record (the index, for entries) and the directory.
//
// # Usage
//
//	s, err := log.Open(dir, log.Options{ClusterID: "c1", NodeID: "n1", Logger: logger})
//	st, err := s.Load() // → engine.Recover{HardState: st.HardState, Snapshot: st.Snapshot, Entries: st.Entries}
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
// of a write. A pure append lets readers run during its sync; a truncation
// or ResetTo holds them off until it is durable. Compact touches only
// entries below the floor and may run from another goroutine beside writes
// and reads: its cost is one Badger tombstone per entry (1M entries took
// some 40 s on a loaded 2-core machine), so keep it off the driver.
//
// # Durability and group commit
//
// Write turns a Batch into one Badger transaction, which Badger's write
// goroutine writes as one request to its write-ahead log and then syncs,
// because the store runs Badger with SyncWrites. That is one sync per Write
// however many entries the batch holds. SyncWrites was chosen over
// SyncWrites=false plus an explicit db.Sync: db.Sync syncs only the current
// memtable's WAL and the current value-log file, so a memtable or value-log
// rotation between the commit and the Sync (Badger's own GC writes can cause
// one) would leave acknowledged data in a file nobody synced. With
// SyncWrites Badger syncs inside the request that wrote the data. (The sync
// is an msync of the memtable WAL plus an msync of the value-log file, which
// is clean unless an entry exceeded the value threshold.)
//
// A batch larger than one Badger transaction (15% of the 8 MiB memtable,
// about 1.2 MiB of entry bytes or some 13k keys) is split into several
// transactions, each synced, in an order chosen so that a crash between
// them leaves a valid state: conflicting entries are deleted from the top
// down, new entries are appended in ascending order, the hard state comes
// last. The same holds for Compact and ResetTo. Such batches are rare: the
// engine bounds the bytes per message.
//
// # Badger tuning
//
// Memory is tuned for a tiny database: two 8 MiB memtables, 1 MiB block and
// index caches, two compactors, no compression (entries are small and often
// already compressed), no conflict detection (there is one writer) and no
// metrics. Values up to 64 KiB live in the LSM tree; larger ones go to the
// value log (64 MiB files), whose space a goroutine owned by the Store
// reclaims with RunValueLogGC every Options.GCInterval and after each
// Compact or ResetTo. Badger's logger is routed to Options.Logger at warning
// level and above.
//
// Measured (YGGR_LOG_FOOTPRINT=1 go test -run 'Footprint|IdleRSS' -v,
// loaded 2-core VM, ext4): an open store adds about 2.5 MiB to a process's
// RSS when empty and about 6.5 MiB after 10k small entries. A node writing
// 1M entries of 128 B with a snapshot and Compact every 10k entries stays
// at 5 to 16 MiB allocated on disk (the apparent size, about 150 MiB, is
// mostly Badger's sparse, preallocated value-log and memtable files).
//
// # Caveats
//
//   - Recovery (in Open) deletes a torn tail: records after the last valid,
//     contiguous entry, if none of them is valid. State.Dropped reports them.
//     Because Badger discards torn transactions itself, such a tail means the
//     newest records were damaged on disk; an entry that was acknowledged
//     may be among them, and the runtime should log the notes loudly. A bad
//     or missing record followed by a valid one is not a tail: Open fails
//     with ErrCorrupt, since dropping it would lose entries that may be
//     committed.
//   - The hard state is not checked against the log beyond noting, in
//     Dropped, a commit index above the last entry after a tail was dropped.
//   - After a failed write the Store refuses further use (every method
//     returns the error): the on-disk state is only known again after a
//     reopen.
//   - Compact writes tombstones; Badger reclaims their space only when its
//     LSM compaction reaches the deleted data, so the directory shrinks
//     later, not at once (value-log GC only helps entries over 64 KiB).
//   - SetSnapshot does not delete entries: Compact does, and only up to the
//     recorded snapshot index, so a runtime may keep entries behind the
//     snapshot for slow followers but cannot read them through the Store
//     (FirstIndex is the snapshot index + 1).
//   - The crash test kills a real process (SIGKILL), which checks that
//     acknowledged writes reach the operating system in a recoverable
//     form; it cannot check that the sync reaches the disk (power loss).
//   - In-memory stores (Options.InMemory) limit entries to about 1 MiB.
package log
