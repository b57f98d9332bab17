package kv

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
			if e, found := s.tree.Get(pivot(r.Key)); found {
				res.Found, res.Item = true, e.item()
			}
		}
	}
	return succeeded, results
}

// holds reports whether c holds in the current state. The caller holds the
// lock.
func (s *Store) holds(c Compare) bool {
	e, found := s.tree.Get(pivot(c.Key))
	switch c.Target {
	case CmpExists:
		return found
	case CmpMissing:
		return !found
	case CmpValue:
		return found && e.view().value == string(c.Value)
	case CmpModIndex:
		if !found {
			return c.ModIndex == 0 // a missing key has ModIndex 0
		}
		return e.view().modIndex == c.ModIndex
	}
	return false
}
