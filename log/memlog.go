package log

import (
	"slices"
	"sort"

	"github.com/yggrdb/yggr/engine"
)

// memLog holds the entries not yet checkpointed into Badger as the entry
// slices that Write and the WAL's replay were given, in order, rather than
// a copy of them in one array. One array regrew by doubling after every
// checkpoint: every entry header was copied once or twice more, into
// memory the kernel had to fault in (2% of a cluster's CPU under writes
// at concurrency 64, 7% of a follower's catching up).
//
// No batch's array is written after push: truncate reslices the batch it
// cuts with its capacity capped, so a checkpoint reading a copy of the
// batch list (batchList) never sees an entry change.
//
// Positions count from 0, the first entry held (Store.memFirst).
type memLog struct {
	batches [][]engine.Entry // each non-empty, consecutive indexes
	n       int
}

func (m *memLog) len() int { return m.n }

// push appends es, which must follow the last entry held. memLog keeps es:
// the caller must not modify it afterwards.
func (m *memLog) push(es []engine.Entry) {
	if len(es) == 0 {
		return
	}
	m.batches = append(m.batches, es[:len(es):len(es)])
	m.n += len(es)
}

// locate returns the batch holding position k < len() and k's offset in it.
func (m *memLog) locate(k int) (b, off int) {
	base := m.batches[0][0].Index
	want := base + uint64(k)
	b = sort.Search(len(m.batches), func(i int) bool { return m.batches[i][0].Index > want }) - 1
	return b, int(want - m.batches[b][0].Index)
}

// at returns the entry at position k < len(). The caller must not modify it.
func (m *memLog) at(k int) *engine.Entry {
	b, off := m.locate(k)
	return &m.batches[b][off]
}

// each calls f with the entries at positions [lo, hi) in order, until f
// returns false.
func (m *memLog) each(lo, hi int, f func(*engine.Entry) bool) {
	if lo >= hi {
		return
	}
	b, off := m.locate(lo)
	for k := lo; k < hi; b, off = b+1, 0 {
		for ; off < len(m.batches[b]) && k < hi; off, k = off+1, k+1 {
			if !f(&m.batches[b][off]) {
				return
			}
		}
	}
}

// truncate keeps the first k ≤ len() entries.
func (m *memLog) truncate(k int) {
	if k == 0 {
		*m = memLog{}
		return
	}
	if k == m.n {
		return
	}
	b, off := m.locate(k)
	if off > 0 {
		m.batches[b] = m.batches[b][:off:off]
		b++
	}
	clear(m.batches[b:])
	m.batches = m.batches[:b]
	m.n = k
}

// dropFirst removes the first k ≤ len() entries. The batch it cuts is
// copied, so that the dropped entries' data is not kept reachable through
// it, and the batch list is copied when it would hold mostly dropped slots.
func (m *memLog) dropFirst(k int) {
	if k == 0 {
		return
	}
	if k == m.n {
		*m = memLog{}
		return
	}
	b, off := m.locate(k)
	rest := slices.Clone(m.batches[b:])
	if off > 0 {
		rest[0] = slices.Clone(rest[0][off:])
	}
	m.batches, m.n = rest, m.n-k
}

// batchList returns a copy of the list of batches, for a reader that must
// not see later changes (a checkpoint). The batches themselves are shared.
func (m *memLog) batchList() [][]engine.Entry { return slices.Clone(m.batches) }
