package log

import (
	"fmt"
	"slices"

	"github.com/yggrdb/yggr/engine"
)

// Batch is what one driver iteration makes durable: the engine's
// TruncateLog, PersistEntries and PersistHardState actions of one step (or
// several), applied in this order.
type Batch struct {
	// TruncateFrom, if non-zero, deletes every entry with index ≥
	// TruncateFrom first (a conflicting suffix, Raft §5.3). It must be above
	// the snapshot index; at or above LastIndex()+1 it deletes nothing.
	TruncateFrom uint64
	// Entries are then appended: contiguous, ascending, starting right
	// after the last entry that remains, with non-decreasing terms no lower
	// than the term of that entry. Each Data is at most MaxEntryBytes.
	Entries []engine.Entry
	// HardState, if non-nil, is then recorded.
	HardState *engine.HardState
}

// Write makes the batches durable, in order: one write-ahead log record
// written with one write and one fdatasync (group commit: however many
// batches and entries). When Write returns nil, everything in them survives
// a crash. An invalid batch (not contiguous, below the snapshot, too large)
// is rejected with nothing written. If the write itself fails, the store
// refuses all later use (the state on disk is unknown until a reopen) and
// the runtime should stop.
//
// The store keeps the entries' Data (until a checkpoint has moved them to
// Badger) and hands it to readers: the caller must not modify it once
// Write is called. Engine entries are never modified.
func (s *Store) Write(bs ...Batch) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	err := s.usable()
	first, last, lastTerm := s.snap.Index+1, s.last, s.lastTerm
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	// The entries the batches before this one append: a later batch may
	// truncate them, or follow them. They are the Store's own copies of
	// the batches' entry slices (one allocation per batch), which the
	// in-memory log keeps until a checkpoint.
	var pending [][]engine.Entry
	termOf := func(i uint64) (uint64, error) {
		for k := len(pending) - 1; k >= 0; k-- {
			if p := pending[k]; i >= p[0].Index {
				return p[i-p[0].Index].Term, nil
			}
		}
		return s.Term(i)
	}
	var ops []Batch
	for _, b := range bs {
		truncating := b.TruncateFrom != 0 && b.TruncateFrom <= last
		if b.TruncateFrom != 0 && b.TruncateFrom < first {
			return fmt.Errorf("log: truncate from %d: %w (first index %d)", b.TruncateFrom, ErrCompacted, first)
		}
		if truncating {
			last = b.TruncateFrom - 1
			if lastTerm, err = termOf(last); err != nil {
				return err
			}
			for len(pending) > 0 && pending[len(pending)-1][0].Index > last {
				pending = pending[:len(pending)-1]
			}
			if k := len(pending) - 1; k >= 0 && last+1-pending[k][0].Index < uint64(len(pending[k])) {
				pending[k] = pending[k][:last+1-pending[k][0].Index]
			}
		}
		if err := checkAppend(b.Entries, last, lastTerm); err != nil {
			return err
		}
		if hs := b.HardState; hs != nil && len(hs.Vote) > engine.MaxNodeIDLen {
			return fmt.Errorf("log: vote %q longer than %d bytes", hs.Vote, engine.MaxNodeIDLen)
		}
		if n := len(b.Entries); n > 0 {
			b.Entries = slices.Clone(b.Entries)
			pending = append(pending, b.Entries)
			last, lastTerm = b.Entries[n-1].Index, b.Entries[n-1].Term
		}
		if !truncating && len(b.Entries) == 0 && b.HardState == nil {
			continue
		}
		if !truncating {
			b.TruncateFrom = 0
		}
		ops = append(ops, b)
	}
	if len(ops) == 0 {
		return nil
	}
	// The in-memory state takes the batches' entries as they are, not a
	// decoding of the record: their Data is the engine's, which keeps
	// the same entries in its own cache, so the record is garbage once
	// written instead of a second copy of the entries until checkpoint.
	walOps := make([]walOp, len(ops))
	for i, b := range ops {
		walOps[i] = walOp{kind: opBatch, truncate: b.TruncateFrom, entries: b.Entries}
		if b.HardState != nil {
			hs := *b.HardState
			walOps[i].hs = &hs
		}
	}
	buf := appendBatches(s.recordBuf, ops)
	err = s.append(buf, walOps...)
	if cap(buf) <= maxReusedRecord {
		s.recordBuf = buf[:0]
	}
	return err
}

// maxReusedRecord bounds the record buffer a Store keeps for its next
// Write: a follower's catch-up writes records of about 1 MiB (a MsgApp of
// the engine's default byte limit).
const maxReusedRecord = 2 << 20

// notifyFailed tells Options.OnFail that the store failed with err. No lock
// held.
func (s *Store) notifyFailed(err error) {
	if s.opts.OnFail != nil {
		s.opts.OnFail(err)
	}
}

// checkAppend validates entries to be appended after the entry prevIndex of
// term prevTerm.
func checkAppend(entries []engine.Entry, prevIndex, prevTerm uint64) error {
	for _, e := range entries {
		if e.Index != prevIndex+1 {
			return fmt.Errorf("log: entry %d appended after %d, want %d", e.Index, prevIndex, prevIndex+1)
		}
		if e.Term < prevTerm {
			return fmt.Errorf("log: entry %d/%d has a lower term than its predecessor's %d", e.Term, e.Index, prevTerm)
		}
		if !e.Type.Valid() {
			return fmt.Errorf("log: entry %d/%d has unknown type %d", e.Term, e.Index, e.Type)
		}
		if len(e.Data) > MaxEntryBytes {
			return fmt.Errorf("log: entry %d/%d has %d bytes, more than %d", e.Term, e.Index, len(e.Data), MaxEntryBytes)
		}
		prevIndex, prevTerm = e.Index, e.Term
	}
	return nil
}

// append writes the record buf (whose body decodes to ops) to the WAL, then
// applies the ops to the in-memory state and publishes it. s.writeMu held.
func (s *Store) append(buf []byte, ops ...walOp) error {
	lsn := s.lsn + 1 // only writers change s.lsn, and s.writeMu is held
	size := recordSize(len(buf) - walRecHeaderLen)
	if s.wal != nil {
		if err := s.wal.append(lsn, buf); err != nil {
			// A failed fdatasync is never retried: the kernel may have
			// dropped the dirty pages it could not write, so a second
			// sync could succeed over lost data.
			s.mu.Lock()
			first := s.failed == nil
			if first {
				s.failed = fmt.Errorf("log: write failed in %s: %w", s.where, err)
			}
			err = s.failed
			s.mu.Unlock()
			if first {
				s.notifyFailed(err)
			}
			return err
		}
	}
	s.mu.Lock()
	for _, op := range ops {
		s.apply(op)
	}
	s.lsn = lsn
	s.pending += size
	kick := s.pending >= s.opts.CheckpointBytes
	s.mu.Unlock()
	if kick {
		s.kickCheckpoint()
	}
	return nil
}

// apply makes op part of the in-memory state: the same rules replay the
// WAL at open. s.mu held (or the store not yet shared).
func (s *Store) apply(op walOp) {
	switch op.kind {
	case opBatch:
		from := op.truncate
		if len(op.entries) > 0 && (from == 0 || op.entries[0].Index < from) {
			from = op.entries[0].Index
		}
		if from != 0 && from <= s.last {
			s.truncateMem(from)
		}
		if n := len(op.entries); n > 0 {
			if s.mem.len() == 0 {
				s.memFirst = op.entries[0].Index
			}
			s.mem.push(op.entries)
			s.last, s.lastTerm = op.entries[n-1].Index, op.entries[n-1].Term
		}
		if op.hs != nil {
			s.hs = *op.hs
		}
	case opSnapshot:
		// The entries at or below the new floor stay, invisible, until
		// Compact deletes them (a checkpoint still moves them to Badger).
		s.snap = op.snap
	case opReset:
		s.snap = op.snap
		s.compactTo = max(s.compactTo, op.snap.Index)
		s.historyFloor = max(s.historyFloor, op.snap.Index)
		if !op.keep || s.last <= op.snap.Index {
			if s.last > op.snap.Index {
				s.truncateMem(op.snap.Index + 1)
			}
			s.last, s.lastTerm = op.snap.Index, op.snap.Term
		}
		s.dropMemThrough(op.snap.Index)
	}
}

// truncateMem deletes the entries ≥ from (from ≤ s.last) from the
// in-memory view. Entries below memFirst are in Badger: truncating there
// makes mem start at from, and Badger's entries from there on stale.
func (s *Store) truncateMem(from uint64) {
	if from >= s.memFirst {
		// memLog never writes into a batch it holds, so a running
		// checkpoint's copy of the batch list still reads what it took.
		s.mem.truncate(int(from - s.memFirst))
	} else {
		s.mem, s.memFirst = memLog{}, from
	}
	if s.truncatedAt == 0 || from < s.truncatedAt {
		s.truncatedAt = from
	}
	s.last = from - 1
	s.lastTerm = s.termLocked(s.last)
}

// termLocked returns the term of entry i, which must be in the log or be
// the snapshot index (0 if it cannot be read, which a later read reports).
// s.mu held.
func (s *Store) termLocked(i uint64) uint64 {
	switch {
	case i == s.snap.Index:
		return s.snap.Term
	case i >= s.memFirst && i < s.memFirst+uint64(s.mem.len()):
		return s.mem.at(int(i - s.memFirst)).Term
	}
	t, err := s.badgerTerm(i)
	if err != nil {
		return 0
	}
	return t
}

// dropMemThrough forgets the in-memory entries at or below index, which a
// ResetTo made obsolete. s.mu held.
func (s *Store) dropMemThrough(index uint64) {
	if index < s.memFirst {
		return
	}
	k := min(index+1-s.memFirst, uint64(s.mem.len()))
	s.mem.dropFirst(int(k))
	s.memFirst = index + 1
}

// SetSnapshot durably records meta (membership included) as the snapshot
// the state machine can be restored from. It moves the log's floor:
// FirstIndex becomes meta.Index+1, and entries at or below meta.Index stay
// on disk, invisible, until Compact deletes them. meta.Index must not be
// below the recorded snapshot's nor above LastIndex, and the entry at
// meta.Index, if still present, must have meta.Term.
func (s *Store) SetSnapshot(meta engine.SnapshotMeta) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	err := s.usable()
	snap, last := s.snap, s.last
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := validSnapshotMeta(meta); err != nil {
		return fmt.Errorf("log: snapshot %s: %w", meta, err)
	}
	if meta.Index < snap.Index {
		return fmt.Errorf("%w: %s, recorded %s", ErrStaleSnapshot, meta, snap)
	}
	if meta.Index > last {
		return fmt.Errorf("%w: %s, last index %d (a leader's snapshot goes through ResetTo)", ErrSnapshotAhead, meta, last)
	}
	if meta.Index > snap.Index {
		term, err := s.Term(meta.Index)
		if err != nil {
			return err
		}
		if term != meta.Term {
			return fmt.Errorf("log: snapshot %s does not match the entry's term %d", meta, term)
		}
	} else if meta.Term != snap.Term {
		return fmt.Errorf("log: snapshot %s does not match the recorded %s", meta, snap)
	}
	meta.Membership = meta.Membership.Clone()
	return s.append(encodeSnapshotOp(opSnapshot, meta, false), walOp{kind: opSnapshot, snap: meta})
}

// ResetTo records meta as the snapshot the state machine was just restored
// from (the engine's RestoreSnapshot action) and drops every entry, or with
// keepLog only those at or below meta.Index: one write-ahead log record and
// one sync. meta.Index must not be below the recorded snapshot's index.
// After it, FirstIndex is meta.Index+1 and LastIndex is meta.Index, or the
// old LastIndex if keepLog and it was higher. The dropped entries are
// deleted from Badger in the background.
func (s *Store) ResetTo(meta engine.SnapshotMeta, keepLog bool) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	err := s.usable()
	snap := s.snap
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	if err := validSnapshotMeta(meta); err != nil {
		return fmt.Errorf("log: snapshot %s: %w", meta, err)
	}
	if meta.Index < snap.Index {
		return fmt.Errorf("%w: %s, recorded %s", ErrStaleSnapshot, meta, snap)
	}
	meta.Membership = meta.Membership.Clone()
	if err := s.append(encodeSnapshotOp(opReset, meta, keepLog), walOp{kind: opReset, snap: meta, keep: keepLog}); err != nil {
		return err
	}
	s.kickCheckpoint()
	return nil
}

// Compact deletes the entries with index ≤ index from disk (they are
// already invisible: index must not exceed the recorded snapshot's index),
// then asks the GC goroutine to reclaim value-log space. A run of entries
// that reaches above index is kept whole. It runs a checkpoint, whose
// Badger commit records the snapshot before it deletes what the snapshot
// covers, so that a crash never leaves Badger without entries it still
// needs to replay the write-ahead log.
//
// Compact touches only entries below the log's floor, which no other method
// reads, so it does not hold off Write or the readers: the runtime may call
// it from another goroutine while the driver writes. It waits for a
// running checkpoint. A Compact interrupted by a crash leaves invisible
// runs that a later Compact deletes.
func (s *Store) Compact(index uint64) error {
	s.mu.Lock()
	err := s.usable()
	snap := s.snap
	if err == nil && index <= snap.Index {
		s.compactTo = max(s.compactTo, index)
		s.historyFloor = max(s.historyFloor, index)
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if index > snap.Index {
		return fmt.Errorf("log: compact to %d above the snapshot index %d", index, snap.Index)
	}
	if err := s.checkpoint(); err != nil {
		return fmt.Errorf("log: compact in %s: %w", s.where, err)
	}
	return nil
}
