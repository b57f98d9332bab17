package log

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/dgraph-io/badger/v4"
)

// open brings the store to its durable state: it checks the format
// (migrating format 1), checks the identity record an earlier release
// wrote (a new store gets none: Options.ClusterID), reads Badger's
// records, then replays the write-ahead log's records above the
// checkpoint. A directory of format 2 or 3 keeps its format (format.go).
func (s *Store) open(want identity, firstOpen bool) error {
	format, empty, err := s.readFormat()
	if err != nil {
		return err
	}
	created := format == 0 && empty
	switch {
	case created:
		if err := s.commit([]mutation{set(keyFormat, encodeFormat(formatVersion))}); err != nil {
			return fmt.Errorf("log: initialize %s: %w", s.where, err)
		}
	case format == 0:
		if err := s.migrateV1(); err != nil {
			return err
		}
	case format > formatVersion:
		return fmt.Errorf("%w: %s was written in log format %d by a newer yggr; this one reads formats 1, 2 and %d: upgrade yggr to open it",
			ErrFormat, s.where, format, formatVersion)
	}
	if err := s.deleteV1Entries(); err != nil {
		return err
	}
	if !created {
		if err := s.checkIdentity(want, firstOpen); err != nil {
			return err
		}
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
		return item.Value(func(v []byte) (err error) {
			// The format record says how to read everything else: a
			// newer format is returned for open to refuse.
			if version, err = decodeFormat(v); err != nil {
				return s.corrupt("format record", err)
			}
			return nil
		})
	})
	if err != nil && !errors.Is(err, ErrCorrupt) {
		err = fmt.Errorf("log: read format in %s: %w", s.where, err)
	}
	return version, empty, err
}

// checkIdentity compares the identity record an earlier release wrote
// with want. A store without one was created by this release, whose
// caller records the identity (Options.ClusterID); it is refused only if
// that caller has no record either (firstOpen).
func (s *Store) checkIdentity(want identity, firstOpen bool) error {
	var got identity
	found, err := s.get(keyIdentity, "identity record", func(v []byte) (err error) {
		got, err = decodeIdentity(v)
		return err
	})
	if err != nil {
		return err
	}
	if !found {
		if firstOpen {
			return fmt.Errorf("%w: %s holds a log, and its owner has no record of it (opened as cluster %q node %q)",
				ErrNoIdentity, s.where, want.ClusterID, want.NodeID)
		}
		return nil
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
// cleans Badger's runs of what a crash left (cleanRuns), and sets the log's
// extent to what the runs hold contiguously above the snapshot. It returns
// the runs above the snapshot that lie beyond a gap.
func (s *Store) readState() (gapRuns []runID, err error) {
	var cp checkpointRecord
	for _, r := range []struct {
		key    []byte
		what   string
		decode func([]byte) error
	}{
		{keyHardState, "hard state record", func(v []byte) (err error) { s.hs, err = decodeHardState(v); return }},
		{keySnapshot, "snapshot record", func(v []byte) (err error) { s.snap, err = decodeSnapshotMeta(v); return }},
		{keyCheckpoint, "checkpoint record", func(v []byte) (err error) { cp, err = decodeCheckpoint(v); return }},
	} {
		if _, err := s.get(r.key, r.what, r.decode); err != nil {
			return nil, err
		}
	}
	s.cpLSN, s.historyFloor = cp.lsn, cp.history
	runs, err := s.cleanRuns(cp.history, max(cp.last, s.snap.Index))
	if err != nil {
		return nil, err
	}
	// The runs, sorted by first index, cover the log from the snapshot up
	// to end; History reaches down through those behind the snapshot that
	// hold its entries without a gap.
	end := s.snap.Index
	for _, r := range runs {
		if r.first <= end+1 {
			end = max(end, r.last)
		} else if r.last > s.snap.Index {
			gapRuns = append(gapRuns, r)
		}
	}
	recorded := s.historyFloor
	s.historyFloor = s.snap.Index
	for i := len(runs) - 1; i >= 0; i-- {
		if r := runs[i]; r.first <= s.historyFloor && r.last >= s.historyFloor {
			s.historyFloor = r.first - 1
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

// cleanRuns makes Badger's runs disjoint and within (history, last], the
// log as of the checkpoint record: where a crash left runs overlapping, the
// newest generation holds the log, and a run that holds nothing it alone
// holds there is deleted (or, if it still holds some, cut to those parts).
// It returns the runs that remain, sorted by first index, and sets nextGen
// above every generation.
func (s *Store) cleanRuns(history, last uint64) ([]runID, error) {
	var runs []runID
	err := s.eachRun(func(r runID) error {
		runs = append(runs, r)
		s.nextGen = max(s.nextGen, r.gen+1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.nextGen = max(s.nextGen, 1)
	slices.SortStableFunc(runs, func(a, b runID) int { return cmp.Compare(b.gen, a.gen) })
	var (
		painted [][2]uint64 // ranges held by newer runs, sorted and disjoint
		kept    []runID
		ms      []mutation
	)
	for _, r := range runs {
		// A run below the history floor is a compaction's leftover; its
		// part behind the floor of one that reaches above it stays
		// (unread), so that Open does not rewrite such runs each time.
		var pieces [][2]uint64
		if r.last > history && r.first <= last {
			pieces = uncovered(painted, r.first, min(r.last, last))
		}
		switch {
		case len(pieces) == 1 && pieces[0] == [2]uint64{r.first, r.last}:
			kept = append(kept, r)
		case len(pieces) == 0:
			ms = append(ms, del(r.key()))
		default:
			es, err := s.readRun(r)
			if err != nil {
				return nil, err
			}
			for _, p := range pieces {
				part := es[p[0]-r.first : p[1]-r.first+1]
				id := runOf(part, r.gen)
				ms = append(ms, set(id.key(), encodeRun(id, part)))
				kept = append(kept, id)
			}
			ms = append(ms, del(r.key()))
		}
		for _, p := range pieces {
			painted = paint(painted, p)
		}
	}
	if len(ms) > 0 {
		// Every state along these commits reads the same log: the parts
		// written hold what the runs they replace held.
		if err := s.commit(ms); err != nil {
			return nil, fmt.Errorf("log: clean runs in %s: %w", s.where, err)
		}
		s.logger.Info("log: recovery: deleted or cut runs a crash left", "dir", s.where, "mutations", len(ms))
	}
	slices.SortFunc(kept, func(a, b runID) int { return cmp.Compare(a.first, b.first) })
	return kept, nil
}

// uncovered returns the parts of [lo, hi] that no range of painted (sorted,
// disjoint) covers. It starts at the first range that ends at or after lo,
// found by binary search: Open calls it once per run.
func uncovered(painted [][2]uint64, lo, hi uint64) [][2]uint64 {
	var out [][2]uint64
	next := lo
	i, _ := slices.BinarySearchFunc(painted, lo, func(p [2]uint64, x uint64) int { return cmp.Compare(p[1], x) })
	for _, p := range painted[i:] {
		if p[0] > hi {
			break
		}
		if p[0] > next {
			out = append(out, [2]uint64{next, p[0] - 1})
		}
		if p[1] >= hi {
			return out
		}
		next = p[1] + 1
	}
	return append(out, [2]uint64{next, hi})
}

// paint adds r to painted (sorted, disjoint; r overlaps none of them),
// merged with the ranges it touches. Runs follow each other in the log, so
// painted stays a handful of ranges however many runs Open walks: without
// the merging it held one range per run, and cleanRuns, scanning and
// growing it once per run, was quadratic in the runs (BenchmarkOpen, 12k
// runs: 113 -> 67 ms).
func paint(painted [][2]uint64, r [2]uint64) [][2]uint64 {
	i, _ := slices.BinarySearchFunc(painted, r[0], func(p [2]uint64, x uint64) int { return cmp.Compare(p[0], x) })
	left := i > 0 && painted[i-1][1]+1 == r[0]
	right := i < len(painted) && r[1]+1 == painted[i][0]
	switch {
	case left && right:
		painted[i-1][1] = painted[i][1]
		return slices.Delete(painted, i, i+1)
	case left:
		painted[i-1][1] = r[1]
		return painted
	case right:
		painted[i][0] = r[0]
		return painted
	}
	return slices.Insert(painted, i, r)
}

// replay opens the write-ahead log and applies its records above the
// checkpoint, in order, checking each against the state so far. A run
// beyond a gap in Badger's runs is stale only if a replayed record replaced
// the entries from before it; otherwise the gap's entries were lost.
func (s *Store) replay(gapRuns []runID) error {
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
		if r.last > s.snap.Index && (touched == 0 || touched > r.first) {
			return s.corruptEntry(end+1, fmt.Errorf("missing: entries %d to %d are in no run, but a %s holds later ones", end+1, r.first-1, r))
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
