package kv

import (
	"bytes"

	"github.com/google/btree"
)

// treeDegree is the B-tree's minimum degree: nodes hold up to 2*degree-1
// entries. Entries are stored by value (24 bytes each), so a copy-on-write
// node copy after a Clone costs about 0.8 KiB.
const treeDegree = 16

// tree is the ordered set of entries.
type tree = btree.BTreeG[entry]

func newTree() *tree { return btree.NewG(treeDegree, entryLess) }

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
