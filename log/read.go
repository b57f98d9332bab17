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
	// Dropped holds one human-readable note per torn record that Open
	// dropped (a write that never returned). The runtime should log them.
	Dropped []string
}

// Load returns the whole durable state. Every entry is verified; a damaged
// one is an error wrapping ErrCorrupt. The returned slices belong to the
// caller. A runtime that would rather not hold the whole log's data at
// once reads the state with LoadMeta and the entries with Replay.
func (s *Store) Load() (State, error) {
	st, err := s.load(true)
	if err == nil {
		s.readDone()
	}
	return st, err
}

// LoadMeta returns the durable state as Load does, without its Entries.
func (s *Store) LoadMeta() (State, error) { return s.load(false) }

// Replay hands the entries from lo to LastIndex to fn in order, in pieces
// that weigh about maxBytes (Entries' measure, at least one entry each),
// and stops at fn's first error, which it returns. Errors are Entries'.
// Unlike Entries, a piece and its entries' Data are lent to fn: valid until
// fn returns, and not to be modified; fn copies what it keeps. Replaying
// the log after LoadMeta reads what Load would have returned with a
// piece's worth of memory, and the pieces reuse the same buffers.
func (s *Store) Replay(lo, maxBytes uint64, fn func([]engine.Entry) error) error {
	last := s.LastIndex()
	bufs := new(readBufs)
	for lo <= last {
		es, err := s.read(lo, last+1, maxBytes, bufs)
		if err != nil {
			return err
		}
		if len(es) == 0 { // unreachable: read returns at least one
			return fmt.Errorf("log: replay read nothing at %d (last index %d)", lo, last)
		}
		if err := fn(es); err != nil {
			return err
		}
		lo = es[len(es)-1].Index + 1
	}
	s.readDone()
	return nil
}

// readBufs are the buffers a Replay's pieces reuse: the piece's entries,
// the values of the Badger runs they alias, back to back, and one run's
// decoded entries.
type readBufs struct {
	out  []engine.Entry
	vals []byte
	run  []engine.Entry
	// read is the bytes of the values read for this piece; need the most
	// one piece read. A piece whose values did not fit in vals (runAt then
	// allocated) gives the next a vals of need and an eighth: pieces weigh
	// about the same (maxBytes), give or take the runs cut at their ends.
	read, need int
}

// reset readies the buffers for the next piece.
func (b *readBufs) reset() {
	clear(b.out)
	b.out = b.out[:0]
	if cap(b.vals) < b.need {
		b.vals = make([]byte, 0, b.need+b.need/8)
	}
	b.vals = b.vals[:0]
	b.read = 0
}

// spare returns where the next value read goes: the free end of vals
// (nil b: nil, a new allocation).
func (b *readBufs) spare() []byte {
	if b == nil {
		return nil
	}
	return b.vals[len(b.vals):cap(b.vals)]
}

// scratch returns run emptied, for the next run's entries (nil b: nil,
// a new slice).
func (b *readBufs) scratch() []engine.Entry {
	if b == nil {
		return nil
	}
	return b.run[:0]
}

// keepScratch keeps es, decoded into scratch, as the next scratch.
func (b *readBufs) keepScratch(es []engine.Entry) {
	if b != nil && es != nil {
		b.run = es
	}
}

// took records that v was read into spare, if it fit there (an append
// that fits keeps the array), else into an array of its own.
func (b *readBufs) took(v []byte, spare []byte) {
	if b == nil {
		return
	}
	if len(v) <= len(spare) {
		b.vals = b.vals[:len(b.vals)+len(v)]
	}
	b.read += len(v)
	b.need = max(b.need, b.read)
}

// readDone lets the kernel reclaim the value-log pages that reading the
// whole log faulted in: nothing reads most of them again (the engine keeps
// what it needs). Lock order: badgerMu before mu, so mu must not be held.
func (s *Store) readDone() {
	s.badgerMu.Lock()
	s.pageOutValueLog()
	s.badgerMu.Unlock()
}

func (s *Store) load(withEntries bool) (State, error) {
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
	if !withEntries {
		return st, nil
	}
	var err error
	st.Entries, err = s.entries(s.snap.Index+1, s.last+1, math.MaxUint64, nil)
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
	return s.read(lo, hi, maxBytes, nil)
}

// read is Entries, into bufs (reset first) when they are not nil: then the
// entries and their Data are bufs' or the memory log's, not the caller's.
func (s *Store) read(lo, hi, maxBytes uint64, bufs *readBufs) ([]engine.Entry, error) {
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
	return s.entries(lo, hi, maxBytes, bufs)
}

// History returns the entries [lo, hi) as Entries does, but may read below
// the snapshot index, down to what Compact kept: the committed entries a
// runtime keeps behind its snapshot for followers slightly behind, and the
// history a reader replays. It fails with ErrCompacted if lo is at or below
// HistoryFloor.
func (s *Store) History(lo, hi, maxBytes uint64) ([]engine.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if err := s.usable(); err != nil {
		return nil, err
	}
	if lo > hi {
		return nil, fmt.Errorf("log: invalid range [%d, %d)", lo, hi)
	}
	if lo <= s.historyFloor {
		return nil, fmt.Errorf("log: entries from %d: %w (history starts after %d)", lo, ErrCompacted, s.historyFloor)
	}
	if hi > s.last+1 {
		return nil, fmt.Errorf("log: entries up to %d: %w (last index %d)", hi-1, ErrUnavailable, s.last)
	}
	return s.entries(lo, hi, maxBytes, nil)
}

// HistoryFloor returns the index after which History reads: at most the
// snapshot index, lower while entries behind the snapshot are kept.
func (s *Store) HistoryFloor() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.historyFloor
}

// entries reads [lo, hi), which must lie within the log: the part below
// memFirst from Badger, the rest from memory, into bufs if not nil (read).
// s.mu held.
func (s *Store) entries(lo, hi, maxBytes uint64, bufs *readBufs) ([]engine.Entry, error) {
	if lo >= hi {
		return nil, nil
	}
	var out []engine.Entry
	if bufs != nil {
		bufs.reset()
		out = bufs.out
		defer func() { bufs.out = out }() // reset clears it before the next piece
	} else if n := hi - lo; n <= 1024 {
		out = make([]engine.Entry, 0, n)
	}
	var size uint64
	if lo < s.memFirst {
		var err error
		out, size, err = s.badgerEntries(out, lo, min(hi, s.memFirst), maxBytes, bufs)
		if err != nil || uint64(len(out)) < min(hi, s.memFirst)-lo {
			return out, err // stopped by maxBytes, or failed
		}
		lo = s.memFirst
	}
	s.mem.each(int(lo-s.memFirst), int(hi-s.memFirst), func(p *engine.Entry) bool {
		e := *p
		size += entryWeight(e)
		if len(out) > 0 && size > maxBytes {
			return false
		}
		if bufs == nil {
			e.Data = slices.Clone(e.Data)
		}
		out = append(out, e)
		return true
	})
	return out, nil
}

// badgerEntries appends the entries [lo, hi) read from Badger's runs to
// out, stopping before the one that would exceed maxBytes (never before the
// first of all). It returns the new out and its total weight.
//
// One forward iterator walks the runs in key order (by first index), so a
// read of consecutive runs costs one seek, not one per run; and the
// entries of a run alias the one copy of its value made for them (each
// Data capped at its length), rather than one copy each: reading 100k
// entries of 200 B (Load after 100k single puts) went from 43 ms, 79 MiB
// and 205k allocations to 21 ms, 40 MiB and 20k (BenchmarkEntriesFromBadger).
//
// With bufs, the runs' values go into bufs.vals and their entries are
// decoded into bufs.run (the entries returned alias bufs.vals).
func (s *Store) badgerEntries(out []engine.Entry, lo, hi, maxBytes uint64, bufs *readBufs) ([]engine.Entry, uint64, error) {
	var size uint64
	for _, e := range out {
		size += entryWeight(e)
	}
	if out == nil && maxBytes == math.MaxUint64 {
		out = make([]engine.Entry, 0, min(hi-lo, 1<<16))
	}
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{kindRun}})
		defer it.Close()
		for want := lo; want < hi; {
			spare := bufs.spare()
			r, v, err := runAt(txn, it, want, spare)
			if err != nil {
				return err
			}
			if v == nil {
				return s.corruptEntry(want, errors.New("missing"))
			}
			bufs.took(v, spare)
			es, err := decodeRunInto(bufs.scratch(), r, v)
			bufs.keepScratch(es)
			if err != nil {
				return s.corrupt(r.String(), err)
			}
			for _, e := range es[want-r.first : min(r.last+1, hi)-r.first] {
				size += entryWeight(e)
				if len(out) > 0 && size > maxBytes {
					return nil
				}
				out = append(out, e)
			}
			want = min(r.last+1, hi)
		}
		return nil
	})
	if err != nil && !errors.Is(err, ErrCorrupt) {
		err = fmt.Errorf("log: read entries in %s: %w", s.where, err)
	}
	if err != nil {
		return nil, 0, err
	}
	return out, size, nil
}

// runAt returns a run holding entry i and a copy of its value (appended to
// dst[:0]), or a nil value if none does, using it, a forward iterator over the runs: the run
// it is at when that holds i (the usual case when reading runs in order),
// else the run that starts at i, else the one findRun finds. It leaves it
// past the run returned. Any run that holds i will do (see findRun).
func runAt(txn *badger.Txn, it *badger.Iterator, i uint64, dst []byte) (runID, []byte, error) {
	for attempt := range 2 {
		if attempt == 1 {
			it.Seek(runID{i, 0, 0}.key())
		}
		if !it.Valid() {
			continue
		}
		r, ok := parseRunKey(it.Item().Key())
		if !ok {
			return runID{}, nil, fmt.Errorf("%w: run key %x", errRecord, it.Item().Key())
		}
		if r.first <= i && i <= r.last {
			v, err := it.Item().ValueCopy(dst)
			it.Next()
			return r, v, err
		}
	}
	r, v, err := findRun(txn, i, dst)
	if err == nil && v != nil {
		it.Seek(runID{r.last + 1, 0, 0}.key())
	}
	return r, v, err
}

// findRun returns a run holding entry i and its value (appended to
// dst[:0]), or a nil value if none does. Below memFirst, runs that hold the same index hold the same
// entry there: a checkpoint moves memFirst past its runs only once the
// stale runs they replace are deleted, and Open deletes the stale runs a
// crash left.
func findRun(txn *badger.Txn, i uint64, dst []byte) (runID, []byte, error) {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{kindRun}, Reverse: true})
	defer it.Close()
	for it.Seek(runID{i, math.MaxUint64, math.MaxUint64}.key()); it.Valid(); it.Next() {
		r, ok := parseRunKey(it.Item().Key())
		if !ok {
			return runID{}, nil, fmt.Errorf("%w: run key %x", errRecord, it.Item().Key())
		}
		if r.last < i {
			continue // a shorter run; one further down may hold i
		}
		v, err := it.Item().ValueCopy(dst)
		return r, v, err
	}
	return runID{}, nil, nil
}

// badgerTerm returns the term of entry i from Badger.
func (s *Store) badgerTerm(i uint64) (uint64, error) {
	var term uint64
	err := s.db.View(func(txn *badger.Txn) error {
		r, v, err := findRun(txn, i, nil)
		if err != nil {
			return err
		}
		if v == nil {
			return s.corruptEntry(i, errors.New("missing"))
		}
		es, err := decodeRunInto(nil, r, v)
		if err != nil {
			return s.corrupt(r.String(), err)
		}
		term = es[i-r.first].Term
		return nil
	})
	if err != nil && !errors.Is(err, ErrCorrupt) {
		err = fmt.Errorf("log: read entry %d in %s: %w", i, s.where, err)
	}
	return term, err
}

// Term returns the term of the entry at index; the snapshot's index gives
// the snapshot's term. It fails with ErrCompacted below the snapshot index,
// ErrUnavailable above LastIndex, and ErrCorrupt for a damaged record. The
// terms of entries not yet checkpointed are answered from memory.
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
	case index >= s.memFirst:
		return s.mem.at(int(index - s.memFirst)).Term, nil
	}
	return s.badgerTerm(index)
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
