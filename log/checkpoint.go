package log

import (
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"github.com/yggrdb/yggr/engine"
)

// A checkpoint moves what the write-ahead log holds into Badger, as SQLite
// moves its WAL into the database file: the entries not yet there, as runs
// of up to maxRunBytes of data, the hard state, the snapshot record and the
// checkpoint record (the LSN of the last WAL record included, and the log's
// extent then); the WAL segments whose records are all included are then
// released. It also deletes the runs a truncation made stale and those
// Compact (or a ResetTo) made obsolete.
//
// Its Badger writes are ordered so that a crash anywhere between them still
// recovers, whatever Badger's transaction limits make of them (several
// transactions when too large for one): first the new runs, in a
// generation newer than any run Badger holds; then the three records, in
// one transaction; then the deletions. Until the checkpoint record is
// durable, Open replays the WAL from the previous checkpoint, over runs
// that are all still there (a replayed record that appends at index i may
// need the entries before i, even ones a later record truncates); once it
// is, Open reads the newest generation wherever runs overlap and ignores
// runs outside (history, last], so that stale runs a crash kept from being
// deleted are never read, and deletes them.

// checkpointLoop is the checkpoint goroutine: owned by the Store, started by
// Open, ended by Close (which waits for it).
func (s *Store) checkpointLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.ckptKick:
		}
		s.checkpoint() // a failure sticks in s.failed
	}
}

// kickCheckpoint asks the checkpoint goroutine for a run without waiting.
func (s *Store) kickCheckpoint() {
	select {
	case s.ckptKick <- struct{}{}:
	default:
	}
}

// Checkpoint moves everything the write-ahead log holds into Badger now and
// releases the WAL segments it no longer needs. The runtime never needs to
// call it (a goroutine does it as the WAL grows); tests and tools do. When
// the file system lacks room for it (space.go) it moves nothing and
// returns nil: the WAL keeps the records.
func (s *Store) Checkpoint() error { return s.checkpoint() }

// checkpoint runs one checkpoint. A failure leaves Badger in a state only a
// reopen knows: the store refuses all later use, as after a failed write.
func (s *Store) checkpoint() error {
	err := s.checkpointOnce()
	if err != nil && !errors.Is(err, ErrClosed) {
		s.mu.Lock()
		first := s.failed == nil
		if first {
			s.failed = fmt.Errorf("log: checkpoint failed in %s: %w", s.where, err)
			if s.opts.OnFail == nil { // else the runtime reports it
				s.logger.Error("log: checkpoint failed; the store refuses further writes", "dir", s.where, "err", err)
			}
		}
		err = s.failed
		s.mu.Unlock()
		if first {
			s.notifyFailed(err)
		}
	}
	return err
}

func (s *Store) checkpointOnce() error {
	s.badgerMu.Lock()
	defer s.badgerMu.Unlock()

	s.mu.Lock()
	if err := s.usable(); err != nil {
		s.mu.Unlock()
		return err
	}
	lsn, compactTo := s.lsn, s.compactTo
	if lsn == s.cpLSN && compactTo <= s.compacted {
		s.mu.Unlock()
		return nil
	}
	if !s.roomForCheckpoint(s.pending) {
		s.mu.Unlock()
		return nil // the WAL keeps the records; a later Write asks again
	}
	s.dropMemThrough(compactTo)
	capFirst := s.memFirst
	ents, count := s.mem.batchList(), uint64(s.mem.len())
	hs, snap, pending, history, last := s.hs, s.snap, s.pending, s.historyFloor, s.last
	snap.Membership = snap.Membership.Clone()
	s.truncatedAt = 0
	s.mu.Unlock()

	// Badger's runs at or above capFirst are stale, and a run reaching
	// across capFirst is cut back to its part below.
	gen := s.nextGen
	s.nextGen++ // used even if this checkpoint fails: a generation is never reused
	var puts, dels []mutation
	err := s.eachRun(func(r runID) error {
		switch {
		case r.last <= compactTo:
			dels = append(dels, del(r.key()))
		case r.first >= capFirst:
			dels = append(dels, del(r.key()))
		case r.last >= capFirst:
			dels = append(dels, del(r.key()))
			prefix, err := s.readRun(r)
			if err != nil {
				return err
			}
			prefix = prefix[:capFirst-r.first]
			id := runOf(prefix, gen)
			puts = append(puts, set(id.key(), encodeRun(id, prefix)))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, run := range splitBatches(ents, s.opts.maxRunBytes) {
		id := runOf(run, gen)
		puts = append(puts, set(id.key(), encodeRun(id, run)))
	}
	records := []mutation{
		set(keyHardState, encodeHardState(hs)),
		set(keySnapshot, encodeSnapshotMeta(snap)),
		set(keyCheckpoint, encodeCheckpoint(checkpointRecord{lsn: lsn, history: history, last: last})),
	}
	if err := s.commitCheckpoint(puts, records, dels); err != nil {
		return err
	}
	// Badger may have started a value-log file: the finished ones'
	// pages need not stay resident.
	s.pageOutValueLog()
	compacted := len(dels) > 0
	if compacted {
		s.deletesToFlush = true
		s.kickGC()
	}

	s.mu.Lock()
	s.cpLSN = lsn
	s.compacted = max(s.compacted, compactTo)
	s.pending -= pending
	validEnd := capFirst - 1 + count
	if s.truncatedAt != 0 {
		validEnd = min(validEnd, s.truncatedAt-1)
	}
	if validEnd >= s.memFirst {
		k := min(validEnd+1-s.memFirst, uint64(s.mem.len()))
		s.mem.dropFirst(int(k))
		s.memFirst += k
	}
	s.mu.Unlock()
	s.checkpoints.Add(1)
	if s.wal != nil {
		if err := s.wal.release(lsn); err != nil {
			return err
		}
	}
	return nil
}

// commitCheckpoint commits a checkpoint's mutations in their order: the
// runs, then the records in one transaction, then the deletions; the runs
// and the deletions take as many transactions as they need.
func (s *Store) commitCheckpoint(puts, records, dels []mutation) error {
	if f := s.opts.crashCheckpoint; f != nil {
		if k := f(slices.Concat(puts, records, dels)); k >= 0 {
			// A crash after k mutations: the records are all or nothing.
			switch {
			case k <= len(puts):
				return errors.Join(s.commit(puts[:k]), errSimulatedCrash)
			case k < len(puts)+len(records):
				return errors.Join(s.commit(puts), errSimulatedCrash)
			}
			err := errors.Join(s.commit(puts), s.commitOne(records), s.commit(dels[:k-len(puts)-len(records)]))
			return errors.Join(err, errSimulatedCrash)
		}
	}
	if err := s.commit(puts); err != nil {
		return err
	}
	if err := s.commitOne(records); err != nil {
		return fmt.Errorf("log: commit the checkpoint records in %s: %w", s.where, err)
	}
	return s.commit(dels)
}

// errSimulatedCrash ends a checkpoint that Options.crashCheckpoint cut.
var errSimulatedCrash = errors.New("log: simulated crash during a checkpoint")

// splitRuns cuts es into runs of at most maxBytes of entry data (at least
// one entry each).
func splitRuns(es []engine.Entry, maxBytes int) [][]engine.Entry {
	var runs [][]engine.Entry
	for len(es) > 0 {
		n, size := 1, len(es[0].Data)
		for n < len(es) && size+len(es[n].Data) <= maxBytes {
			size += len(es[n].Data)
			n++
		}
		runs = append(runs, es[:n:n])
		es = es[n:]
	}
	return runs
}

// splitBatches cuts the entries of consecutive batches (the in-memory log's)
// into the runs splitRuns would cut their concatenation into. A run inside
// one batch is a slice of it; a run across batches is a copy.
func splitBatches(bs [][]engine.Entry, maxBytes int) [][]engine.Entry {
	var runs [][]engine.Entry
	b, off := 0, 0
	for b < len(bs) {
		// The run starts at bs[b][off] and takes entries while they fit.
		eb, eoff, size, n := b, off, 0, 0
		for eb < len(bs) {
			e := &bs[eb][eoff]
			if n > 0 && size+len(e.Data) > maxBytes {
				break
			}
			size += len(e.Data)
			n++
			if eoff++; eoff == len(bs[eb]) {
				eb, eoff = eb+1, 0
			}
		}
		var run []engine.Entry
		if n <= len(bs[b])-off {
			run = bs[b][off : off+n : off+n]
		} else {
			run = make([]engine.Entry, 0, n)
			for k := b; len(run) < n; k++ {
				lo := 0
				if k == b {
					lo = off
				}
				run = append(run, bs[k][lo:min(len(bs[k]), lo+n-len(run))]...)
			}
		}
		runs = append(runs, run)
		b, off = eb, eoff
	}
	return runs
}

// eachRun calls f with every run in Badger, in key order (by first index).
func (s *Store) eachRun(f func(runID) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{kindRun}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			r, ok := parseRunKey(it.Item().Key())
			if !ok {
				return s.corrupt(fmt.Sprintf("run key %x", it.Item().Key()), errRecord)
			}
			if err := f(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// readRun returns the entries of run r.
func (s *Store) readRun(r runID) ([]engine.Entry, error) {
	var es []engine.Entry
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(r.key())
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			es, err = decodeRun(r, v)
			return err
		})
	})
	if errors.Is(err, errRecord) {
		return nil, s.corrupt(r.String(), err)
	}
	return es, err
}
