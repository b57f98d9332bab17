package kv

import (
	"encoding/binary"
	"unsafe"
)

// entry is what the tree holds for one key: 16 bytes, stored by value in
// the tree's nodes, and a pointer, ref, to everything else: the blob's
// length as a uvarint, then the blob (see blob).
//
// Invariants, for an entry in a tree:
//   - blob is the item's encoding (see newEntry): uvarint len(key), key,
//     uvarint CreateIndex, uvarint ModIndex, uvarint Version, value. Its
//     uvarints were written by this package, so decoding them cannot fail.
//   - prefix is keyPrefix of the key in blob.
//   - The key is not empty, 1 <= CreateIndex <= ModIndex and Version >= 1.
//   - Nothing refers to blob's bytes but entries and the strings decoded
//     from them, and nothing writes them once the entry is built (clones
//     of the tree share them, and readers decode them outside the lock). A
//     blob up to its arena's maxBlob is in a slab of the store's arena
//     (where every blob is preceded by its length: see arena.alloc), which
//     frees it with its slab once no tree, clone, event or reader can reach
//     it; a larger blob and its length are their own heap allocation.
//
// ref is one pointer rather than a string (pointer and length): the length
// is in memory anyway, in front of the blob in its slab, and the 8 bytes
// saved are in every entry slot of every node (a third of the tree's heap).
//
// A pivot (see pivot) is an entry to look a key up with; its blob holds
// only uvarint len(key) and the key, all that entryLess reads.
type entry struct {
	// prefix is the first 8 bytes of the key, big-endian and zero-padded.
	// Comparing prefixes first settles most comparisons without following
	// the blob pointer (a cache miss in a large tree); padded prefixes order
	// like the keys, ties fall back to the keys.
	prefix uint64
	// ref points at the blob's length, a uvarint, followed by the blob;
	// nil in the zero entry.
	ref *byte
}

// blob returns the entry's blob without copying; "" for the zero entry.
func (e entry) blob() string {
	if e.ref == nil {
		return ""
	}
	p := unsafe.Pointer(e.ref)
	n, k := uint64(*e.ref), 1
	if n >= 0x80 { // blobs of 128 bytes and more
		n &= 0x7f
		for shift := 7; ; shift += 7 {
			c := *(*byte)(unsafe.Add(p, k))
			k++
			n |= uint64(c&0x7f) << shift
			if c < 0x80 {
				break
			}
		}
	}
	return unsafe.String((*byte)(unsafe.Add(p, k)), int(n))
}

// heapBlob returns a heap allocation for a blob of n bytes laid out as
// ref expects: the blob's length, then b, n bytes for the caller to fill.
func heapBlob(n int) (ref *byte, b []byte) {
	buf := make([]byte, uvarintLen(uint64(n))+n)
	k := binary.PutUvarint(buf, uint64(n))
	return &buf[0], buf[k:]
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
		ref, b := a.alloc(n)
		fillBlob(b, h, split, key, value)
		return entry{prefix: keyPrefix(key), ref: ref}
	}
	ref, b := heapBlob(len(h) + len(key) + len(value))
	fillBlob(b, h, split, key, value)
	return entry{prefix: keyPrefix(key), ref: ref}
}

// fillBlob writes a blob into b: the headers h with the key at split, then
// the value.
func fillBlob(b, h []byte, split int, key, value []byte) {
	i := copy(b, h[:split])
	i += copy(b[i:], key)
	i += copy(b[i:], h[split:])
	copy(b[i:], value)
}

// pivot returns an entry to look key up with: a blob of the key's length
// and the key, which is all entryLess reads.
func pivot(key []byte) entry {
	n := uvarintLen(uint64(len(key))) + len(key) // the pivot's blob
	return entry{prefix: keyPrefix(key), ref: &appendPivot(make([]byte, 0, uvarintLen(uint64(n))+n), key)[0]}
}

// appendPivot appends a pivot's ref bytes for key to dst: the blob's
// length, uvarint len(key), key.
func appendPivot(dst, key []byte) []byte {
	klen := uvarintLen(uint64(len(key)))
	dst = binary.AppendUvarint(dst, uint64(klen+len(key)))
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	return append(dst, key...)
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
	blob := e.blob()
	if n := blob[0]; n < 0x80 { // keys under 128 bytes: no loop
		return blob[1 : 1+n]
	}
	n, k := blobUvarint(blob)
	return blob[k : k+int(n)]
}

// view is a decoded entry; its strings alias the blob.
type view struct {
	key, value                     string
	createIndex, modIndex, version uint64
}

// view decodes the entry.
func (e entry) view() view {
	var v view
	blob := e.blob()
	n, k := blobUvarint(blob)
	v.key = blob[k : k+int(n)]
	rest := blob[k+int(n):]
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
