package kv

import (
	"maps"
	"slices"
)

// The lease table is part of the replicated state: which leases exist,
// their TTLs, and which keys are attached to which lease. When a lease
// expires is not: that is the leader's business (its clock, outside the
// state machine), and it ends a lease by proposing a revoke.

// leaseTable is the replicated lease state. Guarded by Store.mu, like the
// tree; written on the apply goroutine only.
type leaseTable struct {
	// ttl maps each live lease's ID to its TTL in milliseconds.
	ttl map[uint64]uint64
	// keys maps each live lease to the keys attached to it.
	keys map[uint64]map[string]struct{}
	// byKey maps each attached key to its lease.
	byKey map[string]uint64
	// gen counts grants, revokes and restores, so that the leader's expiry
	// loop rereads the table only when the set of leases changed.
	gen uint64
}

func newLeaseTable() leaseTable {
	return leaseTable{ttl: map[uint64]uint64{}, keys: map[uint64]map[string]struct{}{}, byKey: map[string]uint64{}}
}

// attach makes key's lease id (0: none), detaching it from the lease it
// had. The table keeps its own copy of key: a string that aliased a tree
// entry would keep the entry's value alive after it is replaced.
func (lt *leaseTable) attach(key []byte, id uint64) {
	old, had := lt.byKey[string(key)]
	if had && old == id {
		return
	}
	if had {
		delete(lt.keys[old], string(key))
		delete(lt.byKey, string(key))
	}
	if id == 0 {
		return
	}
	k := string(key)
	lt.byKey[k] = id
	ks := lt.keys[id]
	if ks == nil {
		ks = map[string]struct{}{}
		lt.keys[id] = ks
	}
	ks[k] = struct{}{}
}

// LeaseInfo is one lease in the replicated state.
type LeaseInfo struct {
	ID  uint64 // the log index of its grant
	TTL uint64 // milliseconds
	// Keys are the keys attached to the lease, in key order (Lease only;
	// Leases leaves it nil).
	Keys [][]byte
}

// Lease returns lease id and its keys, and false if it does not exist.
func (s *Store) Lease(id uint64) (LeaseInfo, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ttl, ok := s.leases.ttl[id]
	if !ok {
		return LeaseInfo{}, false
	}
	info := LeaseInfo{ID: id, TTL: ttl}
	for _, k := range slices.Sorted(maps.Keys(s.leases.keys[id])) {
		info.Keys = append(info.Keys, []byte(k))
	}
	return info, true
}

// Leases returns every lease (without its keys) in ID order, and the
// generation of the lease table: it changes whenever a lease is granted or
// revoked or the store is restored.
func (s *Store) Leases() ([]LeaseInfo, uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]LeaseInfo, 0, len(s.leases.ttl))
	for id, ttl := range s.leases.ttl {
		out = append(out, LeaseInfo{ID: id, TTL: ttl})
	}
	slices.SortFunc(out, func(a, b LeaseInfo) int { return cmpUint(a.ID, b.ID) })
	return out, s.leases.gen
}

// LeaseGen returns the generation of the lease table (see Leases).
func (s *Store) LeaseGen() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.leases.gen
}

// LeaseTTL returns lease id's TTL in milliseconds, and false if it does
// not exist. It allocates nothing.
func (s *Store) LeaseTTL(id uint64) (uint64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ttl, ok := s.leases.ttl[id]
	return ttl, ok
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// grant creates lease index with ttl milliseconds. The caller holds the
// write lock.
func (s *Store) grant(index, ttl uint64) {
	s.leases.ttl[index] = ttl
	s.leases.gen++
}

// revoke deletes lease id and its keys, in key order (so that every
// replica records the same events), and reports whether it existed. The
// caller holds the write lock.
func (s *Store) revoke(id uint64) bool {
	if _, ok := s.leases.ttl[id]; !ok {
		return false
	}
	for _, k := range slices.Sorted(maps.Keys(s.leases.keys[id])) {
		s.delete([]byte(k))
	}
	delete(s.leases.ttl, id)
	delete(s.leases.keys, id)
	s.leases.gen++
	return true
}

// leasesExist reports whether every lease the puts of reqs attach to
// exists. The caller holds the lock.
func (s *Store) leasesExist(reqs []Request) bool {
	for _, r := range reqs {
		if r.Op == OpPut && r.Lease != 0 {
			if _, ok := s.leases.ttl[r.Lease]; !ok {
				return false
			}
		}
	}
	return true
}
