package log

import (
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/yggrdb/yggr/internal/diskfault"
)

// mutation is one change of a Badger commit: set key to val, or delete key
// when val is nil.
type mutation struct {
	key, val []byte
}

func set(key, val []byte) mutation { return mutation{key: key, val: val} }
func del(key []byte) mutation      { return mutation{key: key} }

// commit makes ms durable in order. Normally they go into one Badger
// transaction, which Badger writes as one request and syncs once. A commit
// too large for one transaction (about 15% of the memtable size) is split
// into several, committed in order, each synced: a crash then leaves a
// prefix of ms, which the callers order so that every prefix is a state
// Open recovers from (see checkpoint).
func (s *Store) commit(ms []mutation) error {
	err := s.commitOne(ms)
	if !errors.Is(err, badger.ErrTxnTooBig) {
		return err
	}
	s.chunkedCommits.Add(1)
	return s.commitChunked(ms)
}

func (s *Store) commitOne(ms []mutation) error {
	if err := diskfault.Check(diskfault.BadgerCommit, s.where); err != nil {
		return fmt.Errorf("log: commit in %s: %w", s.where, err)
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for _, m := range ms {
		if err := apply(txn, m); err != nil {
			return err
		}
	}
	return txn.Commit()
}

func (s *Store) commitChunked(ms []mutation) error {
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	for _, m := range ms {
		err := apply(txn, m)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err = txn.Commit(); err != nil {
				return fmt.Errorf("log: chunked commit in %s: %w", s.where, err)
			}
			txn = s.db.NewTransaction(true)
			err = apply(txn, m)
		}
		if err != nil {
			return fmt.Errorf("log: chunked commit in %s: %w", s.where, err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("log: chunked commit in %s: %w", s.where, err)
	}
	return nil
}

func apply(txn *badger.Txn, m mutation) error {
	if m.val == nil {
		return txn.Delete(m.key)
	}
	return txn.Set(m.key, m.val)
}
