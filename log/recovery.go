package log

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/dgraph-io/badger/v4"
)

// open brings the store to its durable state: it checks the format
// (migrating format 1), checks or records the identity, reads Badger's
// records, then replays the write-ahead log's records above the
// checkpoint.
func (s *Store) open(want identity) error {
	format, empty, err := s.readFormat()
	if err != nil {
		return err
	}
	switch {
	case format == 0 && empty:
		if err := s.commit([]mutation{
			set(keyIdentity, encodeIdentity(want)),
			set(keyFormat, encodeFormat()),
		}); err != nil {
			return fmt.Errorf("log: initialize %s: %w", s.where, err)
		}
	case format == 0:
		if err := s.migrateV1(); err != nil {
			return err
		}
	case format != formatVersion:
		return fmt.Errorf("%w: %s was written in log format %d by a newer yggr; this one reads formats 1 and %d: upgrade yggr to open it",
			ErrFormat, s.where, format, formatVersion)
	}
	if err := s.deleteV1Entries(); err != nil {
		return err
	}
	if err := s.checkIdentity(want); err != nil {
		return err
	}
	gapRuns, err := s.readState()
	if err != nil {
		return err
	}
	return s.replay(gapRuns)
}

// readFormat returns the format record's version (0 if absent) and whether
// Badger holds no key at all.
func (s *Store) readFormat() (version byte, empty bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		it.Rewind()
		empty = !it.Valid()
		it.Close()
		item, err := txn.Get(keyFormat)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			// The format record's version byte is what says how to read
			// everything else: accept any version here and let open decide.
			if len(v) != 1+crcLen {
				return s.corrupt("format record", fmt.Errorf("%w: %d bytes", errRecord, len(v)))
			}
			version = v[0]
			return nil
		})
	})
	if err != nil && !errors.Is(err, ErrCorrupt) {
		err = fmt.Errorf("log: read format in %s: %w", s.where, err)
	}
	return version, empty, err
}

// checkIdentity compares the recorded identity with want.
func (s *Store) checkIdentity(want identity) error {
	var got identity
	found, err := s.get(keyIdentity, "identity record", func(v []byte) (err error) {
		got, err = decodeIdentity(v)
		return err
	})
	if err != nil {
		return err
	}
	if !found {
		return s.corrupt("identity record", errors.New("missing"))
	}
	if got != want {
		return fmt.Errorf("%w: %s holds cluster %q node %q, opened as cluster %q node %q",
			ErrIdentityMismatch, s.where, got.ClusterID, got.NodeID, want.ClusterID, want.NodeID)
	}
	return nil
}

// get reads key and hands its value to decode; a decode failure is
// corruption of the record named what.
func (s *Store) get(key []byte, what string, decode func([]byte) error) (found bool, err error) {
	err = s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		if err := item.Value(decode); err != nil {
			return s.corrupt(what, err)
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrCorrupt) {
		err = fmt.Errorf("log: read %s in %s: %w", what, s.where, err)
	}
	return found, err
}

// readState reads the hard state, the snapshot and the checkpoint records,
// and sets the log's extent to what Badger's runs hold contiguously above
// the snapshot. It returns the runs above the snapshot that lie beyond a
// gap.
func (s *Store) readState() (gapRuns [][2]uint64, err error) {
	for _, r := range []struct {
		key    []byte
		what   string
		decode func([]byte) error
	}{
		{keyHardState, "hard state record", func(v []byte) (err error) { s.hs, err = decodeHardState(v); return }},
		{keySnapshot, "snapshot record", func(v []byte) (err error) { s.snap, err = decodeSnapshotMeta(v); return }},
		{keyCheckpoint, "checkpoint record", func(v []byte) (err error) {
			c, err := decodeCheckpoint(v)
			s.cpLSN, s.historyFloor = c.lsn, c.history
			return err
		}},
	} {
		if _, err := s.get(r.key, r.what, r.decode); err != nil {
			return nil, err
		}
	}
	// The runs, in key order, cover the log from the floor up to end. A
	// run that overlaps the coverage so far (left by a checkpoint a crash
	// interrupted) extends it; the WAL replay below replaces whatever it
	// holds beyond the truth.
	end := s.snap.Index
	var below [][2]uint64 // runs that start at or below the snapshot index
	err = s.eachRun(func(first, last uint64) error {
		if first <= s.snap.Index {
			below = append(below, [2]uint64{first, last})
		}
		if first <= end+1 {
			end = max(end, last)
		} else if last > s.snap.Index {
			gapRuns = append(gapRuns, [2]uint64{first, last})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// History reaches down through the runs that hold the entries behind
	// the snapshot without a gap, but never to or below the recorded
	// floor (a crash may leave runs a compaction was deleting).
	recorded := s.historyFloor
	s.historyFloor = s.snap.Index
	for i := len(below) - 1; i >= 0; i-- {
		if r := below[i]; r[0] <= s.historyFloor && r[1] >= s.historyFloor {
			s.historyFloor = r[0] - 1
		}
	}
	s.historyFloor = max(s.historyFloor, recorded)
	s.last, s.lastTerm = end, s.snap.Term
	if end > s.snap.Index {
		if s.lastTerm, err = s.badgerTerm(end); err != nil {
			return nil, err
		}
	}
	s.memFirst = end + 1
	s.lsn = s.cpLSN
	return gapRuns, nil
}

// replay opens the write-ahead log and applies its records above the
// checkpoint, in order, checking each against the state so far. A run
// beyond a gap in Badger's runs is stale only if a replayed record replaced
// the entries from before it; otherwise the gap's entries were lost.
func (s *Store) replay(gapRuns [][2]uint64) error {
	end := s.last
	if s.opts.InMemory {
		return nil
	}
	w, recs, notes, err := openWAL(filepath.Join(s.where, "wal"), s.cpLSN, s.opts.segmentBytes, s.opts.NoSync, s.logger)
	if err != nil {
		return err
	}
	s.wal = w
	var touched uint64 // the lowest index a replayed record replaced from; 0: none
	for _, rec := range recs {
		ops, err := decodeOps(rec.body)
		if err != nil {
			return s.corrupt(fmt.Sprintf("write-ahead log record %d", rec.lsn), err)
		}
		for _, op := range ops {
			if err := s.check(op); err != nil {
				return s.corrupt(fmt.Sprintf("write-ahead log record %d", rec.lsn), err)
			}
			if t := replacedFrom(op); t != 0 && (touched == 0 || t < touched) {
				touched = t
			}
			s.apply(op)
		}
		s.lsn = rec.lsn
		s.pending += recordSize(len(rec.body))
	}
	for _, r := range gapRuns {
		if r[1] > s.snap.Index && (touched == 0 || touched > r[0]) {
			return s.corruptEntry(end+1, fmt.Errorf("missing: entries %d to %d are in no run, but a run holds entries %d to %d", end+1, r[0]-1, r[0], r[1]))
		}
	}
	for _, n := range notes {
		s.logger.Warn("log: recovery: "+n, "dir", s.where)
	}
	s.dropped = append(s.dropped, notes...)
	if len(notes) > 0 && s.hs.Commit > s.last {
		note := fmt.Sprintf("hard state commit %d is above the last index %d after dropping the torn record", s.hs.Commit, s.last)
		s.logger.Warn("log: recovery: "+note, "dir", s.where)
		s.dropped = append(s.dropped, note)
	}
	return nil
}

// replacedFrom is the lowest index whose entry op replaces (or drops): what
// it truncates or appends from, or everything above a reset's snapshot.
// Zero if none.
func replacedFrom(op walOp) uint64 {
	switch op.kind {
	case opBatch:
		t := op.truncate
		if len(op.entries) > 0 && (t == 0 || op.entries[0].Index < t) {
			t = op.entries[0].Index
		}
		return t
	case opReset:
		if !op.keep {
			return op.snap.Index + 1
		}
	}
	return 0
}

// check reports why op cannot follow the state so far: the checks Write,
// SetSnapshot and ResetTo made before writing it, which a damaged or
// misplaced record would fail.
func (s *Store) check(op walOp) error {
	switch op.kind {
	case opBatch:
		last := s.last
		if op.truncate != 0 {
			if op.truncate <= s.snap.Index {
				return fmt.Errorf("%w: truncation at %d is not above the snapshot index %d", errRecord, op.truncate, s.snap.Index)
			}
			last = min(last, op.truncate-1)
		}
		if len(op.entries) > 0 {
			first := op.entries[0].Index
			if first <= s.snap.Index {
				return fmt.Errorf("%w: entry %d is not above the snapshot index %d", errRecord, first, s.snap.Index)
			}
			if first > last+1 {
				return fmt.Errorf("%w: entry %d follows entry %d: entries %d to %d are missing", errRecord, first, last, last+1, first-1)
			}
		}
	case opSnapshot:
		if op.snap.Index < s.snap.Index || op.snap.Index > s.last {
			return fmt.Errorf("%w: snapshot %s outside the log [%d, %d]", errRecord, op.snap, s.snap.Index, s.last)
		}
	case opReset:
		if op.snap.Index < s.snap.Index {
			return fmt.Errorf("%w: snapshot %s is older than %s", errRecord, op.snap, s.snap)
		}
	}
	return nil
}
