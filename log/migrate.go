package log

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/yggrdb/yggr/engine"
	"github.com/yggrdb/yggr/internal/record"
)

// Format 1 (yggr up to v0.1.x) kept one Badger key per entry and wrote
// every record synced, with no write-ahead log and no format record:
//
//	entry       'e' index:u64 → 1 term:u64 type:u8 len:u32 data[len] crc:u32
//	hard state  'h'           → 1 term:u64 commit:u64 len:u8 vote[len] crc:u32
//	snapshot    's'           → 1 index:u64 term:u64 size:u64 voters learners crc:u32
//	                            (each list: count:u16, then len:u8 id[len] per member)
//	identity    'i'           → 1 len:u8 cluster[len] len:u8 node[len] crc:u32
//
// The CRC-32C covers the key and the value before it, as in format 2.
// Open migrates such a directory in place: it writes the format 2 records
// (runs, then the hard state, snapshot, identity and checkpoint records,
// and the format record last, so that a crash before the end leaves a
// format 1 directory that the next Open migrates again), then deletes the
// entry keys of format 1.
//
// The migration writes format 2, not 3 (format.go): format 1 holds the
// node's identity in the log alone, and the first Open checks that record
// against the identity it is given before the store's owner records one
// of its own (yggr.json), so the record is carried over; a directory with
// an identity record is format 2, and the earlier releases of format 2
// keep opening it.
const (
	v1KindEntry byte = 'e'
	v1Version   byte = 1
	v1EntryKey       = 9
)

func v1EntryKeyFor(index uint64) []byte {
	k := make([]byte, v1EntryKey)
	k[0] = v1KindEntry
	binary.BigEndian.PutUint64(k[1:], index)
	return k
}

func v1Decode[T any](key, v []byte, read func(*record.Reader) T) (T, error) {
	return decodeVersion(key, v, v1Version, read)
}

// v1State is what a format 1 directory holds.
type v1State struct {
	hs      engine.HardState
	snap    engine.SnapshotMeta
	id      identity
	entries []engine.Entry
	notes   []string
}

// migrateV1 rewrites a format 1 directory in format 2.
func (s *Store) migrateV1() error {
	st, err := s.readV1()
	if err != nil {
		return fmt.Errorf("log: migrate %s from format 1: %w", s.where, err)
	}
	var ms []mutation
	for _, run := range splitRuns(st.entries, s.opts.maxRunBytes) {
		id := runOf(run, 1)
		ms = append(ms, set(id.key(), encodeRun(id, run)))
	}
	last := st.snap.Index
	if n := len(st.entries); n > 0 {
		last = st.entries[n-1].Index
	}
	ms = append(ms,
		set(keyHardState, encodeHardState(st.hs)),
		set(keySnapshot, encodeSnapshotMeta(st.snap)),
		set(keyIdentity, encodeIdentity(st.id)),
		set(keyCheckpoint, encodeCheckpoint(checkpointRecord{history: st.snap.Index, last: last})),
		set(keyFormat, encodeFormat(formatV2)))
	if err := s.commit(ms); err != nil {
		return fmt.Errorf("log: migrate %s from format 1: %w", s.where, err)
	}
	for _, n := range st.notes {
		s.logger.Warn("log: migration: "+n, "dir", s.where)
	}
	s.dropped = append(s.dropped, st.notes...)
	s.logger.Info("log: migrated from format 1 to 2", "dir", s.where, "entries", len(st.entries))
	return nil
}

// readV1 reads a format 1 directory. As format 1's recovery did, it drops a
// torn tail (entries after the last valid contiguous one, none of them
// valid) with a note, and fails on a damaged entry followed by a valid one.
func (s *Store) readV1() (v1State, error) {
	var st v1State
	err := s.db.View(func(txn *badger.Txn) error {
		for _, r := range []struct {
			key    []byte
			what   string
			decode func([]byte) error
		}{
			{keyHardState, "hard state record", func(v []byte) (err error) {
				st.hs, err = v1Decode(keyHardState, v, readHardState)
				return
			}},
			{keySnapshot, "snapshot record", func(v []byte) (err error) {
				st.snap, err = v1Decode(keySnapshot, v, func(r *record.Reader) engine.SnapshotMeta {
					m := engine.SnapshotMeta{Index: r.U64(), Term: r.U64(), Size: r.U64()}
					m.Membership = record.Decode(r, engine.DecodeMembershipV1)
					return m
				})
				return
			}},
			{keyIdentity, "identity record", func(v []byte) (err error) {
				st.id, err = v1Decode(keyIdentity, v, func(r *record.Reader) identity {
					return identity{ClusterID: r.String8(MaxIdentityLen), NodeID: r.String8(MaxIdentityLen)}
				})
				return
			}},
		} {
			item, err := txn.Get(r.key)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if err := item.Value(r.decode); err != nil {
				return s.corrupt(r.what+" (format 1)", err)
			}
		}
		last, lastTerm := st.snap.Index, st.snap.Term
		var bad []string
		inTail := false
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{v1KindEntry}, PrefetchValues: true, PrefetchSize: 64})
		defer it.Close()
		for it.Seek(v1EntryKeyFor(st.snap.Index + 1)); it.Valid(); it.Next() {
			key := it.Item().Key()
			if len(key) != v1EntryKey {
				return s.corrupt(fmt.Sprintf("format 1 key %x", key), errRecord)
			}
			i := binary.BigEndian.Uint64(key[1:])
			var e engine.Entry
			err := it.Item().Value(func(v []byte) (err error) {
				e, err = v1Decode(key, v, func(r *record.Reader) engine.Entry {
					es := readEntries(nil, r, i, 1, false)
					if len(es) == 1 {
						return es[0]
					}
					return engine.Entry{}
				})
				return err
			})
			if err != nil && !errors.Is(err, errRecord) {
				return err
			}
			decoded := err == nil
			switch {
			case !inTail && decoded && i == last+1 && e.Term >= lastTerm:
				st.entries = append(st.entries, e)
				last, lastTerm = i, e.Term
				continue
			case decoded && (inTail || i != last+1):
				return s.corruptEntry(last+1, fmt.Errorf("format 1 entry %d is damaged or missing, but entry %d after it is valid", last+1, i))
			}
			inTail = true
			if len(bad) < maxDroppedNotes {
				cause := err
				if cause == nil {
					cause = fmt.Errorf("entry %d/%d has a lower term than entry %d/%d", e.Term, i, lastTerm, last)
				}
				bad = append(bad, fmt.Sprintf("entry %d in %s: %v: dropped torn tail record of format 1", i, s.where, cause))
			}
		}
		st.notes = bad
		return nil
	})
	if err != nil && !errors.Is(err, ErrCorrupt) {
		err = fmt.Errorf("read: %w", err)
	}
	return st, err
}

// deleteV1Entries deletes the format 1 entry keys left by a migration (all
// of them just after one, or the rest after a crash interrupted it).
func (s *Store) deleteV1Entries() error {
	var ms []mutation
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{v1KindEntry}})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			ms = append(ms, del(it.Item().KeyCopy(nil)))
		}
		return nil
	})
	if err != nil || len(ms) == 0 {
		return err
	}
	if err := s.commit(ms); err != nil {
		return fmt.Errorf("log: delete format 1 entries in %s: %w", s.where, err)
	}
	return nil
}
