package log

import (
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"github.com/yggrdb/yggr/engine"
)

// A checkpoint moves what the write-ahead log holds into Badger, as SQLite
// moves its WAL into the database file: the entries not yet there (as runs
// of up to maxRunBytes), the hard state, the snapshot record and the LSN of
// the last WAL record included, in one Badger commit that Badger syncs.
// The WAL segments whose records are all included are then released.
//
// The same commit deletes the stale runs (of entries a truncation
// replaced); after it, the runs that Compact (or a ResetTo) made obsolete
// are deleted (see commitCheckpoint). Until the checkpoint record is
// durable, Open replays the WAL from the previous checkpoint.

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
		if err := s.checkpoint(); err != nil && !errors.Is(err, ErrClosed) {
			s.mu.Lock()
			if s.failed == nil {
				s.failed = fmt.Errorf("log: checkpoint failed in %s: %w", s.where, err)
			}
			s.mu.Unlock()
			s.logger.Error("log: checkpoint failed; the store refuses further writes", "dir", s.where, "err", err)
		}
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
// call it (a goroutine does it as the WAL grows); tests and tools do.
func (s *Store) Checkpoint() error { return s.checkpoint() }

func (s *Store) checkpoint() error {
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
	s.dropMemThrough(compactTo)
	capFirst := s.memFirst
	ents := s.mem
	hs, snap, pending, history := s.hs, s.snap, s.pending, s.historyFloor
	snap.Membership = snap.Membership.Clone()
	s.truncatedAt = 0
	s.mu.Unlock()

	// Badger's runs at or above capFirst are stale, and a run reaching
	// across capFirst is cut back to its part below.
	var ms, dels, compactions []mutation
	keep := map[string]bool{}
	err := s.eachRun(func(first, last uint64) error {
		switch {
		case last <= compactTo:
			compactions = append(compactions, del(runKey(first, last)))
		case first >= capFirst:
			dels = append(dels, del(runKey(first, last)))
		case last >= capFirst:
			dels = append(dels, del(runKey(first, last)))
			prefix, err := s.readRun(first, last)
			if err != nil {
				return err
			}
			prefix = prefix[:capFirst-first]
			ms = append(ms, set(runKey(first, capFirst-1), encodeRun(prefix)))
			keep[string(runKey(first, capFirst-1))] = true
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, run := range splitRuns(ents, s.opts.maxRunBytes) {
		key := runKey(run[0].Index, run[len(run)-1].Index)
		ms = append(ms, set(key, encodeRun(run)))
		keep[string(key)] = true
	}
	for _, d := range dels {
		if !keep[string(d.key)] {
			ms = append(ms, d)
		}
	}
	ms = append(ms,
		set(keyHardState, encodeHardState(hs)),
		set(keySnapshot, encodeSnapshotMeta(snap)),
		set(keyCheckpoint, encodeCheckpoint(checkpointRecord{lsn: lsn, history: history})))
	if err := s.commitCheckpoint(ms, compactions); err != nil {
		return err
	}
	if len(compactions) > 0 {
		s.kickGC()
	}

	s.mu.Lock()
	s.cpLSN = lsn
	s.compacted = max(s.compacted, compactTo)
	s.pending -= pending
	validEnd := capFirst - 1 + uint64(len(ents))
	if s.truncatedAt != 0 {
		validEnd = min(validEnd, s.truncatedAt-1)
	}
	if validEnd >= s.memFirst {
		k := min(validEnd+1-s.memFirst, uint64(len(s.mem)))
		s.mem = s.mem[k:]
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

// commitCheckpoint commits a checkpoint's mutations: the runs, the
// deletions of stale runs and the records in one Badger transaction, then
// the compactions (in as many as they need). The first must be atomic: a
// stale run deleted before the checkpoint record is durable can be one that
// replaying the WAL from the previous checkpoint still needs, and one left
// after it would read as part of the log. Runs larger than the value
// threshold cost Badger's transaction a few dozen bytes each (their bytes
// go to the value log), so a checkpoint fits in one transaction unless
// gigabytes of runs are written or stale at once; an on-disk store that
// meets one fails rather than risk its log. (In memory nothing survives a
// crash, and the chunked path is fine.) Compacted runs lie below the
// durable snapshot, which Open ignores: deleting them may take several
// transactions.
func (s *Store) commitCheckpoint(main, compactions []mutation) error {
	if f := s.opts.crashCheckpoint; f != nil {
		if k := f(slices.Concat(main, compactions)); k >= 0 {
			// A crash after k mutations: the main transaction is all or
			// nothing.
			if k >= len(main) {
				if err := s.commitOne(main); err != nil {
					return err
				}
				if err := s.commit(compactions[:k-len(main)]); err != nil {
					return err
				}
			}
			return errSimulatedCrash
		}
	}
	err := s.commitOne(main)
	if errors.Is(err, badger.ErrTxnTooBig) {
		if !s.opts.InMemory {
			return fmt.Errorf("log: a checkpoint of %d Badger mutations does not fit in one transaction: %w", len(main), err)
		}
		s.chunkedCommits.Add(1)
		err = s.commitChunked(main)
	}
	if err != nil {
		return err
	}
	return s.commit(compactions)
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

// eachRun calls f with the extent of every run in Badger, in key order.
func (s *Store) eachRun(f func(first, last uint64) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{kindRun}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			first, last, ok := parseRunKey(it.Item().Key())
			if !ok {
				return s.corrupt(fmt.Sprintf("run key %x", it.Item().Key()), errRecord)
			}
			if err := f(first, last); err != nil {
				return err
			}
		}
		return nil
	})
}

// readRun returns the entries of the run first..last.
func (s *Store) readRun(first, last uint64) ([]engine.Entry, error) {
	var es []engine.Entry
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(runKey(first, last))
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			es, err = decodeRun(first, last, v)
			return err
		})
	})
	if errors.Is(err, errRecord) {
		return nil, s.corrupt(fmt.Sprintf("run of entries %d to %d", first, last), err)
	}
	return es, err
}
