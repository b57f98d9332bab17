package kv

import (
	"bytes"
	"errors"
	"iter"
	"runtime"
	"sync"
)

// Sentinel errors. Errors returned by this package wrap one of them; test
// with errors.Is.
var (
	// ErrCorrupt reports bytes that do not decode: a command, a result or a
	// snapshot stream.
	ErrCorrupt = errors.New("kv: corrupt data")
	// ErrTooLarge reports a key, value or transaction over its Limits.
	ErrTooLarge = errors.New("kv: too large")
	// ErrInvalid reports a malformed request: an empty key, an unknown op or
	// compare target, or a field the op does not use.
	ErrInvalid = errors.New("kv: invalid request")
)

// Item is one key and its value with its modification history.
type Item struct {
	Key, Value []byte
	// CreateIndex is the log index that created the key, since its last
	// deletion. 1 <= CreateIndex <= ModIndex.
	CreateIndex uint64
	// ModIndex is the log index of the last modification.
	ModIndex uint64
	// Version is the number of modifications since creation: 1 on create,
	// +1 per put (two puts to one key in one transaction count twice).
	Version uint64
}

// Store is the replicated key-value state machine: an ordered in-memory
// B-tree of items and the index of the last applied command.
//
// Apply, ApplyNoop and Restore must be called from one goroutine (the apply
// goroutine) in log order. All other methods are safe to call from any
// number of goroutines concurrently with them and with each other.
type Store struct {
	mu sync.RWMutex
	// tree holds the items ordered by key. Guarded by mu: Apply and Restore
	// write under the write lock; Get, Scan and Len read under the read lock;
	// Clone (which swaps the tree's copy-on-write context) takes the write
	// lock. Entries in the tree are never modified in place: clones share
	// them.
	tree *tree
	// arena holds the blobs of the tree's entries (see arena). Guarded by
	// mu, like tree; a reader that copies an entry after releasing the
	// lock keeps arena.pins, read under the lock, alive until it has.
	arena *arena
	// applied is the index of the last applied command. Guarded by mu; it
	// only grows, except through Restore.
	applied uint64
	// rec, when not nil, receives the events of every command (Record).
	// Guarded by mu; used by the apply goroutine.
	rec *[]Event
	// leases is the lease table (lease.go). Guarded by mu.
	leases leaseTable
}

// New returns an empty store with nothing applied.
func New() *Store {
	return &Store{tree: newTree(), arena: newArena(), leases: newLeaseTable()}
}

// Applied returns the index of the last applied command or noop.
func (s *Store) Applied() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// Len returns the number of keys.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tree.Len()
}

// Apply applies the committed command cmd at log index index and returns
// its encoded Result (see DecodeResult). The store keeps no reference to
// cmd.
//
// An index <= Applied() has been applied already: Apply ignores it and
// returns nil. A command that does not decode changes nothing but still
// advances Applied; its Result carries the error in Err. Apply never
// panics on bad input. Readers observe a command, and every request of a
// transaction, all at once or not at all.
func (s *Store) Apply(index uint64, cmd []byte) []byte {
	r, ok := s.apply(index, cmd)
	if !ok {
		return nil
	}
	return EncodeResult(r) // outside the lock: items in r are immutable
}

func (s *Store) apply(index uint64, cmd []byte) (Result, bool) {
	c, err := DecodeCommand(cmd) // before the lock: readers wait less
	s.mu.Lock()
	defer s.mu.Unlock()
	if index <= s.applied {
		return Result{}, false
	}
	s.applied = index
	r := Result{Index: index}
	if err != nil {
		r.Err = err.Error()
		return r, true
	}
	defer s.arena.compact(s.tree) // before the deferred unlock
	switch c.Kind {
	case KindPut:
		if c.Lease != 0 && !s.leasesExist([]Request{{Op: OpPut, Lease: c.Lease}}) {
			r.LeaseNotFound = true
			break
		}
		s.put(index, c.Key, c.Value, c.Lease)
	case KindDelete:
		r.Deleted = s.delete(c.Key)
	case KindTxn:
		r.Succeeded, r.Results, r.LeaseNotFound = s.txn(index, c.Txn)
	case KindLeaseGrant:
		s.grant(index, c.TTL)
	case KindLeaseRevoke:
		r.LeaseNotFound = !s.revoke(c.Lease)
	}
	return r, true
}

// ApplyNoop advances Applied to index for a log entry that is not a command
// (a leader's noop, a configuration change). An index <= Applied() is
// ignored.
func (s *Store) ApplyNoop(index uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if index > s.applied {
		s.applied = index
	}
}

// put sets key to value at index, attaches it to lease (0: none, which
// detaches it from any lease), and reports whether the key existed. It
// copies key and value. The caller holds the write lock and has checked
// that the lease exists.
func (s *Store) put(index uint64, key, value []byte, lease uint64) bool {
	createIndex, version := index, uint64(1)
	old, found := lookup(s.tree, key)
	if found {
		v := old.view()
		createIndex, version = v.createIndex, v.version+1
	}
	e := s.arena.newEntry(key, value, createIndex, index, version)
	s.tree.ReplaceOrInsert(e)
	if found {
		s.arena.release(old)
	}
	if lease != 0 || len(s.leases.byKey) > 0 {
		s.leases.attach(key, lease)
	}
	if s.rec != nil {
		*s.rec = append(*s.rec, Event{cur: e, prev: old, pins: s.arena.pins})
	}
	return found
}

// delete removes key and reports whether it existed. The caller holds the
// write lock.
func (s *Store) delete(key []byte) bool {
	old, found := remove(s.tree, key)
	if found {
		s.arena.release(old)
	}
	if found && len(s.leases.byKey) > 0 {
		s.leases.attach(key, 0)
	}
	if found && s.rec != nil {
		*s.rec = append(*s.rec, Event{prev: old, pins: s.arena.pins})
	}
	return found
}

// Get returns the item for key and whether it exists. The returned Item's
// slices are a copy owned by the caller; an empty value is nil.
func (s *Store) Get(key []byte) (Item, bool) {
	it, found, _ := s.GetAt(key)
	return it, found
}

// GetAt is Get, and also returns the revision (the applied index) the
// item was read at.
func (s *Store) GetAt(key []byte) (Item, bool, uint64) {
	s.mu.RLock()
	e, found := lookup(s.tree, key)
	rev, pins := s.applied, s.arena.pins
	s.mu.RUnlock()
	if !found {
		return Item{}, false, rev
	}
	it := e.item() // outside the lock: tree entries are immutable
	runtime.KeepAlive(pins)
	return it, true, rev
}

// GetValueAt returns a copy of key's value (nil if empty), whether the key
// exists, and the revision it was read at: GetAt for a caller that needs
// only the value, in one allocation of the value's size and no copy of the
// key.
func (s *Store) GetValueAt(key []byte) ([]byte, bool, uint64) {
	s.mu.RLock()
	e, found := lookup(s.tree, key)
	rev, pins := s.applied, s.arena.pins
	s.mu.RUnlock()
	if !found {
		return nil, false, rev
	}
	v := e.view() // outside the lock: tree entries are immutable
	if len(v.value) == 0 {
		return nil, true, rev
	}
	value := []byte(v.value)
	runtime.KeepAlive(pins)
	return value, true, rev
}

// Scan returns the items with start <= key < end in key order, at most
// limit of them, and whether more items remain in the range. An empty (or
// nil) end means no upper bound; limit <= 0 means no limit. The returned slices are
// copies owned by the caller. The result is consistent: no command is
// applied while Scan collects it, so keep limits small on a hot store.
func (s *Store) Scan(start, end []byte, limit int) ([]Item, bool) {
	items, more, _ := s.ScanAt(start, end, limit)
	return items, more
}

// ScanAt is Scan, and also returns the revision (the applied index) the
// items were read at.
func (s *Store) ScanAt(start, end []byte, limit int) ([]Item, bool, uint64) {
	var entries []entry
	more := false
	s.mu.RLock()
	rev, pins := s.applied, s.arena.pins
	ascend(s.tree, start, end, func(e entry) bool {
		if limit > 0 && len(entries) == limit {
			more = true
			return false
		}
		entries = append(entries, e)
		return true
	})
	s.mu.RUnlock()
	if len(entries) == 0 {
		return nil, more, rev
	}
	items := make([]Item, len(entries)) // outside the lock: entries are immutable
	for i, e := range entries {
		items[i] = e.item()
	}
	runtime.KeepAlive(pins)
	return items, more, rev
}

// Range returns an iterator over the items with start <= key < end in key
// order (an empty end means no upper bound), as of the call: it iterates over
// an O(1) copy-on-write clone of the tree, so commands applied later are
// not seen and do not wait for the iteration. Each yielded Item is a copy
// owned by the caller. The iterator may be used more than once; it sees the
// same items every time.
func (s *Store) Range(start, end []byte) iter.Seq[Item] {
	items, _ := s.RangeAt(start, end)
	return items
}

// RangeAt is Range, and also returns the revision (the applied index) the
// items are read at.
func (s *Store) RangeAt(start, end []byte) (iter.Seq[Item], uint64) {
	t, rev, pins := s.clone()
	start = bytes.Clone(start)
	end = bytes.Clone(end) // keeps nil nil
	return func(yield func(Item) bool) {
		ascend(t, start, end, func(e entry) bool { return yield(e.item()) })
		runtime.KeepAlive(pins) // the clone's blobs
	}, rev
}

// clone returns a copy-on-write clone of the tree, the applied index it
// holds and the pinSet that keeps its blobs (see arena). Clone swaps the
// tree's copy-on-write context, so it takes the write lock.
func (s *Store) clone() (*tree, uint64, *pinSet) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tree.Clone(), s.applied, s.arena.pins
}

// PrefixEnd returns the end bound of a scan over every key that starts with
// prefix: Scan(prefix, PrefixEnd(prefix), n). It returns nil (no upper
// bound) when no such bound exists, that is when prefix is empty or all
// 0xff bytes.
func PrefixEnd(prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xff {
			end := bytes.Clone(prefix[:i+1])
			end[i]++
			return end
		}
	}
	return nil
}
