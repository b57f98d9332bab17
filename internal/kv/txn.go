package kv

import "bytes"

// txn evaluates t's compares against the current state, then runs Then or
// Else. The caller holds the write lock.
func (s *Store) txn(index uint64, t Txn) (bool, []OpResult) {
	succeeded := true
	for _, c := range t.Compares {
		if !s.holds(c) {
			succeeded = false
			break
		}
	}
	reqs := t.Then
	if !succeeded {
		reqs = t.Else
	}
	if len(reqs) == 0 {
		return succeeded, nil
	}
	results := make([]OpResult, len(reqs))
	for i, r := range reqs {
		res := &results[i]
		res.Op = r.Op
		switch r.Op {
		case OpPut:
			res.Found = s.put(index, r.Key, r.Value)
		case OpDelete:
			res.Found = s.delete(r.Key)
		case OpGet:
			var e entry
			e, res.Found = s.tree.Get(pivot(r.Key))
			res.Item = e.item
		}
	}
	return succeeded, results
}

// holds reports whether c holds in the current state. The caller holds the
// lock.
func (s *Store) holds(c Compare) bool {
	e, found := s.tree.Get(pivot(c.Key))
	it := e.item
	switch c.Target {
	case CmpExists:
		return found
	case CmpMissing:
		return !found
	case CmpValue:
		return found && bytes.Equal(it.Value, c.Value)
	case CmpModIndex:
		return it.ModIndex == c.ModIndex // zero Item when missing
	}
	return false
}
