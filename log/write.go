package log

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
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

// Write makes b durable: one Badger transaction, written as one request and
// synced once (group commit), unless the batch is too large for one
// transaction (see doc.go). When Write returns nil, everything in b survives
// a crash. An invalid batch (not contiguous, below the snapshot, too large)
// is rejected with nothing written. If the commit itself fails, the store
// refuses all later use (the state on disk is unknown until a reopen) and
// the runtime should stop.
//
// Entries' Data is copied into the encoding; the caller keeps ownership.
func (s *Store) Write(b Batch) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.RLock()
	err := s.usable()
	first, last, lastTerm := s.snap.Index+1, s.last, s.lastTerm
	s.mu.RUnlock()
	if err != nil {
		return err
	}

	newLast, newLastTerm := last, lastTerm
	truncating := b.TruncateFrom != 0 && b.TruncateFrom <= last
	if b.TruncateFrom != 0 && b.TruncateFrom < first {
		return fmt.Errorf("log: truncate from %d: %w (first index %d)", b.TruncateFrom, ErrCompacted, first)
	}
	if truncating {
		newLast = b.TruncateFrom - 1
		if newLastTerm, err = s.Term(newLast); err != nil {
			return err
		}
	}
	if err := checkAppend(b.Entries, newLast, newLastTerm); err != nil {
		return err
	}
	if hs := b.HardState; hs != nil && len(hs.Vote) > engine.MaxNodeIDLen {
		return fmt.Errorf("log: vote %q longer than %d bytes", hs.Vote, engine.MaxNodeIDLen)
	}

	// Phase 1 deletes the conflicting suffix from the top down; phase 2
	// appends in ascending order, then records the hard state. If a large
	// batch must be split, a crash leaves a prefix of this sequence: a
	// shorter suffix of uncommitted (conflicting) entries, or a contiguous
	// part of the new entries without the new hard state. The hard state
	// comes last so that its commit index never exceeds the last entry.
	var phases [][]mutation
	if truncating {
		phases = append(phases, []mutation{deleteEntries(b.TruncateFrom, last, true)})
	}
	var appendPhase []mutation
	for _, e := range b.Entries {
		appendPhase = append(appendPhase, set(entryKey(e.Index), encodeEntry(e)))
	}
	if b.HardState != nil {
		appendPhase = append(appendPhase, set(keyHardState, encodeHardState(*b.HardState)))
	}
	if len(appendPhase) > 0 {
		phases = append(phases, appendPhase)
	}
	if len(phases) == 0 {
		return nil
	}
	if n := len(b.Entries); n > 0 {
		newLast, newLastTerm = b.Entries[n-1].Index, b.Entries[n-1].Term
	}

	// A truncation changes entries readers may be reading: hold them off
	// for the whole commit. A pure append only adds entries above the
	// published last index, so readers may proceed until it is published.
	if truncating {
		s.mu.Lock()
		defer s.mu.Unlock()
		err = s.commit(phases)
	} else {
		err = s.commit(phases)
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	if err != nil {
		s.failed = fmt.Errorf("log: write failed in %s: %w", s.where, err)
		return s.failed
	}
	s.last, s.lastTerm = newLast, newLastTerm
	if b.HardState != nil {
		s.hs = *b.HardState
	}
	return nil
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
		return fmt.Errorf("log: snapshot %s is older than the recorded %s", meta, snap)
	}
	if meta.Index > last {
		return fmt.Errorf("log: snapshot %s is beyond the last index %d (use ResetTo)", meta, last)
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
	err = s.commit([][]mutation{{set(keySnapshot, encodeSnapshotMeta(meta))}})
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failed = fmt.Errorf("log: write snapshot meta in %s: %w", s.where, err)
		return s.failed
	}
	s.snap = meta
	return nil
}

// Compact deletes the entries with index ≤ index from disk (they are already
// invisible: index must not exceed the recorded snapshot's index), then
// asks the GC goroutine to reclaim value-log space. Its cost is linear in
// the number of entries deleted (one Badger tombstone each).
//
// Compact touches only keys below the log's floor, which no other method
// reads or writes, so it does not hold off Write or the readers: the
// runtime may call it from another goroutine while the driver writes.
// Concurrent Compact calls are serialized. A Compact interrupted by a crash
// leaves invisible entries that a later Compact deletes.
func (s *Store) Compact(index uint64) error {
	s.compactMu.Lock()
	defer s.compactMu.Unlock()
	s.mu.RLock()
	err := s.usable()
	snap := s.snap
	s.mu.RUnlock()
	if err != nil {
		return err
	}
	if index > snap.Index {
		return fmt.Errorf("log: compact to %d above the snapshot index %d", index, snap.Index)
	}
	runs, err := s.entryRuns(index)
	if err != nil {
		return err
	}
	if len(runs) == 0 {
		return nil
	}
	if err := s.commit([][]mutation{runs}); err != nil {
		return fmt.Errorf("log: compact in %s: %w", s.where, err)
	}
	s.kickGC()
	return nil
}

// ResetTo records meta as the snapshot the state machine was just restored
// from (the engine's RestoreSnapshot action) and deletes every entry, or
// with keepLog only those at or below meta.Index, in one batch and one
// sync. meta.Index must not be below the recorded snapshot's index. After
// it, FirstIndex is meta.Index+1 and LastIndex is meta.Index, or the old
// LastIndex if keepLog and it was higher.
func (s *Store) ResetTo(meta engine.SnapshotMeta, keepLog bool) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.usable(); err != nil {
		return err
	}
	if err := validSnapshotMeta(meta); err != nil {
		return fmt.Errorf("log: snapshot %s: %w", meta, err)
	}
	if meta.Index < s.snap.Index {
		return fmt.Errorf("log: snapshot %s is older than the recorded %s", meta, s.snap)
	}
	newLast, newLastTerm := meta.Index, meta.Term
	if keepLog && s.last > meta.Index {
		newLast, newLastTerm = s.last, s.lastTerm
	}
	// Phase 1 deletes the entries above the new snapshot from the top down
	// (when not kept); phase 2 records the snapshot, then deletes the
	// entries it covers, which are invisible once it is recorded.
	var phases [][]mutation
	if !keepLog && s.last > meta.Index {
		phases = append(phases, []mutation{deleteEntries(meta.Index+1, s.last, true)})
	}
	runs, err := s.entryRuns(meta.Index)
	if err != nil {
		return err
	}
	phases = append(phases, append([]mutation{set(keySnapshot, encodeSnapshotMeta(meta))}, runs...))
	if err := s.commit(phases); err != nil {
		s.failed = fmt.Errorf("log: reset to snapshot in %s: %w", s.where, err)
		return s.failed
	}
	s.snap, s.last, s.lastTerm = meta, newLast, newLastTerm
	s.kickGC()
	return nil
}

// entryRuns returns deletions for the entry keys stored at or below index,
// as runs of contiguous indexes (usually one).
func (s *Store) entryRuns(index uint64) ([]mutation, error) {
	var runs []mutation
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{kindEntry}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			i, ok := parseEntryKey(it.Item().Key())
			if !ok {
				return s.corrupt(fmt.Sprintf("key %x", it.Item().Key()), errRecord)
			}
			if i > index {
				break
			}
			if n := len(runs); n > 0 && runs[n-1].hi+1 == i {
				runs[n-1].hi = i
				continue
			}
			runs = append(runs, deleteEntries(i, i, false))
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrCorrupt) {
		err = fmt.Errorf("log: list entries in %s: %w", s.where, err)
	}
	return runs, err
}
