package kv

// txn evaluates t's compares against the current state, then runs Then or
// Else; if a put of that branch attaches to a lease that does not exist,
// it changes nothing and reports leaseNotFound. The caller holds the write
// lock.
func (s *Store) txn(index uint64, t Txn) (succeeded bool, _ []OpResult, leaseNotFound bool) {
	succeeded = true
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
		return succeeded, nil, false
	}
	if !s.leasesExist(reqs) {
		return succeeded, nil, true
	}
	results := make([]OpResult, len(reqs))
	for i, r := range reqs {
		res := &results[i]
		res.Op = r.Op
		switch r.Op {
		case OpPut:
			res.Found = s.put(index, r.Key, r.Value, r.Lease)
		case OpDelete:
			res.Found = s.delete(r.Key)
		case OpGet:
			if e, found := lookup(s.tree, r.Key); found {
				res.Found, res.Item = true, e.item()
			}
		}
	}
	return succeeded, results, false
}

// holds reports whether c holds in the current state. The caller holds the
// lock.
func (s *Store) holds(c Compare) bool {
	e, found := lookup(s.tree, c.Key)
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
	case CmpCreateIndex:
		if !found {
			return c.CreateIndex == 0 // a missing key has CreateIndex 0
		}
		return e.view().createIndex == c.CreateIndex
	}
	return false
}
