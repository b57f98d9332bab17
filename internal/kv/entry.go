package kv

import (
	"encoding/binary"
	"strings"
	"unsafe"
)

// entry is what the tree holds for one key: 24 bytes, stored by value in
// the tree's nodes, and one allocation, blob, for everything else.
//
// Invariants, for an entry in a tree:
//   - blob is the item's encoding (see newEntry): uvarint len(key), key,
//     uvarint CreateIndex, uvarint ModIndex, uvarint Version, value. Its
//     uvarints were written by this package, so decoding them cannot fail.
//   - prefix is keyPrefix of the key in blob.
//   - The key is not empty, 1 <= CreateIndex <= ModIndex and Version >= 1.
//   - Nothing refers to blob's bytes but entries and the strings decoded
//     from them. A blob up to its arena's maxBlob is in a slab of the store's
//     arena, which frees it with its slab once no tree, clone, event or
//     reader can reach it (see arena); a larger blob is its own heap
//     allocation.
//
// blob is a string, not a []byte: it is immutable by type (clones of the
// tree share it, and readers decode it outside the lock), and a string
// header is 8 bytes smaller than a slice header, in every entry slot of
// every node.
//
// A pivot (see pivot) is an entry to look a key up with; its blob holds
// only uvarint len(key) and the key, all that entryLess reads.
type entry struct {
	// prefix is the first 8 bytes of the key, big-endian and zero-padded.
	// Comparing prefixes first settles most comparisons without following
	// the blob pointer (a cache miss in a large tree); padded prefixes order
	// like the keys, ties fall back to the keys.
	prefix uint64
	blob   string
}

func keyPrefix[K []byte | string](key K) uint64 {
	var b [8]byte
	copy(b[:], key)
	return binary.BigEndian.Uint64(b[:])
}

// maxBlobHeaderBytes bounds the uvarints of a blob.
const maxBlobHeaderBytes = 4 * binary.MaxVarintLen64

// appendBlobHeaders appends a blob's uvarints to dst: the key length, then
// the indexes. The key goes at split, between the two.
func appendBlobHeaders(dst []byte, keyLen int, createIndex, modIndex, version uint64) (b []byte, split int) {
	b = binary.AppendUvarint(dst, uint64(keyLen))
	split = len(b)
	b = binary.AppendUvarint(b, createIndex)
	b = binary.AppendUvarint(b, modIndex)
	return binary.AppendUvarint(b, version), split
}

// newEntry builds the entry of an item from its parts, in a (see arena)
// or, for a blob over a.maxBlob(), in one heap allocation of exactly the
// blob's size (rounded up to the allocator's size class). The blob is
// counted live in a: the entry is for the live tree.
func (a *arena) newEntry(key, value []byte, createIndex, modIndex, version uint64) entry {
	var hb [maxBlobHeaderBytes]byte
	h, split := appendBlobHeaders(hb[:0], len(key), createIndex, modIndex, version)
	if n := len(h) + len(key) + len(value); n <= a.maxBlob() {
		b := a.alloc(n)
		i := copy(b, h[:split])
		i += copy(b[i:], key)
		i += copy(b[i:], h[split:])
		copy(b[i:], value)
		return entry{prefix: keyPrefix(key), blob: unsafe.String(unsafe.SliceData(b), n)}
	}
	var b strings.Builder
	b.Grow(len(h) + len(key) + len(value))
	b.Write(h[:split])
	b.Write(key)
	b.Write(h[split:])
	b.Write(value)
	return entry{prefix: keyPrefix(key), blob: b.String()}
}

// pivot returns an entry to look key up with: a blob of the key's length
// and the key, which is all entryLess reads.
func pivot(key []byte) entry {
	var kb [binary.MaxVarintLen64]byte
	klen := binary.AppendUvarint(kb[:0], uint64(len(key)))
	var b strings.Builder
	b.Grow(len(klen) + len(key))
	b.Write(klen)
	b.Write(key)
	return entry{prefix: keyPrefix(key), blob: b.String()}
}

// blobUvarint decodes a uvarint this package wrote at the front of s.
func blobUvarint(s string) (uint64, int) {
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 {
			return v | uint64(c)<<(7*i), i + 1
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	panic("kv: truncated uvarint in a tree entry")
}

// key returns the entry's key, without copying.
func (e entry) key() string {
	if n := e.blob[0]; n < 0x80 { // keys under 128 bytes: no loop
		return e.blob[1 : 1+n]
	}
	n, k := blobUvarint(e.blob)
	return e.blob[k : k+int(n)]
}

// view is a decoded entry; its strings alias the blob.
type view struct {
	key, value                     string
	createIndex, modIndex, version uint64
}

// view decodes the entry.
func (e entry) view() view {
	var v view
	n, k := blobUvarint(e.blob)
	v.key = e.blob[k : k+int(n)]
	rest := e.blob[k+int(n):]
	v.createIndex, k = blobUvarint(rest)
	rest = rest[k:]
	v.modIndex, k = blobUvarint(rest)
	rest = rest[k:]
	v.version, k = blobUvarint(rest)
	v.value = rest[k:]
	return v
}

// item returns the entry as an Item owned by the caller: key and value
// copied into one allocation, an empty value nil.
func (e entry) item() Item {
	v := e.view()
	buf := make([]byte, len(v.key)+len(v.value))
	n := copy(buf, v.key)
	copy(buf[n:], v.value)
	it := Item{Key: buf[:n:n], CreateIndex: v.createIndex, ModIndex: v.modIndex, Version: v.version}
	if len(v.value) > 0 {
		it.Value = buf[n:]
	}
	return it
}

func entryLess(a, b entry) bool {
	if a.prefix != b.prefix {
		return a.prefix < b.prefix
	}
	return a.key() < b.key()
}
