package log

import (
	"errors"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// gcLoop runs value-log GC every period and whenever kickGC asks. It is
// owned by the Store, started by Open for on-disk stores, and ends when
// Close closes stop; Close waits for it before closing Badger.
func (s *Store) gcLoop(period time.Duration) {
	defer s.wg.Done()
	var tick <-chan time.Time
	if period > 0 {
		t := time.NewTicker(period)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-s.stop:
			return
		case <-tick:
		case <-s.gcKick:
		}
		s.runGC()
		s.gcRuns.Add(1)
	}
}

// kickGC asks the GC goroutine for a run without waiting for it.
func (s *Store) kickGC() {
	select {
	case s.gcKick <- struct{}{}:
	default:
	}
}

// runGC rewrites value-log files until Badger finds nothing worth
// rewriting, at most maxGCRoundsPerGC files per call. It reports how many
// files were rewritten. It first has Badger account for the runs that
// checkpoints deleted since the last run (flushDeletes).
func (s *Store) runGC() int {
	s.flushDeletes()
	for n := range maxGCRoundsPerGC {
		select {
		case <-s.stop:
			return n
		default:
		}
		// Serialized with the checkpoint, whose flushDeletes blocks
		// Badger's writes while it runs: a rewrite would fail then.
		s.badgerMu.Lock()
		err := s.db.RunValueLogGC(gcDiscardRatio)
		// A rewrite wrote its live runs to a new file; and reads since
		// the last run (a reopen's Load, a follower catching up) may
		// have faulted pages of finished files back in.
		s.pageOutValueLog()
		s.badgerMu.Unlock()
		switch {
		case err == nil:
			continue
		case errors.Is(err, badger.ErrNoRewrite), errors.Is(err, badger.ErrRejected):
		default:
			s.logger.Warn("log: value-log GC failed", "dir", s.where, "err", err)
		}
		return n
	}
	return maxGCRoundsPerGC
}

// keyFlush is a key of no other kind that flushDeletes writes and drops;
// Open reads keys only by kind, so it ignores one a crash left.
var keyFlush = []byte{kindFlush}

// flushDeletes makes Badger account for the value-log space of the runs
// that checkpoints deleted, if any were deleted since its last call.
// Badger learns that a value is garbage only when an LSM compaction drops
// it, and RunValueLogGC rewrites or deletes only files it has learned
// about. A Raft log's LSM tree is tiny (a key and a value pointer per run):
// its memtable is rarely full, so without help the deleted runs' values
// would stay in the value log (on disk, and resident, since Badger writes
// it through a shared mapping) until the memtable filled up and enough
// tables piled up on level 0. DropPrefix of a key of its own flushes the
// memtables and compacts level 0 into the level below, which drops the
// deleted runs' values and counts them. Issue 15's load (10k entries of
// 15 KB, a snapshot every 64 MiB of log) kept 136 MiB of value log mapped
// without it, and about 40 MiB with it (TestFootprintNodeLoad).
//
// It holds badgerMu: DropPrefix refuses other writes while it runs. A
// failure is logged: the deletions are durable already, and only the
// reclaiming of their space waits for a later run.
func (s *Store) flushDeletes() {
	s.badgerMu.Lock()
	defer s.badgerMu.Unlock()
	if !s.deletesToFlush {
		return
	}
	s.deletesToFlush = false
	err := s.db.Update(func(txn *badger.Txn) error { return txn.Set(keyFlush, []byte{recordVersion}) })
	if err == nil {
		err = s.db.DropPrefix(keyFlush)
	}
	if err != nil {
		s.logger.Warn("log: flush of deleted runs failed; their space is reclaimed later", "dir", s.where, "err", err)
	}
}
