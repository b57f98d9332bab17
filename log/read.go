package log

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"github.com/yggrdb/yggr/engine"
)

// State is the durable state read back on start, for engine.Recover.
type State struct {
	HardState engine.HardState
	// Snapshot is the recorded snapshot meta, zero if none.
	Snapshot engine.SnapshotMeta
	// Entries are the entries after Snapshot.Index: ascending, contiguous.
	Entries []engine.Entry
	// Dropped holds one human-readable note per torn or invalid tail
	// record that Open deleted (at most 16 notes, then a count). The
	// runtime should log them: an acknowledged entry may have been lost.
	Dropped []string
}

// Load returns the whole durable state. Every entry is verified; a damaged
// one is an error wrapping ErrCorrupt. The returned slices belong to the
// caller.
func (s *Store) Load() (State, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.usable(); err != nil {
		return State{}, err
	}
	st := State{
		HardState: s.hs,
		Snapshot:  s.snap,
		Dropped:   slices.Clone(s.dropped),
	}
	st.Snapshot.Membership = s.snap.Membership.Clone()
	var err error
	st.Entries, err = s.entries(s.snap.Index+1, s.last+1, math.MaxUint64)
	if err != nil {
		return State{}, err
	}
	return st, nil
}

// Entries returns the entries in [lo, hi): at least one if lo < hi, then as
// many as fit in maxBytes, where an entry weighs len(Data)+24 (the engine's
// measure). It fails with ErrCompacted if lo < FirstIndex, ErrUnavailable if
// hi > LastIndex+1, and an error wrapping ErrCorrupt naming the index if a
// record is damaged or missing. The returned entries and their Data belong
// to the caller.
func (s *Store) Entries(lo, hi, maxBytes uint64) ([]engine.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	if lo > hi {
		return nil, fmt.Errorf("log: invalid range [%d, %d)", lo, hi)
	}
	if lo <= s.snap.Index {
		return nil, fmt.Errorf("log: entries from %d: %w (first index %d)", lo, ErrCompacted, s.snap.Index+1)
	}
	if hi > s.last+1 {
		return nil, fmt.Errorf("log: entries up to %d: %w (last index %d)", hi-1, ErrUnavailable, s.last)
	}
	return s.entries(lo, hi, maxBytes)
}

// entryOverhead matches the engine's per-entry weight for byte limits.
const entryOverhead = 24

// entries reads [lo, hi), which must lie within the log. s.mu held.
func (s *Store) entries(lo, hi, maxBytes uint64) ([]engine.Entry, error) {
	if lo >= hi {
		return nil, nil
	}
	var out []engine.Entry
	if n := hi - lo; n <= 1024 {
		out = make([]engine.Entry, 0, n)
	}
	var size uint64
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte{kindEntry}
		opts.PrefetchSize = int(min(hi-lo, 64))
		it := txn.NewIterator(opts)
		defer it.Close()
		want := lo
		for it.Seek(entryKey(lo)); want < hi; it.Next() {
			if !it.Valid() {
				return s.corruptEntry(want, errors.New("missing"))
			}
			i, ok := parseEntryKey(it.Item().Key())
			if !ok || i != want {
				return s.corruptEntry(want, errors.New("missing"))
			}
			var e engine.Entry
			err := it.Item().Value(func(v []byte) error {
				var err error
				e, err = decodeEntry(i, v)
				return err
			})
			if errors.Is(err, errRecord) {
				return s.corruptEntry(i, err)
			}
			if err != nil {
				return err
			}
			size += uint64(len(e.Data)) + entryOverhead
			if len(out) > 0 && size > maxBytes {
				return nil
			}
			out = append(out, e)
			want++
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrCorrupt) {
		err = fmt.Errorf("log: read entries in %s: %w", s.where, err)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Term returns the term of the entry at index; the snapshot's index gives
// the snapshot's term. It fails with ErrCompacted below the snapshot index,
// ErrUnavailable above LastIndex, and ErrCorrupt for a damaged record. The
// last entry's term is answered from memory.
func (s *Store) Term(index uint64) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.usable(); err != nil {
		return 0, err
	}
	switch {
	case index < s.snap.Index:
		return 0, fmt.Errorf("log: term of %d: %w (snapshot index %d)", index, ErrCompacted, s.snap.Index)
	case index == s.snap.Index:
		return s.snap.Term, nil
	case index > s.last:
		return 0, fmt.Errorf("log: term of %d: %w (last index %d)", index, ErrUnavailable, s.last)
	case index == s.last:
		return s.lastTerm, nil
	}
	var term uint64
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(entryKey(index))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return s.corruptEntry(index, errors.New("missing"))
		}
		if err != nil {
			return fmt.Errorf("log: read entry %d in %s: %w", index, s.where, err)
		}
		return item.Value(func(v []byte) error {
			term, err = decodeEntryTerm(index, v)
			if err != nil {
				return s.corruptEntry(index, err)
			}
			return nil
		})
	})
	return term, err
}

// FirstIndex returns the index of the first entry that can be present: the
// snapshot index + 1. The log is empty when FirstIndex > LastIndex.
func (s *Store) FirstIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snap.Index + 1
}

// LastIndex returns the index of the last entry, or the snapshot index if
// the log is empty.
func (s *Store) LastIndex() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.last
}

// usable returns why the store cannot be used, or nil. s.mu held.
func (s *Store) usable() error {
	if s.closed {
		return ErrClosed
	}
	return s.failed
}

func (s *Store) corruptEntry(index uint64, cause error) error {
	return s.corrupt(fmt.Sprintf("entry %d", index), cause)
}
