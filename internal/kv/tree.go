package kv

import (
	"bytes"
	"sync"

	"github.com/google/btree"
)

// treeDegree is the B-tree's minimum degree: nodes hold up to 2*degree-1
// entries. Entries are stored by value (16 bytes each), so a copy-on-write
// node copy after a Clone costs about 1 KiB.
//
// With 24-byte entries, on 1M random puts (TestFootprint1M) the tree cost
// 40, 32, 27 and 26 bytes per key at degrees 16, 32, 64 and 128, with no measurable
// difference in Get, ApplyPut or Restore1M time. Copy-on-write after a
// Clone grows with the node: ApplyPutSnapshotted allocates 2.1, 2.4, 3.6
// and 6.0 KiB per put and, against degree 16, takes ~0%, +10% and +44% CPU
// at 32, 64 and 128. 32 is the knee.
const treeDegree = 32

// tree is the ordered set of entries.
type tree = btree.BTreeG[entry]

func newTree() *tree { return btree.NewG(treeDegree, entryLess) }

// lookup returns the entry of key in t, like t.Get(pivot(key)) but
// without allocating: the pivot's blob is built in a pooled buffer. That
// is safe because t.Get only compares the pivot and returns the tree's own
// entry (or the zero entry), so nothing refers to the buffer once it
// returns. Reads call this once each (Get at a million reads per second),
// and pivot's allocation was one of their two in the store; so do puts,
// deletes and a transaction's gets and comparisons.
func lookup(t *tree, key []byte) (entry, bool) {
	return withPivot(key, t.Get)
}

// remove deletes key's entry from t and returns it, like
// t.Delete(pivot(key)) but without allocating (see lookup: Delete, too,
// returns the tree's entry and keeps nothing of the pivot).
func remove(t *tree, key []byte) (entry, bool) {
	return withPivot(key, t.Delete)
}

// withPivot calls fn with key's pivot, built in a pooled buffer.
func withPivot(key []byte, fn func(entry) (entry, bool)) (entry, bool) {
	bp := pivotBufs.Get().(*[]byte)
	b := appendPivot((*bp)[:0], key)
	e, found := fn(entry{prefix: keyPrefix(key), ref: &b[0]})
	if cap(b) <= maxPooledPivot {
		*bp = b
		pivotBufs.Put(bp)
	}
	return e, found
}

// maxPooledPivot bounds the buffers lookup keeps: a rare long key's buffer
// is left to the collector.
const maxPooledPivot = 256

var pivotBufs = sync.Pool{New: func() any { return new([]byte) }}

// ascend calls fn for the entries of t with start <= key < end (end empty:
// no upper bound; keys are never empty) in key order until fn returns
// false.
func ascend(t *tree, start, end []byte, fn func(entry) bool) {
	if len(end) == 0 {
		t.AscendGreaterOrEqual(pivot(start), fn)
		return
	}
	if bytes.Compare(start, end) >= 0 {
		return
	}
	t.AscendRange(pivot(start), pivot(end), fn)
}
