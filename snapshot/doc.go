// Package snapshot stores state-machine snapshots as directories of
// fixed-size, checksummed chunks with a manifest.
//
// A complete snapshot term/index is the directory
// dir/snapshots/<term>-<index>/ (both zero-padded to 20 decimal digits, so
// names sort) holding chunk files chunk-000000, chunk-000001, ... of
// Options.ChunkBytes each (the last one shorter) and a manifest: a version
// byte, a kind byte, the index, term, total size, chunk size and count,
// membership, the CRC-32C of every chunk, the SHA-256 of the whole
// snapshot, and a CRC-32C of the manifest itself. A partial receive keeps
// the same facts, and how far it got, in a progress record. The package
// never sees the state machine: it takes a byte stream (Writer, Receiver)
// and gives one back (Reader).
//
// # Format versions
//
// Manifests and progress records are written in format version 2, whose
// membership is engine.AppendMembership's encoding, the one yggr uses
// everywhere. Version 1, written by yggr v0.1, differs only in the
// membership (u16 counts, u8-length IDs) and is still read, so a node
// upgraded from v0.1 keeps its snapshots and can resume an interrupted
// receive. Any other version is refused: a manifest of another version
// makes Open fail with an error wrapping ErrCorrupt that names the file and
// the version; a progress record of another version is discarded with its
// partial receive, which starts over. The byte layouts are in manifest.go
// and progress.go; testdata/*.golden locks them.
//
// Every change is published atomically: files are written under a
// temporary name and fsynced, the directory is renamed into place and the
// parent fsynced. Open removes what an interrupted write, receive, delete
// or replacement left behind, so after a crash the store holds only
// complete snapshots (and at most one resumable partial receive).
//
// # Usage
//
// Taking a local snapshot:
//
//	st, err := snapshot.Open(dir, snapshot.Options{})
//	w, err := st.Create(engine.SnapshotMeta{Index: 17, Term: 3, Membership: m})
//	defer w.Abort() // no-op after Commit
//	err = sm.WriteSnapshot(w) // any io.Writer producer
//	meta, err := w.Commit()   // meta.Size set; durable and visible now
//
// Restoring, or serving InstallSnapshot chunks to a follower:
//
//	r, err := st.Open(meta.Index, meta.Term)
//	defer r.Close()
//	err = sm.Restore(r)          // Read verifies every chunk and, at EOF, the SHA-256
//	n, err := r.ReadAt(buf, off) // verifies the chunks it touches
//
// Receiving InstallSnapshot on a follower (a WriteSnapshotChunk action):
//
//	rc, err := st.Receive(a.Meta) // resumes a partial receive of the same snapshot
//	if a.Offset == 0 && rc.Offset() != 0 {
//		err = rc.Reset() // the leader started over
//	}
//	err = rc.WriteAt(a.Offset, a.Data, a.Done) // durable by the next sync; if Done, synced and published
//	// on ErrOffsetMismatch, tell the leader rc.Offset(): it resends from there
//
// # Caveats
//
//   - One Store per directory: nothing stops two processes (or two Stores
//     in one process) from opening the same directory, and they would
//     delete each other's work in progress.
//   - Durability relies on fsync of files and directories and on atomic
//     rename(2) of directories, as on Linux and other Unix systems. After
//     an fsync failure the store's in-memory view may lag the disk until the
//     next Open.
//   - Version 1 manifests are read, never rewritten; everything written
//     since the upgrade is version 2, which yggr v0.1 cannot read, so a
//     store cannot be handed back to v0.1.
//   - A snapshot with a damaged manifest among the newest Retain makes Open
//     fail (an error wrapping ErrCorrupt that names the file) rather than
//     silently fall back to an older snapshot: the log may already be
//     compacted past it. Damaged chunks are found only when read.
//   - Read reports a whole-snapshot SHA-256 mismatch only at the end, after
//     returning bytes whose chunk CRCs matched; a consumer must discard what
//     it built from a stream that did not end in io.EOF. ReadAt verifies
//     chunk CRCs only.
//   - The SHA-256 of a received snapshot is computed by the receiver: the
//     InstallSnapshot protocol carries no end-to-end hash, so the chunk
//     CRCs protect the bytes on the receiver's disk, not on the wire.
//   - A Writer fsyncs every chunk it completes: small Write calls are
//     cheap, but each completed chunk waits for the disk. A Receiver
//     fsyncs only every Options.ReceiveSyncBytes and when done, so an
//     acknowledged WriteAt is not durable: after a crash a partial
//     receive resumes at its last sync (at most about ReceiveSyncBytes
//     back, possibly 0) and the sender must resend from Offset(). A
//     completed receive is durable before it is published.
//   - A snapshot that a Reader keeps open survives Retain cleanup and
//     replacement until the Reader is closed, so List may briefly hold more
//     than Retain snapshots.
package snapshot
