package kv

import (
	"bytes"
	"encoding/binary"

	"github.com/google/btree"
)

// treeDegree is the B-tree's minimum degree: nodes hold up to 2*degree-1
// entries. Entries are stored by value (80 bytes each), so a copy-on-write
// node copy after a Clone costs about 2.5 KiB.
const treeDegree = 16

// entry is what the tree holds: an item and the first 8 bytes of its key,
// big-endian and zero-padded. Comparing prefixes first settles most
// comparisons without following the key pointer (a cache miss in a large
// tree); padded prefixes order like the keys, ties fall back to the keys.
type entry struct {
	prefix uint64
	item   Item
}

// tree is the ordered set of entries.
type tree = btree.BTreeG[entry]

func keyPrefix(key []byte) uint64 {
	var b [8]byte
	copy(b[:], key)
	return binary.BigEndian.Uint64(b[:])
}

// newEntry wraps an item for the tree.
func newEntry(it Item) entry { return entry{prefix: keyPrefix(it.Key), item: it} }

// pivot returns an entry to look key up with.
func pivot(key []byte) entry { return newEntry(Item{Key: key}) }

func entryLess(a, b entry) bool {
	if a.prefix != b.prefix {
		return a.prefix < b.prefix
	}
	return bytes.Compare(a.item.Key, b.item.Key) < 0
}

func newTree() *tree { return btree.NewG(treeDegree, entryLess) }

// ascend calls fn for the items of t with start <= key < end (end empty: no
// upper bound; keys are never empty) in key order until fn returns false.
func ascend(t *tree, start, end []byte, fn func(Item) bool) {
	visit := func(e entry) bool { return fn(e.item) }
	if len(end) == 0 {
		t.AscendGreaterOrEqual(pivot(start), visit)
		return
	}
	if bytes.Compare(start, end) >= 0 {
		return
	}
	t.AscendRange(pivot(start), pivot(end), visit)
}
