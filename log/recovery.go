package log

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// recover loads the hard state and snapshot meta, then scans every entry
// above the snapshot index, verifying each. The scan accepts entries while
// they are valid, contiguous and of non-decreasing term; the first record
// that is not starts the tail. A tail in which no record is valid is torn:
// it is deleted and noted in s.dropped. A valid record after a bad or
// missing one means damage in the middle of the log, which is not
// repairable here: ErrCorrupt, naming the first bad index. Entries at or
// below the snapshot index are left for Compact and not read.
func (s *Store) recover() error {
	err := s.db.View(func(txn *badger.Txn) error {
		for _, r := range []struct {
			key    []byte
			what   string
			decode func([]byte) error
		}{
			{keyHardState, "hard state record", func(v []byte) (err error) { s.hs, err = decodeHardState(v); return }},
			{keySnapshot, "snapshot record", func(v []byte) (err error) { s.snap, err = decodeSnapshotMeta(v); return }},
		} {
			item, err := txn.Get(r.key)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := item.Value(r.decode); err != nil {
				return s.corrupt(r.what, err)
			}
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		return fmt.Errorf("log: read state in %s: %w", s.where, err)
	}
	s.last, s.lastTerm = s.snap.Index, s.snap.Term

	var (
		bad      []uint64 // keys of the tail, ascending
		notes    []string
		firstBad uint64
		badCause error
	)
	err = s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{kindEntry}
		it := txn.NewIterator(opts)
		defer it.Close()
		for it.Seek(entryKey(s.snap.Index + 1)); it.Valid(); it.Next() {
			i, ok := parseEntryKey(it.Item().Key())
			if !ok {
				return s.corrupt(fmt.Sprintf("key %x", it.Item().Key()), errRecord)
			}
			var term uint64
			err := it.Item().Value(func(v []byte) (err error) {
				term, err = decodeEntryTerm(i, v)
				return err
			})
			if err != nil && !errors.Is(err, errRecord) {
				return err
			}
			valid := err == nil
			if bad == nil {
				switch {
				case valid && i == s.last+1 && term >= s.lastTerm:
					s.last, s.lastTerm = i, term
					continue
				case i != s.last+1:
					firstBad, badCause = s.last+1, errors.New("missing")
				case valid:
					firstBad, badCause = i, fmt.Errorf("%w: term %d below the previous entry's %d", errRecord, term, s.lastTerm)
					valid = false // a term regression is as bad as a broken record
				default:
					firstBad, badCause = i, err
				}
				bad = []uint64{}
			}
			if valid {
				return s.corruptEntry(firstBad, fmt.Errorf("%v, but entry %d after it is valid", badCause, i))
			}
			if len(notes) < maxDroppedNotes {
				cause := err
				if cause == nil {
					cause = badCause
				}
				notes = append(notes, fmt.Sprintf("entry %d in %s: %v: dropped torn tail record", i, s.where, cause))
			}
			bad = append(bad, i)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return err
		}
		return fmt.Errorf("log: scan entries in %s: %w", s.where, err)
	}
	if len(bad) == 0 {
		return nil
	}
	if n := len(bad) - len(notes); n > 0 {
		notes = append(notes, fmt.Sprintf("and %d more torn tail records in %s", n, s.where))
	}
	if s.hs.Commit > s.last {
		notes = append(notes, fmt.Sprintf("hard state commit %d is above the last index %d after dropping the tail", s.hs.Commit, s.last))
	}
	var dels []mutation
	for _, i := range bad {
		if n := len(dels); n > 0 && dels[n-1].hi+1 == i {
			dels[n-1].hi = i
			continue
		}
		dels = append(dels, deleteEntries(i, i, true))
	}
	// Delete from the top down, as Write does.
	for l, r := 0, len(dels)-1; l < r; l, r = l+1, r-1 {
		dels[l], dels[r] = dels[r], dels[l]
	}
	if err := s.commit([][]mutation{dels}); err != nil {
		return fmt.Errorf("log: delete torn tail in %s: %w", s.where, err)
	}
	for _, n := range notes {
		s.logger.Warn("log: recovery: "+n, "dir", s.where)
	}
	s.dropped = notes
	return nil
}
