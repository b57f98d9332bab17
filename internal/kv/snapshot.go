package kv

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/yggrdb/yggr/internal/record"
)

// Snapshot stream format, version 1:
//
//	magic    "YGKV"
//	version  1 byte (snapshotVersion)
//	index    uvarint: the applied index
//	count    uvarint: the number of items
//	count items, in strictly increasing key order, each:
//	  uvarint key length, uvarint value length,
//	  uvarint CreateIndex, uvarint ModIndex, uvarint Version,
//	  key bytes, value bytes
//	crc      4 bytes, big-endian CRC-32C (Castagnoli) of everything before
//
// Uvarints are canonical (shortest form).
//
// Version 2 adds the lease table, and is written only when the store has a
// lease (a store without one writes version 1, which the previous release
// reads):
//
//	magic    "YGKV"
//	version  1 byte (snapshotVersionLease)
//	index    uvarint: the applied index
//	leases   uvarint: the number of leases, at least 1
//	leases leases, in strictly increasing ID order, each:
//	  uvarint ID (1 <= ID <= index), uvarint TTL in milliseconds (>= 1)
//	count    uvarint: the number of items
//	count items, as in version 1 but with one more uvarint after Version:
//	  the item's lease ID, 0 for none, else one of the leases above
//	crc      as in version 1
//
// The encoding of a given state is unique, so what Restore accepts,
// WriteTo writes back byte for byte.
const (
	snapshotMagic        = "YGKV"
	snapshotVersion      = 1
	snapshotVersionLease = 2
)

// Bounds Restore enforces on each item before it allocates. They are far
// above the default Limits; a key or value over them cannot be restored.
const (
	maxRestoreKeyBytes   = 1 << 20 // 1 MiB
	maxRestoreValueBytes = 1 << 30 // 1 GiB
	// restoreChunkBytes is the largest allocation made on the strength of a
	// length field alone: longer fields grow as their bytes actually
	// arrive, so a corrupt length cannot allocate much more than the
	// stream holds.
	restoreChunkBytes = 1 << 20
)

// Snapshot is a point-in-time view of a Store: its items and applied index
// at the moment Store.Snapshot was called. It is immutable and safe for
// concurrent use, including concurrently with later Applies to the Store.
type Snapshot struct {
	pins  *pinSet // keeps the blobs of tree, then of items (see arena)
	index uint64
	n     int // items
	// leases are the leases in ID order (without keys), and byKey the
	// lease of every attached key: copies, taken by Store.Snapshot.
	leases []LeaseInfo
	byKey  map[string]uint64

	// The first WriteTo walks tree, the clone Store.Snapshot took, into
	// items and drops it (see blobList).
	once  sync.Once
	tree  *tree
	items *blobList
}

// Snapshot returns a point-in-time view of the store in O(1): a
// copy-on-write clone of the tree. Call it on the apply goroutine between
// Applies so that Index matches the log; WriteTo may then run on another
// goroutine while Applies continue. The lease table is copied, in time
// proportional to the number of leases and attached keys.
func (s *Store) Snapshot() *Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	sn := &Snapshot{tree: s.tree.Clone(), pins: s.arena.pins, index: s.applied, n: s.tree.Len()}
	if len(s.leases.ttl) > 0 {
		for id, ttl := range s.leases.ttl {
			sn.leases = append(sn.leases, LeaseInfo{ID: id, TTL: ttl})
		}
		slices.SortFunc(sn.leases, func(a, b LeaseInfo) int { return cmpUint(a.ID, b.ID) })
		sn.byKey = maps.Clone(s.leases.byKey)
	}
	return sn
}

// blobs returns the snapshot's items as a blobList, walking the clone and
// dropping it the first time.
func (sn *Snapshot) blobs() *blobList {
	sn.once.Do(func() {
		sn.items = flatten(sn.tree, sn.pins)
		sn.tree = nil
	})
	return sn.items
}

// Index returns the applied index the snapshot reflects.
func (sn *Snapshot) Index() uint64 { return sn.index }

// Len returns the number of items in the snapshot.
func (sn *Snapshot) Len() int { return sn.n }

// WriteTo writes the snapshot to w in the versioned, checksummed stream
// format that Store.Restore reads, and returns the number of bytes written.
// It buffers its writes; on error the count is the bytes w accepted.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	sw := snapWriter{bw: bufio.NewWriterSize(w, 64<<10)}
	leased := len(sn.leases) > 0
	var hdr []byte
	if leased {
		hdr = append([]byte(snapshotMagic), snapshotVersionLease)
		hdr = binary.AppendUvarint(hdr, sn.index)
		hdr = binary.AppendUvarint(hdr, uint64(len(sn.leases)))
		for _, l := range sn.leases {
			hdr = binary.AppendUvarint(hdr, l.ID)
			hdr = binary.AppendUvarint(hdr, l.TTL)
		}
	} else {
		hdr = append([]byte(snapshotMagic), snapshotVersion)
		hdr = binary.AppendUvarint(hdr, sn.index)
	}
	hdr = binary.AppendUvarint(hdr, uint64(sn.n))
	sw.write(hdr)
	scratch := make([]byte, 0, 4<<10)
	items := sn.blobs()
	for _, ref := range items.refs {
		v := entry{ref: ref}.view()
		b := binary.AppendUvarint(scratch[:0], uint64(len(v.key)))
		b = binary.AppendUvarint(b, uint64(len(v.value)))
		b = binary.AppendUvarint(b, v.createIndex)
		b = binary.AppendUvarint(b, v.modIndex)
		b = binary.AppendUvarint(b, v.version)
		if leased {
			b = binary.AppendUvarint(b, sn.byKey[v.key])
		}
		if len(b)+len(v.key)+len(v.value) <= cap(b) {
			b = append(b, v.key...) // small item: one write
			sw.write(append(b, v.value...))
		} else {
			sw.write(b)
			sw.writeString(v.key, scratch)
			sw.writeString(v.value, scratch)
		}
		if sw.err != nil {
			break
		}
	}
	// The list's memory and the blobs it points to.
	runtime.KeepAlive(items)
	runtime.KeepAlive(sn.pins)
	sw.write(binary.BigEndian.AppendUint32(nil, sw.crc))
	if sw.err == nil {
		sw.err = sw.bw.Flush()
	}
	if sw.err != nil {
		return sw.n - int64(sw.bw.Buffered()), fmt.Errorf("kv: write snapshot: %w", sw.err)
	}
	return sw.n, nil
}

// snapWriter checksums and counts what it buffers; its first error sticks.
type snapWriter struct {
	bw  *bufio.Writer
	crc uint32
	n   int64
	err error
}

func (w *snapWriter) write(p []byte) {
	if w.err != nil {
		return
	}
	w.crc = record.UpdateChecksum(w.crc, p)
	n, err := w.bw.Write(p)
	w.n += int64(n)
	w.err = err
}

// writeString writes s through scratch, which it overwrites: the checksum
// takes byte slices.
func (w *snapWriter) writeString(s string, scratch []byte) {
	for len(s) > 0 && w.err == nil {
		n := copy(scratch[:cap(scratch)], s)
		w.write(scratch[:n])
		s = s[n:]
	}
}

// Restore replaces the whole state (items and applied index) with a
// snapshot stream written by Snapshot.WriteTo, read from r to EOF. It
// validates everything first: magic, version, canonical encoding, strictly
// increasing non-empty keys, 1 <= CreateIndex <= ModIndex <= index,
// Version >= 1, bounded lengths, the checksum and nothing after it. On
// error the store is unchanged and the error wraps ErrCorrupt (a
// truncated stream also wraps io.ErrUnexpectedEOF), or wraps the error r
// returned. Call it on the apply goroutine; readers see the old
// state until the new one is complete. The index may be lower than
// Applied: the caller decides which snapshot applies.
func (s *Store) Restore(r io.Reader) error {
	t, a, index, lt, err := readSnapshot(r, s.arena.slabSize)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lt.gen = s.leases.gen + 1
	s.tree, s.arena, s.applied, s.leases = t, a, index, lt
	return nil
}

// snapReader checksums what it consumes from a buffered reader.
type snapReader struct {
	br  *bufio.Reader
	crc uint32
}

// errTruncated is the cause of a corrupt error for a stream that ended
// early.
var errTruncated = fmt.Errorf("truncated: %w", io.ErrUnexpectedEOF)

// corrupt returns an error wrapping ErrCorrupt.
func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: snapshot: %s", ErrCorrupt, fmt.Sprintf(format, args...))
}

// readErr turns an error from the underlying reader into Restore's error:
// an early EOF is corruption (truncation), anything else is passed on.
func readErr(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: snapshot: %s: %w", ErrCorrupt, what, errTruncated)
	}
	return fmt.Errorf("kv: read snapshot: %s: %w", what, err)
}

// uvarints reads len(dst) canonical uvarints into dst.
func (r *snapReader) uvarints(what string, dst []uint64) error {
	// Each uvarint takes at most MaxVarintLen64 bytes, so unless the stream
	// ends (perr), every one is whole within p.
	p, perr := r.br.Peek(len(dst) * binary.MaxVarintLen64)
	off := 0
	for i := range dst {
		v, n := record.Uvarint(p[off:])
		if n == 0 && perr != nil {
			return readErr(what, perr)
		}
		if n <= 0 {
			return corrupt("%s: bad uvarint", what)
		}
		dst[i] = v
		off += n
	}
	r.crc = record.UpdateChecksum(r.crc, p[:off])
	_, _ = r.br.Discard(off) // cannot fail: the off bytes are buffered
	return nil
}

// full reads exactly n bytes, allocating at most restoreChunkBytes ahead of
// the bytes actually read.
func (r *snapReader) full(what string, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, restoreChunkBytes))
	for len(buf) < n {
		k := min(n-len(buf), restoreChunkBytes)
		buf = slices.Grow(buf, k)
		got, err := io.ReadFull(r.br, buf[len(buf):len(buf)+k])
		r.crc = record.UpdateChecksum(r.crc, buf[len(buf):len(buf)+got])
		buf = buf[:len(buf)+got]
		if err != nil {
			return nil, readErr(what, err)
		}
	}
	return buf, nil
}

// restoreBatch is how many entries Restore collects before it inserts
// them into the tree, in descending order (see insertDescending).
const restoreBatch = 1024

// insertDescending inserts batch, whose keys increase and are all above
// the keys in t, into t from its last entry to its first. The order
// changes nothing but the tree's shape: google/btree splits a full node in
// the middle, and the half an insertion leaves behind is never filled
// again. Ascending inserts leave behind left halves that keep the full
// node's capacity (half of it unused); descending inserts leave behind
// right halves, allocated at their size. For 1M keys this took the tree
// from 52 to 28 bytes per key (TestFootprint1M). Later random writes into
// these exactly-sized nodes grow them back towards the share of a tree
// built by Apply.
func insertDescending(t *tree, batch []entry) {
	for i := len(batch) - 1; i >= 0; i-- {
		t.ReplaceOrInsert(batch[i])
	}
}

// copyTo appends the next n bytes of the stream to b. It grows b no faster
// than the bytes arrive.
func (r *snapReader) copyTo(b *strings.Builder, what string, n int) error {
	for n > 0 {
		p, err := r.br.Peek(min(n, r.br.Size()))
		if err != nil {
			return readErr(what, err)
		}
		r.crc = record.UpdateChecksum(r.crc, p)
		b.Write(p)
		_, _ = r.br.Discard(len(p)) // cannot fail: p is buffered
		n -= len(p)
	}
	return nil
}

// fill reads exactly len(dst) bytes of the stream into dst.
func (r *snapReader) fill(dst []byte, what string) error {
	n, err := io.ReadFull(r.br, dst)
	r.crc = record.UpdateChecksum(r.crc, dst[:n])
	if err != nil {
		return readErr(what, err)
	}
	return nil
}

// readSnapshot reads and validates a whole snapshot stream into a new
// tree whose blobs are in a new arena.
func readSnapshot(rd io.Reader, slabSize int) (*tree, *arena, uint64, leaseTable, error) {
	lt := newLeaseTable()
	a := newArenaSize(slabSize)
	t, index, err := readSnapshotInto(rd, a, &lt)
	return t, a, index, lt, err
}

// readLeases reads version 2's lease table into lt.
func (r *snapReader) readLeases(index uint64, lt *leaseTable) error {
	var n [1]uint64
	if err := r.uvarints("lease count", n[:]); err != nil {
		return err
	}
	if n[0] == 0 {
		return corrupt("version %d with no lease", snapshotVersionLease)
	}
	var prev uint64
	var f [2]uint64
	for i := uint64(0); i < n[0]; i++ {
		if err := r.uvarints("lease", f[:]); err != nil {
			return fmt.Errorf("lease %d: %w", i, err)
		}
		id, ttl := f[0], f[1]
		switch {
		case id <= prev:
			return corrupt("lease %d: id %d not above the previous id %d", i, id, prev)
		case id > index:
			return corrupt("lease %d: id %d above the applied index %d", i, id, index)
		case ttl == 0:
			return corrupt("lease %d: ttl 0", i)
		}
		prev = id
		lt.ttl[id] = ttl
	}
	return nil
}

func readSnapshotInto(rd io.Reader, a *arena, lt *leaseTable) (*tree, uint64, error) {
	r := &snapReader{br: bufio.NewReaderSize(rd, 64<<10)}
	head, err := r.full("header", len(snapshotMagic)+1)
	if err != nil {
		return nil, 0, err
	}
	if string(head[:len(snapshotMagic)]) != snapshotMagic {
		return nil, 0, corrupt("bad magic %q", head[:len(snapshotMagic)])
	}
	version := head[len(snapshotMagic)]
	if version != snapshotVersion && version != snapshotVersionLease {
		return nil, 0, corrupt("unknown version %d", version)
	}
	leased := version == snapshotVersionLease
	var hv [1]uint64
	if err := r.uvarints("header", hv[:]); err != nil {
		return nil, 0, err
	}
	index := hv[0]
	if leased {
		if err := r.readLeases(index, lt); err != nil {
			return nil, 0, err
		}
	}
	if err := r.uvarints("header", hv[:]); err != nil {
		return nil, 0, err
	}
	count := hv[0]
	t := newTree()
	var prev string
	var fields [6]uint64
	f := fields[:5]
	if leased {
		f = fields[:6]
	}
	var hb [maxBlobHeaderBytes]byte
	batch := make([]entry, 0, restoreBatch)
	for i := uint64(0); i < count; i++ {
		if err := r.uvarints("item header", f[:]); err != nil {
			return nil, 0, fmt.Errorf("item %d: %w", i, err)
		}
		keyLen, valueLen, createIndex, modIndex, version := f[0], f[1], f[2], f[3], f[4]
		switch {
		case keyLen == 0:
			return nil, 0, corrupt("item %d: empty key", i)
		case keyLen > maxRestoreKeyBytes:
			return nil, 0, corrupt("item %d: key length %d over %d", i, keyLen, maxRestoreKeyBytes)
		case valueLen > maxRestoreValueBytes:
			return nil, 0, corrupt("item %d: value length %d over %d", i, valueLen, maxRestoreValueBytes)
		case createIndex == 0 || createIndex > modIndex || modIndex > index:
			return nil, 0, corrupt("item %d: create index %d, mod index %d, applied index %d out of order",
				i, createIndex, modIndex, index)
		case version == 0:
			return nil, 0, corrupt("item %d: version 0", i)
		}
		var lease uint64
		if leased {
			if lease = f[5]; lease != 0 {
				if _, ok := lt.ttl[lease]; !ok {
					return nil, 0, corrupt("item %d: unknown lease %d", i, lease)
				}
			}
		}
		// The entry's blob (see newEntry), built as the bytes arrive.
		h, split := appendBlobHeaders(hb[:0], int(keyLen), createIndex, modIndex, version)
		n := len(h) + int(keyLen) + int(valueLen)
		var e entry
		if n <= a.maxBlob() {
			// In the arena. A corrupt stream discards the whole arena,
			// so allocating before the bytes arrive costs at most
			// one blob of a.maxBlob().
			ref, b := a.alloc(n)
			k := copy(b, h[:split])
			if err := r.fill(b[k:k+int(keyLen)], "item"); err != nil {
				return nil, 0, fmt.Errorf("item %d: %w", i, err)
			}
			k += int(keyLen)
			k += copy(b[k:], h[split:])
			if err := r.fill(b[k:], "item"); err != nil {
				return nil, 0, fmt.Errorf("item %d: %w", i, err)
			}
			e.ref = ref
		} else {
			var b strings.Builder
			b.Grow(min(uvarintLen(uint64(n))+n, restoreChunkBytes))
			var lb [binary.MaxVarintLen64]byte
			b.Write(binary.AppendUvarint(lb[:0], uint64(n))) // the blob's length: see entry.ref
			b.Write(h[:split])
			if err := r.copyTo(&b, "item", int(keyLen)); err != nil {
				return nil, 0, fmt.Errorf("item %d: %w", i, err)
			}
			b.Write(h[split:])
			if err := r.copyTo(&b, "item", int(valueLen)); err != nil {
				return nil, 0, fmt.Errorf("item %d: %w", i, err)
			}
			framed := b.String()
			if len(framed) > restoreChunkBytes {
				framed = strings.Clone(framed) // drop what the builder grew beyond it
			}
			e.ref = unsafe.StringData(framed)
		}
		key := e.key()
		e.prefix = keyPrefix(key)
		if prev != "" && prev >= key {
			return nil, 0, corrupt("item %d: key not above the previous key", i)
		}
		prev = key
		if lease != 0 {
			lt.attach([]byte(key), lease)
		}
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			insertDescending(t, batch)
			batch = batch[:0]
		}
	}
	insertDescending(t, batch)
	want := r.crc
	tail, err := r.full("checksum", 4)
	if err != nil {
		return nil, 0, err
	}
	if got := binary.BigEndian.Uint32(tail); got != want {
		return nil, 0, corrupt("checksum %08x, want %08x", got, want)
	}
	if _, err := r.br.ReadByte(); err == nil {
		return nil, 0, corrupt("data after the checksum")
	} else if err != io.EOF {
		return nil, 0, fmt.Errorf("kv: read snapshot: %w", err)
	}
	return t, index, nil
}
