package log

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
)

// mutation is one change of a commit: set key to val, or delete every entry
// key in [lo, hi] (descending if desc, so that an interrupted chunked commit
// leaves a shorter but contiguous log).
type mutation struct {
	key, val []byte
	lo, hi   uint64
	isRange  bool
	desc     bool
}

func set(key, val []byte) mutation { return mutation{key: key, val: val} }

func deleteEntries(lo, hi uint64, desc bool) mutation {
	return mutation{lo: lo, hi: hi, isRange: true, desc: desc}
}

// each calls f for every single-key operation of m, in order, until f fails.
// A nil val means delete.
func (m mutation) each(f func(key, val []byte) error) error {
	if !m.isRange {
		return f(m.key, m.val)
	}
	if m.lo > m.hi {
		return nil
	}
	if m.desc {
		for i := m.hi; ; i-- {
			if err := f(entryKey(i), nil); err != nil {
				return err
			}
			if i == m.lo {
				return nil
			}
		}
	}
	for i := m.lo; ; i++ {
		if err := f(entryKey(i), nil); err != nil {
			return err
		}
		if i == m.hi {
			return nil
		}
	}
}

func apply(txn *badger.Txn, key, val []byte) error {
	if val == nil {
		return txn.Delete(key)
	}
	return txn.Set(key, val)
}

// commit makes the phases durable. Normally everything goes into one Badger
// transaction, which Badger writes as one request and syncs once (with
// SyncWrites). A commit too large for one transaction (about 15% of the
// memtable size, or ~13k keys) is split: each phase starts a new
// transaction and is itself split into as many as needed, committed in
// order, each synced. A crash then leaves a prefix of the operations, which
// the callers order so that every prefix is a valid state (see Write).
//
// Within one transaction a later operation on a key replaces an earlier one
// (Badger keeps the last pending write per key), so a phase may delete a key
// that a later phase sets.
func (s *Store) commit(phases [][]mutation) error {
	err := s.commitOne(phases)
	if !errors.Is(err, badger.ErrTxnTooBig) {
		return err
	}
	s.chunkedCommits.Add(1)
	return s.commitChunked(phases)
}

func (s *Store) commitOne(phases [][]mutation) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for _, ph := range phases {
		for _, m := range ph {
			if err := m.each(func(k, v []byte) error { return apply(txn, k, v) }); err != nil {
				return err
			}
		}
	}
	return txn.Commit()
}

func (s *Store) commitChunked(phases [][]mutation) error {
	for _, ph := range phases {
		txn := s.db.NewTransaction(true)
		err := func() error {
			for _, m := range ph {
				err := m.each(func(k, v []byte) error {
					err := apply(txn, k, v)
					if !errors.Is(err, badger.ErrTxnTooBig) {
						return err
					}
					if err := txn.Commit(); err != nil {
						return err
					}
					txn = s.db.NewTransaction(true)
					return apply(txn, k, v)
				})
				if err != nil {
					return err
				}
			}
			return txn.Commit()
		}()
		txn.Discard()
		if err != nil {
			return fmt.Errorf("log: chunked commit in %s: %w", s.where, err)
		}
	}
	return nil
}
