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
// files were rewritten.
func (s *Store) runGC() int {
	for n := range maxGCRoundsPerGC {
		select {
		case <-s.stop:
			return n
		default:
		}
		err := s.db.RunValueLogGC(gcDiscardRatio)
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
